// Integration tests of AzureBlobStore against Azurite, which the fixture starts from the
// repository's node_modules and stops (by PID) at the end. A loopback fault proxy between the
// store and Azurite injects 503s and corrupts bytes in flight.
//
// Azurite does not emulate immutability, legal hold, soft delete, versioning or rehydration
// delay; nothing here claims to test them (see docs/azure.md).
#include "blob/azure_blob_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "blob/azure_shared_key.h"
#include "blob/azurite_test_util.h"
#include "blob/blob_naming.h"
#include "blob/crypto_util.h"

namespace strata::blob {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Azurite's published development account and key (not secrets).
constexpr char kAccount[] = "devstoreaccount1";
constexpr char kAccountKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AzureBlobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    azurite_ = new Azurite();
    start_error_ = azurite_->Start(STRATA_SOURCE_DIR);
  }
  static void TearDownTestSuite() {
    azurite_->Stop();
    delete azurite_;
    azurite_ = nullptr;
  }

  void SetUp() override {
    // Fails, not skips: these tests are the evidence that the Azure back end works.
    ASSERT_EQ(start_error_, "") << "cannot run Azure integration tests";
    static std::atomic<int> counter{0};
    container_ = "t" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    staging_ = fs::temp_directory_path() / ("strata_azure_test_" + container_);
    fs::remove_all(staging_);
    auto store = AzureBlobStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(staging_);
  }

  AzureBlobOptions Options(int port = 0) const {
    AzureBlobOptions options;
    options.endpoint =
        "http://127.0.0.1:" + std::to_string(port ? port : azurite_->port()) + "/" + kAccount;
    options.account = kAccount;
    options.container = container_;
    options.shared_key = kAccountKey;
    options.staging_dir = staging_.string();
    options.create_container = true;
    options.retry.initial_backoff = milliseconds(50);
    return options;
  }

  std::string Stage(const std::string& content) {
    auto path = store_->StagingPath();
    EXPECT_TRUE(path.ok());
    std::ofstream(*path, std::ios::binary) << content;
    return *path;
  }

  std::string Fetch(BlobStore& store, const std::string& key) {
    auto object = store.Open(key);
    EXPECT_TRUE(object.ok()) << object.status().ToString();
    return object.ok() ? ReadAll((*object)->path()) : "";
  }

  static Azurite* azurite_;
  static std::string start_error_;
  std::string container_;
  fs::path staging_;
  std::unique_ptr<AzureBlobStore> store_;
};

Azurite* AzureBlobStoreTest::azurite_ = nullptr;
std::string AzureBlobStoreTest::start_error_;

TEST_F(AzureBlobStoreTest, PutThenOpenIsByteIdenticalAndDownloadIsRemovedOnClose) {
  const std::string content = RandomBytes(100'000, 1);
  std::string staged = Stage(content);
  ASSERT_TRUE(store_->PutFile("dicom/1.2/3.4/5.6.dcm", staged, true).ok());
  EXPECT_TRUE(fs::exists(staged)) << "the caller removes the staged file";
  std::string download_path;
  {
    auto object = store_->Open("dicom/1.2/3.4/5.6.dcm");
    ASSERT_TRUE(object.ok()) << object.status().ToString();
    download_path = (*object)->path();
    EXPECT_EQ(ReadAll(download_path), content);
  }
  EXPECT_FALSE(fs::exists(download_path));
  auto info = store_->Stat("dicom/1.2/3.4/5.6.dcm");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size_bytes, content.size());
  EXPECT_EQ(info->content_md5, *Md5OfFileRange(staged, 0, content.size()));
  EXPECT_FALSE(info->etag.empty());
}

TEST_F(AzureBlobStoreTest, EmptyObjectRoundTrips) {
  ASSERT_TRUE(store_->PutFile("empty", Stage(""), true).ok());
  EXPECT_EQ(Fetch(*store_, "empty"), "");
  EXPECT_EQ(store_->Stat("empty")->size_bytes, 0u);
}

TEST_F(AzureBlobStoreTest, CreateOnlyRefusesExistingKey) {
  ASSERT_TRUE(store_->PutFile("k/a", Stage("first"), true).ok());
  Status second = store_->PutFile("k/a", Stage("second"), true);
  EXPECT_EQ(second.code(), StatusCode::kAlreadyExists) << second.ToString();
  EXPECT_NE(second.message().find("BlobAlreadyExists"), std::string::npos) << second.message();
  EXPECT_EQ(Fetch(*store_, "k/a"), "first");
  ASSERT_TRUE(store_->PutFile("k/a", Stage("second"), false).ok());
  EXPECT_EQ(Fetch(*store_, "k/a"), "second");
}

TEST_F(AzureBlobStoreTest, LargeObjectGoesUpInParallelBlocksByteIdentical) {
  const std::string content = RandomBytes((20u << 20) + 12345, 2);  // 6 blocks, last partial
  std::string staged = Stage(content);
  ASSERT_TRUE(store_->PutFile("big/object", staged, true).ok());
  EXPECT_EQ(Fetch(*store_, "big/object"), content);
  auto info = store_->Stat("big/object");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size_bytes, content.size());
  // The whole object's MD5 set by Put Block List is what Open verifies downloads against.
  EXPECT_EQ(info->content_md5, *Md5OfFileRange(staged, 0, content.size()));
  EXPECT_EQ(store_->PutFile("big/object", staged, true).code(), StatusCode::kAlreadyExists);
}

TEST_F(AzureBlobStoreTest, CorruptedDownloadIsDetected) {
  ASSERT_TRUE(store_->PutFile("k/c", Stage(RandomBytes(50'000, 3)), true).ok());
  FaultProxy proxy(azurite_->port());
  AzureBlobOptions options = Options(proxy.port());
  options.create_container = false;  // the get opens the first connection
  auto via_proxy = AzureBlobStore::Open(options);
  ASSERT_TRUE(via_proxy.ok());
  proxy.corrupt_next_response_body = true;
  auto object = (*via_proxy)->Open("k/c");
  EXPECT_EQ(object.status().code(), StatusCode::kDataLoss) << object.status().ToString();
  // Nothing is left behind in the downloads folder.
  EXPECT_TRUE(fs::is_empty(staging_ / "downloads"));
}

TEST_F(AzureBlobStoreTest, CorruptedUploadIsRefusedByTheService) {
  FaultProxy proxy(azurite_->port());
  AzureBlobOptions options = Options(proxy.port());
  options.retry.max_attempts = 1;
  // The proxy acts per connection and the store keeps connections open: the put must be the
  // first request (no container check).
  options.create_container = false;
  auto via_proxy = AzureBlobStore::Open(options);
  ASSERT_TRUE(via_proxy.ok());
  proxy.corrupt_next_request_body = true;
  Status put = (*via_proxy)->PutFile("k/u", Stage(RandomBytes(50'000, 4)), true);
  // Azurite answers 400 InvalidOperation (Azure: Md5Mismatch) because Content-MD5 was sent.
  EXPECT_FALSE(put.ok());
  EXPECT_TRUE(put.code() == StatusCode::kInvalidArgument || put.code() == StatusCode::kDataLoss)
      << put.ToString();
  EXPECT_EQ(store_->Stat("k/u").status().code(), StatusCode::kNotFound);
}

TEST_F(AzureBlobStoreTest, TierIsSetOnUploadChangedAndReadBack) {
  PutOptions options;
  options.tier = StorageTier::kCool;
  ASSERT_TRUE(store_->Put("k/t", Stage("tiered"), options).ok());
  EXPECT_EQ(store_->Stat("k/t")->tier, StorageTier::kCool);
  ASSERT_TRUE(store_->SetTier("k/t", StorageTier::kCold).ok());
  EXPECT_EQ(store_->Stat("k/t")->tier, StorageTier::kCold);
  ASSERT_TRUE(store_->SetTier("k/t", StorageTier::kHot).ok());
  EXPECT_EQ(store_->Stat("k/t")->tier, StorageTier::kHot);
  EXPECT_EQ(store_->SetTier("missing", StorageTier::kCool).code(), StatusCode::kNotFound);
}

TEST_F(AzureBlobStoreTest, ArchiveTierReadGivesClearError) {
  ASSERT_TRUE(store_->PutFile("k/archived", Stage("cold data"), true).ok());
  ASSERT_TRUE(store_->SetTier("k/archived", StorageTier::kArchive).ok());
  auto info = store_->Stat("k/archived");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tier, StorageTier::kArchive);
  auto object = store_->Open("k/archived");
  EXPECT_EQ(object.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(object.status().message().find("rehydrate first"), std::string::npos)
      << object.status().message();
  EXPECT_NE(object.status().message().find("BlobArchived"), std::string::npos);
}

TEST_F(AzureBlobStoreTest, DefaultTierAppliesToNewObjects) {
  AzureBlobOptions options = Options();
  options.default_tier = StorageTier::kCool;
  auto cool_store = AzureBlobStore::Open(options);
  ASSERT_TRUE(cool_store.ok());
  ASSERT_TRUE((*cool_store)->PutFile("k/default", Stage("x"), true).ok());
  EXPECT_EQ(store_->Stat("k/default")->tier, StorageTier::kCool);
}

TEST_F(AzureBlobStoreTest, OpaqueNameWithUidMetadataRebuildsTheInstance) {
  auto namer = BlobNamer::Create(BlobNaming::kOpaque, "integration-test-naming-key-0123456789");
  ASSERT_TRUE(namer.ok());
  const InstanceUids uids{"1.2.840.1", "1.2.840.1.2", "1.2.840.1.2.3"};
  const std::string key = *namer->ObjectKey(uids);
  PutOptions options;
  options.create_only = true;
  options.metadata = BlobNamer::InstanceMetadata(uids);
  ASSERT_TRUE(store_->Put(key, Stage("dicom bytes"), options).ok());
  // From the objects alone: list, read metadata, recover the UIDs.
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->List("dicom-opaque/", [&](const std::string& k) { keys.push_back(k); }).ok());
  ASSERT_EQ(keys, std::vector<std::string>{key});
  auto info = store_->Stat(keys[0]);
  ASSERT_TRUE(info.ok());
  auto back = BlobNamer::UidsFromMetadata(info->metadata);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->study, uids.study);
  EXPECT_EQ(back->series, uids.series);
  EXPECT_EQ(back->sop, uids.sop);
  EXPECT_EQ(Fetch(*store_, key), "dicom bytes");

  PutOptions bad;
  bad.metadata = {{"Bad-Name", "x"}};
  EXPECT_EQ(store_->Put("k/m", Stage("x"), bad).code(), StatusCode::kInvalidArgument);
}

TEST_F(AzureBlobStoreTest, ListPagesThroughEveryKeyOfThePrefix) {
  AzureBlobOptions options = Options();
  options.list_page_size = 2;
  auto paging = AzureBlobStore::Open(options);
  ASSERT_TRUE(paging.ok());
  std::set<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    std::string key = "a/" + std::to_string(i) + ".dcm";
    ASSERT_TRUE(store_->PutFile(key, Stage("x"), true).ok());
    expected.insert(key);
  }
  ASSERT_TRUE(store_->PutFile("b/other.dcm", Stage("x"), true).ok());
  std::multiset<std::string> listed;
  ASSERT_TRUE((*paging)->List("a/", [&](const std::string& k) { listed.insert(k); }).ok());
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
  EXPECT_EQ(listed.size(), expected.size()) << "no key twice";
  int all = 0;
  ASSERT_TRUE((*paging)->List("", [&](const std::string&) { ++all; }).ok());
  EXPECT_EQ(all, 6);
}

// A List Blobs page larger than 64 KiB (the cap on kept error bodies) was cut there and
// failed as malformed XML: found by rebuild-catalog on a 200-object archive.
TEST_F(AzureBlobStoreTest, ListPageLargerThan64KiBIsComplete) {
  const std::string padding(700, 'x');
  std::set<std::string> expected;
  for (int i = 0; i < 120; ++i) {
    std::string key = "long/" + padding + std::to_string(i) + ".dcm";
    ASSERT_TRUE(store_->PutFile(key, Stage("x"), true).ok());
    expected.insert(key);
  }
  std::set<std::string> listed;
  Status status = store_->List("long/", [&](const std::string& k) { listed.insert(k); });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(listed, expected);
}

TEST_F(AzureBlobStoreTest, DeleteIsIdempotent) {
  ASSERT_TRUE(store_->PutFile("k/d", Stage("x"), true).ok());
  ASSERT_TRUE(store_->Delete("k/d").ok());
  EXPECT_EQ(store_->Open("k/d").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat("k/d").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("k/d").ok());
}

TEST_F(AzureBlobStoreTest, WrongKeyIsPermissionDeniedAndNeverEchoed) {
  AzureBlobOptions options = Options();
  options.create_container = false;
  options.shared_key = Base64Encode(RandomBytes(64, 5));
  auto wrong = AzureBlobStore::Open(options);
  ASSERT_TRUE(wrong.ok());
  Status put = (*wrong)->PutFile("k/w", Stage("x"), true);
  EXPECT_EQ(put.code(), StatusCode::kPermissionDenied) << put.ToString();
  EXPECT_EQ(put.message().find(options.shared_key), std::string::npos);
  EXPECT_EQ((*wrong)->Stat("k/w").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(AzureBlobStoreTest, ReadOnlySasReadsButCannotWrite) {
  ASSERT_TRUE(store_->PutFile("k/sas", Stage("shared"), true).ok());
  ServiceSasFields fields;
  fields.account = kAccount;
  fields.container = container_;
  fields.permissions = "rl";
  fields.expiry = "2099-01-01T00:00:00Z";
  AzureBlobOptions options = Options();
  options.create_container = false;
  options.shared_key.clear();
  options.sas_token = "?" + ServiceSasToken(fields, *Base64Decode(kAccountKey));
  auto reader = AzureBlobStore::Open(options);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(Fetch(**reader, "k/sas"), "shared");
  int listed = 0;
  ASSERT_TRUE((*reader)->List("k/", [&](const std::string&) { ++listed; }).ok());
  EXPECT_EQ(listed, 1);
  Status put = (*reader)->PutFile("k/sas2", Stage("x"), true);
  EXPECT_EQ(put.code(), StatusCode::kPermissionDenied) << put.ToString();
  EXPECT_EQ(put.message().find("sig="), std::string::npos) << "the SAS never appears";
  EXPECT_EQ((*reader)->Delete("k/sas").code(), StatusCode::kPermissionDenied);
}

TEST_F(AzureBlobStoreTest, RetriesA503HonouringRetryAfter) {
  FaultProxy proxy(azurite_->port());
  AzureBlobOptions options = Options(proxy.port());
  options.create_container = false;  // the put opens the first connection (see above)
  auto via_proxy = AzureBlobStore::Open(options);
  ASSERT_TRUE(via_proxy.ok());
  proxy.fail_next_with_503 = 1;
  const auto start = std::chrono::steady_clock::now();
  Status put = (*via_proxy)->PutFile("k/retry", Stage("persist"), true);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(proxy.answered_503.load(), 1);
  EXPECT_GE(elapsed, milliseconds(1000)) << "waited the Retry-After second";
  EXPECT_EQ(Fetch(*store_, "k/retry"), "persist");
}

TEST_F(AzureBlobStoreTest, PersistentOutageIsUnavailableAfterBoundedRetries) {
  FaultProxy proxy(azurite_->port());
  AzureBlobOptions options = Options(proxy.port());
  options.create_container = false;
  options.retry.max_attempts = 2;
  auto via_proxy = AzureBlobStore::Open(options);
  ASSERT_TRUE(via_proxy.ok());
  proxy.fail_next_with_503 = 100;
  Status put = (*via_proxy)->PutFile("k/outage", Stage("x"), true);
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("ServerBusy"), std::string::npos) << put.message();
  EXPECT_EQ(proxy.answered_503.load(), 2);

  options.endpoint = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/" + kAccount;
  auto nowhere = AzureBlobStore::Open(options);
  ASSERT_TRUE(nowhere.ok());
  EXPECT_EQ((*nowhere)->Stat("k/outage").status().code(), StatusCode::kUnavailable);
}

// The primary behind a relay that answers 503 to everything; the secondary is Azurite itself,
// holding what was written through the primary before the outage (as a geo-replica would).
TEST_F(AzureBlobStoreTest, ReadsGoToTheSecondaryWhileThePrimaryIsDown) {
  ASSERT_TRUE(store_->PutFile("k/replicated", Stage("geo copy"), true).ok());
  FaultProxy proxy(azurite_->port());
  AzureBlobOptions options = Options(proxy.port());
  options.create_container = false;
  options.retry.max_attempts = 1;
  options.secondary_endpoint = Options().endpoint;
  auto failover = AzureBlobStore::Open(options);
  ASSERT_TRUE(failover.ok()) << failover.status().ToString();

  proxy.fail_next_with_503 = 1000;
  EXPECT_EQ(Fetch(**failover, "k/replicated"), "geo copy");
  EXPECT_EQ(proxy.answered_503.load(), 1);
  // Within the preference window reads go to the secondary first: the primary is not asked.
  auto info = (*failover)->Stat("k/replicated");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size_bytes, 8u);
  std::vector<std::string> keys;
  ASSERT_TRUE((*failover)->List("k/", [&](const std::string& k) { keys.push_back(k); }).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"k/replicated"});
  EXPECT_EQ(proxy.answered_503.load(), 1);

  // Not on the secondary while the primary is down: unavailable (replication lag), not missing.
  auto lagging = (*failover)->Stat("k/not-replicated-yet");
  EXPECT_EQ(lagging.status().code(), StatusCode::kUnavailable) << lagging.status().ToString();
  EXPECT_NE(lagging.status().message().find("secondary has no copy"), std::string::npos);

  // Writes never go to the secondary.
  Status put = (*failover)->PutFile("k/new", Stage("x"), true);
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_EQ(store_->Stat("k/new").status().code(), StatusCode::kNotFound);

  // The primary is back: its answers count again (a missing object is missing).
  proxy.fail_next_with_503 = 0;
  AzureBlobOptions no_window = options;
  no_window.secondary_preference = milliseconds(0);
  auto recovered = AzureBlobStore::Open(no_window);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ((*recovered)->Stat("k/not-replicated-yet").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Fetch(**recovered, "k/replicated"), "geo copy");
}

TEST_F(AzureBlobStoreTest, SecondaryEndpointIsChecked) {
  AzureBlobOptions options = Options();
  options.secondary_endpoint = "ftp://elsewhere";
  EXPECT_EQ(AzureBlobStore::Open(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AzureBlobStoreTest, StagedLeftoversAndFreeBytes) {
  std::string staged = Stage("left over");
  auto reopened = AzureBlobStore::Open(Options());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->StagedLeftovers(), std::vector<std::string>{staged});
  EXPECT_EQ((*reopened)->FreeBytes().status().code(), StatusCode::kUnimplemented);
}

TEST(AzuriteFixtureTest, MissingAzuriteIsAnErrorNotASkip) {
  Azurite azurite;
  const std::string error = azurite.Start("/nonexistent-repo");
  EXPECT_NE(error.find("Azurite not found"), std::string::npos) << error;
}

}  // namespace
}  // namespace strata::blob
