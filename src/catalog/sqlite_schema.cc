#include "catalog/sqlite_schema.h"

#include <string>

namespace strata::catalog::sqlite {
namespace {

// Version 1. Values are stored as ingested (DICOM text, padding removed); empty string, never
// NULL, for an absent attribute, so equality and range conditions need no NULL handling.
// Counters (num_*) and the totals row are maintained by PutInstance in the same transaction,
// so computed attributes and Counts() are O(1). Indexes cover the typical C-FIND/QIDO keys;
// the partial indexes on instances hold current versions only, which is all readers see.
constexpr const char* k0001Init = R"sql(
CREATE TABLE patients (
  id INTEGER PRIMARY KEY,
  patient_id TEXT NOT NULL,
  issuer TEXT NOT NULL,
  patient_name TEXT NOT NULL,
  birth_date TEXT NOT NULL,
  sex TEXT NOT NULL,
  num_studies INTEGER NOT NULL DEFAULT 0,
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0,
  UNIQUE (patient_id, issuer)
);
CREATE INDEX patients_by_name ON patients (patient_name);

CREATE TABLE studies (
  id INTEGER PRIMARY KEY,
  patient_pk INTEGER NOT NULL REFERENCES patients (id),
  study_uid TEXT NOT NULL UNIQUE,
  study_date TEXT NOT NULL,
  study_time TEXT NOT NULL,
  accession TEXT NOT NULL,
  study_id TEXT NOT NULL,
  description TEXT NOT NULL,
  referring_physician TEXT NOT NULL,
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX studies_by_patient ON studies (patient_pk);
CREATE INDEX studies_by_date ON studies (study_date);
CREATE INDEX studies_by_accession ON studies (accession);

-- SOP classes of the current instances of each study, for SOPClassesInStudy.
CREATE TABLE study_sop_classes (
  study_pk INTEGER NOT NULL REFERENCES studies (id),
  sop_class TEXT NOT NULL,
  num_instances INTEGER NOT NULL,
  PRIMARY KEY (study_pk, sop_class)
) WITHOUT ROWID;

CREATE TABLE series (
  id INTEGER PRIMARY KEY,
  study_pk INTEGER NOT NULL REFERENCES studies (id),
  series_uid TEXT NOT NULL UNIQUE,
  modality TEXT NOT NULL,
  series_number TEXT NOT NULL,
  description TEXT NOT NULL,
  series_date TEXT NOT NULL,
  series_time TEXT NOT NULL,
  body_part TEXT NOT NULL,
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX series_by_study ON series (study_pk, modality);

-- Every stored version; exactly one row per sop_uid has is_current = 1. instance_seq is the
-- rowid of the instance's first version, so results keep their order across new versions.
CREATE TABLE instances (
  id INTEGER PRIMARY KEY,
  instance_seq INTEGER NOT NULL,
  series_pk INTEGER NOT NULL REFERENCES series (id),
  sop_uid TEXT NOT NULL,
  version INTEGER NOT NULL,
  is_current INTEGER NOT NULL,
  sop_class TEXT NOT NULL,
  transfer_syntax TEXT NOT NULL,
  blob_key TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  source_ae TEXT NOT NULL,
  instance_number TEXT NOT NULL,
  content_date TEXT NOT NULL,
  content_time TEXT NOT NULL,
  image_rows TEXT NOT NULL,
  image_columns TEXT NOT NULL,
  number_of_frames TEXT NOT NULL,
  specific_character_set TEXT NOT NULL,
  UNIQUE (sop_uid, version)
);
CREATE UNIQUE INDEX instances_current_by_sop ON instances (sop_uid) WHERE is_current = 1;
CREATE INDEX instances_current_by_series ON instances (series_pk, instance_seq)
  WHERE is_current = 1;
CREATE INDEX instances_current_by_seq ON instances (instance_seq) WHERE is_current = 1;

CREATE TABLE totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  patients INTEGER NOT NULL,
  studies INTEGER NOT NULL,
  series INTEGER NOT NULL,
  instances INTEGER NOT NULL
);
INSERT INTO totals (id, patients, studies, series, instances) VALUES (1, 0, 0, 0, 0);

CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);
)sql";

// Version 2: outbox consumers and the archive copy of each stored object version.
// consumer_cursors holds, per consumer, the last outbox seq it processed; advancing it in the
// same transaction as the consumer's own state is what makes a consumer crash-safe.
// archive_state is keyed by the local blob key, which names one instance version.
constexpr const char* k0002ArchiveState = R"sql(
CREATE TABLE consumer_cursors (
  consumer TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE archive_state (
  blob_key TEXT PRIMARY KEY,
  sop_uid TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('archived', 'failed')),
  archive_key TEXT NOT NULL,
  tier TEXT NOT NULL,
  etag TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  archived_at_ms INTEGER NOT NULL,
  error TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX archive_state_by_outcome ON archive_state (outcome);
)sql";

// Version 3: retention, legal hold and soft delete, per study (DESIGN.md contract 2).
// retention_until is a DICOM DA (YYYYMMDD, UTC, inclusive), '' for none; studies recorded
// before this version get none. deleted_at_ms = 0 means active; > 0 means soft-deleted at
// that Unix time (hidden from readers; its counts are taken out of its patient's and the
// totals, so computed attributes and Counts() describe visible data only).
constexpr const char* k0003Retention = R"sql(
ALTER TABLE studies ADD COLUMN retention_until TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE studies ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN hold_by TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN hold_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE studies ADD COLUMN deleted_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE studies ADD COLUMN deleted_by TEXT NOT NULL DEFAULT '';
CREATE INDEX studies_deleted ON studies (deleted_at_ms) WHERE deleted_at_ms > 0;
)sql";

// Version 4: when an archived object was last read (HotCache records reads in batches), so
// that lifecycle rules count "days since archived or last read". 0: never read since.
constexpr const char* k0004LastAccess = R"sql(
ALTER TABLE archive_state ADD COLUMN last_access_ms INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 5: when each series last received an instance (a new instance or a new version),
// maintained by PutInstance, so that "stable series" (quiet since some time) are an index range
// rather than a scan of instances. Existing series are backfilled from their instances' receive
// times (every version counts, as it would have when it was put).
constexpr const char* k0005SeriesActivity = R"sql(
ALTER TABLE series ADD COLUMN last_received_ms INTEGER NOT NULL DEFAULT 0;
UPDATE series SET last_received_ms = coalesce(
  (SELECT max(received_at_ms) FROM instances WHERE instances.series_pk = series.id), 0);
CREATE INDEX series_by_last_received ON series (last_received_ms, series_uid);
)sql";

}  // namespace

const std::vector<Migration>& Migrations() {
  static const auto* const kMigrations = new std::vector<Migration>{
      {1, k0001Init},       {2, k0002ArchiveState},   {3, k0003Retention},
      {4, k0004LastAccess}, {5, k0005SeriesActivity},
  };
  return *kMigrations;
}

Status Migrate(Connection& conn) {
  STRATA_RETURN_IF_ERROR(
      conn.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  for (const Migration& migration : Migrations()) {
    STRATA_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE"));
    Status status = [&]() -> Status {
      int64_t current = 0;
      {
        STRATA_ASSIGN_OR_RETURN(
            Statement select, conn.Prepare("SELECT coalesce(max(version), 0) FROM schema_version"));
        STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
        if (row) current = select.Int(0);
      }
      if (current > Migrations().back().version) {
        return FailedPrecondition("catalog schema version " + std::to_string(current) +
                                  " is newer than this binary supports");
      }
      if (current >= migration.version) return OkStatus();
      STRATA_RETURN_IF_ERROR(conn.Exec(migration.sql));
      STRATA_RETURN_IF_ERROR(conn.Exec("DELETE FROM schema_version"));
      STRATA_ASSIGN_OR_RETURN(Statement insert,
                              conn.Prepare("INSERT INTO schema_version (version) VALUES (?)"));
      return insert.Bind(1, static_cast<int64_t>(migration.version)).Run();
    }();
    if (!status.ok()) {
      conn.Exec("ROLLBACK").IgnoreError();
      return status;
    }
    STRATA_RETURN_IF_ERROR(conn.Exec("COMMIT"));
  }
  return OkStatus();
}

}  // namespace strata::catalog::sqlite
