// Test helpers for the catalog's schema migrations: a catalog file as an older Strata left it.
//
// Thread-safety: plain functions over values.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "catalog/sqlite_schema.h"

namespace strata::catalog::testing {

// One patient 'P1' with one study '1.1' (20240101), in the columns of schema versions 1 to 4.
inline std::string OldPatientAndStudyRows(int num_series, int num_instances) {
  const std::string series = std::to_string(num_series);
  const std::string instances = std::to_string(num_instances);
  return "INSERT INTO patients (id, patient_id, issuer, patient_name, birth_date, sex,"
         " num_studies, num_series, num_instances) VALUES (1, 'P1', '', 'A^B', '', '', 1, " +
         series + ", " + instances +
         ");"
         "INSERT INTO studies (id, patient_pk, study_uid, study_date, study_time, accession,"
         " study_id, description, referring_physician, num_series, num_instances)"
         " VALUES (1, 1, '1.1', '20240101', '', '', '', '', '', " +
         series + ", " + instances + ");";
}

// The column lists of series and instance rows in schema versions 1 to 4; VALUES follow.
constexpr const char* kOldSeriesInsert =
    "INSERT INTO series (id, study_pk, series_uid, modality, series_number, description,"
    " series_date, series_time, body_part, num_instances) VALUES ";
constexpr const char* kOldInstanceInsert =
    "INSERT INTO instances (id, instance_seq, series_pk, sop_uid, version, is_current,"
    " sop_class, transfer_syntax, blob_key, size_bytes, sha256, received_at_ms, source_ae,"
    " instance_number, content_date, content_time, image_rows, image_columns,"
    " number_of_frames, specific_character_set) VALUES ";

// Writes a new catalog file at `path` with the schema migrations up to `version` only, then
// runs `rows_sql` (rows in that version's columns).
inline void WriteCatalogAtVersion(const std::string& path, int version,
                                  const std::string& rows_sql) {
  std::string sql = "CREATE TABLE schema_version (version INTEGER NOT NULL);";
  for (const auto& migration : sqlite::Migrations()) {
    if (migration.version <= version) sql += migration.sql;
  }
  sql += "INSERT INTO schema_version VALUES (" + std::to_string(version) + ");" + rows_sql;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

}  // namespace strata::catalog::testing
