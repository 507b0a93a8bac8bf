// Catalog rebuild, lifecycle and cost report against real pieces: SQLite catalogs on disk,
// FileBlobStores as local and archive store (the archive emulating tiers and metadata),
// objects stored by the IngestService and archived by the Archiver.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "archive/archiver.h"
#include "archive/catalog_rebuild.h"
#include "archive/cost_report.h"
#include "archive/lifecycle.h"
#include "archive/lifecycle_scheduler.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "dicom/dicom_file.h"
#include "dicom/tags.h"
#include "ingest/ingest_service.h"
#include "synth/part10_writer.h"

namespace strata::archive {
namespace {

constexpr int64_t kT0 = 1700000000000;  // archive time of every object
constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kNamingKey = "0123456789abcdef0123456789abcdef-opaque";

std::string MakeDicom(const std::string& study, const std::string& series, const std::string& sop,
                      const std::string& patient_name) {
  synth::Part10Writer w(kCtImage, sop, 1024);
  w.AddString(dicom::tags::kSopClassUid, "UI", kCtImage);
  w.AddString(dicom::tags::kSopInstanceUid, "UI", sop);
  w.AddString(dicom::tags::kModality, "CS", "CT");
  w.AddString(dicom::tags::kPatientName, "PN", patient_name);
  w.AddString(dicom::tags::kPatientId, "LO", "PID-1");
  w.AddString(dicom::tags::kStudyInstanceUid, "UI", study);
  w.AddString(dicom::tags::kSeriesInstanceUid, "UI", series);
  return w.Take();
}

struct Original {
  std::string study, series, sop, blob_key, sha;
  uint64_t size = 0;
};

class ArchiveAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strata_archive_admin_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    dicom::SilenceDcmtkLogging();  // the corrupt object's parse errors are expected
    catalog_ = Open(dir_ + "/catalog.sqlite");
    auto local = blob::OpenFileBlobStore(dir_ + "/local");
    ASSERT_TRUE(local.ok());
    local_ = std::move(*local);
    blob::FileBlobStoreOptions options;
    options.emulate_tiers = true;
    options.now_ms = [this] { return now_ms_; };
    auto archive = blob::OpenFileBlobStore(dir_ + "/archive", options);
    ASSERT_TRUE(archive.ok());
    archive_ = std::move(*archive);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::unique_ptr<catalog::Catalog> Open(const std::string& path) {
    auto catalog = catalog::OpenSqliteCatalog(path);
    EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
    return std::move(catalog).value();
  }

  // Stores `bytes` through ingest; returns what the catalog recorded.
  Original Store(const std::string& bytes) {
    if (!ingest_) {
      ingest::IngestOptions options;
      options.now_ms = [] { return kT0; };
      ingest_ = ingest::CreateIngestService(*catalog_, *local_, options);
    }
    auto staged = ingest_->StagingPath();
    EXPECT_TRUE(staged.ok());
    std::ofstream(*staged, std::ios::binary) << bytes;
    ingest::IngestRequest request;
    request.staged_path = *staged;
    request.source_ae = "MOD";
    auto result = ingest_->Ingest(request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    Original o{result->study_instance_uid,
               result->series_instance_uid,
               result->sop_instance_uid,
               result->blob_key,
               "",
               0};
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(auto versions, txn.Versions(o.sop));
                      for (const auto& v : versions) {
                        if (v.blob_key == o.blob_key) {
                          o.sha = v.sha256_hex;
                          o.size = v.size_bytes;
                        }
                      }
                      return OkStatus();
                    })
                    .ok());
    return o;
  }

  // Two studies (2 + 3 instances) and a second version of one instance, all archived.
  void StoreAndArchive(blob::BlobNaming naming = blob::BlobNaming::kVendorNeutral) {
    for (int i = 1; i <= 2; ++i) {
      originals_.push_back(Store(MakeDicom("1.2.826.1.1", "1.2.826.1.1.1",
                                           "1.2.826.1.1.1." + std::to_string(i), "Doe^A")));
    }
    for (int i = 1; i <= 3; ++i) {
      originals_.push_back(Store(MakeDicom("1.2.826.1.2", "1.2.826.1.2.1",
                                           "1.2.826.1.2.1." + std::to_string(i), "Roe^B")));
    }
    // A corrected copy of the first instance: a new current version.
    originals_.push_back(
        Store(MakeDicom("1.2.826.1.1", "1.2.826.1.1.1", "1.2.826.1.1.1.1", "Doe^Corrected")));
    ASSERT_NE(originals_.back().blob_key, originals_.front().blob_key);

    ArchiverOptions options;
    options.parallel_uploads = 2;
    options.tier = blob::StorageTier::kHot;
    options.naming = naming;
    if (naming == blob::BlobNaming::kOpaque) options.naming_key = kNamingKey;
    options.now_ms = [] { return kT0; };
    auto archiver = Archiver::Create(*catalog_, *local_, *archive_, options);
    ASSERT_TRUE(archiver.ok()) << archiver.status().ToString();
    auto batch = (*archiver)->RunBatch();
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->archived, originals_.size());
  }

  std::optional<catalog::ArchiveRecord> StateOf(catalog::Catalog& catalog, const std::string& key) {
    std::optional<catalog::ArchiveRecord> state;
    EXPECT_TRUE(catalog
                    .Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(state, txn.ArchiveState(key));
                      return OkStatus();
                    })
                    .ok());
    return state;
  }

  void CheckRebuilt(catalog::Catalog& rebuilt) {
    for (size_t i = 1; i < originals_.size(); ++i) {  // [0] is the replaced first version
      const Original& o = originals_[i];
      std::vector<catalog::InstanceLocation> found;
      ASSERT_TRUE(rebuilt
                      .Read([&](catalog::ReadTxn& txn) -> Status {
                        STRATA_ASSIGN_OR_RETURN(found, txn.Locate(o.study, o.series, o.sop));
                        return OkStatus();
                      })
                      .ok());
      ASSERT_EQ(found.size(), 1u) << o.sop;
      EXPECT_EQ(found[0].study_instance_uid, o.study);
      EXPECT_EQ(found[0].series_instance_uid, o.series);
      EXPECT_EQ(found[0].blob_key, o.blob_key);
      EXPECT_EQ(found[0].size_bytes, o.size);
      EXPECT_EQ(found[0].sha256_hex, o.sha);
    }
    for (const Original& o : originals_) {
      auto state = StateOf(rebuilt, o.blob_key);
      ASSERT_TRUE(state.has_value()) << o.blob_key;
      EXPECT_EQ(state->outcome, catalog::ArchiveOutcome::kArchived);
      EXPECT_EQ(state->tier, "Hot");
      EXPECT_EQ(state->size_bytes, o.size);
      auto original_state = StateOf(*catalog_, o.blob_key);
      ASSERT_TRUE(original_state.has_value());
      EXPECT_EQ(state->archive_key, original_state->archive_key);
    }
    // Both versions of the corrected instance, the later one current.
    std::vector<catalog::InstanceLocation> versions;
    ASSERT_TRUE(rebuilt
                    .Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(versions, txn.Versions(originals_[0].sop));
                      return OkStatus();
                    })
                    .ok());
    ASSERT_EQ(versions.size(), 2u);
    EXPECT_EQ(versions[0].blob_key, originals_[0].blob_key);
    EXPECT_FALSE(versions[0].current);
    EXPECT_EQ(versions[1].blob_key, originals_.back().blob_key);
    EXPECT_TRUE(versions[1].current);
  }

  std::string dir_;
  int64_t now_ms_ = kT0;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<blob::BlobStore> local_;
  std::unique_ptr<blob::BlobStore> archive_;
  std::unique_ptr<ingest::IngestService> ingest_;
  std::vector<Original> originals_;
};

TEST_F(ArchiveAdminTest, RebuildRecordsEveryArchivedObjectAndReportsCorruptOnes) {
  StoreAndArchive();
  // A corrupt object under the prefix: counted and listed, not fatal.
  const std::string junk = dir_ + "/junk";
  std::ofstream(junk, std::ios::binary) << "not a DICOM file";
  const std::string junk_key = "dicom/1.2.826.9/1.2.826.9.1/1.2.826.9.1.1.dcm";
  ASSERT_TRUE(archive_->PutFile(junk_key, junk, true).ok());

  auto rebuilt = Open(dir_ + "/rebuilt.sqlite");
  RebuildOptions options;
  options.parallel_downloads = 3;
  options.commit_batch = 2;
  auto report = RebuildCatalog(*rebuilt, *archive_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->listed, originals_.size() + 1);
  EXPECT_EQ(report->recorded, originals_.size());
  EXPECT_EQ(report->failed, 1u);
  ASSERT_EQ(report->failures.size(), 1u);
  EXPECT_EQ(report->failures[0].archive_key, junk_key);
  uint64_t bytes = 0;
  for (const auto& o : originals_) bytes += o.size;
  EXPECT_EQ(report->bytes, bytes);
  CheckRebuilt(*rebuilt);

  // Only into an empty catalog.
  auto again = RebuildCatalog(*rebuilt, *archive_, options);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ArchiveAdminTest, RebuildRestoresRetentionAndHoldsFromProtectedCopies) {
  StoreAndArchive();
  // What an archiver with protect_archive_copies leaves on the copies: an admin-extended
  // retention on one study, a legal hold on one copy of the other.
  const int64_t until = catalog::RetentionEndMs("20601231");
  for (const auto& o : originals_) {
    if (o.study == "1.2.826.1.1") {
      ASSERT_TRUE(archive_->SetProtection(o.blob_key, {.retain_until_ms = until}).ok());
    }
  }
  ASSERT_TRUE(archive_->SetProtection(originals_[2].blob_key, {.legal_hold = true}).ok());

  auto rebuilt = Open(dir_ + "/rebuilt.sqlite");
  RebuildOptions options;
  options.retention.default_years = 10;
  options.now_ms = [] { return kT0; };
  auto report = RebuildCatalog(*rebuilt, *archive_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->retention_from_archive, 1u);
  EXPECT_EQ(report->holds_restored, 1u);
  ASSERT_TRUE(rebuilt
                  ->Read([&](catalog::ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(auto extended, txn.GetStudyProtection("1.2.826.1.1"));
                    EXPECT_EQ(extended.retention_until, "20601231");
                    EXPECT_FALSE(extended.hold.held);
                    STRATA_ASSIGN_OR_RETURN(auto held, txn.GetStudyProtection("1.2.826.1.2"));
                    EXPECT_TRUE(held.hold.held);
                    EXPECT_EQ(held.hold.set_by, "rebuild-catalog");
                    EXPECT_EQ(held.retention_until, "20331114");  // the policy's: kT0 + 10 y
                    return OkStatus();
                  })
                  .ok());
}

TEST_F(ArchiveAdminTest, RebuildWithOpaqueNamesUsesTheObjectsThemselves) {
  StoreAndArchive(blob::BlobNaming::kOpaque);
  auto rebuilt = Open(dir_ + "/rebuilt.sqlite");
  RebuildOptions options;
  options.naming = blob::BlobNaming::kOpaque;
  options.naming_key = kNamingKey;
  auto report = RebuildCatalog(*rebuilt, *archive_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->recorded, originals_.size());
  EXPECT_EQ(report->failed, 0u);
  CheckRebuilt(*rebuilt);
}

TEST_F(ArchiveAdminTest, RebuildReportsTamperedAndArchiveTierObjects) {
  StoreAndArchive();
  // An object whose bytes no longer match the sha256 in its metadata: re-put under the same
  // key with the metadata of the original.
  const Original& victim = originals_[1];
  auto info = archive_->Stat(victim.blob_key);
  ASSERT_TRUE(info.ok());
  const std::string other = dir_ + "/other.dcm";
  std::ofstream(other, std::ios::binary)
      << MakeDicom(victim.study, victim.series, victim.sop, "Tampered^X");
  ASSERT_TRUE(archive_->Delete(victim.blob_key).ok());
  blob::PutOptions put;
  put.metadata = info->metadata;
  put.tier = blob::StorageTier::kHot;
  ASSERT_TRUE(archive_->Put(victim.blob_key, other, put).ok());
  // And one in the Archive tier.
  ASSERT_TRUE(archive_->SetTier(originals_[2].blob_key, blob::StorageTier::kArchive).ok());

  auto rebuilt = Open(dir_ + "/rebuilt.sqlite");
  auto report = RebuildCatalog(*rebuilt, *archive_, RebuildOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->recorded, originals_.size() - 2);
  EXPECT_EQ(report->failed, 2u);
  EXPECT_EQ(report->needs_rehydration, 1u);
  EXPECT_NE(RebuildReportJson(*report).find("\"needs_rehydration\":1"), std::string::npos);
}

TEST_F(ArchiveAdminTest, LifecyclePlansWithoutChangingThenApplies) {
  StoreAndArchive();
  LifecycleOptions options;
  options.rules = {.cool_after_days = 30, .archive_after_days = 180, .evict_after_days = 35};
  options.page_size = 4;  // several pages
  options.now_ms = [] { return kT0 + 40 * kDayMs; };

  // Dry run: the plan, and nothing changed.
  auto plan = RunLifecycle(*catalog_, *archive_, LocalStoreCopies(*local_).get(), options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->dry_run);
  EXPECT_EQ(plan->examined, originals_.size());
  ASSERT_EQ(plan->moves.size(), 1u);
  EXPECT_EQ(plan->moves[0].from, blob::StorageTier::kHot);
  EXPECT_EQ(plan->moves[0].to, blob::StorageTier::kCool);
  EXPECT_EQ(plan->moves[0].count.objects, originals_.size());
  EXPECT_EQ(plan->evict_local.objects, originals_.size());
  for (const auto& o : originals_) {
    EXPECT_EQ(archive_->Stat(o.blob_key)->tier, blob::StorageTier::kHot);
    EXPECT_EQ(StateOf(*catalog_, o.blob_key)->tier, "Hot");
    EXPECT_TRUE(local_->Stat(o.blob_key).ok());
  }

  // Applied: tiers moved in the archive and recorded, local copies gone, archive time kept.
  options.dry_run = false;
  auto applied = RunLifecycle(*catalog_, *archive_, LocalStoreCopies(*local_).get(), options);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(applied->failed, 0u);
  EXPECT_EQ(applied->moves[0].count.objects, originals_.size());
  for (const auto& o : originals_) {
    EXPECT_EQ(archive_->Stat(o.blob_key)->tier, blob::StorageTier::kCool);
    auto state = StateOf(*catalog_, o.blob_key);
    EXPECT_EQ(state->tier, "Cool");
    EXPECT_EQ(state->archived_at_ms, kT0);
    EXPECT_EQ(local_->Stat(o.blob_key).status().code(), StatusCode::kNotFound);
  }

  // Later: Cool -> Archive; nothing more to evict.
  options.now_ms = [] { return kT0 + 200 * kDayMs; };
  auto later = RunLifecycle(*catalog_, *archive_, LocalStoreCopies(*local_).get(), options);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->moves.size(), 1u);
  EXPECT_EQ(later->moves[0].from, blob::StorageTier::kCool);
  EXPECT_EQ(later->moves[0].to, blob::StorageTier::kArchive);
  EXPECT_EQ(later->evict_local.objects, 0u);
  EXPECT_EQ(archive_->Stat(originals_[0].blob_key)->tier, blob::StorageTier::kArchive);

  // Never warmer, never again.
  auto idle = RunLifecycle(*catalog_, *archive_, LocalStoreCopies(*local_).get(), options);
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->moves.empty());
}

TEST_F(ArchiveAdminTest, LifecycleCountsAgesFromTheLastRead) {
  StoreAndArchive();
  const std::string read = originals_[1].blob_key;
  ASSERT_TRUE(catalog_
                  ->Write([&](catalog::WriteTxn& txn) {
                    return txn.RecordAccess({read}, kT0 + 20 * kDayMs);
                  })
                  .ok());
  LifecycleOptions options;
  options.rules.cool_after_days = 30;
  options.dry_run = false;
  options.now_ms = [] { return kT0 + 40 * kDayMs; };
  auto report = RunLifecycle(*catalog_, *archive_, nullptr, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->moves.size(), 1u);
  EXPECT_EQ(report->moves[0].count.objects, originals_.size() - 1);
  EXPECT_EQ(archive_->Stat(read)->tier, blob::StorageTier::kHot) << "read 20 days ago";
  EXPECT_EQ(StateOf(*catalog_, originals_[0].blob_key)->tier, "Cool");

  options.now_ms = [] { return kT0 + 51 * kDayMs; };  // 31 days after that read
  report = RunLifecycle(*catalog_, *archive_, nullptr, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(archive_->Stat(read)->tier, blob::StorageTier::kCool);
  EXPECT_EQ(StateOf(*catalog_, read)->last_access_ms, kT0 + 20 * kDayMs) << "kept";
}

TEST_F(ArchiveAdminTest, LifecycleNeverEvictsUnarchivedObjects) {
  originals_.push_back(Store(MakeDicom("1.2.826.3", "1.2.826.3.1", "1.2.826.3.1.1", "Lo^C")));
  LifecycleOptions options;
  options.rules.evict_after_days = 1;
  options.dry_run = false;
  options.now_ms = [] { return kT0 + 400 * kDayMs; };
  auto report = RunLifecycle(*catalog_, *archive_, LocalStoreCopies(*local_).get(), options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->evict_local.objects, 0u);
  EXPECT_TRUE(local_->Stat(originals_[0].blob_key).ok());
}

// Local copies of which some are pinned: lifecycle eviction must keep those.
class PinnedCopies final : public LocalCopies {
 public:
  PinnedCopies(blob::BlobStore& local, std::set<std::string> pinned)
      : store_(LocalStoreCopies(local)), pinned_(std::move(pinned)) {}
  Result<std::optional<uint64_t>> LocalSize(const std::string& key) override {
    return store_->LocalSize(key);
  }
  Result<bool> EvictLocal(const std::string& key) override {
    if (pinned_.count(key)) return false;
    return store_->EvictLocal(key);
  }

 private:
  std::unique_ptr<LocalCopies> store_;
  std::set<std::string> pinned_;
};

TEST_F(ArchiveAdminTest, LifecycleKeepsPinnedLocalCopies) {
  StoreAndArchive();
  PinnedCopies copies(*local_, {originals_[0].blob_key});
  LifecycleOptions options;
  options.rules.evict_after_days = 1;
  options.dry_run = false;
  options.now_ms = [] { return kT0 + 2 * kDayMs; };
  auto report = RunLifecycle(*catalog_, *archive_, &copies, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->evict_kept, 1u);
  EXPECT_EQ(report->evict_local.objects, originals_.size() - 1);
  EXPECT_TRUE(local_->Stat(originals_[0].blob_key).ok());
  EXPECT_EQ(local_->Stat(originals_[1].blob_key).status().code(), StatusCode::kNotFound);
}

TEST_F(ArchiveAdminTest, LifecycleSchedulerAppliesTheRulesByItself) {
  StoreAndArchive();
  auto copies = LocalStoreCopies(*local_);
  LifecycleScheduleOptions options;
  options.lifecycle.rules.cool_after_days = 30;
  options.lifecycle.dry_run = true;  // ignored: scheduled runs apply
  options.lifecycle.now_ms = [] { return kT0 + 40 * kDayMs; };
  options.first_run_delay = std::chrono::milliseconds(0);
  options.interval = std::chrono::milliseconds(20);
  LifecycleScheduler scheduler(*catalog_, *archive_, copies.get(), options);
  scheduler.Start();
  for (int i = 0; i < 500 && scheduler.Runs() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  scheduler.Stop();
  EXPECT_GE(scheduler.Runs(), 2u);
  for (const auto& o : originals_) {
    EXPECT_EQ(archive_->Stat(o.blob_key)->tier, blob::StorageTier::kCool);
    EXPECT_EQ(StateOf(*catalog_, o.blob_key)->tier, "Cool");
  }
  const uint64_t runs = scheduler.Runs();
  scheduler.Stop();  // idempotent
  EXPECT_EQ(scheduler.Runs(), runs);
}

TEST_F(ArchiveAdminTest, LifecycleSchedulerStopsBeforeItsFirstRun) {
  LifecycleScheduleOptions options;
  options.first_run_delay = std::chrono::hours(1);
  LifecycleScheduler scheduler(*catalog_, *archive_, nullptr, options);
  scheduler.Start();
  scheduler.Stop();  // must not wait an hour
  EXPECT_EQ(scheduler.Runs(), 0u);
}

TEST_F(ArchiveAdminTest, LifecycleRejectsNegativeDays) {
  LifecycleOptions options;
  options.rules.cool_after_days = -1;
  EXPECT_EQ(RunLifecycle(*catalog_, *archive_, nullptr, options).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CostReportTest, PricesBytesPerTier) {
  StoragePrices prices;  // defaults
  prices.local_per_gb_month = 0.05;
  const uint64_t gib = 1ULL << 30;
  std::vector<TierUsage> usage = {
      {"Archive", 100, 10 * gib, 0}, {"Hot", 20, 2 * gib, 0}, {"", 1, gib, 0}};
  CostReport report = PriceUsage(usage, {"", 5, 4 * gib, 0}, prices);
  ASSERT_EQ(report.archive.size(), 3u);
  EXPECT_EQ(report.archive[0].tier, "Hot");  // tier order, untiered last
  EXPECT_EQ(report.archive[1].tier, "Archive");
  EXPECT_EQ(report.archive[2].tier, "");
  EXPECT_DOUBLE_EQ(report.archive[0].monthly, 2 * 0.018);
  EXPECT_DOUBLE_EQ(report.archive[1].monthly, 10 * 0.00099);
  EXPECT_DOUBLE_EQ(report.archive[2].monthly, 0.018);  // untiered: priced as Hot
  EXPECT_DOUBLE_EQ(report.archive_monthly, 2 * 0.018 + 10 * 0.00099 + 0.018);
  EXPECT_EQ(report.local.tier, "local");
  EXPECT_DOUBLE_EQ(report.local.monthly, 4 * 0.05);
  EXPECT_DOUBLE_EQ(report.total_monthly, report.archive_monthly + 0.2);
  EXPECT_EQ(report.currency, "USD");
  EXPECT_NE(CostReportText(report).find("archive Hot"), std::string::npos);
}

TEST_F(ArchiveAdminTest, CostReportCountsArchiveRecordsAndLocalBytes) {
  StoreAndArchive();
  ASSERT_TRUE(archive_->SetTier(originals_[0].blob_key, blob::StorageTier::kCool).ok());
  LifecycleOptions move;  // records Cool for everything older than a day
  move.rules.cool_after_days = 1;
  move.dry_run = false;
  move.now_ms = [] { return kT0 + 2 * kDayMs; };
  ASSERT_TRUE(RunLifecycle(*catalog_, *archive_, nullptr, move).ok());

  auto report = ReadCostReport(*catalog_, local_.get(), StoragePrices{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  uint64_t bytes = 0;
  for (const auto& o : originals_) bytes += o.size;
  ASSERT_EQ(report->archive.size(), 1u);
  EXPECT_EQ(report->archive[0].tier, "Cool");
  EXPECT_EQ(report->archive[0].objects, originals_.size());
  EXPECT_EQ(report->archive[0].bytes, bytes);
  EXPECT_EQ(report->local.objects, originals_.size());
  EXPECT_EQ(report->local.bytes, bytes);
  EXPECT_NE(CostReportJson(*report).find("\"tier\":\"Cool\""), std::string::npos);
}

}  // namespace
}  // namespace strata::archive
