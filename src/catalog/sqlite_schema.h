// Internal to the SQLite catalog: the schema, as an ordered list of migrations.
//
// The database records the highest applied migration in schema_version; Migrate applies the
// missing ones, each in its own transaction. Thread-safety: Migrate needs exclusive use of the
// connection.
#pragma once

#include <vector>

#include "core/status.h"
#include "sqlite/connection.h"

namespace strata::catalog::sqlite {

// The shared SQLite adapter's types, by their short names in the catalog's back end.
using strata::sqlite::Connection;
using strata::sqlite::SqliteStatus;
using strata::sqlite::Statement;

struct Migration {
  int version;      // 1, 2, ... in order
  const char* sql;  // one or more statements
};

const std::vector<Migration>& Migrations();

// Brings the schema up to date. kFailedPrecondition if the database was written by a newer
// Strata (schema version above the latest known); SQLite errors as by SqliteStatus.
Status Migrate(Connection& conn);

}  // namespace strata::catalog::sqlite
