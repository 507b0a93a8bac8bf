// The SQLite catalog's retention, legal hold and soft delete (schema version 3).
//
// A soft delete only marks the study (deleted_at_ms, deleted_by) and takes its counts out of
// its patient's and the totals, so every reader stops seeing it while every row and object
// stays as it was; a restore adds the counts back. A purge removes the rows and hands the
// blob keys to the caller, which removes the objects after the commit.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/retention_date.h"
#include "catalog/sqlite_ops.h"
#include "core/time_format.h"

namespace strata::catalog::sqlite {
namespace {

// The study row with what soft delete and restore need to move counts.
struct StudyRow {
  int64_t id = 0;
  int64_t patient_pk = 0;
  int64_t num_series = 0;
  StudyProtection protection;
};

Result<std::optional<StudyRow>> SelectStudy(Connection& conn, const std::string& study_uid) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT id, patient_pk, num_series, num_instances, retention_until, legal_hold,"
                   " hold_reason, hold_by, hold_at_ms, deleted_at_ms, deleted_by FROM studies"
                   " WHERE study_uid = ?"));
  stmt.Bind(1, study_uid);
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<StudyRow>();
  StudyRow row;
  row.id = stmt.Int(0);
  row.patient_pk = stmt.Int(1);
  row.num_series = stmt.Int(2);
  StudyProtection& p = row.protection;
  p.study_instance_uid = study_uid;
  p.instances = static_cast<uint64_t>(stmt.Int(3));
  p.retention_until = stmt.Text(4);
  p.hold.held = stmt.Int(5) != 0;
  p.hold.reason = stmt.Text(6);
  p.hold.set_by = stmt.Text(7);
  p.hold.set_at_ms = stmt.Int(8);
  p.deleted_at_ms = stmt.Int(9);
  p.deleted_by = stmt.Text(10);
  p.state = p.deleted_at_ms > 0 ? StudyState::kDeleted : StudyState::kActive;
  return std::optional<StudyRow>(std::move(row));
}

Result<StudyRow> RequireStudy(Connection& conn, const std::string& study_uid) {
  if (study_uid.empty()) return InvalidArgument("no Study Instance UID given");
  STRATA_ASSIGN_OR_RETURN(std::optional<StudyRow> row, SelectStudy(conn, study_uid));
  if (!row) return NotFound("study " + study_uid + " is not stored");
  return std::move(*row);
}

Status Run(Connection& conn, const std::string& sql, std::initializer_list<int64_t> ints) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  int index = 1;
  for (int64_t v : ints) stmt.Bind(index++, v);
  return stmt.Run();
}

Result<int64_t> PatientStudies(Connection& conn, int64_t patient_pk) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT num_studies FROM patients WHERE id = ?"));
  stmt.Bind(1, patient_pk);
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return DataLoss("patient row of a study is missing");
  return stmt.Int(0);
}

// Adds (sign +1) or removes (sign -1) a study's counts from its patient's and the totals.
Status MoveCounts(Connection& conn, const StudyRow& study, int64_t sign) {
  STRATA_ASSIGN_OR_RETURN(int64_t before, PatientStudies(conn, study.patient_pk));
  const int64_t series = study.num_series * sign;
  const int64_t instances = static_cast<int64_t>(study.protection.instances) * sign;
  STRATA_RETURN_IF_ERROR(Run(conn,
                             "UPDATE patients SET num_studies = num_studies + ?1, num_series ="
                             " num_series + ?2, num_instances = num_instances + ?3 WHERE id = ?4",
                             {sign, series, instances, study.patient_pk}));
  // The patient is visible while it has a visible study.
  const int64_t patients = (sign < 0 && before == 1) || (sign > 0 && before == 0) ? sign : 0;
  return Run(conn,
             "UPDATE totals SET patients = patients + ?1, studies = studies + ?2, series ="
             " series + ?3, instances = instances + ?4 WHERE id = 1",
             {patients, sign, series, instances});
}

Status AppendStudyEvent(Connection& conn, const char* kind, const std::string& study_uid,
                        nlohmann::json extra) {
  extra["study_instance_uid"] = study_uid;
  return AppendOutboxEvent(conn, {kind, extra.dump()});
}

}  // namespace

// "study.protection_changed" with the study's retention and hold as they now are, so that the
// archiver can protect the archive copies too (archive/archiver.h).
Status AppendProtectionEvent(Connection& conn, const std::string& study_uid) {
  STRATA_ASSIGN_OR_RETURN(StudyProtection p, ReadStudyProtection(conn, study_uid));
  return AppendStudyEvent(conn, kProtectionChangedEvent, study_uid,
                          {{"retention_until", p.retention_until}, {"legal_hold", p.hold.held}});
}

Status CheckUnprotected(const StudyProtection& p, int64_t now_ms, const std::string& what) {
  if (p.hold.held) {
    return FailedPrecondition("study " + p.study_instance_uid + " is under legal hold (" +
                              p.hold.reason + "; set by " + p.hold.set_by + " at " +
                              FormatUtcMs(p.hold.set_at_ms) + "): cannot " + what);
  }
  if (!p.retention_until.empty() && UtcDate(now_ms) <= p.retention_until) {
    return FailedPrecondition("study " + p.study_instance_uid + " is under retention until " +
                              p.retention_until + ": cannot " + what);
  }
  return OkStatus();
}

Result<StudyProtection> ReadStudyProtection(Connection& conn, const std::string& study_uid) {
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  return row.protection;
}

Result<std::vector<DeletedStudy>> ReadDeletedStudies(Connection& conn,
                                                     std::optional<int64_t> purgeable_at_ms,
                                                     int64_t min_age_ms) {
  std::string sql =
      "SELECT study_uid, deleted_at_ms, deleted_by, num_instances, retention_until, legal_hold"
      " FROM studies WHERE deleted_at_ms > 0";
  if (purgeable_at_ms) {
    sql +=
        " AND deleted_at_ms <= ?1 AND legal_hold = 0 AND (retention_until = '' OR"
        " retention_until < ?2)";
  }
  sql += " ORDER BY deleted_at_ms, id";
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  if (purgeable_at_ms) {
    stmt.Bind(1, *purgeable_at_ms - min_age_ms).Bind(2, UtcDate(*purgeable_at_ms));
  }
  std::vector<DeletedStudy> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    DeletedStudy& d = out.emplace_back();
    d.study_instance_uid = stmt.Text(0);
    d.deleted_at_ms = stmt.Int(1);
    d.deleted_by = stmt.Text(2);
    d.instances = static_cast<uint64_t>(stmt.Int(3));
    d.retention_until = stmt.Text(4);
    d.held = stmt.Int(5) != 0;
  }
}

Status WriteRetention(Connection& conn, const std::string& study_uid, const std::string& until) {
  if (!until.empty() && !IsValidRetentionDate(until)) {
    return InvalidArgument("retention date '" + until + "' is not a valid YYYYMMDD date");
  }
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("UPDATE studies SET retention_until = ? WHERE id = ?"));
  STRATA_RETURN_IF_ERROR(stmt.Bind(1, until).Bind(2, row.id).Run());
  return AppendProtectionEvent(conn, study_uid);
}

Status WriteLegalHold(Connection& conn, const std::string& study_uid, const std::string& reason,
                      const std::string& by, int64_t now_ms) {
  if (reason.empty()) return InvalidArgument("a legal hold needs a reason");
  if (by.empty()) return InvalidArgument("a legal hold needs the name of who sets it");
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("UPDATE studies SET legal_hold = 1, hold_reason = ?, hold_by = ?,"
                   " hold_at_ms = ? WHERE id = ?"));
  STRATA_RETURN_IF_ERROR(stmt.Bind(1, reason).Bind(2, by).Bind(3, now_ms).Bind(4, row.id).Run());
  return AppendProtectionEvent(conn, study_uid);
}

Status EraseLegalHold(Connection& conn, const std::string& study_uid) {
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  if (!row.protection.hold.held) {
    return FailedPrecondition("study " + study_uid + " is not under legal hold");
  }
  STRATA_RETURN_IF_ERROR(
      Run(conn,
          "UPDATE studies SET legal_hold = 0, hold_reason = '', hold_by = '', hold_at_ms = 0"
          " WHERE id = ?",
          {row.id}));
  return AppendProtectionEvent(conn, study_uid);
}

Status SoftDelete(Connection& conn, const std::string& study_uid, const std::string& by,
                  int64_t now_ms) {
  if (by.empty()) return InvalidArgument("a delete needs the name of who deletes");
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  if (row.protection.state == StudyState::kDeleted) {
    return NotFound("study " + study_uid + " is already deleted (since " +
                    FormatUtcMs(row.protection.deleted_at_ms) + ")");
  }
  STRATA_RETURN_IF_ERROR(CheckUnprotected(row.protection, now_ms, "delete it"));
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("UPDATE studies SET deleted_at_ms = ?, deleted_by = ? WHERE id = ?"));
  STRATA_RETURN_IF_ERROR(
      stmt.Bind(1, std::max<int64_t>(now_ms, 1)).Bind(2, by).Bind(3, row.id).Run());
  STRATA_RETURN_IF_ERROR(MoveCounts(conn, row, -1));
  return AppendStudyEvent(
      conn, "study.deleted", study_uid,
      {{"deleted_by", by}, {"deleted_at_ms", now_ms}, {"instances", row.protection.instances}});
}

Status Restore(Connection& conn, const std::string& study_uid, const std::string& by) {
  if (by.empty()) return InvalidArgument("a restore needs the name of who restores");
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  if (row.protection.state != StudyState::kDeleted) {
    return FailedPrecondition("study " + study_uid + " is not deleted");
  }
  STRATA_RETURN_IF_ERROR(
      Run(conn, "UPDATE studies SET deleted_at_ms = 0, deleted_by = '' WHERE id = ?", {row.id}));
  STRATA_RETURN_IF_ERROR(MoveCounts(conn, row, +1));
  return AppendStudyEvent(conn, "study.restored", study_uid,
                          {{"restored_by", by}, {"instances", row.protection.instances}});
}

Result<std::vector<std::string>> Purge(Connection& conn, const std::string& study_uid,
                                       const std::string& by, int64_t now_ms) {
  if (by.empty()) return InvalidArgument("a purge needs the name of who purges");
  STRATA_ASSIGN_OR_RETURN(StudyRow row, RequireStudy(conn, study_uid));
  if (row.protection.state != StudyState::kDeleted) {
    return FailedPrecondition("study " + study_uid +
                              " is not deleted: only a soft-deleted study can be purged");
  }
  STRATA_RETURN_IF_ERROR(CheckUnprotected(row.protection, now_ms, "purge it"));
  std::vector<std::string> keys;
  {
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("SELECT i.blob_key FROM instances i JOIN series se ON"
                                     " se.id = i.series_pk WHERE se.study_pk = ? ORDER BY i.id"));
    stmt.Bind(1, row.id);
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool more, stmt.Step());
      if (!more) break;
      keys.push_back(stmt.Text(0));
    }
  }
  STRATA_RETURN_IF_ERROR(Run(conn,
                             "DELETE FROM instances WHERE series_pk IN (SELECT id FROM series"
                             " WHERE study_pk = ?)",
                             {row.id}));
  STRATA_RETURN_IF_ERROR(Run(conn, "DELETE FROM series WHERE study_pk = ?", {row.id}));
  STRATA_RETURN_IF_ERROR(Run(conn, "DELETE FROM study_sop_classes WHERE study_pk = ?", {row.id}));
  STRATA_RETURN_IF_ERROR(Run(conn, "DELETE FROM studies WHERE id = ?", {row.id}));
  // Counts left the patient and the totals at the soft delete; a patient row goes with its
  // last study.
  STRATA_RETURN_IF_ERROR(Run(conn,
                             "DELETE FROM patients WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM"
                             " studies WHERE patient_pk = ?1)",
                             {row.patient_pk}));
  STRATA_RETURN_IF_ERROR(
      AppendStudyEvent(conn, "study.purged", study_uid,
                       {{"purged_by", by}, {"objects", static_cast<int64_t>(keys.size())}}));
  return keys;
}

}  // namespace strata::catalog::sqlite
