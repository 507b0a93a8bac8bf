// Series activity in the SQLite catalog (schema v5): last_received_ms kept by PutInstance,
// SeriesActivityOf, StableSeries paging, soft-deleted studies, and the v4 -> v5 backfill.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "catalog/catalog_test_util.h"
#include "catalog/old_catalog_test_util.h"
#include "catalog/sqlite_catalog.h"
#include "catalog/sqlite_schema.h"

namespace strata::catalog {
namespace {

using testing::kOldInstanceInsert;
using testing::kOldSeriesInsert;
using testing::MakeRecord;
using testing::OldPatientAndStudyRows;
using testing::OpenMemory;
using testing::Put;
using testing::WriteCatalogAtVersion;

constexpr int64_t kT0 = 1718452800000;  // 2024-06-15T12:00:00Z

InstanceRecord At(InstanceRecord record, int64_t received_at_ms) {
  record.received_at_ms = received_at_ms;
  return record;
}

std::optional<SeriesActivity> ActivityOf(Catalog& catalog, const std::string& series) {
  std::optional<SeriesActivity> activity;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(activity, txn.SeriesActivityOf(series));
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return activity;
}

// Every series quiet before `before`, read `page` rows per transaction; the series UIDs.
std::vector<std::string> AllStable(Catalog& catalog, int64_t before, size_t page,
                                   int* pages = nullptr) {
  std::vector<std::string> uids;
  std::optional<SeriesActivityCursor> after;
  for (int n = 0; n < 100; ++n) {
    std::vector<SeriesActivity> rows;
    Status status = catalog.Read([&](ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(rows, txn.StableSeries(before, after, page));
      return OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (rows.empty()) break;
    EXPECT_LE(rows.size(), page);
    if (pages) ++*pages;
    for (const auto& r : rows) {
      EXPECT_LT(r.last_received_ms, before);
      uids.push_back(r.series_uid);
    }
    after = SeriesActivityCursor{rows.back().last_received_ms, rows.back().series_uid};
  }
  return uids;
}

TEST(SqliteSeriesActivityTest, PutKeepsTheLastReceiveTime) {
  auto catalog = OpenMemory();
  EXPECT_FALSE(ActivityOf(*catalog, "1.1.1").has_value());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"), kT0)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2"), kT0 + 5000)).ok());
  auto activity = ActivityOf(*catalog, "1.1.1");
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->study_uid, "1.1");
  EXPECT_EQ(activity->series_uid, "1.1.1");
  EXPECT_EQ(activity->modality, "CT");
  EXPECT_EQ(activity->num_instances, 2u);
  EXPECT_EQ(activity->last_received_ms, kT0 + 5000);

  // A duplicate is not a receipt.
  auto dup = Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2"), kT0 + 9000));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup, PutOutcome::kDuplicate);
  EXPECT_EQ(ActivityOf(*catalog, "1.1.1")->last_received_ms, kT0 + 5000);
  // A record stamped earlier (another node's clock) never moves the time back.
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.3"), kT0 + 1000)).ok());
  EXPECT_EQ(ActivityOf(*catalog, "1.1.1")->last_received_ms, kT0 + 5000);
  EXPECT_EQ(ActivityOf(*catalog, "1.1.1")->num_instances, 3u);
}

TEST(SqliteSeriesActivityTest, ANewVersionIsAReceipt) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "aaaa"), kT0)).ok());
  auto outcome = Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "bbbb"), kT0 + 7000));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, PutOutcome::kNewVersion);
  auto activity = ActivityOf(*catalog, "1.1.1");
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->last_received_ms, kT0 + 7000);
  EXPECT_EQ(activity->num_instances, 1u);
}

TEST(SqliteSeriesActivityTest, StableSeriesPagesQuietestFirst) {
  auto catalog = OpenMemory();
  // Two series share a time (ordered by UID then); one is still receiving.
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.3", "1.1.3.1"), kT0 + 2000)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"), kT0)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P2", "2.1", "2.1.2", "2.1.2.1"), kT0 + 2000)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P2", "2.1", "2.1.1", "2.1.1.1"), kT0 + 1000)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P2", "2.1", "2.1.9", "2.1.9.1"), kT0 + 60000)).ok());

  const std::vector<std::string> expected{"1.1.1", "2.1.1", "1.1.3", "2.1.2"};
  int pages = 0;
  EXPECT_EQ(AllStable(*catalog, kT0 + 60000, 2, &pages), expected);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(AllStable(*catalog, kT0 + 60000, 1), expected);
  EXPECT_EQ(AllStable(*catalog, kT0 + 60001, 100).size(), 5u);
  // "Before" is exclusive: a series that received at kT0 + 2000 is not quiet since then.
  EXPECT_EQ(AllStable(*catalog, kT0 + 2000, 100), (std::vector<std::string>{"1.1.1", "2.1.1"}));
  EXPECT_TRUE(AllStable(*catalog, kT0, 100).empty());

  // A new instance takes its series out of the stable set.
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2"), kT0 + 70000)).ok());
  EXPECT_EQ(AllStable(*catalog, kT0 + 60000, 2),
            (std::vector<std::string>{"2.1.1", "1.1.3", "2.1.2"}));

  Status bad = catalog->Read(
      [&](ReadTxn& txn) -> Status { return txn.StableSeries(kT0, std::nullopt, 0).status(); });
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
}

// Decision: series of soft-deleted studies are hidden like the rest of such a study; a
// restore brings them back with their receive time unchanged.
TEST(SqliteSeriesActivityTest, SoftDeletedStudiesAreLeftOut) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"), kT0)).ok());
  ASSERT_TRUE(Put(*catalog, At(MakeRecord("P2", "2.1", "2.1.1", "2.1.1.1"), kT0)).ok());
  ASSERT_TRUE(
      catalog->Write([&](WriteTxn& txn) { return txn.SoftDeleteStudy("1.1", "admin", kT0 + 1000); })
          .ok());
  EXPECT_FALSE(ActivityOf(*catalog, "1.1.1").has_value());
  EXPECT_EQ(AllStable(*catalog, kT0 + 10000, 10), (std::vector<std::string>{"2.1.1"}));
  ASSERT_TRUE(catalog->Write([&](WriteTxn& txn) { return txn.RestoreStudy("1.1", "admin"); }).ok());
  ASSERT_TRUE(ActivityOf(*catalog, "1.1.1").has_value());
  EXPECT_EQ(ActivityOf(*catalog, "1.1.1")->last_received_ms, kT0);
  EXPECT_EQ(AllStable(*catalog, kT0 + 10000, 10), (std::vector<std::string>{"1.1.1", "2.1.1"}));
}

// A catalog file written at schema version 4 gets each series' time from its instances (the
// latest of every version) and the index for "quiet since" ranges.
TEST(SqliteSeriesActivityTest, MigratesAVersionFourCatalog) {
  char pattern[] = "/tmp/strata_series_migrate_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/catalog.sqlite";
  WriteCatalogAtVersion(
      path, 4,
      OldPatientAndStudyRows(2, 2) + kOldSeriesInsert +
          "(1, 1, '1.1.1', 'CT', '1', '', '', '', '', 1),"
          " (2, 1, '1.1.2', 'MR', '2', '', '', '', '', 1);" +
          kOldInstanceInsert +
          "(1, 1, 1, '1.1.1.1', 1, 0, 'c', 't', 'k1', 10, 's1', 1000, '', '1', '', '', '', '',"
          " '', ''),"
          "(2, 1, 1, '1.1.1.1', 2, 1, 'c', 't', 'k2', 10, 's2', 3000, '', '1', '', '', '', '',"
          " '', ''),"
          "(3, 3, 2, '1.1.2.1', 1, 1, 'c', 't', 'k3', 10, 's3', 2000, '', '1', '', '', '', '',"
          " '', '');"
          "UPDATE totals SET patients = 1, studies = 1, series = 2, instances = 2;");
  {
    auto catalog = OpenSqliteCatalog(path);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    EXPECT_EQ(ActivityOf(**catalog, "1.1.1")->last_received_ms, 3000);
    EXPECT_EQ(ActivityOf(**catalog, "1.1.2")->last_received_ms, 2000);
    EXPECT_EQ(ActivityOf(**catalog, "1.1.2")->modality, "MR");
    EXPECT_EQ(AllStable(**catalog, 2500, 10), (std::vector<std::string>{"1.1.2"}));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT max(version) FROM schema_version),"
                               " (SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                               " AND name = 'series_by_last_received')",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt, 0), sqlite::Migrations().back().version);
  EXPECT_EQ(sqlite3_column_int64(stmt, 1), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace strata::catalog
