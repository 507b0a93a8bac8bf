#include "blob/file_blob_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace strata::blob {
namespace {

namespace fs = std::filesystem;

class FileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("strata_blob_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    auto store = OpenFileBlobStore(root_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Stage(const std::string& content) {
    auto path = store_->StagingPath();
    EXPECT_TRUE(path.ok());
    std::ofstream(*path, std::ios::binary) << content;
    return *path;
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(FileBlobStoreTest, PutOpenStatDelete) {
  std::string staged = Stage("hello");
  ASSERT_TRUE(store_->PutFile("dicom/1.2/3.4/5.6.dcm", staged, true).ok());
  EXPECT_TRUE(fs::exists(staged)) << "the caller removes the staged file";
  auto obj = store_->Open("dicom/1.2/3.4/5.6.dcm");
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(ReadAll((*obj)->path()), "hello");
  EXPECT_EQ(store_->Stat("dicom/1.2/3.4/5.6.dcm")->size_bytes, 5u);
  ASSERT_TRUE(store_->Delete("dicom/1.2/3.4/5.6.dcm").ok());
  EXPECT_EQ(store_->Open("dicom/1.2/3.4/5.6.dcm").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("dicom/1.2/3.4/5.6.dcm").ok()) << "delete is idempotent";
}

TEST_F(FileBlobStoreTest, PutWithUnsyncedNameIsStoredAndSyncNamesChecksItsKeys) {
  ASSERT_TRUE(store_->PutFileUnsyncedName("dicom/1.2/3.4/5.6.dcm", Stage("a"), true).ok());
  ASSERT_TRUE(store_->PutFileUnsyncedName("dicom/1.2/3.4/5.7.dcm", Stage("b"), true).ok());
  EXPECT_EQ(store_->PutFileUnsyncedName("dicom/1.2/3.4/5.6.dcm", Stage("c"), true).code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_->SyncNames({"dicom/1.2/3.4/5.6.dcm", "dicom/1.2/3.4/5.7.dcm"}).ok());
  EXPECT_EQ(ReadAll((*store_->Open("dicom/1.2/3.4/5.7.dcm"))->path()), "b");
  EXPECT_EQ(store_->SyncNames({"../escape.dcm"}).code(), StatusCode::kInvalidArgument);
  // A directory that is not there cannot be flushed: the caller must not commit.
  EXPECT_EQ(store_->SyncNames({"dicom/9.9/9.9/9.9.dcm"}).code(), StatusCode::kNotFound);
}

TEST_F(FileBlobStoreTest, CreateOnlyRefusesExistingKeyAndKeepsBoth) {
  ASSERT_TRUE(store_->PutFile("k/a", Stage("first"), true).ok());
  std::string second = Stage("second");
  Status s = store_->PutFile("k/a", second, true);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(second)) << "the staged file stays for the caller";
  EXPECT_EQ(ReadAll((*store_->Open("k/a"))->path()), "first");
  ASSERT_TRUE(store_->PutFile("k/a", second, false).ok());
  EXPECT_EQ(ReadAll((*store_->Open("k/a"))->path()), "second");
}

TEST_F(FileBlobStoreTest, ConcurrentCreateOnlyHasOneWinner) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  std::vector<std::string> staged;
  for (int i = 0; i < 8; ++i) staged.push_back(Stage("v" + std::to_string(i)));
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (store_->PutFile("race/key", staged[i], true).ok()) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_F(FileBlobStoreTest, RefusesKeysEscapingTheRoot) {
  for (const char* key : {"../x", "/etc/passwd", "a/../../b", "a//b", "", ".staging/x", "a b"}) {
    EXPECT_EQ(store_->PutFile(key, Stage("x"), true).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Open(key).status().code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST_F(FileBlobStoreTest, ListSkipsStagingAndFiltersByPrefix) {
  ASSERT_TRUE(store_->PutFile("dicom/s1/a", Stage("1"), true).ok());
  ASSERT_TRUE(store_->PutFile("dicom/s2/b", Stage("2"), true).ok());
  ASSERT_TRUE(store_->PutFile("other/c", Stage("3"), true).ok());
  Stage("left in staging");
  std::set<std::string> keys;
  ASSERT_TRUE(store_->List("dicom/", [&](const std::string& k) { keys.insert(k); }).ok());
  EXPECT_EQ(keys, (std::set<std::string>{"dicom/s1/a", "dicom/s2/b"}));
}

TEST_F(FileBlobStoreTest, ReopenReportsStagedLeftovers) {
  EXPECT_TRUE(store_->StagedLeftovers().empty());
  std::string staged = Stage("crash leftover");
  auto reopened = OpenFileBlobStore(root_.string());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->StagedLeftovers(), std::vector<std::string>{staged});
}

TEST_F(FileBlobStoreTest, ReplacingPutSwapsContentAtomically) {
  ASSERT_TRUE(store_->PutFile("k/b", Stage("old"), false).ok());
  ASSERT_TRUE(store_->PutFile("k/b", Stage("new"), false).ok());
  EXPECT_EQ(ReadAll((*store_->Open("k/b"))->path()), "new");
  std::set<std::string> keys;
  ASSERT_TRUE(store_->List("k/", [&](const std::string& k) { keys.insert(k); }).ok());
  EXPECT_EQ(keys, (std::set<std::string>{"k/b"}));
}

TEST_F(FileBlobStoreTest, PutWithoutTierOrMetadataIsPutFile) {
  PutOptions options;
  options.create_only = true;
  ASSERT_TRUE(store_->Put("k/p", Stage("plain"), options).ok());
  EXPECT_EQ(store_->Put("k/p", Stage("again"), options).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadAll((*store_->Open("k/p"))->path()), "plain");
}

TEST_F(FileBlobStoreTest, TiersAndMetadataAreUnimplementedNotDropped) {
  PutOptions tiered;
  tiered.tier = StorageTier::kCool;
  EXPECT_EQ(store_->Put("k/t", Stage("x"), tiered).code(), StatusCode::kUnimplemented);
  PutOptions with_metadata;
  with_metadata.metadata = {{"strata_sop_uid", "1.2"}};
  EXPECT_EQ(store_->Put("k/t", Stage("x"), with_metadata).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(store_->Stat("k/t").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->PutFile("k/t", Stage("x"), true).ok());
  EXPECT_EQ(store_->SetTier("k/t", StorageTier::kArchive).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(store_->Stat("k/t")->tier.has_value());
}

TEST(StorageTierTest, NamesRoundTrip) {
  for (StorageTier tier :
       {StorageTier::kHot, StorageTier::kCool, StorageTier::kCold, StorageTier::kArchive}) {
    EXPECT_EQ(ParseStorageTier(StorageTierName(tier)), tier);
  }
  EXPECT_EQ(ParseStorageTier("archive"), StorageTier::kArchive);
  EXPECT_EQ(ParseStorageTier("Premium"), std::nullopt);
}

TEST_F(FileBlobStoreTest, ReportsFreeBytes) {
  auto free_bytes = store_->FreeBytes();
  ASSERT_TRUE(free_bytes.ok());
  EXPECT_GT(*free_bytes, 0u);
}

// Emulated tiers, with an injected clock.
class TieredFileBlobStoreTest : public FileBlobStoreTest {
 protected:
  void SetUp() override {
    FileBlobStoreTest::SetUp();
    Reopen();
  }
  void Reopen() {
    FileBlobStoreOptions options;
    options.emulate_tiers = true;
    options.rehydration_delay = std::chrono::seconds(600);
    options.now_ms = [this] { return now_ms_.load(); };
    auto store = OpenFileBlobStore(root_.string(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void PutArchived(const std::string& key, const std::string& content) {
    PutOptions options;
    options.create_only = true;
    options.tier = StorageTier::kArchive;
    options.metadata = {{"strata_sha256", "abc"}};
    ASSERT_TRUE(store_->Put(key, Stage(content), options).ok());
  }

  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

TEST_F(TieredFileBlobStoreTest, PutKeepsTierAndMetadata) {
  PutArchived("k/a", "archived");
  auto info = store_->Stat("k/a");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->tier, StorageTier::kArchive);
  EXPECT_EQ(info->archive_status, "");
  EXPECT_EQ(info->metadata, (std::map<std::string, std::string>{{"strata_sha256", "abc"}}));
  ASSERT_TRUE(store_->PutFile("k/plain", Stage("x"), true).ok());
  EXPECT_EQ(store_->Stat("k/plain")->tier, StorageTier::kHot) << "the default tier";
  EXPECT_EQ(store_->SetTier("k/missing", StorageTier::kCool).code(), StatusCode::kNotFound);
}

TEST_F(TieredFileBlobStoreTest, OpenOfArchivedObjectStartsRehydrationThenSucceeds) {
  PutArchived("k/a", "archived bytes");
  auto first = store_->Open("k/a");
  ASSERT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(first.status().retry_after_seconds(), 600);
  EXPECT_NE(first.status().message().find("rehydration to Hot started"), std::string::npos)
      << first.status().message();
  EXPECT_EQ(store_->Stat("k/a")->archive_status, "rehydrate-pending-to-hot");
  EXPECT_EQ(store_->Stat("k/a")->tier, StorageTier::kArchive);

  now_ms_ += 200'500;
  auto pending = store_->Open("k/a");
  ASSERT_EQ(pending.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(pending.status().retry_after_seconds(), 400) << "the remaining time, rounded up";
  EXPECT_NE(pending.status().message().find("pending"), std::string::npos);

  now_ms_ += 400'000;
  auto ready = store_->Open("k/a");
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(ReadAll((*ready)->path()), "archived bytes");
  auto info = store_->Stat("k/a");
  EXPECT_EQ(info->tier, StorageTier::kHot);
  EXPECT_EQ(info->archive_status, "");
  EXPECT_EQ(info->metadata.at("strata_sha256"), "abc") << "metadata outlives the rehydration";
}

TEST_F(TieredFileBlobStoreTest, SetTierOutOfArchiveIsTheRehydrationRequest) {
  PutArchived("k/a", "x");
  ASSERT_TRUE(store_->SetTier("k/a", StorageTier::kCool).ok());
  EXPECT_EQ(store_->Stat("k/a")->archive_status, "rehydrate-pending-to-cool");
  EXPECT_TRUE(store_->SetTier("k/a", StorageTier::kCool).ok()) << "repeating it is harmless";
  EXPECT_EQ(store_->SetTier("k/a", StorageTier::kHot).code(), StatusCode::kFailedPrecondition)
      << "a pending rehydration is not redirected";
  auto pending = store_->Open("k/a");
  EXPECT_EQ(pending.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(pending.status().message().find("rehydration to Cool pending"), std::string::npos)
      << pending.status().message();
  now_ms_ += 600'000;
  EXPECT_EQ(store_->Stat("k/a")->tier, StorageTier::kCool) << "completes by itself";
  EXPECT_TRUE(store_->Open("k/a").ok());
  // Between online tiers the change is immediate; back to Archive makes it unreadable again.
  ASSERT_TRUE(store_->SetTier("k/a", StorageTier::kHot).ok());
  EXPECT_EQ(store_->Stat("k/a")->tier, StorageTier::kHot);
  ASSERT_TRUE(store_->SetTier("k/a", StorageTier::kArchive).ok());
  EXPECT_EQ(store_->Open("k/a").status().code(), StatusCode::kUnavailable);
}

TEST_F(TieredFileBlobStoreTest, TierStateSurvivesRestart) {
  PutArchived("k/a", "x");
  EXPECT_EQ(store_->Open("k/a").status().code(), StatusCode::kUnavailable);
  Reopen();
  EXPECT_EQ(store_->Stat("k/a")->archive_status, "rehydrate-pending-to-hot");
  auto pending = store_->Open("k/a");
  EXPECT_EQ(pending.status().retry_after_seconds(), 600) << "the same rehydration, not a new one";
  now_ms_ += 600'000;
  Reopen();
  EXPECT_TRUE(store_->Open("k/a").ok());
}

TEST_F(TieredFileBlobStoreTest, SidecarsAreHiddenAndGoWithTheirObject) {
  PutArchived("dicom/s/a.dcm", "x");
  ASSERT_TRUE(store_->PutFile("dicom/s/b.dcm", Stage("y"), true).ok());
  std::set<std::string> keys;
  ASSERT_TRUE(store_->List("", [&](const std::string& k) { keys.insert(k); }).ok());
  EXPECT_EQ(keys, (std::set<std::string>{"dicom/s/a.dcm", "dicom/s/b.dcm"}));
  Reopen();
  for (const auto& leftover : store_->StagedLeftovers()) {
    EXPECT_NE(leftover.find("/.staging/"), std::string::npos) << leftover;
  }
  EXPECT_TRUE(fs::exists(root_ / ".tiers/dicom/s/a.dcm.json"));
  ASSERT_TRUE(store_->Delete("dicom/s/a.dcm").ok());
  EXPECT_FALSE(fs::exists(root_ / ".tiers/dicom/s/a.dcm.json"));
  // A new object under the key starts afresh: Hot, no metadata.
  ASSERT_TRUE(store_->PutFile("dicom/s/a.dcm", Stage("z"), true).ok());
  EXPECT_EQ(store_->Stat("dicom/s/a.dcm")->tier, StorageTier::kHot);
  EXPECT_TRUE(store_->Stat("dicom/s/a.dcm")->metadata.empty());
  EXPECT_EQ(store_->PutFile(".tiers/x", Stage("x"), true).code(), StatusCode::kInvalidArgument);
}

TEST_F(TieredFileBlobStoreTest, ReplacingPutResetsTier) {
  PutArchived("k/a", "old");
  ASSERT_TRUE(store_->PutFile("k/a", Stage("new"), false).ok());
  EXPECT_EQ(store_->Stat("k/a")->tier, StorageTier::kHot);
  EXPECT_TRUE(store_->Open("k/a").ok());
  EXPECT_EQ(store_->Put("k/a", Stage("again"), PutOptions{.create_only = true}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Stat("k/a")->tier, StorageTier::kHot) << "a refused put changes nothing";
}

TEST_F(TieredFileBlobStoreTest, RetainedOrHeldObjectsCannotBeDeletedOrOverwritten) {
  PutArchived("k/a", "kept");
  const int64_t until = now_ms_.load() + 1000;
  ASSERT_TRUE(store_->SetProtection("k/a", {.retain_until_ms = until, .legal_hold = true}).ok());
  auto info = store_->Stat("k/a");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->retain_until_ms, until);
  EXPECT_TRUE(info->legal_hold);
  EXPECT_EQ(store_->Delete("k/a").code(), StatusCode::kFailedPrecondition);
  Status overwrite = store_->PutFile("k/a", Stage("changed"), false);
  EXPECT_EQ(overwrite.code(), StatusCode::kFailedPrecondition) << overwrite.ToString();
  EXPECT_NE(overwrite.message().find("legal hold"), std::string::npos) << overwrite.message();

  // The hold cleared, the retention still runs; it survives a restart.
  ASSERT_TRUE(store_->SetProtection("k/a", {.retain_until_ms = until}).ok());
  Reopen();
  EXPECT_FALSE(store_->Stat("k/a")->legal_hold);
  Status retained = store_->Delete("k/a");
  EXPECT_EQ(retained.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(retained.message().find("retained until"), std::string::npos) << retained.message();

  // After the retention date the object is an ordinary one again.
  now_ms_ += 1000;
  EXPECT_TRUE(store_->Delete("k/a").ok());
  EXPECT_EQ(store_->SetProtection("k/a", {.legal_hold = true}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetProtection("../x", {}).code(), StatusCode::kInvalidArgument);
}

TEST_F(FileBlobStoreTest, PlainStoreHasNoWriteProtection) {
  ASSERT_TRUE(store_->PutFile("k/a", Stage("x"), true).ok());
  EXPECT_EQ(store_->SetProtection("k/a", {.legal_hold = true}).code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace strata::blob
