#include "jobs/sqlite_job_schema.h"

#include <cstdint>
#include <string>
#include <utility>

namespace strata::jobs::sqlite {
namespace {

// "StJq" in the file header marks a job queue, so that opening another SQLite database (the
// catalog, say) by mistake fails instead of adding a jobs table to it.
constexpr int64_t kApplicationId = 0x53744a71;

// Version 1. Texts are never NULL (empty instead). The two partial indexes serve Lease and
// NextDueMs: due pending jobs of a kind in lease order, and running jobs of a kind by lease
// expiry (to take over from dead workers). The third serves List and Counts by kind.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind <> ''),
  idempotency_key TEXT NOT NULL UNIQUE CHECK (idempotency_key <> ''),
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL,
  lease_until_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  last_error TEXT NOT NULL,
  result TEXT NOT NULL
);
CREATE INDEX jobs_pending_due ON jobs (kind, not_before_ms, id) WHERE state = 'pending';
CREATE INDEX jobs_running_lease ON jobs (kind, lease_until_ms) WHERE state = 'running';
CREATE INDEX jobs_by_kind_state ON jobs (kind, state);
)sql";

struct Migration {
  int64_t version;
  const char* sql;
};
constexpr Migration kMigrations[] = {{1, kSchemaV1}};
constexpr int64_t kLatestVersion = 1;

}  // namespace

Status MigrateJobSchema(strata::sqlite::Connection& db) {
  int64_t application_id = 0;
  int64_t version = 0;
  int64_t objects = 0;
  for (auto [sql, out] : {std::pair{"PRAGMA application_id", &application_id},
                          std::pair{"PRAGMA user_version", &version},
                          std::pair{"SELECT count(*) FROM sqlite_master", &objects}}) {
    STRATA_ASSIGN_OR_RETURN(strata::sqlite::Statement select, db.Prepare(sql));
    STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
    if (row) *out = select.Int(0);
  }
  const bool fresh = application_id == 0 && version == 0 && objects == 0;
  if (!fresh && application_id != kApplicationId) {
    return FailedPrecondition("not a Strata job queue: a SQLite database with application_id " +
                              std::to_string(application_id) + " and " + std::to_string(objects) +
                              " schema objects");
  }
  if (version > kLatestVersion) {
    return FailedPrecondition("schema version " + std::to_string(version) +
                              " is newer than this binary supports (" +
                              std::to_string(kLatestVersion) + ")");
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= version) continue;
    STRATA_RETURN_IF_ERROR(db.Exec(migration.sql));
    STRATA_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(migration.version)));
  }
  if (fresh) {
    STRATA_RETURN_IF_ERROR(db.Exec("PRAGMA application_id = " + std::to_string(kApplicationId)));
  }
  return OkStatus();
}

}  // namespace strata::jobs::sqlite
