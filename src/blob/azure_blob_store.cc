#include "blob/azure_blob_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "blob/azure_errors.h"
#include "blob/azure_shared_key.h"
#include "blob/azure_xml.h"
#include "blob/crypto_util.h"
#include "core/log.h"

namespace strata::blob {

// One REST call before signing: the parts the signer and the HTTP client need.
struct AzureBlobStore::Call {
  std::string method;
  std::string path;  // URL path below the endpoint, percent-encoded: "/c" or "/c/key"
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  HeaderList headers;                                      // besides date/version/auth
  std::string body;
  std::string body_file;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  std::string response_file;
  bool to_secondary = false;  // a read sent to the secondary endpoint
};

namespace {

namespace fs = std::filesystem;

constexpr const char* kDownloadsDir = "downloads";
constexpr uint64_t kMaxBlocks = 50'000;  // Azure's limit of committed blocks per blob
constexpr size_t kMaxKeyBytes = 1024;

// Keys are relative paths of safe characters, as for FileBlobStore, so they need no
// percent-encoding beyond what UrlEncode does and sign identically everywhere.
bool IsSafeKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxKeyBytes || key.front() == '/' || key.back() == '/') {
    return false;
  }
  if (key.find("//") != std::string::npos) return false;
  for (char c : key) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  for (size_t start = 0; start <= key.size();) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string_view part(key.data() + start, end - start);
    if (part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// Azure's rule: 3 to 63 of [a-z0-9-], starting and ending with a letter or digit, no "--".
bool IsValidContainerName(const std::string& name) {
  if (name.size() < 3 || name.size() > 63 || name.front() == '-' || name.back() == '-') {
    return false;
  }
  if (name.find("--") != std::string::npos) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Metadata travels as x-ms-meta-<name> headers: names are C identifiers (kept lowercase so they
// read back identically), values printable ASCII without edge spaces (the signer trims them).
Status CheckMetadata(const std::map<std::string, std::string>& metadata) {
  for (const auto& [name, value] : metadata) {
    bool name_ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) {
      name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    }
    if (!name_ok) return InvalidArgument("invalid metadata name '" + name + "'");
    bool value_ok = value.empty() || (value.front() != ' ' && value.back() != ' ');
    for (char c : value) value_ok = value_ok && c >= 0x20 && c < 0x7f;
    if (!value_ok) return InvalidArgument("invalid value for metadata '" + name + "'");
  }
  return OkStatus();
}

// RFC 1123 date in GMT, independent of the locale.
std::string HttpDate(std::chrono::system_clock::time_point when) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

// Inverse of HttpDate; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(const std::string& text) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char day_name[4] = {}, month_name[4] = {};
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", day_name, &tm.tm_mday,
                  month_name, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 7 ||
      static_cast<size_t>(consumed) != text.size()) {
    return std::nullopt;
  }
  tm.tm_mon = -1;
  for (size_t m = 0; m < kMonths.size(); ++m) {
    if (std::strcmp(kMonths[m], month_name) == 0) tm.tm_mon = static_cast<int>(m);
  }
  if (tm.tm_mon < 0) return std::nullopt;
  tm.tm_year -= 1900;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

int64_t ToUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string UniqueFileName(const char* suffix) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[96];
  std::snprintf(name, sizeof name, "%d-%llu-%016llx%s", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rng()), suffix);
  return name;
}

bool IsSuccess(const HttpResponse& response) {
  return response.status >= 200 && response.status < 300;
}

// The error of a non-2xx answer, through the one mapping.
Status ResponseError(const HttpResponse& response, const AzureCallContext& context) {
  std::string code = response.Header("x-ms-error-code").value_or("");
  if (code.empty()) code = ParseAzureErrorCode(response.body);
  return AzureErrorToStatus(response.status, code, context);
}

Status CheckResponse(const Result<HttpResponse>& response, const AzureCallContext& context) {
  if (!response.ok()) {
    return response.status().WithContext(std::string(context.operation) + " '" +
                                         std::string(context.key) + "'");
  }
  if (IsSuccess(*response)) return OkStatus();
  return ResponseError(*response, context);
}

// Splits "scheme://host[:port][/path]" into "scheme://host[:port]" and "/path" (may be empty).
Status SplitEndpoint(const std::string& endpoint, std::string* origin, std::string* path) {
  size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos) {
    return InvalidArgument("Azure endpoint must be an http(s) URL");
  }
  std::string scheme = endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return InvalidArgument("Azure endpoint must use http or https");
  }
  if (endpoint.find_first_of("?#") != std::string::npos) {
    return InvalidArgument("Azure endpoint must not carry a query (put a SAS in sas_token)");
  }
  size_t path_start = endpoint.find('/', scheme_end + 3);
  if (path_start == scheme_end + 3) return InvalidArgument("Azure endpoint has no host");
  *origin = endpoint.substr(0, path_start);
  *path = path_start == std::string::npos ? "" : endpoint.substr(path_start);
  while (!path->empty() && path->back() == '/') path->pop_back();
  return OkStatus();
}

std::string BlockId(uint64_t index) {
  char text[48];
  std::snprintf(text, sizeof text, "strata-block-%08llu", static_cast<unsigned long long>(index));
  return Base64Encode(text);  // all ids of a blob must have the same length
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? NotFound("no file " + path)
                           : Unavailable("stat " + path + ": " + std::strerror(errno));
  }
  return static_cast<uint64_t>(st.st_size);
}

void AddPutHeaders(const PutOptions& options, const std::optional<StorageTier>& default_tier,
                   HeaderList& headers) {
  if (options.create_only) headers.emplace_back("If-None-Match", "*");
  std::optional<StorageTier> tier = options.tier ? options.tier : default_tier;
  if (tier) headers.emplace_back("x-ms-access-tier", std::string(StorageTierName(*tier)));
  for (const auto& [name, value] : options.metadata) {
    headers.emplace_back("x-ms-meta-" + name, value);
  }
}

}  // namespace

AzureBlobStore::AzureBlobStore(AzureBlobOptions options, std::string key_bytes,
                               std::string path_prefix, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)),
      key_bytes_(std::move(key_bytes)),
      path_prefix_(std::move(path_prefix)),
      http_(std::move(http)),
      retry_environment_(RetryEnvironment::Real()) {}

AzureBlobStore::~AzureBlobStore() = default;

Result<std::unique_ptr<AzureBlobStore>> AzureBlobStore::Open(AzureBlobOptions options) {
  if (options.account.empty()) return InvalidArgument("Azure account is not set");
  if (!IsValidContainerName(options.container)) {
    return InvalidArgument("Azure container name must be 3-63 lowercase letters, digits, '-'");
  }
  if (options.staging_dir.empty()) return InvalidArgument("Azure staging_dir is not set");
  int credentials = (options.shared_key.empty() ? 0 : 1) + (options.sas_token.empty() ? 0 : 1) +
                    (options.token_provider ? 1 : 0);
  if (credentials != 1) {
    return InvalidArgument("set exactly one Azure credential: shared key, SAS or token");
  }
  if (options.block_size_bytes == 0 || options.block_size_bytes > (4000ull << 20)) {
    return InvalidArgument("Azure block size must be between 1 byte and 4000 MiB");
  }
  if (options.upload_threads < 1 || options.list_page_size < 1) {
    return InvalidArgument("Azure upload_threads and list_page_size must be positive");
  }
  std::string origin, path_prefix;
  STRATA_RETURN_IF_ERROR(SplitEndpoint(options.endpoint, &origin, &path_prefix));
  if (options.token_provider && options.endpoint.rfind("https://", 0) != 0) {
    return InvalidArgument("bearer tokens are only sent to an https endpoint");
  }
  std::string key_bytes;
  if (!options.shared_key.empty()) {
    Result<std::string> decoded = Base64Decode(options.shared_key);
    if (!decoded.ok() || decoded->empty()) {
      return InvalidArgument("Azure shared key is not valid base64");
    }
    key_bytes = std::move(decoded).value();
  }
  if (!options.sas_token.empty() && options.sas_token.front() == '?') {
    options.sas_token.erase(0, 1);
  }
  if (!options.sas_token.empty() && options.endpoint.rfind("http://", 0) == 0) {
    log::Warn("azure_sas_over_plain_http", {{"account", options.account}});
  }
  std::string secondary_origin, secondary_prefix;
  if (!options.secondary_endpoint.empty()) {
    STRATA_RETURN_IF_ERROR(
        SplitEndpoint(options.secondary_endpoint, &secondary_origin, &secondary_prefix)
            .WithContext("secondary endpoint"));
    if (options.token_provider && options.secondary_endpoint.rfind("https://", 0) != 0) {
      return InvalidArgument("bearer tokens are only sent to an https secondary endpoint");
    }
  }
  options.endpoint = origin;
  std::unique_ptr<HttpClient> http = options.http_client_factory ? options.http_client_factory()
                                                                 : MakeCurlHttpClient(options.http);
  std::unique_ptr<AzureBlobStore> store(new AzureBlobStore(
      std::move(options), std::move(key_bytes), std::move(path_prefix), std::move(http)));
  store->secondary_origin_ = std::move(secondary_origin);
  store->secondary_prefix_ = std::move(secondary_prefix);
  STRATA_RETURN_IF_ERROR(store->Init());
  return store;
}

Status AzureBlobStore::Init() {
  std::error_code ec;
  fs::create_directories(fs::path(options_.staging_dir) / kDownloadsDir, ec);
  if (ec) return Unavailable("create " + options_.staging_dir + ": " + ec.message());
  // Downloads left by a stopped process are only caches of remote objects.
  for (const auto& entry :
       fs::directory_iterator(fs::path(options_.staging_dir) / kDownloadsDir, ec)) {
    fs::remove(entry.path(), ec);
  }
  for (const auto& entry : fs::directory_iterator(options_.staging_dir, ec)) {
    if (entry.is_regular_file()) leftovers_.push_back(entry.path().string());
  }
  if (options_.create_container) STRATA_RETURN_IF_ERROR(CreateContainerIfMissing());
  log::Info("azure_blob_store_open", {{"account", options_.account},
                                      {"container", options_.container},
                                      {"api_version", options_.api_version}});
  return OkStatus();
}

std::string AzureBlobStore::ContainerPath() const { return "/" + options_.container; }

std::string AzureBlobStore::BlobPath(const std::string& key) const {
  return "/" + options_.container + "/" + UrlEncode(key, true);
}

Result<HttpRequest> AzureBlobStore::BuildRequest(const Call& call) {
  const auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
  HeaderList headers = call.headers;
  headers.emplace_back("x-ms-date", HttpDate(now));
  headers.emplace_back("x-ms-version", options_.api_version);

  HttpRequest request;
  request.method = call.method;
  std::string query;
  for (const auto& [name, value] : call.query) {
    query += (query.empty() ? "" : "&") + UrlEncode(name, false) + "=" + UrlEncode(value, false);
  }
  if (!options_.sas_token.empty()) query += (query.empty() ? "" : "&") + options_.sas_token;
  const std::string& origin = call.to_secondary ? secondary_origin_ : options_.endpoint;
  const std::string& prefix = call.to_secondary ? secondary_prefix_ : path_prefix_;
  request.url = origin + prefix + call.path + (query.empty() ? "" : "?" + query);

  if (!key_bytes_.empty()) {
    const uint64_t length = call.body_file.empty() ? call.body.size() : call.body_length;
    // Azure signs a secondary request for the account itself: a path-style
    // "/acct-secondary" prefix is signed as "/acct".
    std::string signed_prefix = prefix;
    constexpr std::string_view kSecondarySuffix = "-secondary";
    if (call.to_secondary && signed_prefix.ends_with(kSecondarySuffix)) {
      signed_prefix.resize(signed_prefix.size() - kSecondarySuffix.size());
    }
    SignableRequest signable{call.method, signed_prefix + call.path, call.query, headers};
    // libcurl sends Content-Length on PUT; it is signed here but not passed as a header.
    if (call.method == "PUT") {
      signable.headers.emplace_back("Content-Length", std::to_string(length));
    }
    headers.emplace_back("Authorization",
                         SharedKeyAuthorization(options_.account, key_bytes_, signable));
  } else if (options_.token_provider) {
    STRATA_ASSIGN_OR_RETURN(std::string token, options_.token_provider->Token());
    headers.emplace_back("Authorization", "Bearer " + token);
  }
  request.headers = std::move(headers);
  request.body = call.body;
  request.body_file = call.body_file;
  request.body_offset = call.body_offset;
  request.body_length = call.body_length;
  request.response_file = call.response_file;
  return request;
}

Result<HttpResponse> AzureBlobStore::Execute(const Call& call) {
  return SendWithRetries(
      *http_, options_.retry, [this, &call] { return BuildRequest(call); }, retry_environment_);
}

Result<HttpResponse> AzureBlobStore::ExecuteRead(Call call, const AzureCallContext& context) {
  if (secondary_origin_.empty()) {
    Result<HttpResponse> response = Execute(call);
    STRATA_RETURN_IF_ERROR(CheckResponse(response, context));
    return response;
  }
  auto now_ns = [] {
    return std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1);
  };
  auto unreachable = [](const Status& s) {
    return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
  };
  const bool secondary_first = now_ns() < prefer_secondary_until_ns_.load();
  Status primary_error;
  if (!secondary_first) {
    Result<HttpResponse> response = Execute(call);
    primary_error = CheckResponse(response, context);
    if (primary_error.ok()) return response;
    if (!unreachable(primary_error)) return primary_error;  // the primary's answer stands
    prefer_secondary_until_ns_.store(now_ns() +
                                     options_.secondary_preference / std::chrono::nanoseconds(1));
    log::Warn("azure_primary_unreachable_reading_secondary",
              {{"operation", context.operation}, {"error", primary_error.ToString()}});
  }
  call.to_secondary = true;
  Result<HttpResponse> response = Execute(call);
  Status secondary_error = CheckResponse(response, context);
  if (secondary_error.ok()) return response;
  if (secondary_first) {
    // The primary may be back, and its answer is authoritative.
    call.to_secondary = false;
    response = Execute(call);
    primary_error = CheckResponse(response, context);
    if (primary_error.ok() || !unreachable(primary_error)) {
      prefer_secondary_until_ns_.store(0);
      if (primary_error.ok()) return response;
      return primary_error;
    }
  }
  if (secondary_error.code() == StatusCode::kNotFound) {
    return Unavailable(std::string(context.operation) + " '" + std::string(context.key) +
                       "': the primary endpoint is unreachable and the secondary has no copy "
                       "yet (geo-replication lags); retry later");
  }
  return primary_error.WithContext("secondary endpoint: " + secondary_error.ToString());
}

Status AzureBlobStore::CreateContainerIfMissing() {
  Call call;
  call.method = "PUT";
  call.path = ContainerPath();
  call.query = {{"restype", "container"}};
  Result<HttpResponse> response = Execute(call);
  Status status = CheckResponse(response, {"create container", options_.container});
  if (status.code() == StatusCode::kAlreadyExists) return OkStatus();
  return status;
}

Status AzureBlobStore::PutFile(const std::string& key, const std::string& source_path,
                               bool create_only) {
  PutOptions options;
  options.create_only = create_only;
  return Put(key, source_path, options);
}

Status AzureBlobStore::Put(const std::string& key, const std::string& source_path,
                           const PutOptions& options) {
  BlobInfo written;
  return PutObject(key, source_path, options, &written);
}

Result<BlobInfo> AzureBlobStore::PutDescribed(const std::string& key,
                                              const std::string& source_path,
                                              const PutOptions& options) {
  BlobInfo written;
  STRATA_RETURN_IF_ERROR(PutObject(key, source_path, options, &written));
  // A retried create that found its own object learnt no ETag from the answer.
  if (written.etag.empty()) return Stat(key);
  written.tier = options.tier ? options.tier : options_.default_tier;
  written.metadata = options.metadata;
  return written;
}

Status AzureBlobStore::PutObject(const std::string& key, const std::string& source_path,
                                 const PutOptions& options, BlobInfo* written) {
  if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
  STRATA_RETURN_IF_ERROR(CheckMetadata(options.metadata));
  STRATA_ASSIGN_OR_RETURN(written->size_bytes, FileSize(source_path));
  const uint64_t size = written->size_bytes;
  const auto start = std::chrono::steady_clock::now();
  Status status = size <= options_.single_put_limit_bytes
                      ? PutSingle(key, source_path, size, options, written)
                      : PutBlocks(key, source_path, size, options, written);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (status.ok()) {
    log::Info("azure_put", {{"key", key},
                            {"bytes", static_cast<int64_t>(size)},
                            {"ms", static_cast<int64_t>(elapsed.count())}});
  } else {
    log::Warn("azure_put_failed", {{"key", key}, {"error", status.ToString()}});
  }
  return status;
}

Status AzureBlobStore::PutSingle(const std::string& key, const std::string& source_path,
                                 uint64_t size, const PutOptions& options, BlobInfo* written) {
  STRATA_ASSIGN_OR_RETURN(written->content_md5, Md5OfFileRange(source_path, 0, size));
  Call call;
  call.method = "PUT";
  call.path = BlobPath(key);
  call.headers = {{"x-ms-blob-type", "BlockBlob"},
                  {"Content-MD5", Base64Encode(written->content_md5)}};
  AddPutHeaders(options, options_.default_tier, call.headers);
  call.body_file = source_path;
  call.body_length = size;
  Result<HttpResponse> response = Execute(call);
  Status status = CheckResponse(response, {"put", key, options.create_only});
  if (status.ok()) written->etag = response->Header("etag").value_or("");
  return ResolveRetriedCreate(status, response.ok() ? response->attempts : 1, key,
                              written->content_md5, size);
}

Status AzureBlobStore::PutBlocks(const std::string& key, const std::string& source_path,
                                 uint64_t size, const PutOptions& options, BlobInfo* written) {
  const uint64_t block_size = options_.block_size_bytes;
  const uint64_t block_count = (size + block_size - 1) / block_size;
  if (block_count > kMaxBlocks) {
    return InvalidArgument("object '" + key + "' needs more than 50000 blocks; raise block size");
  }
  // One reader hashes the file once, block by block and whole, ahead of the senders: each
  // block's Content-MD5 is ready before its turn, and the bytes are read for hashing only once.
  std::mutex mutex;
  std::condition_variable hashed;
  std::vector<std::string> block_md5(block_count);
  uint64_t blocks_hashed = 0;
  bool failed = false;
  Status first_error;
  auto fail = [&](const Status& status) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!failed) first_error = status;
    failed = true;
    hashed.notify_all();
  };
  std::thread hasher([&] {
    Result<std::string> whole =
        Md5OfBlocksAndWhole(source_path, size, block_size, [&](uint64_t index, std::string md5) {
          std::lock_guard<std::mutex> lock(mutex);
          block_md5[index] = std::move(md5);
          blocks_hashed = index + 1;
          hashed.notify_all();
          return !failed;
        });
    if (whole.ok()) {
      written->content_md5 = std::move(whole).value();
    } else if (whole.status().code() != StatusCode::kCancelled) {
      fail(whole.status());
    }
  });
  std::atomic<uint64_t> next_block{0};
  auto upload = [&] {
    for (uint64_t i = next_block++; i < block_count; i = next_block++) {
      Call call;
      {
        std::unique_lock<std::mutex> lock(mutex);
        hashed.wait(lock, [&] { return failed || blocks_hashed > i; });
        if (failed) return;
        call.headers = {{"Content-MD5", Base64Encode(block_md5[i])}};
      }
      call.method = "PUT";
      call.path = BlobPath(key);
      call.query = {{"comp", "block"}, {"blockid", BlockId(i)}};
      call.body_file = source_path;
      call.body_offset = i * block_size;
      call.body_length = std::min(block_size, size - i * block_size);
      Status status = CheckResponse(Execute(call), {"put block", key});
      if (!status.ok()) {
        fail(status);
        return;
      }
    }
  };
  const int threads = static_cast<int>(std::min<uint64_t>(options_.upload_threads, block_count));
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(upload);
  upload();
  for (std::thread& worker : workers) worker.join();
  hasher.join();
  if (failed) {
    // No existence check precedes a create-only upload (it would cost every upload a round
    // trip): blocks sent to an existing blob fail only where it is immutable, so a failure
    // is checked against the key here. The block list's If-None-Match stays the atomic guard.
    if (options.create_only && Stat(key).ok()) {
      return AlreadyExists("put '" + key + "': object exists");
    }
    return first_error;
  }

  Call commit;
  commit.method = "PUT";
  commit.path = BlobPath(key);
  commit.query = {{"comp", "blocklist"}};
  commit.body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
  for (uint64_t i = 0; i < block_count; ++i) commit.body += "<Latest>" + BlockId(i) + "</Latest>";
  commit.body += "</BlockList>";
  Md5Hasher body_md5;
  body_md5.Update(commit.body.data(), commit.body.size());
  commit.headers = {{"x-ms-blob-content-md5", Base64Encode(written->content_md5)},
                    {"Content-MD5", Base64Encode(body_md5.Final())}};
  AddPutHeaders(options, options_.default_tier, commit.headers);
  Result<HttpResponse> response = Execute(commit);
  Status status = CheckResponse(response, {"put block list", key, options.create_only});
  if (status.ok()) written->etag = response->Header("etag").value_or("");
  return ResolveRetriedCreate(status, response.ok() ? response->attempts : 1, key,
                              written->content_md5, size);
}

Status AzureBlobStore::ResolveRetriedCreate(const Status& status, int attempts,
                                            const std::string& key, const std::string& md5,
                                            uint64_t size) {
  if (status.code() != StatusCode::kAlreadyExists || attempts <= 1) return status;
  Result<BlobInfo> info = Stat(key);
  if (info.ok() && info->content_md5 == md5 && info->size_bytes == size) {
    log::Info("azure_put_retried_create_is_ours", {{"key", key}});
    return OkStatus();
  }
  return status;
}

Result<std::string> AzureBlobStore::StagingPath() {
  return options_.staging_dir + "/" + UniqueFileName(".part");
}

std::vector<std::string> AzureBlobStore::StagedLeftovers() { return leftovers_; }

Result<std::unique_ptr<LocalObject>> AzureBlobStore::Open(const std::string& key) {
  if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
  const std::string path =
      options_.staging_dir + "/" + kDownloadsDir + "/" + UniqueFileName(".download");
  // Owns the file from here on: removed on every error path.
  auto object = std::make_unique<LocalObject>(path, true);
  Call call;
  call.method = "GET";
  call.path = BlobPath(key);
  call.response_file = path;
  STRATA_ASSIGN_OR_RETURN(HttpResponse response, ExecuteRead(call, {"get", key}));
  if (auto length = response.Header("content-length")) {
    if (*length != std::to_string(response.response_file_bytes)) {
      return DataLoss("get '" + key + "': received " +
                      std::to_string(response.response_file_bytes) + " bytes, expected " + *length);
    }
  }
  if (auto md5 = response.Header("content-md5")) {
    if (Base64Encode(response.response_file_md5) != *md5) {
      log::Error("azure_get_md5_mismatch", {{"key", key}});
      return DataLoss("get '" + key + "': downloaded bytes do not match the stored MD5");
    }
  } else {
    log::Warn("azure_get_without_md5", {{"key", key}});
  }
  return object;
}

Result<BlobInfo> AzureBlobStore::Stat(const std::string& key) {
  if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
  Call call;
  call.method = "HEAD";
  call.path = BlobPath(key);
  STRATA_ASSIGN_OR_RETURN(HttpResponse response, ExecuteRead(call, {"stat", key}));
  BlobInfo info;
  for (const auto& [name, value] : response.headers) {
    if (name == "content-length") {
      info.size_bytes = std::strtoull(value.c_str(), nullptr, 10);
    } else if (name == "x-ms-access-tier") {
      info.tier = ParseStorageTier(value);
    } else if (name == "x-ms-archive-status") {
      info.archive_status = value;
    } else if (name == "content-md5") {
      Result<std::string> md5 = Base64Decode(value);
      if (md5.ok()) info.content_md5 = *md5;
    } else if (name == "etag") {
      info.etag = value;
    } else if (name.rfind("x-ms-meta-", 0) == 0) {
      info.metadata[name.substr(10)] = value;
    } else if (name == "x-ms-immutability-policy-until-date") {
      if (auto until = ParseHttpDate(value)) info.retain_until_ms = ToUnixMs(*until);
    } else if (name == "x-ms-legal-hold") {
      info.legal_hold = value == "true";
    }
  }
  return info;
}

Status AzureBlobStore::Delete(const std::string& key) {
  if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
  Call call;
  call.method = "DELETE";
  call.path = BlobPath(key);
  Status status = CheckResponse(Execute(call), {"delete", key});
  if (status.code() == StatusCode::kNotFound) return OkStatus();
  if (status.ok()) log::Info("azure_delete", {{"key", key}});
  return status;
}

Status AzureBlobStore::List(const std::string& prefix,
                            const std::function<void(const std::string& key)>& fn) {
  std::string marker;
  do {
    Call call;
    call.method = "GET";
    call.path = ContainerPath();
    call.query = {{"restype", "container"},
                  {"comp", "list"},
                  {"maxresults", std::to_string(options_.list_page_size)}};
    if (!prefix.empty()) call.query.emplace_back("prefix", prefix);
    if (!marker.empty()) call.query.emplace_back("marker", marker);
    STRATA_ASSIGN_OR_RETURN(HttpResponse response, ExecuteRead(call, {"list", prefix}));
    Result<BlobListPage> page = ParseListBlobsResult(response.body);
    if (!page.ok()) return Internal("list '" + prefix + "': " + page.status().message());
    for (const std::string& name : page->names) fn(name);
    if (page->next_marker == marker && !marker.empty()) {
      return Internal("list '" + prefix + "': the service repeated its continuation marker");
    }
    marker = page->next_marker;
  } while (!marker.empty());
  return OkStatus();
}

Status AzureBlobStore::SetTier(const std::string& key, StorageTier tier) {
  if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
  Call call;
  call.method = "PUT";
  call.path = BlobPath(key);
  call.query = {{"comp", "tier"}};
  call.headers = {{"x-ms-access-tier", std::string(StorageTierName(tier))}};
  Status status = CheckResponse(Execute(call), {"set tier", key});
  if (status.ok()) {
    log::Info("azure_set_tier", {{"key", key}, {"tier", StorageTierName(tier)}});
  }
  return status;
}

Status AzureBlobStore::SetProtection(const std::string& key, const BlobProtection& protection) {
  STRATA_ASSIGN_OR_RETURN(BlobInfo current, Stat(key));
  // Whole seconds: the service keeps no more.
  const int64_t until_s = (protection.retain_until_ms + 999) / 1000;
  const int64_t current_s = current.retain_until_ms.value_or(0) / 1000;
  if (until_s != current_s) {
    Call policy;
    policy.path = BlobPath(key);
    policy.query = {{"comp", "immutabilityPolicies"}};
    if (until_s > 0) {
      policy.method = "PUT";
      policy.headers = {
          {"x-ms-immutability-policy-until-date",
           HttpDate(std::chrono::system_clock::time_point(std::chrono::seconds(until_s)))},
          {"x-ms-immutability-policy-mode",
           options_.lock_immutability_policies ? "Locked" : "Unlocked"}};
    } else {
      policy.method = "DELETE";
    }
    STRATA_RETURN_IF_ERROR(CheckResponse(Execute(policy), {"set immutability policy", key}));
  }
  if (protection.legal_hold != current.legal_hold) {
    Call hold;
    hold.method = "PUT";
    hold.path = BlobPath(key);
    hold.query = {{"comp", "legalhold"}};
    hold.headers = {{"x-ms-legal-hold", protection.legal_hold ? "true" : "false"}};
    STRATA_RETURN_IF_ERROR(CheckResponse(Execute(hold), {"set legal hold", key}));
  }
  log::Info("azure_set_protection",
            {{"key", key}, {"retain_until_s", until_s}, {"legal_hold", protection.legal_hold}});
  return OkStatus();
}

Result<uint64_t> AzureBlobStore::FreeBytes() {
  return Unimplemented("Azure Blob Storage has no free-space figure");
}

}  // namespace strata::blob
