// SqliteCatalog: the embedded Catalog back end (SQLite, WAL, synchronous=FULL).
//
// One writer connection serialised by a mutex; a small pool of reader connections so queries
// run concurrently with writes. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "catalog/catalog.h"

namespace strata::catalog {

// Opens (creating and migrating if needed) the catalog at `path`; ":memory:" for tests.
// Fails with kUnavailable if the file cannot be opened, kDataLoss if it is corrupt.
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

}  // namespace strata::catalog
