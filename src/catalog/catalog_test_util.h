// Test helpers for catalog tests: building InstanceRecords, running one-operation
// transactions and queries (failures are reported as gtest failures).
//
// Thread-safety: plain functions over values.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/sqlite_catalog.h"

namespace strata::catalog::testing {

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";
constexpr const char* kBasicTextSr = "1.2.840.10008.5.1.4.1.1.88.11";
constexpr const char* kExplicitVrLittleEndian = "1.2.840.10008.1.2.1";

// An empty in-memory SQLite catalog.
inline std::unique_ptr<Catalog> OpenMemory() {
  Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog(":memory:");
  EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
  return std::move(catalog).value();
}

// A complete record with plausible defaults; `sha` distinguishes data sets.
inline InstanceRecord MakeRecord(const std::string& patient_id, const std::string& study_uid,
                                 const std::string& series_uid, const std::string& sop_uid,
                                 const std::string& sha = "sha-1") {
  InstanceRecord r;
  dicom::InstanceMetadata& m = r.metadata;
  m.patient_id = patient_id;
  m.patient_name = "Name^" + patient_id;
  m.study_instance_uid = study_uid;
  m.study_date = "20240101";
  m.study_time = "120000";
  m.series_instance_uid = series_uid;
  m.modality = "CT";
  m.series_number = "1";
  m.sop_class_uid = kCtImageStorage;
  m.sop_instance_uid = sop_uid;
  m.instance_number = "1";
  m.rows = "512";
  m.columns = "512";
  m.transfer_syntax_uid = kExplicitVrLittleEndian;
  r.blob_key = "dicom/" + study_uid + "/" + series_uid + "/" + sop_uid + ".dcm";
  r.size_bytes = 1000;
  r.sha256_hex = sha;
  r.received_at_ms = 1700000000000;
  r.source_ae = "MODALITY";
  return r;
}

inline Query MakeQuery(QueryLevel level, std::vector<MatchKey> keys) {
  Query q;
  q.level = level;
  q.keys = std::move(keys);
  return q;
}

// Runs Find in its own read transaction.
inline Result<std::vector<QueryRow>> FindIn(Catalog& catalog, const Query& query) {
  std::vector<QueryRow> rows;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(rows, txn.Find(query));
    return OkStatus();
  });
  if (!status.ok()) return status;
  return rows;
}

inline Result<PutOutcome> Put(Catalog& catalog, const InstanceRecord& record,
                              DuplicatePolicy policy = DuplicatePolicy::kKeepVersions) {
  PutOutcome outcome{};
  Status status = catalog.Write([&](WriteTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(outcome, txn.PutInstance(record, policy));
    return OkStatus();
  });
  if (!status.ok()) return status;
  return outcome;
}

inline CatalogCounts CountsOf(Catalog& catalog) {
  CatalogCounts counts;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(counts, txn.Counts());
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return counts;
}

inline std::vector<InstanceLocation> LocateIn(Catalog& catalog, const std::string& study,
                                              const std::string& series, const std::string& sop) {
  std::vector<InstanceLocation> found;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(found, txn.Locate(study, series, sop));
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return found;
}

inline std::vector<InstanceLocation> VersionsIn(Catalog& catalog, const std::string& sop) {
  std::vector<InstanceLocation> found;
  Status status = catalog.Read([&](ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(found, txn.Versions(sop));
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return found;
}

inline std::vector<QueryRow> MustFind(Catalog& catalog, const Query& query) {
  Result<std::vector<QueryRow>> rows = FindIn(catalog, query);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? *rows : std::vector<QueryRow>{};
}

// One attribute of every row, in order.
inline std::vector<std::string> Column(const std::vector<QueryRow>& rows, dicom::Tag tag) {
  std::vector<std::string> values;
  for (const QueryRow& row : rows) {
    auto it = row.attributes.find(tag);
    values.push_back(it == row.attributes.end() ? "<absent>" : it->second);
  }
  return values;
}

}  // namespace strata::catalog::testing
