#include "blob/curl_http_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "blob/crypto_util.h"

namespace strata::blob {
namespace {

// Error bodies are small XML documents; anything longer is cut.
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
// A successful response kept in memory (e.g. a List Blobs page of up to 5,000 names, several
// MiB): bounded, but far above an error body.
constexpr size_t kMaxInMemoryBodyBytes = 16 * 1024 * 1024;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// State of one exchange, shared with libcurl's callbacks.
struct Exchange {
  const HttpRequest* request = nullptr;
  HttpResponse response;
  // Upload source.
  int body_fd = -1;
  uint64_t body_sent = 0;
  // Download sink.
  int response_fd = -1;
  Md5Hasher md5;
  Status write_error;
  bool headers_done = false;
  bool status_is_success = false;
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const HttpRequest& req = *ex->request;
  const uint64_t total = req.body_file.empty() ? req.body.size() : req.body_length;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(size * count, total - ex->body_sent));
  if (want == 0) return 0;
  if (req.body_file.empty()) {
    std::memcpy(buffer, req.body.data() + ex->body_sent, want);
    ex->body_sent += want;
    return want;
  }
  ssize_t got;
  do {
    got = ::pread(ex->body_fd, buffer, want, static_cast<off_t>(req.body_offset + ex->body_sent));
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    ex->write_error = Unavailable("read " + req.body_file + " failed or file shrank");
    return CURL_READFUNC_ABORT;
  }
  ex->body_sent += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

// Rewinds the upload when libcurl resends the body (e.g. after a redirect or auth).
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* ex = static_cast<Exchange*>(user);
  if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  ex->body_sent = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t ReceiveHeader(char* buffer, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string line(buffer, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (e.g. after a 100 Continue): start the header list afresh.
    ex->response.headers.clear();
    size_t space = line.find(' ');
    ex->response.status = space == std::string::npos ? 0 : std::atoi(line.c_str() + space + 1);
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    size_t begin = value.find_first_not_of(" \t");
    value = begin == std::string::npos ? "" : value.substr(begin);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    ex->response.headers.emplace_back(Lower(line.substr(0, colon)), std::move(value));
  }
  return size * count;
}

size_t ReceiveBody(char* buffer, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  const bool to_file =
      ex->response_fd >= 0 && ex->response.status >= 200 && ex->response.status < 300;
  if (!to_file) {
    const bool success = ex->response.status >= 200 && ex->response.status < 300;
    const size_t limit = success ? kMaxInMemoryBodyBytes : kMaxErrorBodyBytes;
    size_t room = limit - std::min(limit, ex->response.body.size());
    ex->response.body.append(buffer, std::min(room, bytes));
    return bytes;
  }
  size_t done = 0;
  while (done < bytes) {
    ssize_t wrote = ::write(ex->response_fd, buffer + done, bytes - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ex->write_error = (err == ENOSPC || err == EDQUOT)
                            ? ResourceExhausted("write download: " + std::string(strerror(err)))
                            : Unavailable("write download: " + std::string(strerror(err)));
      return 0;  // makes libcurl abort the transfer
    }
    done += static_cast<size_t>(wrote);
  }
  ex->md5.Update(buffer, bytes);
  ex->response.response_file_bytes += bytes;
  return bytes;
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlHttpOptions options) : options_(std::move(options)) {
    InitCurlOnce();
  }
  ~CurlHttpClient() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    Exchange ex;
    ex.request = &request;
    if (!request.body_file.empty()) {
      ex.body_fd = ::open(request.body_file.c_str(), O_RDONLY | O_CLOEXEC);
      if (ex.body_fd < 0) {
        return Unavailable("open " + request.body_file + ": " + std::strerror(errno));
      }
    }
    if (!request.response_file.empty()) {
      ex.response_fd =
          ::open(request.response_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (ex.response_fd < 0) {
        int err = errno;
        if (ex.body_fd >= 0) ::close(ex.body_fd);
        return Unavailable("create " + request.response_file + ": " + std::strerror(err));
      }
    }
    Result<HttpResponse> result = Perform(request, ex);
    if (ex.body_fd >= 0) ::close(ex.body_fd);
    // No fsync: a download is a disposable local copy of a durable remote object.
    if (ex.response_fd >= 0) ::close(ex.response_fd);
    if (!ex.write_error.ok()) return ex.write_error;
    return result;
  }

 private:
  // Easy handles are kept between requests: each keeps its connections open, so requests to
  // the same host reuse a connection (and its TLS session) instead of opening a new one.
  struct HandleLease {
    CurlHttpClient* client;
    CURL* handle;
    ~HandleLease() {
      if (handle == nullptr) return;
      curl_easy_reset(handle);  // options only; live connections stay in its cache
      std::lock_guard<std::mutex> lock(client->mutex_);
      if (client->idle_.size() < kMaxIdleHandles) {
        client->idle_.push_back(handle);
        return;
      }
      curl_easy_cleanup(handle);
    }
  };
  static constexpr size_t kMaxIdleHandles = 32;

  HandleLease Lease() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return {this, h};
      }
    }
    return {this, curl_easy_init()};
  }

  Result<HttpResponse> Perform(const HttpRequest& request, Exchange& ex) {
    HandleLease curl = Lease();
    if (curl.handle == nullptr) return Internal("curl_easy_init failed");
    CURL* h = curl.handle;
    char error_buffer[CURL_ERROR_SIZE] = {};

    curl_slist* header_list = nullptr;
    for (const auto& [name, value] : request.headers) {
      // "Name;" sends an empty header; "Name: v" a valued one.
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      header_list = curl_slist_append(header_list, line.c_str());
    }
    // Suppress what libcurl would add on its own: Expect: 100-continue on uploads, a form
    // Content-Type on POST, and Accept. Unsigned extra headers break Shared Key auth.
    header_list = curl_slist_append(header_list, "Expect:");
    header_list = curl_slist_append(header_list, "Accept:");
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(header_list,
                                                                        &curl_slist_free_all);

    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes_per_second);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.low_speed_time.count()));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &ReceiveHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &ReceiveBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);

    const bool has_body = !request.body.empty() || !request.body_file.empty();
    if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "PUT") {
      // UPLOAD sends Content-Length from INFILESIZE_LARGE, also for an empty body.
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      const uint64_t size = request.body_file.empty() ? request.body.size() : request.body_length;
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
      curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &ex);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &SeekBody);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &ex);
    } else if (request.method == "POST") {
      // The body through the same read callback as PUT (in memory or streamed from a file).
      const uint64_t size = request.body_file.empty() ? request.body.size() : request.body_length;
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
      curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &ex);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &SeekBody);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &ex);
    } else if (request.method == "DELETE" && !has_body) {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
      return InvalidArgument("unsupported HTTP method " + request.method);
    }

    CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) {
      if (!ex.write_error.ok()) return ex.write_error;
      std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
      return Unavailable("HTTP " + request.method + " failed: " + detail);
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    ex.response.status = static_cast<int>(status);
    if (ex.response_fd >= 0 && ex.response.status >= 200 && ex.response.status < 300) {
      ex.response.response_file_md5 = ex.md5.Final();
    }
    return std::move(ex.response);
  }

  const CurlHttpOptions options_;
  std::mutex mutex_;
  std::vector<CURL*> idle_;  // GUARDED_BY(mutex_)
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient(const CurlHttpOptions& options) {
  return std::make_unique<CurlHttpClient>(options);
}

}  // namespace strata::blob
