// Internal to the SQLite catalog: the transaction operations, as free functions over a
// Connection on which the caller has already begun a transaction.
//
// Thread-safety: the caller has exclusive use of `conn` for the duration of each call.
#pragma once

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

// See WriteTxn::PutInstance. REQUIRES: a write transaction is open on `conn`.
Result<PutOutcome> PutInstanceRecord(Connection& conn, const InstanceRecord& record,
                                     DuplicatePolicy policy);

// See WriteTxn::AppendOutbox. REQUIRES: a write transaction is open on `conn`.
Status AppendOutboxEvent(Connection& conn, const OutboxEvent& event);

}  // namespace strata::catalog::sqlite
