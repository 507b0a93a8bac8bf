// Retention, legal hold, soft delete, restore and purge in the SQLite catalog (schema v3).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/catalog_test_util.h"
#include "catalog/old_catalog_test_util.h"
#include "catalog/sqlite_catalog.h"

namespace strata::catalog {
namespace {

namespace t = dicom::tags;
using testing::CountsOf;
using testing::kOldInstanceInsert;
using testing::kOldSeriesInsert;
using testing::LocateIn;
using testing::MakeQuery;
using testing::MakeRecord;
using testing::MustFind;
using testing::OldPatientAndStudyRows;
using testing::OpenMemory;
using testing::Put;
using testing::VersionsIn;
using testing::WriteCatalogAtVersion;

constexpr int64_t kDayMs = 86400000;
// 2024-06-15T12:00:00Z.
constexpr int64_t kNow = 1718452800000;

Status Write(Catalog& catalog, const std::function<Status(WriteTxn&)>& fn) {
  return catalog.Write(fn);
}

StudyProtection ProtectionOf(Catalog& catalog, const std::string& study) {
  StudyProtection p;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(p, txn.GetStudyProtection(study));
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return p;
}

Status Delete(Catalog& catalog, const std::string& study, int64_t now = kNow) {
  return Write(catalog, [&](WriteTxn& txn) { return txn.SoftDeleteStudy(study, "alice", now); });
}

Status Restore(Catalog& catalog, const std::string& study) {
  return Write(catalog, [&](WriteTxn& txn) { return txn.RestoreStudy(study, "bob"); });
}

Status SetRetention(Catalog& catalog, const std::string& study, const std::string& until) {
  return Write(catalog, [&](WriteTxn& txn) { return txn.SetRetention(study, until); });
}

Status Hold(Catalog& catalog, const std::string& study) {
  return Write(catalog,
               [&](WriteTxn& txn) { return txn.SetLegalHold(study, "case 42", "legal", kNow); });
}

Result<std::vector<std::string>> Purge(Catalog& catalog, const std::string& study,
                                       int64_t now = kNow) {
  std::vector<std::string> keys;
  Status status = Write(catalog, [&](WriteTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(keys, txn.PurgeStudy(study, "carol", now));
    return OkStatus();
  });
  if (!status.ok()) return status;
  return keys;
}

std::vector<std::string> Candidates(Catalog& catalog, int64_t now, int64_t min_age_ms) {
  std::vector<DeletedStudy> found;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(found, txn.PurgeCandidates(now, min_age_ms));
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::vector<std::string> uids;
  for (const auto& d : found) uids.push_back(d.study_instance_uid);
  return uids;
}

std::vector<std::string> ChangeKinds(Catalog& catalog) {
  std::vector<ChangeEntry> entries;
  EXPECT_TRUE(catalog
                  .Read([&](ReadTxn& txn) -> Status {
                    ChangeQuery q;
                    q.limit = 1000;
                    STRATA_ASSIGN_OR_RETURN(entries, txn.Changes(q));
                    return OkStatus();
                  })
                  .ok());
  std::vector<std::string> kinds;
  for (const auto& e : entries) kinds.push_back(e.kind);
  return kinds;
}

// Two studies of one patient; "1.1" has two instances, one with two versions.
std::unique_ptr<Catalog> TwoStudies() {
  auto catalog = OpenMemory();
  EXPECT_TRUE(Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")).ok());
  EXPECT_TRUE(Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")).ok());
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "sha-2")),
            PutOutcome::kNewVersion);
  EXPECT_TRUE(Put(*catalog, MakeRecord("P1", "1.2", "1.2.1", "1.2.1.1")).ok());
  return catalog;
}

TEST(RetentionDateTest, DefaultFromStudyDateOrReceiveDate) {
  RetentionPolicy policy;
  policy.default_years = 10;
  policy.modality_years = {{"MG", 20}, {"OT", 0}};
  EXPECT_EQ(DefaultRetentionUntil(policy, "20240115", "CT", kNow), "20340115");
  EXPECT_EQ(DefaultRetentionUntil(policy, "20240115", "MG", kNow), "20440115");
  EXPECT_EQ(DefaultRetentionUntil(policy, "20240115", "OT", kNow), "");
  EXPECT_EQ(DefaultRetentionUntil(policy, "", "CT", kNow), "20340615");
  EXPECT_EQ(DefaultRetentionUntil(policy, "garbage", "CT", kNow), "20340615");
  EXPECT_EQ(DefaultRetentionUntil(policy, "20240229", "CT", kNow), "20340228");
  EXPECT_EQ(DefaultRetentionUntil(RetentionPolicy{}, "20240115", "CT", kNow), "");
  EXPECT_EQ(UtcDate(0), "19700101");
  EXPECT_EQ(UtcDate(kNow), "20240615");
  EXPECT_EQ(UtcDate(-1), "19691231");
  EXPECT_EQ(RetentionEndMs("19700101"), 86'400'000);
  EXPECT_EQ(RetentionEndMs("20991231"), 4'102'444'800'000);  // 2100-01-01T00:00:00Z
  EXPECT_EQ(UtcDate(RetentionEndMs("20240229") - 1), "20240229");
  EXPECT_EQ(RetentionEndMs(""), 0);
  EXPECT_EQ(RetentionEndMs("20230229"), 0);
}

TEST(SqliteRetentionTest, FirstInstanceSetsTheStudyRetention) {
  auto catalog = OpenMemory();
  auto record = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1");
  record.retention_until = "20340101";
  ASSERT_TRUE(Put(*catalog, record).ok());
  auto later = MakeRecord("P1", "1.1", "1.1.2", "1.1.2.1");
  later.retention_until = "20990101";  // not the first: ignored
  ASSERT_TRUE(Put(*catalog, later).ok());
  StudyProtection p = ProtectionOf(*catalog, "1.1");
  EXPECT_EQ(p.retention_until, "20340101");
  EXPECT_EQ(p.state, StudyState::kActive);
  EXPECT_FALSE(p.hold.held);
  EXPECT_EQ(p.instances, 2u);
}

TEST(SqliteRetentionTest, SoftDeleteHidesFromEveryReadPath) {
  auto catalog = TwoStudies();
  ASSERT_TRUE(Delete(*catalog, "1.1").ok());
  EXPECT_TRUE(LocateIn(*catalog, "1.1", "", "").empty());
  EXPECT_TRUE(LocateIn(*catalog, "", "1.1.1", "").empty());
  EXPECT_TRUE(LocateIn(*catalog, "", "", "1.1.1.1").empty());
  EXPECT_TRUE(VersionsIn(*catalog, "1.1.1.1").empty());
  for (QueryLevel level : {QueryLevel::kStudy, QueryLevel::kSeries, QueryLevel::kInstance}) {
    auto rows = MustFind(*catalog, MakeQuery(level, {}));
    for (const auto& row : rows) EXPECT_EQ(row.attributes.at(t::kStudyInstanceUid), "1.2");
    EXPECT_EQ(rows.size(), 1u);
  }
  auto patients = MustFind(*catalog, MakeQuery(QueryLevel::kPatient, {}));
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_EQ(patients[0].attributes.at(t::kNumberOfPatientRelatedStudies), "1");
  EXPECT_EQ(patients[0].attributes.at(t::kNumberOfPatientRelatedInstances), "1");
  CatalogCounts counts = CountsOf(*catalog);
  EXPECT_EQ(counts.patients, 1u);
  EXPECT_EQ(counts.studies, 1u);
  EXPECT_EQ(counts.series, 1u);
  EXPECT_EQ(counts.instances, 1u);
  // Managers still see the versions (crash recovery, archiver).
  std::vector<InstanceLocation> all;
  ASSERT_TRUE(catalog
                  ->Read([&](ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(all, txn.VersionsIncludingDeleted("1.1.1.1"));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(all.size(), 2u);
  StudyProtection p = ProtectionOf(*catalog, "1.1");
  EXPECT_EQ(p.state, StudyState::kDeleted);
  EXPECT_EQ(p.deleted_by, "alice");
  EXPECT_EQ(p.deleted_at_ms, kNow);
  EXPECT_EQ(ChangeKinds(*catalog).back(), "study.deleted");
}

TEST(SqliteRetentionTest, DeletingThePatientsLastStudyHidesThePatient) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")).ok());
  ASSERT_TRUE(Delete(*catalog, "1.1").ok());
  EXPECT_TRUE(MustFind(*catalog, MakeQuery(QueryLevel::kPatient, {})).empty());
  EXPECT_EQ(CountsOf(*catalog).patients, 0u);
  // A new study of the same patient makes it visible again.
  ASSERT_TRUE(Put(*catalog, MakeRecord("P1", "1.3", "1.3.1", "1.3.1.1")).ok());
  EXPECT_EQ(CountsOf(*catalog).patients, 1u);
  ASSERT_TRUE(Restore(*catalog, "1.1").ok());
  CatalogCounts counts = CountsOf(*catalog);
  EXPECT_EQ(counts.patients, 1u);
  EXPECT_EQ(counts.studies, 2u);
  EXPECT_EQ(counts.instances, 2u);
}

TEST(SqliteRetentionTest, RestoreBringsBackExactlyWhatWasThere) {
  auto catalog = TwoStudies();
  auto before = LocateIn(*catalog, "1.1", "", "");
  auto versions_before = VersionsIn(*catalog, "1.1.1.1");
  CatalogCounts counts_before = CountsOf(*catalog);
  ASSERT_TRUE(Delete(*catalog, "1.1").ok());
  ASSERT_TRUE(Restore(*catalog, "1.1").ok());
  auto after = LocateIn(*catalog, "1.1", "", "");
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].blob_key, before[i].blob_key);
    EXPECT_EQ(after[i].sha256_hex, before[i].sha256_hex);
  }
  EXPECT_EQ(VersionsIn(*catalog, "1.1.1.1").size(), versions_before.size());
  CatalogCounts counts = CountsOf(*catalog);
  EXPECT_EQ(counts.studies, counts_before.studies);
  EXPECT_EQ(counts.instances, counts_before.instances);
  EXPECT_EQ(ProtectionOf(*catalog, "1.1").state, StudyState::kActive);
  auto kinds = ChangeKinds(*catalog);
  ASSERT_GE(kinds.size(), 2u);
  EXPECT_EQ(kinds[kinds.size() - 2], "study.deleted");
  EXPECT_EQ(kinds.back(), "study.restored");
}

TEST(SqliteRetentionTest, Refusals) {
  auto catalog = TwoStudies();
  // Unknown studies.
  EXPECT_EQ(Delete(*catalog, "9.9").code(), StatusCode::kNotFound);
  EXPECT_EQ(Restore(*catalog, "9.9").code(), StatusCode::kNotFound);
  EXPECT_EQ(SetRetention(*catalog, "9.9", "20300101").code(), StatusCode::kNotFound);
  EXPECT_EQ(Hold(*catalog, "9.9").code(), StatusCode::kNotFound);
  EXPECT_EQ(Purge(*catalog, "9.9").status().code(), StatusCode::kNotFound);
  // Bad arguments.
  EXPECT_EQ(SetRetention(*catalog, "1.1", "2030-01-01").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SetRetention(*catalog, "1.1", "20300230").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Write(*catalog, [](WriteTxn& txn) { return txn.SetLegalHold("1.1", "", "legal", kNow); })
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Write(*catalog, [](WriteTxn& txn) { return txn.SoftDeleteStudy("1.1", "", kNow); }).code(),
      StatusCode::kInvalidArgument);
  // Wrong state.
  EXPECT_EQ(Restore(*catalog, "1.1").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Purge(*catalog, "1.1").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Write(*catalog, [](WriteTxn& txn) { return txn.ClearLegalHold("1.1"); }).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Delete(*catalog, "1.2").ok());
  EXPECT_EQ(Delete(*catalog, "1.2").code(), StatusCode::kNotFound);

  // Retention: through the date inclusive.
  ASSERT_TRUE(SetRetention(*catalog, "1.1", "20240615").ok());
  Status retained = Delete(*catalog, "1.1");
  EXPECT_EQ(retained.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(retained.message().find("retention until 20240615"), std::string::npos)
      << retained.ToString();
  EXPECT_TRUE(Delete(*catalog, "1.1", kNow + kDayMs).ok());
  ASSERT_TRUE(Restore(*catalog, "1.1").ok());

  // Legal hold, even after retention expired.
  ASSERT_TRUE(SetRetention(*catalog, "1.1", "").ok());
  ASSERT_TRUE(Hold(*catalog, "1.1").ok());
  Status held = Delete(*catalog, "1.1");
  EXPECT_EQ(held.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(held.message().find("legal hold (case 42"), std::string::npos) << held.ToString();
  StudyProtection p = ProtectionOf(*catalog, "1.1");
  EXPECT_TRUE(p.hold.held);
  EXPECT_EQ(p.hold.reason, "case 42");
  EXPECT_EQ(p.hold.set_by, "legal");
  ASSERT_TRUE(Write(*catalog, [](WriteTxn& txn) { return txn.ClearLegalHold("1.1"); }).ok());
  EXPECT_TRUE(Delete(*catalog, "1.1").ok());
  // Nothing changed by a refusal: the study stayed visible until the last delete.
  EXPECT_TRUE(LocateIn(*catalog, "1.1", "", "").empty());
}

TEST(SqliteRetentionTest, NewVersionRefusedUnderRetentionOrHold) {
  auto catalog = OpenMemory();
  auto first = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1");
  first.retention_until = "20340101";
  first.received_at_ms = kNow;
  ASSERT_TRUE(Put(*catalog, first).ok());
  auto changed = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "sha-changed");
  changed.received_at_ms = kNow;
  auto refused = Put(*catalog, changed);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("retention until 20340101"), std::string::npos);
  // An identical resend and new instances are fine.
  EXPECT_EQ(*Put(*catalog, first), PutOutcome::kDuplicate);
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")), PutOutcome::kStored);
  ASSERT_EQ(VersionsIn(*catalog, "1.1.1.1").size(), 1u);

  ASSERT_TRUE(SetRetention(*catalog, "1.1", "").ok());
  ASSERT_TRUE(Hold(*catalog, "1.1").ok());
  EXPECT_EQ(Put(*catalog, changed).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Write(*catalog, [](WriteTxn& txn) { return txn.ClearLegalHold("1.1"); }).ok());
  EXPECT_EQ(*Put(*catalog, changed), PutOutcome::kNewVersion);
}

TEST(SqliteRetentionTest, StoringIntoADeletedStudyIsRefused) {
  auto catalog = TwoStudies();
  ASSERT_TRUE(Delete(*catalog, "1.1").ok());
  EXPECT_EQ(Put(*catalog, MakeRecord("P1", "1.1", "1.1.9", "1.1.9.1")).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(SqliteRetentionTest, PurgeOnlyAfterTheWindowAndNeverWhenProtected) {
  auto catalog = TwoStudies();
  ASSERT_TRUE(Put(*catalog, MakeRecord("P2", "2.1", "2.1.1", "2.1.1.1")).ok());
  ASSERT_TRUE(Delete(*catalog, "1.1", kNow).ok());
  ASSERT_TRUE(Delete(*catalog, "1.2", kNow).ok());
  ASSERT_TRUE(Delete(*catalog, "2.1", kNow).ok());
  const int64_t window = 30 * kDayMs;
  EXPECT_TRUE(Candidates(*catalog, kNow + window - 1, window).empty());
  EXPECT_EQ(Candidates(*catalog, kNow + window, window),
            (std::vector<std::string>{"1.1", "1.2", "2.1"}));
  // A hold or a retention date set during the window keeps the study.
  ASSERT_TRUE(Hold(*catalog, "1.2").ok());
  ASSERT_TRUE(SetRetention(*catalog, "2.1", "20991231").ok());
  EXPECT_EQ(Candidates(*catalog, kNow + window, window), (std::vector<std::string>{"1.1"}));
  EXPECT_EQ(Purge(*catalog, "1.2", kNow + window).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Purge(*catalog, "2.1", kNow + window).status().code(), StatusCode::kFailedPrecondition);

  auto keys = Purge(*catalog, "1.1", kNow + window);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 3u);  // every version of every instance
  EXPECT_EQ(ChangeKinds(*catalog).back(), "study.purged");
  EXPECT_EQ(Restore(*catalog, "1.1").code(), StatusCode::kNotFound);
  std::vector<DeletedStudy> deleted;
  ASSERT_TRUE(catalog
                  ->Read([&](ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(deleted, txn.ListDeleted());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(deleted.size(), 2u);
  // The patient row stays while a deleted study refers to it; it can take new studies.
  ASSERT_TRUE(Restore(*catalog, "1.2").ok());
  EXPECT_EQ(CountsOf(*catalog).patients, 1u);
  EXPECT_EQ(CountsOf(*catalog).instances, 1u);
  // Purging a patient's last study removes the patient.
  ASSERT_TRUE(SetRetention(*catalog, "2.1", "").ok());
  ASSERT_TRUE(Purge(*catalog, "2.1", kNow + window).ok());
  ASSERT_TRUE(Put(*catalog, MakeRecord("P2", "2.2", "2.2.1", "2.2.1.1")).ok());
  EXPECT_EQ(CountsOf(*catalog).patients, 2u);
}

// A catalog file written at schema version 2 (before retention) opens, migrates and keeps
// its studies visible and unprotected.
TEST(SqliteRetentionTest, MigratesAVersionTwoCatalog) {
  char pattern[] = "/tmp/strata_retention_migrate_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/catalog.sqlite";
  WriteCatalogAtVersion(
      path, 2,
      OldPatientAndStudyRows(1, 1) + kOldSeriesInsert +
          "(1, 1, '1.1.1', 'CT', '1', '', '', '', '', 1);" + kOldInstanceInsert +
          "(1, 1, 1, '1.1.1.1', 1, 1, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1',"
          " 'dicom/k.dcm', 10, 'sha', 0, '', '1', '', '', '', '', '', '');"
          "INSERT INTO study_sop_classes VALUES (1, '1.2.840.10008.5.1.4.1.1.2', 1);"
          "UPDATE totals SET patients = 1, studies = 1, series = 1, instances = 1;");
  auto catalog = OpenSqliteCatalog(path);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ(LocateIn(**catalog, "1.1", "", "").size(), 1u);
  StudyProtection p = ProtectionOf(**catalog, "1.1");
  EXPECT_EQ(p.retention_until, "");
  EXPECT_FALSE(p.hold.held);
  EXPECT_EQ(p.state, StudyState::kActive);
  ASSERT_TRUE(Delete(**catalog, "1.1").ok());
  EXPECT_TRUE(LocateIn(**catalog, "1.1", "", "").empty());
  EXPECT_EQ(CountsOf(**catalog).studies, 0u);
  catalog->reset();
  auto reopened = OpenSqliteCatalog(path);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(ProtectionOf(**reopened, "1.1").state, StudyState::kDeleted);
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace strata::catalog
