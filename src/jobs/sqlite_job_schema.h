// Internal to the SQLite job queue: the schema, as an ordered list of migrations.
//
// The file header records the schema version (user_version) and marks the file as a job
// queue (application_id). Thread-safety: MigrateJobSchema needs exclusive use of the
// connection.
#pragma once

#include "core/status.h"
#include "sqlite/connection.h"

namespace strata::jobs::sqlite {

// Creates or upgrades the schema. REQUIRES: inside BEGIN IMMEDIATE, so that processes opening
// a new file at once migrate it once. kFailedPrecondition for a SQLite database that is not a
// job queue, or a job queue of a newer schema version than this binary knows.
Status MigrateJobSchema(strata::sqlite::Connection& db);

}  // namespace strata::jobs::sqlite
