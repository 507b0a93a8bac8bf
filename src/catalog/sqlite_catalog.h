// SqliteCatalog: the embedded Catalog back end (SQLite, WAL, synchronous=FULL).
//
// One writer connection serialised by a mutex; a small pool of read-only connections so
// queries run concurrently with writes (each Read sees one committed snapshot). For ":memory:"
// reads use the writer connection, since an in-memory database is private to its connection.
// Busy/locked conflicts are retried inside Read/Write with jittered back-off. Thread-safe; a
// transaction function must not start another transaction on the same catalog.
//
// Matching specifics: person names match case-sensitively (single value and wildcard) unless
// Query::fuzzy_matching, which folds ASCII case; range upper bounds are inclusive to the
// precision given ("-1015" includes 10:15:30). Upper-level attributes (patient, study, series)
// come from the first instance received; later instances only fill values still empty.
#pragma once

#include <memory>
#include <string>

#include "catalog/catalog.h"

namespace strata::catalog {

// Opens (creating and migrating if needed) the catalog at `path`; ":memory:" for tests.
// Fails with kUnavailable if the file cannot be opened (or cannot use WAL), kDataLoss if it is
// corrupt or not a database, kFailedPrecondition if its schema is newer than this binary's.
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

}  // namespace strata::catalog
