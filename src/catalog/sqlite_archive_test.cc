// Outbox consumer cursors, backlog and archive state in the SQLite catalog.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "catalog/catalog_test_util.h"
#include "catalog/sqlite_catalog.h"

namespace strata::catalog {
namespace {

using testing::OpenMemory;

Result<int64_t> CursorOf(Catalog& catalog, const std::string& consumer) {
  int64_t seq = -1;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(seq, txn.ConsumerCursor(consumer));
    return OkStatus();
  });
  if (!status.ok()) return status;
  return seq;
}

Status Advance(Catalog& catalog, const std::string& consumer, int64_t seq) {
  return catalog.Write(
      [&](WriteTxn& txn) -> Status { return txn.AdvanceConsumerCursor(consumer, seq); });
}

void AppendEvents(Catalog& catalog, int n) {
  ASSERT_TRUE(catalog
                  .Write([&](WriteTxn& txn) -> Status {
                    for (int i = 0; i < n; ++i) {
                      STRATA_RETURN_IF_ERROR(txn.AppendOutbox({"instance.stored", "{}"}));
                    }
                    return OkStatus();
                  })
                  .ok());
}

OutboxBacklog BacklogAfter(Catalog& catalog, int64_t seq) {
  OutboxBacklog backlog;
  EXPECT_TRUE(catalog
                  .Read([&](ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(backlog, txn.Backlog(seq));
                    return OkStatus();
                  })
                  .ok());
  return backlog;
}

ArchiveRecord Archived(const std::string& blob_key) {
  ArchiveRecord r;
  r.blob_key = blob_key;
  r.sop_instance_uid = "1.2.3";
  r.outcome = ArchiveOutcome::kArchived;
  r.archive_key = "archive/" + blob_key;
  r.tier = "Cool";
  r.etag = "\"0x8DC\"";
  r.size_bytes = 1234;
  r.archived_at_ms = 1700000000000;
  return r;
}

std::optional<ArchiveRecord> StateOf(Catalog& catalog, const std::string& blob_key) {
  std::optional<ArchiveRecord> state;
  EXPECT_TRUE(catalog
                  .Read([&](ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(state, txn.ArchiveState(blob_key));
                    return OkStatus();
                  })
                  .ok());
  return state;
}

TEST(SqliteArchiveStateTest, UnknownConsumerStartsAtZero) {
  auto catalog = OpenMemory();
  EXPECT_EQ(*CursorOf(*catalog, "archiver"), 0);
}

TEST(SqliteArchiveStateTest, CursorAdvancesPerConsumerAndNeverMovesBack) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(Advance(*catalog, "archiver", 5).ok());
  ASSERT_TRUE(Advance(*catalog, "archiver", 5).ok());  // same value: idempotent
  ASSERT_TRUE(Advance(*catalog, "router", 2).ok());
  EXPECT_EQ(*CursorOf(*catalog, "archiver"), 5);
  EXPECT_EQ(*CursorOf(*catalog, "router"), 2);
  Status back = Advance(*catalog, "archiver", 4);
  EXPECT_EQ(back.code(), StatusCode::kFailedPrecondition) << back.ToString();
  EXPECT_EQ(*CursorOf(*catalog, "archiver"), 5);
  EXPECT_EQ(Advance(*catalog, "", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Advance(*catalog, "archiver", -1).code(), StatusCode::kInvalidArgument);
}

TEST(SqliteArchiveStateTest, FailedWriteLeavesCursorUnchanged) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(Advance(*catalog, "archiver", 3).ok());
  Status status = catalog->Write([&](WriteTxn& txn) -> Status {
    STRATA_RETURN_IF_ERROR(txn.AdvanceConsumerCursor("archiver", 9));
    STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(Archived("dicom/a.dcm")));
    return Unavailable("simulated failure before commit");
  });
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(*CursorOf(*catalog, "archiver"), 3);
  EXPECT_FALSE(StateOf(*catalog, "dicom/a.dcm").has_value());
}

TEST(SqliteArchiveStateTest, BacklogCountsEventsAfterSeqAndGivesOldest) {
  auto catalog = OpenMemory();
  EXPECT_EQ(BacklogAfter(*catalog, 0).events, 0u);
  EXPECT_FALSE(BacklogAfter(*catalog, 0).oldest_created_at_ms.has_value());
  AppendEvents(*catalog, 4);
  OutboxBacklog all = BacklogAfter(*catalog, 0);
  EXPECT_EQ(all.events, 4u);
  ASSERT_TRUE(all.oldest_created_at_ms.has_value());
  EXPECT_GT(*all.oldest_created_at_ms, 1600000000000);  // a Unix time in ms
  EXPECT_EQ(BacklogAfter(*catalog, 3).events, 1u);
  EXPECT_EQ(BacklogAfter(*catalog, 4).events, 0u);
  EXPECT_FALSE(BacklogAfter(*catalog, 4).oldest_created_at_ms.has_value());
}

TEST(SqliteArchiveStateTest, RecordsReadsAndReplacesArchiveState) {
  auto catalog = OpenMemory();
  EXPECT_FALSE(StateOf(*catalog, "dicom/a.dcm").has_value());
  ArchiveRecord failed = Archived("dicom/a.dcm");
  failed.outcome = ArchiveOutcome::kFailed;
  failed.error = "NOT_FOUND: missing locally";
  ASSERT_TRUE(catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(failed); }).ok());
  ASSERT_TRUE(
      catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(Archived("dicom/b.dcm")); })
          .ok());
  auto a = StateOf(*catalog, "dicom/a.dcm");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->outcome, ArchiveOutcome::kFailed);
  EXPECT_EQ(a->error, "NOT_FOUND: missing locally");
  auto b = StateOf(*catalog, "dicom/b.dcm");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->outcome, ArchiveOutcome::kArchived);
  EXPECT_EQ(b->archive_key, "archive/dicom/b.dcm");
  EXPECT_EQ(b->tier, "Cool");
  EXPECT_EQ(b->etag, "\"0x8DC\"");
  EXPECT_EQ(b->size_bytes, 1234u);
  EXPECT_EQ(b->archived_at_ms, 1700000000000);
  EXPECT_EQ(b->sop_instance_uid, "1.2.3");

  ArchiveCounts counts;
  ASSERT_TRUE(catalog
                  ->Read([&](ReadTxn& txn) -> Status {
                    STRATA_ASSIGN_OR_RETURN(counts, txn.CountArchiveStates());
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(counts.archived, 1u);
  EXPECT_EQ(counts.failed, 1u);

  // A later success replaces the failure.
  ASSERT_TRUE(
      catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(Archived("dicom/a.dcm")); })
          .ok());
  EXPECT_EQ(StateOf(*catalog, "dicom/a.dcm")->outcome, ArchiveOutcome::kArchived);
  EXPECT_EQ(
      catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(Archived("")); }).code(),
      StatusCode::kInvalidArgument);
}

TEST(SqliteArchiveStateTest, RecordsLastAccessOfArchivedObjectsOnly) {
  auto catalog = OpenMemory();
  ASSERT_TRUE(
      catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(Archived("dicom/a.dcm")); })
          .ok());
  EXPECT_EQ(StateOf(*catalog, "dicom/a.dcm")->last_access_ms, 0);
  auto access = [&](std::vector<std::string> keys, int64_t at) {
    return catalog->Write([&](WriteTxn& txn) { return txn.RecordAccess(keys, at); });
  };
  ASSERT_TRUE(access({"dicom/a.dcm", "dicom/not-archived.dcm"}, 1800000000000).ok());
  EXPECT_EQ(StateOf(*catalog, "dicom/a.dcm")->last_access_ms, 1800000000000);
  EXPECT_FALSE(StateOf(*catalog, "dicom/not-archived.dcm").has_value());
  ASSERT_TRUE(access({"dicom/a.dcm"}, 1700000000000).ok());
  EXPECT_EQ(StateOf(*catalog, "dicom/a.dcm")->last_access_ms, 1800000000000) << "never back";

  // A new tier recorded from the read record keeps the access time.
  ArchiveRecord moved = *StateOf(*catalog, "dicom/a.dcm");
  moved.tier = "Archive";
  ASSERT_TRUE(catalog->Write([&](WriteTxn& txn) { return txn.RecordArchiveState(moved); }).ok());
  EXPECT_EQ(StateOf(*catalog, "dicom/a.dcm")->last_access_ms, 1800000000000);
}

TEST(SqliteArchiveStateTest, CursorAndStateSurviveReopenOfAFileCatalog) {
  char pattern[] = "/tmp/strata_archive_state_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/catalog.sqlite";
  {
    auto catalog = OpenSqliteCatalog(path);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    ASSERT_TRUE((*catalog)
                    ->Write([&](WriteTxn& txn) -> Status {
                      STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(Archived("dicom/a.dcm")));
                      return txn.AdvanceConsumerCursor("archiver", 7);
                    })
                    .ok());
  }
  auto reopened = OpenSqliteCatalog(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(*CursorOf(**reopened, "archiver"), 7);
  EXPECT_TRUE(StateOf(**reopened, "dicom/a.dcm").has_value());
  std::filesystem::remove_all(pattern);
}

TEST(SqliteArchiveStateTest, MigratesAVersionOneCatalog) {
  char pattern[] = "/tmp/strata_archive_migrate_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/catalog.sqlite";
  {
    auto catalog = OpenSqliteCatalog(path);
    ASSERT_TRUE(catalog.ok());
    AppendEvents(**catalog, 2);
  }
  // Make the file look like a catalog from before version 2 (and 3).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE consumer_cursors; DROP TABLE archive_state;"
                         " DROP INDEX studies_deleted; DROP INDEX series_by_last_received;"
                         " ALTER TABLE series DROP COLUMN last_received_ms;"
                         " ALTER TABLE studies DROP COLUMN retention_until;"
                         " ALTER TABLE studies DROP COLUMN legal_hold;"
                         " ALTER TABLE studies DROP COLUMN hold_reason;"
                         " ALTER TABLE studies DROP COLUMN hold_by;"
                         " ALTER TABLE studies DROP COLUMN hold_at_ms;"
                         " ALTER TABLE studies DROP COLUMN deleted_at_ms;"
                         " ALTER TABLE studies DROP COLUMN deleted_by;"
                         " UPDATE schema_version SET version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto migrated = OpenSqliteCatalog(path);
  ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
  EXPECT_EQ(*CursorOf(**migrated, "archiver"), 0);
  EXPECT_EQ(BacklogAfter(**migrated, 0).events, 2u);
  EXPECT_TRUE(Advance(**migrated, "archiver", 2).ok());
  std::filesystem::remove_all(pattern);
}

TEST(SqliteArchiveStateTest, ListsArchiveStatesInKeyOrderPageByPage) {
  auto catalog = testing::OpenMemory();
  ASSERT_TRUE(catalog
                  ->Write([&](WriteTxn& txn) -> Status {
                    for (const char* key : {"dicom/c.dcm", "dicom/a.dcm", "dicom/b.dcm"}) {
                      STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(Archived(key)));
                    }
                    return OkStatus();
                  })
                  .ok());
  std::vector<std::string> keys;
  std::string after;
  for (int pages = 0; pages < 5; ++pages) {
    std::vector<ArchiveRecord> page;
    ASSERT_TRUE(catalog
                    ->Read([&](ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(page, txn.ListArchiveStates(after, 2));
                      return OkStatus();
                    })
                    .ok());
    if (page.empty()) break;
    EXPECT_LE(page.size(), 2u);
    for (const auto& r : page) {
      keys.push_back(r.blob_key);
      EXPECT_EQ(r.tier, "Cool");
      EXPECT_EQ(r.size_bytes, 1234u);
    }
    after = page.back().blob_key;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"dicom/a.dcm", "dicom/b.dcm", "dicom/c.dcm"}));
}

}  // namespace
}  // namespace strata::catalog
