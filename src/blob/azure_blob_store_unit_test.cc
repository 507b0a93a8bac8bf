// AzureBlobStore against a scripted HttpClient: what goes on the wire (headers, signing,
// credentials) and option checks, without a server. The behaviour against a real service is
// in azure_blob_store_test.cc (Azurite).
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "blob/azure_blob_store.h"
#include "blob/crypto_util.h"

namespace strata::blob {
namespace {

namespace fs = std::filesystem;

constexpr char kKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

// Records requests and answers from a script (201 when the script is empty).
class RecordingClient final : public HttpClient {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<HttpRequest> requests;
    std::deque<HttpResponse> answers;
  };
  explicit RecordingClient(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->requests.push_back(request);
    if (shared_->answers.empty()) {
      HttpResponse created;
      created.status = 201;
      return created;
    }
    HttpResponse next = shared_->answers.front();
    shared_->answers.pop_front();
    return next;
  }

 private:
  std::shared_ptr<Shared> shared_;
};

std::optional<std::string> HeaderOf(const HttpRequest& request, const std::string& name) {
  for (const auto& [header, value] : request.headers) {
    if (header == name) return value;
  }
  return std::nullopt;
}

HttpResponse Answer(int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.headers = std::move(headers);
  return response;
}

class AzureBlobStoreUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_ = fs::temp_directory_path() / ("strata_azure_unit_" + std::to_string(::getpid()));
    fs::remove_all(staging_);
    shared_ = std::make_shared<RecordingClient::Shared>();
  }
  void TearDown() override { fs::remove_all(staging_); }

  AzureBlobOptions Options() {
    AzureBlobOptions options;
    options.endpoint = "http://127.0.0.1:10000/devstoreaccount1/";
    options.account = "devstoreaccount1";
    options.container = "strata";
    options.shared_key = kKey;
    options.staging_dir = staging_.string();
    options.retry.initial_backoff = std::chrono::milliseconds(1);
    options.clock = [] { return std::chrono::system_clock::from_time_t(1'800'000'000); };
    auto shared = shared_;
    options.http_client_factory = [shared] { return std::make_unique<RecordingClient>(shared); };
    return options;
  }

  std::string Stage(BlobStore& store, const std::string& content) {
    std::string path = *store.StagingPath();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  fs::path staging_;
  std::shared_ptr<RecordingClient::Shared> shared_;
};

TEST_F(AzureBlobStoreUnitTest, SmallPutSendsSignedHeadersAndNothingElse) {
  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  PutOptions options;
  options.create_only = true;
  options.tier = StorageTier::kCool;
  options.metadata = {{"strata_sop_uid", "1.2.3"}};
  ASSERT_TRUE((*store)->Put("dicom/a.dcm", Stage(**store, "hello"), options).ok());
  ASSERT_EQ(shared_->requests.size(), 1u);
  const HttpRequest& put = shared_->requests[0];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url, "http://127.0.0.1:10000/devstoreaccount1/strata/dicom/a.dcm");
  EXPECT_EQ(put.body_length, 5u);
  EXPECT_EQ(HeaderOf(put, "Content-MD5"), "XUFAKrxLKna5cZ2REBfFkg==");
  EXPECT_EQ(HeaderOf(put, "If-None-Match"), "*");
  EXPECT_EQ(HeaderOf(put, "x-ms-access-tier"), "Cool");
  EXPECT_EQ(HeaderOf(put, "x-ms-meta-strata_sop_uid"), "1.2.3");
  EXPECT_EQ(HeaderOf(put, "x-ms-version"), "2021-12-02");
  EXPECT_EQ(HeaderOf(put, "x-ms-date"), "Fri, 15 Jan 2027 08:00:00 GMT");
  ASSERT_TRUE(HeaderOf(put, "Authorization").has_value());
  EXPECT_EQ(HeaderOf(put, "Authorization")->rfind("SharedKey devstoreaccount1:", 0), 0u);
  // libcurl derives Content-Length from the body; a second one must not be added.
  EXPECT_FALSE(HeaderOf(put, "Content-Length").has_value());
}

TEST_F(AzureBlobStoreUnitTest, BlockUploadUsesEqualLengthIdsAndCommitsWithWholeMd5) {
  AzureBlobOptions options = Options();
  options.single_put_limit_bytes = 10;
  options.block_size_bytes = 4;
  auto store = AzureBlobStore::Open(options);
  ASSERT_TRUE(store.ok());
  const std::string content = "0123456789abc";  // 13 bytes: 4 blocks, the last of 1 byte
  std::string staged = Stage(**store, content);
  ASSERT_TRUE((*store)->PutFile("big", staged, false).ok());
  ASSERT_EQ(shared_->requests.size(), 5u);
  std::set<std::string> offsets;
  for (size_t i = 0; i < 4; ++i) {
    const HttpRequest& block = shared_->requests[i];
    EXPECT_NE(block.url.find("comp=block&blockid="), std::string::npos) << block.url;
    offsets.insert(std::to_string(block.body_offset) + "+" + std::to_string(block.body_length));
    EXPECT_EQ(HeaderOf(block, "Content-MD5"),
              Base64Encode(*Md5OfFileRange(staged, block.body_offset, block.body_length)));
  }
  EXPECT_EQ(offsets, (std::set<std::string>{"0+4", "4+4", "8+4", "12+1"}));
  const HttpRequest& commit = shared_->requests[4];
  EXPECT_NE(commit.url.find("comp=blocklist"), std::string::npos);
  EXPECT_EQ(HeaderOf(commit, "x-ms-blob-content-md5"),
            Base64Encode(*Md5OfFileRange(staged, 0, content.size())));
  EXPECT_NE(commit.body.find("<Latest>" + Base64Encode("strata-block-00000003") + "</Latest>"),
            std::string::npos)
      << commit.body;
}

TEST_F(AzureBlobStoreUnitTest, PutDescribedTakesTheEtagFromTheWriteWithoutAHead) {
  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  shared_->answers = {Answer(201, {{"etag", "\"0x8D1\""}})};
  PutOptions options;
  options.create_only = true;
  options.tier = StorageTier::kCool;
  options.metadata = {{"strata_sha256", "ab"}};
  auto info = (*store)->PutDescribed("k", Stage(**store, "hello"), options);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(shared_->requests.size(), 1u);  // the PUT only
  EXPECT_EQ(info->etag, "\"0x8D1\"");
  EXPECT_EQ(info->size_bytes, 5u);
  EXPECT_EQ(Base64Encode(info->content_md5), "XUFAKrxLKna5cZ2REBfFkg==");
  EXPECT_EQ(info->tier, StorageTier::kCool);
  EXPECT_EQ(info->metadata, options.metadata);
}

TEST_F(AzureBlobStoreUnitTest, CreateOnlyBlockUploadSendsNoHeadFirst) {
  AzureBlobOptions options = Options();
  options.single_put_limit_bytes = 10;
  options.block_size_bytes = 4;
  auto store = AzureBlobStore::Open(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutFile("big", Stage(**store, "0123456789abc"), true).ok());
  ASSERT_EQ(shared_->requests.size(), 5u);  // four blocks and the list, nothing else
  for (const HttpRequest& request : shared_->requests) EXPECT_EQ(request.method, "PUT");
  EXPECT_EQ(HeaderOf(shared_->requests[4], "If-None-Match"), "*");

  // The key exists and refuses blocks (an immutable blob): reported as the conflict it is.
  options.upload_threads = 1;  // one sender, so the answers below meet their requests
  auto one_sender = AzureBlobStore::Open(options);
  ASSERT_TRUE(one_sender.ok());
  shared_->requests.clear();
  shared_->answers = {Answer(409, {{"x-ms-error-code", "BlobImmutableDueToPolicy"}}),
                      Answer(200, {{"content-length", "13"}})};
  EXPECT_EQ((*one_sender)->PutFile("big", Stage(**one_sender, "0123456789abc"), true).code(),
            StatusCode::kAlreadyExists);
  ASSERT_EQ(shared_->requests.size(), 2u);
  EXPECT_EQ(shared_->requests[1].method, "HEAD");
}

TEST(Md5OfBlocksAndWholeTest, MatchesRangeHashesAndStopsWhenAsked) {
  const fs::path path =
      fs::temp_directory_path() / ("strata_md5_blocks_" + std::to_string(::getpid()));
  std::string content(3 * 1000 * 1000 + 17, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 % 251);
  std::ofstream(path, std::ios::binary) << content;
  std::vector<std::string> blocks;
  auto whole = Md5OfBlocksAndWhole(path.string(), content.size(), 1 << 20,
                                   [&](uint64_t index, std::string md5) {
                                     EXPECT_EQ(index, blocks.size());
                                     blocks.push_back(std::move(md5));
                                     return true;
                                   });
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, *Md5OfFileRange(path.string(), 0, content.size()));
  ASSERT_EQ(blocks.size(), 3u);
  for (uint64_t i = 0; i < blocks.size(); ++i) {
    const uint64_t offset = i << 20;
    EXPECT_EQ(blocks[i], *Md5OfFileRange(path.string(), offset,
                                         std::min<uint64_t>(1 << 20, content.size() - offset)));
  }
  int calls = 0;
  auto stopped = Md5OfBlocksAndWhole(path.string(), content.size(), 1 << 20,
                                     [&](uint64_t, std::string) { return ++calls < 2; });
  EXPECT_EQ(stopped.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Md5OfBlocksAndWhole(path.string(), content.size() + 1, 1 << 20,
                                [](uint64_t, std::string) { return true; })
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  fs::remove(path);
}

TEST_F(AzureBlobStoreUnitTest, RetriedCreateThatFindsItsOwnObjectSucceeds) {
  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  // First attempt's answer lost (503), the retry sees the blob the first attempt created.
  shared_->answers = {
      Answer(503), Answer(409, {{"x-ms-error-code", "BlobAlreadyExists"}}),
      Answer(200, {{"content-length", "5"}, {"content-md5", "XUFAKrxLKna5cZ2REBfFkg=="}})};
  EXPECT_TRUE((*store)->PutFile("k", Stage(**store, "hello"), true).ok());
  // A first-attempt conflict is a real conflict.
  shared_->answers = {Answer(409, {{"x-ms-error-code", "BlobAlreadyExists"}})};
  EXPECT_EQ((*store)->PutFile("k", Stage(**store, "hello"), true).code(),
            StatusCode::kAlreadyExists);
  // After a retry, someone else's object (other MD5) is a conflict too.
  shared_->answers = {Answer(500), Answer(409, {{"x-ms-error-code", "BlobAlreadyExists"}}),
                      Answer(200, {{"content-length", "5"}, {"content-md5", "AAAA"}})};
  EXPECT_EQ((*store)->PutFile("k", Stage(**store, "hello"), true).code(),
            StatusCode::kAlreadyExists);
}

TEST_F(AzureBlobStoreUnitTest, SasIsAppendedAndNoAuthorizationHeader) {
  AzureBlobOptions options = Options();
  options.shared_key.clear();
  options.sas_token = "?sv=2021-12-02&sp=r&sig=abc%3D";
  auto store = AzureBlobStore::Open(options);
  ASSERT_TRUE(store.ok());
  shared_->answers = {Answer(404, {{"x-ms-error-code", "BlobNotFound"}})};
  Status status = (*store)->Stat("k").status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message().find("sig="), std::string::npos);
  ASSERT_EQ(shared_->requests.size(), 1u);
  EXPECT_EQ(shared_->requests[0].url,
            "http://127.0.0.1:10000/devstoreaccount1/strata/k?sv=2021-12-02&sp=r&sig=abc%3D");
  EXPECT_FALSE(HeaderOf(shared_->requests[0], "Authorization").has_value());
}

TEST_F(AzureBlobStoreUnitTest, BearerTokenFromProvider) {
  AzureBlobOptions options = Options();
  options.endpoint = "https://acct.blob.core.windows.net";
  options.account = "acct";
  options.shared_key.clear();
  options.token_provider = std::make_shared<StaticTokenProvider>("tok");
  auto store = AzureBlobStore::Open(options);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Delete("k").ok());
  ASSERT_EQ(shared_->requests.size(), 1u);
  EXPECT_EQ(shared_->requests[0].url, "https://acct.blob.core.windows.net/strata/k");
  EXPECT_EQ(HeaderOf(shared_->requests[0], "Authorization"), "Bearer tok");
}

TEST_F(AzureBlobStoreUnitTest, ListFollowsMarkersAndRejectsGarbage) {
  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  HttpResponse first = Answer(200);
  first.body =
      "<EnumerationResults><Blobs><Blob><Name>a</Name></Blob></Blobs>"
      "<NextMarker>m1</NextMarker></EnumerationResults>";
  HttpResponse second = Answer(200);
  second.body =
      "<EnumerationResults><Blobs><Blob><Name>b</Name></Blob></Blobs><NextMarker/>"
      "</EnumerationResults>";
  shared_->answers = {first, second};
  std::vector<std::string> keys;
  ASSERT_TRUE((*store)->List("", [&](const std::string& k) { keys.push_back(k); }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(shared_->requests[1].url.find("marker=m1"), std::string::npos);

  HttpResponse garbage = Answer(200);
  garbage.body = "<html>proxy login</html>";
  shared_->answers = {garbage};
  EXPECT_EQ((*store)->List("", [](const std::string&) {}).code(), StatusCode::kInternal);
}

TEST_F(AzureBlobStoreUnitTest, ProtectionSetsOnlyWhatDiffers) {
  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // The blob has no policy and no hold: both are set.
  shared_->answers = {Answer(200, {{"content-length", "3"}}), Answer(200), Answer(200)};
  const int64_t until_ms = 1'900'000'000'000;  // Sun, 17 Mar 2030 17:46:40 GMT
  ASSERT_TRUE(
      (*store)->SetProtection("k/a", {.retain_until_ms = until_ms, .legal_hold = true}).ok());
  ASSERT_EQ(shared_->requests.size(), 3u);
  EXPECT_EQ(shared_->requests[0].method, "HEAD");
  const HttpRequest& policy = shared_->requests[1];
  EXPECT_EQ(policy.method, "PUT");
  EXPECT_NE(policy.url.find("/strata/k/a?comp=immutabilityPolicies"), std::string::npos)
      << policy.url;
  EXPECT_EQ(HeaderOf(policy, "x-ms-immutability-policy-until-date"),
            "Sun, 17 Mar 2030 17:46:40 GMT");
  EXPECT_EQ(HeaderOf(policy, "x-ms-immutability-policy-mode"), "Unlocked");
  const HttpRequest& hold = shared_->requests[2];
  EXPECT_NE(hold.url.find("?comp=legalhold"), std::string::npos) << hold.url;
  EXPECT_EQ(HeaderOf(hold, "x-ms-legal-hold"), "true");

  // Policy already in force and hold to clear: only the hold call; then the policy removed.
  shared_->requests.clear();
  shared_->answers = {
      Answer(200, {{"x-ms-immutability-policy-until-date", "Sun, 17 Mar 2030 17:46:40 GMT"},
                   {"x-ms-legal-hold", "true"}}),
      Answer(200)};
  ASSERT_TRUE((*store)->SetProtection("k/a", {.retain_until_ms = until_ms}).ok());
  ASSERT_EQ(shared_->requests.size(), 2u);
  EXPECT_EQ(HeaderOf(shared_->requests[1], "x-ms-legal-hold"), "false");
  shared_->requests.clear();
  shared_->answers = {
      Answer(200, {{"x-ms-immutability-policy-until-date", "Sun, 17 Mar 2030 17:46:40 GMT"}}),
      Answer(200)};
  ASSERT_TRUE((*store)->SetProtection("k/a", {}).ok());
  ASSERT_EQ(shared_->requests.size(), 2u);
  EXPECT_EQ(shared_->requests[1].method, "DELETE");

  // A container without version-level immutability: the service's refusal comes back.
  shared_->requests.clear();
  shared_->answers = {
      Answer(200), Answer(409, {{"x-ms-error-code", "ImmutableStorageWithVersioningNotEnabled"}})};
  Status refused = (*store)->SetProtection("k/a", {.retain_until_ms = until_ms});
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("ImmutableStorageWithVersioningNotEnabled"), std::string::npos)
      << refused.ToString();
}

TEST_F(AzureBlobStoreUnitTest, LockedPoliciesWhenConfigured) {
  AzureBlobOptions options = Options();
  options.lock_immutability_policies = true;
  auto store = AzureBlobStore::Open(options);
  ASSERT_TRUE(store.ok());
  shared_->answers = {Answer(200), Answer(200)};
  ASSERT_TRUE((*store)->SetProtection("k/a", {.retain_until_ms = 1'900'000'000'000}).ok());
  ASSERT_EQ(shared_->requests.size(), 2u);
  EXPECT_EQ(HeaderOf(shared_->requests[1], "x-ms-immutability-policy-mode"), "Locked");
}

TEST_F(AzureBlobStoreUnitTest, RejectsBadOptionsAndKeys) {
  AzureBlobOptions two = Options();
  two.sas_token = "sv=x";
  EXPECT_EQ(AzureBlobStore::Open(two).status().code(), StatusCode::kInvalidArgument);
  AzureBlobOptions none = Options();
  none.shared_key.clear();
  EXPECT_EQ(AzureBlobStore::Open(none).status().code(), StatusCode::kInvalidArgument);
  AzureBlobOptions bad_key = Options();
  bad_key.shared_key = "not base64!";
  Status status = AzureBlobStore::Open(bad_key).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message().find("not base64!"), std::string::npos) << "no key in messages";
  AzureBlobOptions bearer_http = Options();
  bearer_http.shared_key.clear();
  bearer_http.token_provider = std::make_shared<StaticTokenProvider>("tok");
  EXPECT_EQ(AzureBlobStore::Open(bearer_http).status().code(), StatusCode::kInvalidArgument);
  AzureBlobOptions bad_endpoint = Options();
  bad_endpoint.endpoint = "ftp://x";
  EXPECT_EQ(AzureBlobStore::Open(bad_endpoint).status().code(), StatusCode::kInvalidArgument);

  for (const char* container : {"", "ab", "Upper", "a/b", "-ab", "a--b", "ab?x"}) {
    AzureBlobOptions bad_container = Options();
    bad_container.container = container;
    EXPECT_EQ(AzureBlobStore::Open(bad_container).status().code(), StatusCode::kInvalidArgument)
        << container;
  }

  auto store = AzureBlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  for (const char* key : {"", "/abs", "a/../b", "a//b", "a b", "a?b", "dir/"}) {
    EXPECT_EQ((*store)->Stat(key).status().code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_TRUE(shared_->requests.empty()) << "nothing sent for a bad key";
  EXPECT_EQ((*store)->FreeBytes().status().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace strata::blob
