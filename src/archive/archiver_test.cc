// The archiver against a FileBlobStore as archive store, with fault-injecting doubles for the
// archive store (fails N times, then forwards) and for the catalog (a commit that fails, as if
// the process stopped before it).
#include "archive/archiver.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "blob/file_blob_store.h"
#include "catalog/catalog_test_util.h"
#include "core/testing/read_file.h"

namespace strata::archive {
namespace {

using std::chrono::milliseconds;

// The archive store double: a FileBlobStore that keeps what Put was asked for (the file
// store itself has no tiers or metadata), and, after `pass_puts` more puts, fails the next
// `fail_next_puts` puts with `fail_code`.
class FaultyArchiveStore final : public blob::BlobStore {
 public:
  explicit FaultyArchiveStore(std::unique_ptr<blob::BlobStore> inner) : inner_(std::move(inner)) {}

  Status Put(const std::string& key, const std::string& source_path,
             const blob::PutOptions& options) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++put_calls;
      if (pass_puts > 0) {
        --pass_puts;
      } else if (fail_next_puts > 0) {
        --fail_next_puts;
        return Status(fail_code, "injected failure");
      }
      options_by_key[key] = options;
    }
    return inner_->PutFile(key, source_path, options.create_only);
  }
  Status PutFile(const std::string& key, const std::string& source_path,
                 bool create_only) override {
    return inner_->PutFile(key, source_path, create_only);
  }
  Result<std::string> StagingPath() override { return inner_->StagingPath(); }
  std::vector<std::string> StagedLeftovers() override { return inner_->StagedLeftovers(); }
  Result<std::unique_ptr<blob::LocalObject>> Open(const std::string& key) override {
    return inner_->Open(key);
  }
  Result<blob::BlobInfo> Stat(const std::string& key) override {
    STRATA_ASSIGN_OR_RETURN(blob::BlobInfo info, inner_->Stat(key));
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = options_by_key.find(key);
    if (it != options_by_key.end()) {
      info.metadata = it->second.metadata;
      info.tier = it->second.tier;
    }
    return info;
  }
  Status Delete(const std::string& key) override { return inner_->Delete(key); }
  Status List(const std::string& prefix,
              const std::function<void(const std::string& key)>& fn) override {
    return inner_->List(prefix, fn);
  }
  Result<uint64_t> FreeBytes() override { return inner_->FreeBytes(); }

  std::mutex mutex_;
  int pass_puts = 0;                                       // GUARDED_BY(mutex_)
  int fail_next_puts = 0;                                  // GUARDED_BY(mutex_)
  StatusCode fail_code = StatusCode::kUnavailable;         // GUARDED_BY(mutex_)
  int put_calls = 0;                                       // GUARDED_BY(mutex_)
  std::map<std::string, blob::PutOptions> options_by_key;  // GUARDED_BY(mutex_)

 private:
  std::unique_ptr<blob::BlobStore> inner_;
};

// A catalog whose next `fail_next_writes` write transactions run and are then rolled back, as
// if the process had stopped before the commit.
class FaultyCatalog final : public catalog::Catalog {
 public:
  explicit FaultyCatalog(catalog::Catalog& inner) : inner_(inner) {}
  Status Read(const std::function<Status(catalog::ReadTxn&)>& fn) override {
    return inner_.Read(fn);
  }
  Status Write(const std::function<Status(catalog::WriteTxn&)>& fn) override {
    if (fail_next_writes.load() > 0) {
      --fail_next_writes;
      return inner_.Write([&](catalog::WriteTxn& txn) -> Status {
        STRATA_RETURN_IF_ERROR(fn(txn));
        return Unavailable("injected: stopped before commit");
      });
    }
    return inner_.Write(fn);
  }
  std::atomic<int> fail_next_writes{0};

 private:
  catalog::Catalog& inner_;
};

class ArchiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strata_archiver_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    catalog_ = catalog::testing::OpenMemory();
    auto local = blob::OpenFileBlobStore(dir_ + "/local");
    ASSERT_TRUE(local.ok());
    local_ = std::move(*local);
    auto archive = blob::OpenFileBlobStore(dir_ + "/archive");
    ASSERT_TRUE(archive.ok());
    archive_ = std::make_unique<FaultyArchiveStore>(std::move(*archive));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ArchiverOptions Options() {
    ArchiverOptions options;
    options.batch_size = 10;
    // One at a time, so that "the Nth put fails" names a definite object; the parallel
    // tests below set more.
    options.parallel_uploads = 1;
    options.tier = blob::StorageTier::kCool;
    options.backoff = {milliseconds(1), milliseconds(20)};
    options.poll_interval = milliseconds(10);
    options.jitter_seed = 1;
    return options;
  }

  std::unique_ptr<Archiver> MakeArchiver(catalog::Catalog& catalog, ArchiverOptions options) {
    auto archiver = Archiver::Create(catalog, *local_, *archive_, std::move(options));
    EXPECT_TRUE(archiver.ok()) << archiver.status().ToString();
    return std::move(archiver).value();
  }
  std::unique_ptr<Archiver> MakeArchiver() { return MakeArchiver(*catalog_, Options()); }

  // Stores an object as ingest does: the file in the local store, then the instance row and
  // its outbox event in one transaction. Returns the local key.
  std::string Ingest(const std::string& sop, const std::string& content,
                     const std::string& kind = "instance.stored") {
    auto staged = local_->StagingPath();
    EXPECT_TRUE(staged.ok());
    std::ofstream(*staged, std::ios::binary) << content;
    catalog::InstanceRecord record =
        catalog::testing::MakeRecord("P1", "1.2.3", "1.2.3.4", sop, "sha-of-" + content);
    record.size_bytes = content.size();
    EXPECT_TRUE(local_->PutFile(record.blob_key, *staged, true).ok());
    std::filesystem::remove(*staged);
    nlohmann::json payload = {
        {"study_instance_uid", "1.2.3"}, {"series_instance_uid", "1.2.3.4"},
        {"sop_instance_uid", sop},       {"sop_class_uid", catalog::testing::kCtImageStorage},
        {"blob_key", record.blob_key},   {"sha256", record.sha256_hex}};
    Status status = catalog_->Write([&](catalog::WriteTxn& txn) -> Status {
      STRATA_RETURN_IF_ERROR(
          txn.PutInstance(record, catalog::DuplicatePolicy::kKeepVersions).status());
      return txn.AppendOutbox({kind, payload.dump()});
    });
    EXPECT_TRUE(status.ok()) << status.ToString();
    return record.blob_key;
  }

  std::optional<catalog::ArchiveRecord> StateOf(const std::string& key) {
    std::optional<catalog::ArchiveRecord> state;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(state, txn.ArchiveState(key));
                      return OkStatus();
                    })
                    .ok());
    return state;
  }

  ArchiveLag Lag() {
    auto lag = ReadArchiveLag(*catalog_, kArchiverConsumer, 0);
    EXPECT_TRUE(lag.ok());
    return lag.ok() ? *lag : ArchiveLag();
  }

  std::string ArchivedBytes(const std::string& key) {
    return testing::ReadFileBytes(dir_ + "/archive/" + key);
  }

  int PutCalls() {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    return archive_->put_calls;
  }

  std::string dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<blob::BlobStore> local_;
  std::unique_ptr<FaultyArchiveStore> archive_;
};

TEST_F(ArchiverTest, ArchivesEachObjectWithTierMetadataAndRecordsState) {
  std::string a = Ingest("1.2.3.4.1", "first object");
  std::string b = Ingest("1.2.3.4.2", "second object, longer");
  EXPECT_EQ(Lag().pending_events, 2u);
  auto archiver = MakeArchiver();
  auto batch = archiver->RunBatch();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_TRUE(batch->retry_later.ok());
  EXPECT_EQ(batch->events, 2u);
  EXPECT_EQ(batch->archived, 2u);
  EXPECT_EQ(batch->bytes_uploaded,
            std::string("first object").size() + std::string("second object, longer").size());
  EXPECT_EQ(ArchivedBytes(a), "first object");
  EXPECT_EQ(ArchivedBytes(b), "second object, longer");
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    const blob::PutOptions& put = archive_->options_by_key.at(a);
    EXPECT_TRUE(put.create_only);
    EXPECT_EQ(put.tier, blob::StorageTier::kCool);
    EXPECT_EQ(put.metadata.at("strata_study_uid"), "1.2.3");
    EXPECT_EQ(put.metadata.at("strata_series_uid"), "1.2.3.4");
    EXPECT_EQ(put.metadata.at("strata_sop_uid"), "1.2.3.4.1");
    EXPECT_EQ(put.metadata.at("strata_sha256"), "sha-of-first object");
  }
  auto state = StateOf(a);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->outcome, catalog::ArchiveOutcome::kArchived);
  EXPECT_EQ(state->archive_key, a);
  EXPECT_EQ(state->tier, "Cool");
  EXPECT_EQ(state->size_bytes, std::string("first object").size());
  EXPECT_EQ(state->sop_instance_uid, "1.2.3.4.1");
  ArchiveLag lag = Lag();
  EXPECT_EQ(lag.pending_events, 0u);
  EXPECT_EQ(lag.cursor_seq, 2);
  EXPECT_EQ(lag.archived_objects, 2u);
  EXPECT_FALSE(lag.oldest_pending_at_ms.has_value());
  // Nothing new: an empty batch changes nothing.
  auto empty = archiver->RunBatch();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->events, 0u);
  EXPECT_EQ(PutCalls(), 2);
}

TEST_F(ArchiverTest, BatchesFollowTheCursorInSequenceOrder) {
  for (int i = 1; i <= 5; ++i)
    Ingest("1.2.3.4." + std::to_string(i), "object " + std::to_string(i));
  ArchiverOptions options = Options();
  options.batch_size = 2;
  auto archiver = MakeArchiver(*catalog_, options);
  EXPECT_EQ(archiver->RunBatch()->events, 2u);
  EXPECT_EQ(Lag().cursor_seq, 2);
  EXPECT_EQ(Lag().pending_events, 3u);
  EXPECT_EQ(archiver->RunBatch()->events, 2u);
  EXPECT_EQ(archiver->RunBatch()->events, 1u);
  EXPECT_EQ(Lag().pending_events, 0u);
  EXPECT_EQ(Lag().archived_objects, 5u);
}

TEST_F(ArchiverTest, ParallelUploadsArchiveEverythingOnce) {
  std::vector<std::string> keys;
  for (int i = 1; i <= 30; ++i) {
    keys.push_back(Ingest("1.2.3.4." + std::to_string(i), "object " + std::to_string(i)));
  }
  ArchiverOptions options = Options();
  options.parallel_uploads = 4;
  options.batch_size = 25;
  auto archiver = MakeArchiver(*catalog_, options);
  EXPECT_EQ(archiver->RunBatch()->archived, 25u);
  EXPECT_EQ(archiver->RunBatch()->archived, 5u);
  for (int i = 1; i <= 30; ++i) {
    EXPECT_EQ(ArchivedBytes(keys[i - 1]), "object " + std::to_string(i));
  }
  EXPECT_EQ(PutCalls(), 30);
  EXPECT_EQ(Lag().cursor_seq, 30);
}

TEST_F(ArchiverTest, ParallelUploadsWithFailuresLoseNothing) {
  for (int i = 1; i <= 12; ++i)
    Ingest("1.2.3.4." + std::to_string(i), "object " + std::to_string(i));
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->pass_puts = 3;
    archive_->fail_next_puts = 4;
  }
  ArchiverOptions options = Options();
  options.parallel_uploads = 4;
  auto archiver = MakeArchiver(*catalog_, options);
  for (int round = 0; round < 10 && Lag().pending_events > 0; ++round) {
    ASSERT_TRUE(archiver->RunBatch().ok());
  }
  ArchiveLag lag = Lag();
  EXPECT_EQ(lag.pending_events, 0u);
  EXPECT_EQ(lag.archived_objects, 12u);
  EXPECT_EQ(lag.failed_objects, 0u);
}

TEST_F(ArchiverTest, SkipsOtherEventKinds) {
  ASSERT_TRUE(catalog_
                  ->Write([](catalog::WriteTxn& txn) {
                    return txn.AppendOutbox({"study.deleted", "{\"study_instance_uid\":\"1.2\"}"});
                  })
                  .ok());
  std::string a = Ingest("1.2.3.4.1", "object");
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->skipped, 1u);
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(Lag().cursor_seq, 2);
}

TEST_F(ArchiverTest, StoreOutageStopsTheBatchAndNothingIsSkipped) {
  Ingest("1.2.3.4.1", "one");
  Ingest("1.2.3.4.2", "two");
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->fail_next_puts = 2;
  }
  auto archiver = MakeArchiver();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto batch = archiver->RunBatch();
    ASSERT_TRUE(batch.ok());
    EXPECT_EQ(batch->retry_later.code(), StatusCode::kUnavailable);
    EXPECT_EQ(batch->events, 0u);
    EXPECT_EQ(Lag().cursor_seq, 0);
    EXPECT_EQ(Lag().pending_events, 2u);
  }
  auto batch = archiver->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->retry_later.ok());
  EXPECT_EQ(batch->archived, 2u);
  EXPECT_EQ(Lag().pending_events, 0u);
  EXPECT_EQ(Lag().failed_objects, 0u);
}

TEST_F(ArchiverTest, OutageMidBatchCommitsWhatWasDone) {
  Ingest("1.2.3.4.1", "one");
  Ingest("1.2.3.4.2", "two");
  Ingest("1.2.3.4.3", "three");
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->pass_puts = 1;  // the first put succeeds, the second meets the outage
    archive_->fail_next_puts = 1;
  }
  auto archiver = MakeArchiver();
  auto batch = archiver->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->retry_later.code(), StatusCode::kUnavailable);
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(Lag().cursor_seq, 1);
  EXPECT_EQ(Lag().archived_objects, 1u);
  batch = archiver->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 2u);
  EXPECT_EQ(Lag().cursor_seq, 3);
}

TEST_F(ArchiverTest, WorkerBacksOffThroughAnOutageAndDrainsTheBacklog) {
  for (int i = 1; i <= 4; ++i)
    Ingest("1.2.3.4." + std::to_string(i), "object " + std::to_string(i));
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->fail_next_puts = 5;
  }
  auto archiver = MakeArchiver();
  archiver->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Lag().pending_events > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(Lag().pending_events, 0u);
  EXPECT_EQ(Lag().archived_objects, 4u);
  EXPECT_EQ(PutCalls(), 5 + 4);  // each failure retried the same object once
  // New objects are picked up by polling.
  std::string late = Ingest("1.2.3.4.9", "late object");
  while (!StateOf(late).has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(ArchivedBytes(late), "late object");
  auto status = archiver->ReadStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->running);
  EXPECT_EQ(status->consecutive_failures, 0);
  archiver->Stop();
  EXPECT_FALSE(archiver->ReadStatus()->running);
}

TEST_F(ArchiverTest, WorkerReportsConsecutiveFailuresWhileTheStoreIsDown) {
  Ingest("1.2.3.4.1", "one");
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->fail_next_puts = 1000000;
  }
  ArchiverOptions options = Options();
  options.backoff = {milliseconds(1), milliseconds(2)};
  auto archiver = MakeArchiver(*catalog_, options);
  archiver->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (archiver->ReadStatus()->consecutive_failures < 3 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  auto status = archiver->ReadStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_GE(status->consecutive_failures, 3);
  EXPECT_NE(status->last_error.find("UNAVAILABLE"), std::string::npos) << status->last_error;
  EXPECT_EQ(status->lag.pending_events, 1u);
  archiver->Stop();  // returns promptly although the store is still down
}

TEST_F(ArchiverTest, MissingLocalObjectIsRecordedAsFailedAndTheQueueGoesOn) {
  Ingest("1.2.3.4.1", "one");
  std::string missing = Ingest("1.2.3.4.2", "two");
  Ingest("1.2.3.4.3", "three");
  ASSERT_TRUE(local_->Delete(missing).ok());
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 2u);
  EXPECT_EQ(batch->failed, 1u);
  auto state = StateOf(missing);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->outcome, catalog::ArchiveOutcome::kFailed);
  EXPECT_NE(state->error.find("NOT_FOUND"), std::string::npos) << state->error;
  EXPECT_EQ(Lag().pending_events, 0u);
  EXPECT_EQ(Lag().failed_objects, 1u);
}

TEST_F(ArchiverTest, PermanentStoreErrorIsRecordedAsFailed) {
  Ingest("1.2.3.4.1", "one");
  {
    std::lock_guard<std::mutex> lock(archive_->mutex_);
    archive_->fail_next_puts = 1;
    archive_->fail_code = StatusCode::kInvalidArgument;
  }
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->failed, 1u);
  EXPECT_EQ(Lag().pending_events, 0u);
}

TEST_F(ArchiverTest, CrashBeforeCommitRepeatsTheUploadIdempotently) {
  std::string a = Ingest("1.2.3.4.1", "one");
  std::string b = Ingest("1.2.3.4.2", "two");
  FaultyCatalog faulty(*catalog_);
  faulty.fail_next_writes = 1;
  {
    auto archiver = MakeArchiver(faulty, Options());
    auto batch = archiver->RunBatch();
    EXPECT_EQ(batch.status().code(), StatusCode::kUnavailable);
  }
  // The uploads happened, but neither state nor cursor was committed.
  EXPECT_EQ(ArchivedBytes(a), "one");
  EXPECT_FALSE(StateOf(a).has_value());
  EXPECT_EQ(Lag().cursor_seq, 0);

  // A restarted archiver finds the objects already there, with the same content.
  auto batch = MakeArchiver(faulty, Options())->RunBatch();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->archived, 0u);
  EXPECT_EQ(batch->already_archived, 2u);
  EXPECT_EQ(batch->failed, 0u);
  EXPECT_EQ(StateOf(b)->outcome, catalog::ArchiveOutcome::kArchived);
  EXPECT_EQ(Lag().pending_events, 0u);
}

TEST_F(ArchiverTest, RestartResumesAfterTheCursorWithoutReuploading) {
  for (int i = 1; i <= 3; ++i)
    Ingest("1.2.3.4." + std::to_string(i), "object " + std::to_string(i));
  ArchiverOptions options = Options();
  options.batch_size = 2;
  MakeArchiver(*catalog_, options)->RunBatch().status().IgnoreError();
  EXPECT_EQ(PutCalls(), 2);
  auto batch = MakeArchiver(*catalog_, options)->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(PutCalls(), 3);
}

TEST_F(ArchiverTest, ADifferentObjectUnderTheArchiveKeyIsAFailureNotASuccess) {
  std::string a = Ingest("1.2.3.4.1", "the real content");
  // Something else already sits under the archive key.
  auto staged = archive_->StagingPath();
  ASSERT_TRUE(staged.ok());
  std::ofstream(*staged, std::ios::binary) << "other bytes";
  ASSERT_TRUE(archive_->PutFile(a, *staged, true).ok());
  std::filesystem::remove(*staged);
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->failed, 1u);
  EXPECT_EQ(StateOf(a)->outcome, catalog::ArchiveOutcome::kFailed);
  EXPECT_EQ(ArchivedBytes(a), "other bytes");  // never overwritten
}

TEST_F(ArchiverTest, ReplacedVersionIsArchivedUnderItsOwnKey) {
  std::string first = Ingest("1.2.3.4.1", "version one");
  // A second version as ingest names it: the hash prefix before ".dcm".
  auto staged = local_->StagingPath();
  ASSERT_TRUE(staged.ok());
  std::ofstream(*staged, std::ios::binary) << "version two";
  catalog::InstanceRecord record =
      catalog::testing::MakeRecord("P1", "1.2.3", "1.2.3.4", "1.2.3.4.1", "sha-two");
  record.blob_key = "dicom/1.2.3/1.2.3.4/1.2.3.4.1.0123456789abcdef.dcm";
  record.size_bytes = std::string("version two").size();
  ASSERT_TRUE(local_->PutFile(record.blob_key, *staged, true).ok());
  nlohmann::json payload = {{"study_instance_uid", "1.2.3"},
                            {"series_instance_uid", "1.2.3.4"},
                            {"sop_instance_uid", "1.2.3.4.1"},
                            {"blob_key", record.blob_key},
                            {"sha256", "sha-two"}};
  ASSERT_TRUE(catalog_
                  ->Write([&](catalog::WriteTxn& txn) -> Status {
                    STRATA_RETURN_IF_ERROR(
                        txn.PutInstance(record, catalog::DuplicatePolicy::kKeepVersions).status());
                    return txn.AppendOutbox({"instance.replaced", payload.dump()});
                  })
                  .ok());
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 2u);
  EXPECT_EQ(ArchivedBytes(first), "version one");
  EXPECT_EQ(ArchivedBytes(record.blob_key), "version two");
}

TEST_F(ArchiverTest, MalformedEventIsCountedAsFailedAndSkipped) {
  ASSERT_TRUE(catalog_
                  ->Write([](catalog::WriteTxn& txn) {
                    return txn.AppendOutbox({"instance.stored", "not json"});
                  })
                  .ok());
  Ingest("1.2.3.4.1", "one");
  auto batch = MakeArchiver()->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->failed, 1u);
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(Lag().cursor_seq, 2);
}

TEST_F(ArchiverTest, ArchiveCopiesFollowTheirStudysRetentionAndLegalHold) {
  blob::FileBlobStoreOptions tiered;
  tiered.emulate_tiers = true;  // the store's own write protection, emulated
  auto store = blob::OpenFileBlobStore(dir_ + "/worm", tiered);
  ASSERT_TRUE(store.ok());
  blob::BlobStore& worm = **store;
  ArchiverOptions options = Options();
  options.protect_archive_copies = true;
  auto archiver = Archiver::Create(*catalog_, *local_, worm, options);
  ASSERT_TRUE(archiver.ok());

  const std::string a = Ingest("1.2.3.4.1", "first");
  auto batch = (*archiver)->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(batch->protected_copies, 1u);
  EXPECT_FALSE(worm.Stat(a)->legal_hold);

  // A hold set by an admin reaches the copies already archived...
  ASSERT_TRUE(catalog_
                  ->Write([](catalog::WriteTxn& txn) {
                    return txn.SetLegalHold("1.2.3", "litigation 7", "admin", 1);
                  })
                  .ok());
  // ...and copies archived later get it at upload.
  const std::string b = Ingest("1.2.3.4.2", "second");
  batch = (*archiver)->RunBatch();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_TRUE(batch->retry_later.ok()) << batch->retry_later.ToString();
  EXPECT_TRUE(worm.Stat(a)->legal_hold);
  EXPECT_TRUE(worm.Stat(b)->legal_hold);
  EXPECT_EQ(worm.Delete(a).code(), StatusCode::kFailedPrecondition);

  // The hold cleared and a retention date set: the copies follow.
  ASSERT_TRUE(catalog_
                  ->Write([](catalog::WriteTxn& txn) -> Status {
                    STRATA_RETURN_IF_ERROR(txn.ClearLegalHold("1.2.3"));
                    return txn.SetRetention("1.2.3", "20991231");
                  })
                  .ok());
  batch = (*archiver)->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->protected_copies, 4u);  // two events, two archived copies each
  auto info = worm.Stat(b);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->legal_hold);
  EXPECT_EQ(info->retain_until_ms, int64_t{4102444800000});  // 2100-01-01T00:00:00Z
  EXPECT_EQ(worm.Delete(b).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ArchiverTest, StoreWithoutProtectionStillArchives) {
  ArchiverOptions options = Options();
  options.protect_archive_copies = true;
  auto archiver = MakeArchiver(*catalog_, options);
  const std::string a = Ingest("1.2.3.4.1", "plain");
  auto batch = archiver->RunBatch();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->archived, 1u);
  EXPECT_EQ(batch->protect_refused, 1u);
  EXPECT_EQ(StateOf(a)->outcome, catalog::ArchiveOutcome::kArchived);
}

TEST_F(ArchiverTest, CreateRejectsBadOptions) {
  ArchiverOptions options = Options();
  options.batch_size = 0;
  EXPECT_EQ(Archiver::Create(*catalog_, *local_, *archive_, options).status().code(),
            StatusCode::kInvalidArgument);
  options = Options();
  options.naming = blob::BlobNaming::kOpaque;
  options.naming_key = "short";
  EXPECT_EQ(Archiver::Create(*catalog_, *local_, *archive_, options).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::archive
