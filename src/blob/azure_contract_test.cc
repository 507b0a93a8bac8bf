// Contract test of AzureBlobStore against a real Azure storage account: what Azurite does not
// emulate (immutability policies, legal holds, access tiers that cost money, the read-access
// geo-replica). Opt-in: every test skips unless the environment names an account.
//
//   STRATA_AZURE_CONTRACT_ENDPOINT   https://<account>.blob.core.windows.net
//   STRATA_AZURE_CONTRACT_ACCOUNT    <account>
//   STRATA_AZURE_CONTRACT_KEY        the account key (Shared Key), or
//   STRATA_AZURE_CONTRACT_SAS        a SAS with read, write, delete, list, tag, immutability
//   STRATA_AZURE_CONTRACT_CONTAINER  an existing container with version-level immutability
//                                    support (needs blob versioning on the account)
//   STRATA_AZURE_CONTRACT_SECONDARY  optional: https://<account>-secondary.blob.core.windows.net
//                                    of an RA-GRS / RA-GZRS account
//
// It writes a few small blobs under contract/<pid>-<time>/ and leaves them without protection
// (unlocked policies only); with versioning on, their earlier versions remain until the
// account's lifecycle removes them. See docs/azure.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "blob/azure_blob_store.h"

namespace strata::blob {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AzureContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("STRATA_AZURE_CONTRACT_ACCOUNT").empty()) {
      GTEST_SKIP() << "no Azure account configured (STRATA_AZURE_CONTRACT_*); opt-in test";
    }
    staging_ = fs::temp_directory_path() / ("strata_azure_contract_" + std::to_string(::getpid()));
    prefix_ = "contract/" + std::to_string(::getpid()) + "-" + std::to_string(NowMs()) + "/";
    auto store = AzureBlobStore::Open(Options(Env("STRATA_AZURE_CONTRACT_ENDPOINT")));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    if (store_) {
      for (const std::string& key : written_) {
        // Unlocked policies and holds can be removed; what cannot is reported.
        Status unprotected = store_->SetProtection(key, {});
        Status deleted = store_->Delete(key);
        EXPECT_TRUE(unprotected.ok() && deleted.ok())
            << key << ": " << unprotected.ToString() << " / " << deleted.ToString();
      }
    }
    fs::remove_all(staging_);
  }

  AzureBlobOptions Options(const std::string& endpoint) const {
    AzureBlobOptions options;
    options.endpoint = endpoint;
    options.account = Env("STRATA_AZURE_CONTRACT_ACCOUNT");
    options.container = Env("STRATA_AZURE_CONTRACT_CONTAINER");
    options.shared_key = Env("STRATA_AZURE_CONTRACT_KEY");
    options.sas_token = Env("STRATA_AZURE_CONTRACT_SAS");
    options.staging_dir = staging_.string();
    return options;
  }

  std::string Put(const std::string& name, const std::string& content) {
    auto path = store_->StagingPath();
    EXPECT_TRUE(path.ok());
    std::ofstream(*path, std::ios::binary) << content;
    const std::string key = prefix_ + name;
    Status put = store_->PutFile(key, *path, true);
    fs::remove(*path);
    EXPECT_TRUE(put.ok()) << put.ToString();
    written_.push_back(key);
    return key;
  }

  fs::path staging_;
  std::string prefix_;
  std::vector<std::string> written_;
  std::unique_ptr<AzureBlobStore> store_;
};

TEST_F(AzureContractTest, CreateOnlyTierAndMd5) {
  const std::string key = Put("a.dcm", "contract bytes");
  auto again = store_->StagingPath();
  ASSERT_TRUE(again.ok());
  std::ofstream(*again, std::ios::binary) << "other";
  EXPECT_EQ(store_->PutFile(key, *again, true).code(), StatusCode::kAlreadyExists);
  fs::remove(*again);
  ASSERT_TRUE(store_->SetTier(key, StorageTier::kCool).ok());
  auto info = store_->Stat(key);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->tier, StorageTier::kCool);
  EXPECT_EQ(info->content_md5.size(), 16u);
}

TEST_F(AzureContractTest, LegalHoldAndRetentionRefuseDeleteUntilRemoved) {
  const std::string key = Put("held.dcm", "held bytes");
  const int64_t until = NowMs() + 24LL * 3600 * 1000;
  Status set = store_->SetProtection(key, {.retain_until_ms = until, .legal_hold = true});
  ASSERT_TRUE(set.ok()) << set.ToString()
                        << " (does the container support version-level immutability?)";
  auto info = store_->Stat(key);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->legal_hold);
  ASSERT_TRUE(info->retain_until_ms.has_value());
  EXPECT_NEAR(static_cast<double>(*info->retain_until_ms), static_cast<double>(until), 2000.0);
  Status refused = store_->Delete(key);
  EXPECT_FALSE(refused.ok()) << "the service must refuse to delete a held blob";

  ASSERT_TRUE(store_->SetProtection(key, {.retain_until_ms = until}).ok());
  EXPECT_FALSE(store_->Stat(key)->legal_hold);
  EXPECT_FALSE(store_->Delete(key).ok()) << "still retained";

  ASSERT_TRUE(store_->SetProtection(key, {}).ok()) << "an unlocked policy can be removed";
  EXPECT_FALSE(store_->Stat(key)->retain_until_ms.has_value());
}

TEST_F(AzureContractTest, SecondaryEndpointServesReads) {
  const std::string secondary = Env("STRATA_AZURE_CONTRACT_SECONDARY");
  if (secondary.empty()) GTEST_SKIP() << "STRATA_AZURE_CONTRACT_SECONDARY not set";
  const std::string key = Put("geo.dcm", "replicated bytes");
  // The primary is an unroutable address: reads must come from the secondary, after Azure's
  // asynchronous replication (usually seconds, up to 15 minutes).
  AzureBlobOptions options = Options("https://127.0.0.1:9");
  options.secondary_endpoint = secondary;
  options.retry.max_attempts = 1;
  options.http.connect_timeout = std::chrono::seconds(2);
  auto failover = AzureBlobStore::Open(options);
  ASSERT_TRUE(failover.ok()) << failover.status().ToString();
  Result<BlobInfo> info = NotFound("not yet");
  for (int i = 0; i < 90 && !info.ok(); ++i) {
    info = (*failover)->Stat(key);
    if (!info.ok()) std::this_thread::sleep_for(std::chrono::seconds(10));
  }
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size_bytes, 16u);
}

}  // namespace
}  // namespace strata::blob
