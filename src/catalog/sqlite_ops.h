// Internal to the SQLite catalog: the transaction operations, as free functions over a
// Connection on which the caller has already begun a transaction.
//
// Thread-safety: the caller has exclusive use of `conn` for the duration of each call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/sqlite_connection.h"

namespace strata::catalog::sqlite {

// See ReadTxn::Find. Person names match case-sensitively unless query.fuzzy_matching, which
// folds ASCII case. Every key in SupportedKeys(level) is present in each row.
Result<std::vector<QueryRow>> FindRows(Connection& conn, const Query& query);

// See ReadTxn::Locate. kInvalidArgument if all three UIDs are empty.
Result<std::vector<InstanceLocation>> LocateInstances(Connection& conn,
                                                      const std::string& study_uid,
                                                      const std::string& series_uid,
                                                      const std::string& sop_uid);

// See ReadTxn::Versions.
Result<std::vector<InstanceLocation>> InstanceVersions(Connection& conn,
                                                       const std::string& sop_uid);

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

// See WriteTxn::AdvanceConsumerCursor. REQUIRES: a write transaction is open on `conn`.
Status WriteConsumerCursor(Connection& conn, const std::string& consumer, int64_t seq);

// See WriteTxn::RecordArchiveState. REQUIRES: a write transaction is open on `conn`.
Status WriteArchiveState(Connection& conn, const ArchiveRecord& record);

}  // namespace strata::catalog::sqlite
