// The SQLite catalog's outbox-consumer cursors and archive state (schema version 2).
#include <string>

#include "catalog/sqlite_ops.h"

namespace strata::catalog::sqlite {
namespace {

constexpr std::string_view kArchived = "archived";
constexpr std::string_view kFailed = "failed";

}  // namespace

Result<int64_t> ReadConsumerCursor(Connection& conn, const std::string& consumer) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT last_seq FROM consumer_cursors WHERE consumer = ?"));
  stmt.Bind(1, consumer);
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : int64_t{0};
}

Result<OutboxBacklog> ReadBacklog(Connection& conn, int64_t after_seq) {
  OutboxBacklog backlog;
  {
    STRATA_ASSIGN_OR_RETURN(Statement count,
                            conn.Prepare("SELECT count(*) FROM outbox WHERE seq > ?"));
    count.Bind(1, after_seq);
    STRATA_ASSIGN_OR_RETURN(bool row, count.Step());
    if (row) backlog.events = static_cast<uint64_t>(count.Int(0));
  }
  if (backlog.events == 0) return backlog;
  // seq is the rowid: the first row after the cursor is the oldest event, found by the key.
  STRATA_ASSIGN_OR_RETURN(
      Statement oldest,
      conn.Prepare("SELECT created_at_ms FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1"));
  oldest.Bind(1, after_seq);
  STRATA_ASSIGN_OR_RETURN(bool row, oldest.Step());
  if (row) backlog.oldest_created_at_ms = oldest.Int(0);
  return backlog;
}

Result<std::optional<ArchiveRecord>> ReadArchiveState(Connection& conn,
                                                      const std::string& blob_key) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT sop_uid, outcome, archive_key, tier, etag, size_bytes,"
                   " archived_at_ms, error, last_access_ms FROM archive_state WHERE blob_key = ?"));
  stmt.Bind(1, blob_key);
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<ArchiveRecord>();
  ArchiveRecord record;
  record.blob_key = blob_key;
  record.sop_instance_uid = stmt.Text(0);
  record.outcome = stmt.Text(1) == kArchived ? ArchiveOutcome::kArchived : ArchiveOutcome::kFailed;
  record.archive_key = stmt.Text(2);
  record.tier = stmt.Text(3);
  record.etag = stmt.Text(4);
  record.size_bytes = static_cast<uint64_t>(stmt.Int(5));
  record.archived_at_ms = stmt.Int(6);
  record.error = stmt.Text(7);
  record.last_access_ms = stmt.Int(8);
  return std::optional<ArchiveRecord>(std::move(record));
}

Result<ArchiveCounts> ReadArchiveCounts(Connection& conn) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt, conn.Prepare("SELECT outcome, count(*) FROM archive_state GROUP BY outcome"));
  ArchiveCounts counts;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    auto n = static_cast<uint64_t>(stmt.Int(1));
    if (stmt.Text(0) == kArchived) {
      counts.archived = n;
    } else {
      counts.failed = n;
    }
  }
  return counts;
}

Result<std::vector<ArchiveRecord>> ReadArchiveStates(Connection& conn,
                                                     const std::string& after_blob_key,
                                                     size_t limit) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT blob_key, sop_uid, outcome, archive_key, tier, etag,"
                                       " size_bytes, archived_at_ms, error, last_access_ms"
                                       " FROM archive_state"
                                       " WHERE blob_key > ? ORDER BY blob_key LIMIT ?"));
  stmt.Bind(1, after_blob_key).Bind(2, static_cast<int64_t>(limit));
  std::vector<ArchiveRecord> records;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ArchiveRecord record;
    record.blob_key = stmt.Text(0);
    record.sop_instance_uid = stmt.Text(1);
    record.outcome =
        stmt.Text(2) == kArchived ? ArchiveOutcome::kArchived : ArchiveOutcome::kFailed;
    record.archive_key = stmt.Text(3);
    record.tier = stmt.Text(4);
    record.etag = stmt.Text(5);
    record.size_bytes = static_cast<uint64_t>(stmt.Int(6));
    record.archived_at_ms = stmt.Int(7);
    record.error = stmt.Text(8);
    record.last_access_ms = stmt.Int(9);
    records.push_back(std::move(record));
  }
  return records;
}

Status WriteConsumerCursor(Connection& conn, const std::string& consumer, int64_t seq) {
  if (consumer.empty()) return InvalidArgument("outbox consumer without a name");
  if (seq < 0) return InvalidArgument("negative outbox sequence number for " + consumer);
  STRATA_ASSIGN_OR_RETURN(int64_t current, ReadConsumerCursor(conn, consumer));
  if (seq < current) {
    return FailedPrecondition("cursor of outbox consumer " + consumer + " is at " +
                              std::to_string(current) + ", cannot move back to " +
                              std::to_string(seq));
  }
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT INTO consumer_cursors (consumer, last_seq) VALUES (?, ?)"
                   " ON CONFLICT (consumer) DO UPDATE SET last_seq = excluded.last_seq"));
  return stmt.Bind(1, consumer).Bind(2, seq).Run();
}

Status WriteArchiveState(Connection& conn, const ArchiveRecord& record) {
  if (record.blob_key.empty()) return InvalidArgument("archive state without a blob key");
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT OR REPLACE INTO archive_state (blob_key, sop_uid, outcome, archive_key,"
                   " tier, etag, size_bytes, archived_at_ms, error, last_access_ms)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return stmt.Bind(1, record.blob_key)
      .Bind(2, record.sop_instance_uid)
      .Bind(3, record.outcome == ArchiveOutcome::kArchived ? kArchived : kFailed)
      .Bind(4, record.archive_key)
      .Bind(5, record.tier)
      .Bind(6, record.etag)
      .Bind(7, static_cast<int64_t>(record.size_bytes))
      .Bind(8, record.archived_at_ms)
      .Bind(9, record.error)
      .Bind(10, record.last_access_ms)
      .Run();
}

Status WriteAccess(Connection& conn, const std::vector<std::string>& blob_keys, int64_t at_ms) {
  for (const std::string& key : blob_keys) {
    // The cached statement, reset when `stmt` goes.
    STRATA_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("UPDATE archive_state SET last_access_ms = ?"
                                         " WHERE blob_key = ? AND last_access_ms < ?"));
    STRATA_RETURN_IF_ERROR(stmt.Bind(1, at_ms).Bind(2, key).Bind(3, at_ms).Run());
  }
  return OkStatus();
}

}  // namespace strata::catalog::sqlite
