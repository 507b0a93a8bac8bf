#include "ingest/ingest_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "blob/crypto_util.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "dicom/testing/test_files.h"

namespace strata::ingest {
namespace {

namespace fs = std::filesystem;
using catalog::PutOutcome;

// Forwards to a real catalog, failing every Write while `fail_writes` is set.
class FaultyCatalog final : public catalog::Catalog {
 public:
  explicit FaultyCatalog(catalog::Catalog& base) : base_(base) {}
  Status Read(const std::function<Status(catalog::ReadTxn&)>& fn) override {
    return base_.Read(fn);
  }
  Status Write(const std::function<Status(catalog::WriteTxn&)>& fn) override {
    if (fail_writes) return Unavailable("injected catalog failure");
    return base_.Write(fn);
  }
  std::atomic<bool> fail_writes{false};

 private:
  catalog::Catalog& base_;
};

IngestRequest Staged(const std::string& path) {
  IngestRequest request;
  request.staged_path = path;
  return request;
}

class IngestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata_ingest_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto cat = catalog::OpenSqliteCatalog((dir_ / "catalog.sqlite").string());
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog_ = std::move(cat).value();
    faulty_ = std::make_unique<FaultyCatalog>(*catalog_);
    auto blobs = blob::OpenFileBlobStore((dir_ / "objects").string());
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    Recreate(IngestOptions{});
  }
  void TearDown() override {
    ingest_.reset();
    fs::remove_all(dir_);
  }
  void Recreate(IngestOptions options) {
    ingest_.reset();
    options.now_ms = [] { return int64_t{1767225600000}; };
    ingest_ = CreateIngestService(*faulty_, *blobs_, options);
  }

  // Writes a test instance to a staging path and ingests it.
  Result<IngestResult> Store(const dicom::InstanceMetadata& m, int pixel_seed = 0,
                             IngestRequest request = {}) {
    auto staged = ingest_->StagingPath();
    if (!staged.ok()) return staged.status();
    EXPECT_TRUE(dicom::testing::WriteTestInstance(*staged, m, pixel_seed));
    request.staged_path = *staged;
    auto result = ingest_->Ingest(request);
    EXPECT_FALSE(fs::exists(*staged)) << "staged file must never be left behind";
    return result;
  }

  catalog::CatalogCounts Counts() {
    catalog::CatalogCounts counts;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(counts, txn.Counts());
                      return OkStatus();
                    })
                    .ok());
    return counts;
  }
  std::vector<catalog::InstanceLocation> Versions(const std::string& sop) {
    std::vector<catalog::InstanceLocation> v;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(v, txn.Versions(sop));
                      return OkStatus();
                    })
                    .ok());
    return v;
  }
  size_t ObjectFiles() {
    size_t n = 0;
    EXPECT_TRUE(blobs_->List("", [&](const std::string&) { ++n; }).ok());
    return n;
  }

  fs::path dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<FaultyCatalog> faulty_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<IngestService> ingest_;
};

TEST_F(IngestServiceTest, StoresUnderVendorNeutralKey) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto r = Store(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, PutOutcome::kStored);
  EXPECT_EQ(r->blob_key, "dicom/" + m.study_instance_uid + "/" + m.series_instance_uid + "/" +
                             m.sop_instance_uid + ".dcm");
  EXPECT_TRUE(blobs_->Open(r->blob_key).ok());
  EXPECT_EQ(Counts().instances, 1u);
}

TEST_F(IngestServiceTest, IdenticalResendIsIdempotent) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  ASSERT_TRUE(Store(m).ok());
  auto again = Store(m);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, PutOutcome::kDuplicate);
  EXPECT_EQ(Versions(m.sop_instance_uid).size(), 1u);
  EXPECT_EQ(ObjectFiles(), 1u);
}

TEST_F(IngestServiceTest, DifferentObjectBecomesNewVersionAndOldStaysReadable) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto first = Store(m, 0);
  auto second = Store(m, 50);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->outcome, PutOutcome::kNewVersion);
  EXPECT_NE(first->blob_key, second->blob_key);
  auto versions = Versions(m.sop_instance_uid);
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_FALSE(versions[0].current);
  EXPECT_TRUE(versions[1].current);
  EXPECT_TRUE(blobs_->Open(first->blob_key).ok());
  EXPECT_EQ(Counts().instances, 1u);
}

TEST_F(IngestServiceTest, RejectPolicyRefusesDifferentObject) {
  IngestOptions options;
  options.duplicates = catalog::DuplicatePolicy::kReject;
  Recreate(options);
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  ASSERT_TRUE(Store(m, 0).ok());
  auto refused = Store(m, 9);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Store(m, 0)->outcome, PutOutcome::kDuplicate) << "identical resend still succeeds";
  EXPECT_EQ(ObjectFiles(), 1u);
}

// Contract 2: the first instance gives the study its retention date; a different object
// under a retained study's SOP Instance UID is refused and leaves no object behind.
TEST_F(IngestServiceTest, RetainedStudyIsNotOverwritten) {
  IngestOptions options;
  options.retention.default_years = 10;
  Recreate(options);
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  m.study_date = "20251231";
  ASSERT_TRUE(Store(m, 0).ok());
  catalog::StudyProtection p;
  ASSERT_TRUE(catalog_
                  ->Read([&](catalog::ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(p, txn.GetStudyProtection(m.study_instance_uid));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(p.retention_until, "20351231");
  auto refused = Store(m, 9);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("retention until 20351231"), std::string::npos);
  EXPECT_EQ(Versions(m.sop_instance_uid).size(), 1u);
  EXPECT_EQ(ObjectFiles(), 1u);
  EXPECT_EQ(Store(m, 0)->outcome, PutOutcome::kDuplicate) << "identical resend still succeeds";
}

// A receiver's parse and digest spare ingest a second read; a digest that does not fit the
// file (another size) is not trusted.
TEST_F(IngestServiceTest, ReceiverDigestIsUsedOnlyWhenItFitsTheFile) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto staged = ingest_->StagingPath();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m));
  auto parsed = dicom::ReadInstance(*staged);
  ASSERT_TRUE(parsed.ok());
  auto real_sha = blob::Sha256HexOfFile(*staged, parsed->dataset_offset);
  ASSERT_TRUE(real_sha.ok());
  IngestRequest request;
  request.staged_path = *staged;
  request.parsed = *parsed;
  request.digest =
      DatasetDigest{parsed->dataset_offset, fs::file_size(*staged) + 1, std::string(64, '0')};
  auto stored = ingest_->Ingest(request);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_EQ(Versions(m.sop_instance_uid).size(), 1u);
  EXPECT_EQ(Versions(m.sop_instance_uid)[0].sha256_hex, *real_sha);

  // The same object again with a digest that fits: recognised as the same content.
  staged = ingest_->StagingPath();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m));
  request.staged_path = *staged;
  request.digest = DatasetDigest{parsed->dataset_offset, fs::file_size(*staged), *real_sha};
  auto again = ingest_->Ingest(request);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, PutOutcome::kDuplicate);
}

TEST_F(IngestServiceTest, RequestMustMatchDataSet) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  IngestRequest request;
  request.expected_sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";  // CT, but the file is SC
  EXPECT_EQ(Store(m, 0, request).status().code(), StatusCode::kFailedPrecondition);
  request = {};
  request.expected_sop_instance_uid = "1.2.3.4";
  EXPECT_EQ(Store(m, 0, request).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Counts().instances, 0u);
  EXPECT_EQ(ObjectFiles(), 0u);
}

TEST_F(IngestServiceTest, BadInputChangesNothing) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  m.study_instance_uid = "";
  EXPECT_EQ(Store(m).status().code(), StatusCode::kInvalidArgument);
  auto staged = ingest_->StagingPath();
  ASSERT_TRUE(staged.ok());
  std::ofstream(*staged) << "garbage";
  EXPECT_EQ(ingest_->Ingest(Staged(*staged)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(*staged));
  EXPECT_EQ(Counts().instances, 0u);
  EXPECT_EQ(ObjectFiles(), 0u);
}

// Passes every call to the filesystem store; the stores below change one thing each.
class ForwardingBlobStore : public blob::BlobStore {
 public:
  explicit ForwardingBlobStore(blob::BlobStore& base) : base_(base) {}
  Status PutFile(const std::string& key, const std::string& path, bool create_only) override {
    return base_.PutFile(key, path, create_only);
  }
  Status PutFileUnsyncedName(const std::string& key, const std::string& path,
                             bool create_only) override {
    return base_.PutFileUnsyncedName(key, path, create_only);
  }
  Status SyncNames(const std::vector<std::string>& keys) override { return base_.SyncNames(keys); }
  Result<std::string> StagingPath() override { return base_.StagingPath(); }
  std::vector<std::string> StagedLeftovers() override { return base_.StagedLeftovers(); }
  Result<std::unique_ptr<blob::LocalObject>> Open(const std::string& key) override {
    return base_.Open(key);
  }
  Result<blob::BlobInfo> Stat(const std::string& key) override { return base_.Stat(key); }
  Status Delete(const std::string& key) override { return base_.Delete(key); }
  Status List(const std::string& prefix,
              const std::function<void(const std::string&)>& fn) override {
    return base_.List(prefix, fn);
  }
  Result<uint64_t> FreeBytes() override { return base_.FreeBytes(); }

 private:
  blob::BlobStore& base_;
};

// The filesystem store, reporting a full file system.
class FullBlobStore final : public ForwardingBlobStore {
 public:
  using ForwardingBlobStore::ForwardingBlobStore;
  Result<uint64_t> FreeBytes() override { return uint64_t{4096}; }
};

TEST_F(IngestServiceTest, DataSetCutShortByAFullDiskIsOutOfResources) {
  FullBlobStore full(*blobs_);
  auto ingest = CreateIngestService(*faulty_, full, IngestOptions{});
  auto staged = ingest->StagingPath();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, dicom::testing::MakeMetadata(1, 1, 1, 1)));
  fs::resize_file(*staged, 200);  // what a write that ran out of space leaves
  auto result = ingest->Ingest(Staged(*staged));
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
  EXPECT_NE(result.status().message().find("full"), std::string::npos);
  // With space left, the same truncated file is just unreadable.
  auto again = ingest_->StagingPath();
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*again, dicom::testing::MakeMetadata(1, 1, 1, 1)));
  fs::resize_file(*again, 200);
  EXPECT_EQ(ingest_->Ingest(Staged(*again)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Counts().instances, 0u);
}

TEST_F(IngestServiceTest, CatalogFailureLeavesNoObject) {
  faulty_->fail_writes = true;
  auto r = Store(dicom::testing::MakeMetadata(1, 1, 1, 1));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ObjectFiles(), 0u);
  faulty_->fail_writes = false;
  EXPECT_TRUE(Store(dicom::testing::MakeMetadata(1, 1, 1, 1)).ok()) << "works again afterwards";
}

TEST_F(IngestServiceTest, ObjectLeftByCrashBeforeCommitIsReused) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto r = Store(m);
  ASSERT_TRUE(r.ok());
  // Simulate a crash after the object was placed but before the commit: a fresh catalog.
  TearDown();
  SetUp();
  auto staged = blobs_->StagingPath();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m, 0));
  ASSERT_TRUE(blobs_->PutFile(r->blob_key, *staged, true).ok());
  auto again = Store(m);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, PutOutcome::kStored);
  EXPECT_EQ(again->blob_key, r->blob_key);
  EXPECT_EQ(ObjectFiles(), 1u);
}

TEST_F(IngestServiceTest, RecoverRemovesObjectsOfInterruptedIngests) {
  auto committed = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto interrupted = dicom::testing::MakeMetadata(1, 1, 1, 2);
  auto committed_result = Store(committed);
  ASSERT_TRUE(committed_result.ok());
  // A crash after the objects were placed but before commit (or before the staged file of a
  // committed ingest was removed): staged files linked to their objects remain.
  auto place = [&](const dicom::InstanceMetadata& m, const std::string& key) {
    auto staged = blobs_->StagingPath();
    EXPECT_TRUE(dicom::testing::WriteTestInstance(*staged, m, 0));
    EXPECT_TRUE(blobs_->PutFile(key, *staged, true).ok() ||
                blobs_->Stat(key).ok());  // the committed one is already there
  };
  std::string interrupted_key = "dicom/" + interrupted.study_instance_uid + "/" +
                                interrupted.series_instance_uid + "/" +
                                interrupted.sop_instance_uid + ".dcm";
  place(interrupted, interrupted_key);
  place(committed, committed_result->blob_key);
  auto garbage = blobs_->StagingPath();
  std::ofstream(*garbage) << "half a transfer";
  ASSERT_EQ(ObjectFiles(), 2u);

  auto reopened = blob::OpenFileBlobStore((dir_ / "objects").string());
  ASSERT_TRUE(reopened.ok());
  ASSERT_EQ((*reopened)->StagedLeftovers().size(), 3u);
  ingest_.reset();
  blobs_ = std::move(reopened).value();
  Recreate(IngestOptions{});
  ASSERT_TRUE(ingest_->Recover().ok());

  EXPECT_EQ(blobs_->Open(interrupted_key).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(blobs_->Open(committed_result->blob_key).ok()) << "committed objects stay";
  EXPECT_EQ(ObjectFiles(), 1u);
  EXPECT_TRUE(fs::is_empty(dir_ / "objects" / ".staging"));
}

TEST_F(IngestServiceTest, PreparedObjectIsDurableButUncataloguedUntilCommit) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto staged = ingest_->StagingPath();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m, 0));
  auto prepared = ingest_->Prepare(Staged(*staged));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_TRUE(blobs_->Open(prepared->result.blob_key).ok()) << "placed before the commit";
  EXPECT_TRUE(fs::exists(*staged)) << "kept for Recover until the commit";
  EXPECT_EQ(Counts().instances, 0u);

  std::vector<PreparedIngest> batch;
  batch.push_back(std::move(prepared).value());
  auto committed = ingest_->Commit(std::move(batch));
  ASSERT_EQ(committed.size(), 1u);
  ASSERT_TRUE(committed[0].ok()) << committed[0].status().ToString();
  EXPECT_EQ(committed[0]->outcome, PutOutcome::kStored);
  EXPECT_EQ(Versions(m.sop_instance_uid).size(), 1u);
  EXPECT_FALSE(fs::exists(*staged));
}

TEST_F(IngestServiceTest, AbandonedPrepareLeavesNothing) {
  auto kept = dicom::testing::MakeMetadata(1, 1, 1, 1);
  ASSERT_TRUE(Store(kept).ok());
  // A new object, and a resend of the stored one: abandoning either changes nothing stored.
  for (const auto& m : {dicom::testing::MakeMetadata(1, 1, 1, 2), kept}) {
    auto staged = ingest_->StagingPath();
    ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m, 0));
    auto prepared = ingest_->Prepare(Staged(*staged));
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    ingest_->Abandon(std::move(prepared).value());
    EXPECT_FALSE(fs::exists(*staged));
  }
  EXPECT_EQ(ObjectFiles(), 1u);
  EXPECT_EQ(Counts().instances, 1u);
  EXPECT_TRUE(blobs_->Open(Versions(kept.sop_instance_uid).at(0).blob_key).ok());
}

TEST_F(IngestServiceTest, RecoverRemovesAPreparedObjectNeverCommitted) {
  auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  auto staged = ingest_->StagingPath();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, m, 0));
  auto prepared = ingest_->Prepare(Staged(*staged));
  ASSERT_TRUE(prepared.ok());
  ASSERT_EQ(ObjectFiles(), 1u);
  // A crash between Prepare and Commit: the service goes, its staged file stays.
  auto reopened = blob::OpenFileBlobStore((dir_ / "objects").string());
  ASSERT_TRUE(reopened.ok());
  ingest_.reset();
  blobs_ = std::move(reopened).value();
  Recreate(IngestOptions{});
  ASSERT_TRUE(ingest_->Recover().ok());
  EXPECT_EQ(ObjectFiles(), 0u);
  EXPECT_EQ(Counts().instances, 0u);
  EXPECT_TRUE(fs::is_empty(dir_ / "objects" / ".staging"));
}

// The filesystem store, recording how ingest makes names durable and failing that on request.
class NameSyncRecordingStore final : public ForwardingBlobStore {
 public:
  using ForwardingBlobStore::ForwardingBlobStore;
  Status PutFile(const std::string& key, const std::string& path, bool create_only) override {
    ++durable_puts;
    return ForwardingBlobStore::PutFile(key, path, create_only);
  }
  Status SyncNames(const std::vector<std::string>& keys) override {
    synced.push_back(keys);
    if (before_sync) before_sync();
    return fail ? Unavailable("fsync of a directory: I/O error")
                : ForwardingBlobStore::SyncNames(keys);
  }

  int durable_puts = 0;
  std::vector<std::vector<std::string>> synced;
  std::function<void()> before_sync;
  bool fail = false;
};

TEST_F(IngestServiceTest, CommitMakesAllNamesDurableAtOnceBeforeTheCatalog) {
  NameSyncRecordingStore recording(*blobs_);
  auto ingest = CreateIngestService(*faulty_, recording, IngestOptions{});
  std::vector<PreparedIngest> batch;
  for (int i = 1; i <= 3; ++i) {
    auto staged = ingest->StagingPath();
    ASSERT_TRUE(
        dicom::testing::WriteTestInstance(*staged, dicom::testing::MakeMetadata(1, 1, 1, i)));
    auto prepared = ingest->Prepare(Staged(*staged));
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    batch.push_back(std::move(prepared).value());
  }
  EXPECT_TRUE(recording.synced.empty()) << "Prepare leaves the names to Commit";
  recording.before_sync = [&] { EXPECT_EQ(Counts().instances, 0u) << "names first, then catalog"; };
  auto committed = ingest->Commit(std::move(batch));
  for (const auto& c : committed) ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(recording.synced.size(), 1u);
  EXPECT_EQ(recording.synced[0].size(), 3u);
  EXPECT_EQ(recording.durable_puts, 0);
  EXPECT_EQ(Counts().instances, 3u);
}

TEST_F(IngestServiceTest, FailureToMakeNamesDurableFailsTheCommitAndLeavesNothing) {
  NameSyncRecordingStore recording(*blobs_);
  recording.fail = true;
  auto ingest = CreateIngestService(*faulty_, recording, IngestOptions{});
  auto staged = ingest->StagingPath();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(*staged, dicom::testing::MakeMetadata(1, 1, 1, 1)));
  auto result = ingest->Ingest(Staged(*staged));
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("I/O error"), std::string::npos);
  EXPECT_EQ(Counts().instances, 0u);
  EXPECT_EQ(ObjectFiles(), 0u);
  EXPECT_FALSE(fs::exists(*staged));
}

TEST_F(IngestServiceTest, MinFreeBytesRefusesStores) {
  IngestOptions options;
  options.min_free_bytes = UINT64_MAX;
  Recreate(options);
  auto staged = ingest_->StagingPath();
  EXPECT_EQ(staged.status().code(), StatusCode::kResourceExhausted);
}

TEST_F(IngestServiceTest, ConcurrentStoresAreAllDurable) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!Store(dicom::testing::MakeMetadata(t, 1, 1, i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Counts().instances, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(Counts().patients, static_cast<uint64_t>(kThreads));
}

}  // namespace
}  // namespace strata::ingest
