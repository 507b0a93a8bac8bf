// Internal to the SQLite catalog: the transaction operations, as free functions over a
// Connection on which the caller has already begun a transaction.
//
// Thread-safety: the caller has exclusive use of `conn` for the duration of each call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "sqlite/connection.h"

namespace strata::catalog::sqlite {

// The shared SQLite adapter's types, by their short names in the catalog's back end.
using strata::sqlite::Connection;
using strata::sqlite::SqliteStatus;
using strata::sqlite::Statement;

// See ReadTxn::Find. Person names match case-sensitively unless query.fuzzy_matching, which
// folds ASCII case. Every key in SupportedKeys(level) is present in each row.
Result<std::vector<QueryRow>> FindRows(Connection& conn, const Query& query);

// See ReadTxn::Locate. kInvalidArgument if all three UIDs are empty.
Result<std::vector<InstanceLocation>> LocateInstances(Connection& conn,
                                                      const std::string& study_uid,
                                                      const std::string& series_uid,
                                                      const std::string& sop_uid);

// See ReadTxn::Versions and VersionsIncludingDeleted.
Result<std::vector<InstanceLocation>> InstanceVersions(Connection& conn, const std::string& sop_uid,
                                                       bool include_deleted);

Result<CatalogCounts> ReadCounts(Connection& conn);

// See ReadTxn::Changes.
Result<std::vector<ChangeEntry>> ReadChanges(Connection& conn, const ChangeQuery& query);

// See WriteTxn::PutInstance. REQUIRES: a write transaction is open on `conn`.
Result<PutOutcome> PutInstanceRecord(Connection& conn, const InstanceRecord& record,
                                     DuplicatePolicy policy);

// See WriteTxn::AppendOutbox. REQUIRES: a write transaction is open on `conn`.
Status AppendOutboxEvent(Connection& conn, const OutboxEvent& event);

// See ReadTxn::ConsumerCursor, Backlog, ArchiveState and CountArchiveStates.
Result<int64_t> ReadConsumerCursor(Connection& conn, const std::string& consumer);
Result<OutboxBacklog> ReadBacklog(Connection& conn, int64_t after_seq);
Result<std::optional<ArchiveRecord>> ReadArchiveState(Connection& conn,
                                                      const std::string& blob_key);
Result<ArchiveCounts> ReadArchiveCounts(Connection& conn);
// See ReadTxn::ListArchiveStates.
Result<std::vector<ArchiveRecord>> ReadArchiveStates(Connection& conn,
                                                     const std::string& after_blob_key,
                                                     size_t limit);

// See ReadTxn::SeriesActivityOf and StableSeries (sqlite_series.cc).
Result<std::optional<SeriesActivity>> ReadSeriesActivity(Connection& conn,
                                                         const std::string& series_uid);
Result<std::vector<SeriesActivity>> ReadStableSeries(
    Connection& conn, int64_t received_before_ms, const std::optional<SeriesActivityCursor>& after,
    size_t limit);

// See WriteTxn::AdvanceConsumerCursor. REQUIRES: a write transaction is open on `conn`.
Status WriteConsumerCursor(Connection& conn, const std::string& consumer, int64_t seq);

// See WriteTxn::RecordArchiveState. REQUIRES: a write transaction is open on `conn`.
Status WriteArchiveState(Connection& conn, const ArchiveRecord& record);
// See WriteTxn::RecordAccess. REQUIRES: a write transaction is open on `conn`.
Status WriteAccess(Connection& conn, const std::vector<std::string>& blob_keys, int64_t at_ms);

// Retention, legal hold and soft delete (sqlite_retention.cc): see the ReadTxn/WriteTxn
// methods of the same names. Writers REQUIRE a write transaction open on `conn`.
Result<StudyProtection> ReadStudyProtection(Connection& conn, const std::string& study_uid);
Result<std::vector<DeletedStudy>> ReadDeletedStudies(Connection& conn,
                                                     std::optional<int64_t> purgeable_at_ms,
                                                     int64_t min_age_ms);
Status WriteRetention(Connection& conn, const std::string& study_uid, const std::string& until);
Status WriteLegalHold(Connection& conn, const std::string& study_uid, const std::string& reason,
                      const std::string& by, int64_t now_ms);
Status EraseLegalHold(Connection& conn, const std::string& study_uid);
Status SoftDelete(Connection& conn, const std::string& study_uid, const std::string& by,
                  int64_t now_ms);
Status Restore(Connection& conn, const std::string& study_uid, const std::string& by);
Result<std::vector<std::string>> Purge(Connection& conn, const std::string& study_uid,
                                       const std::string& by, int64_t now_ms);

// Why a study may not be deleted or overwritten at now_ms (legal hold first, then
// retention), as a kFailedPrecondition naming the reason; OK when nothing protects it.
Status CheckUnprotected(const StudyProtection& protection, int64_t now_ms, const std::string& what);

}  // namespace strata::catalog::sqlite
