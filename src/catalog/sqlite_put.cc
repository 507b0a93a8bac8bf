// The write side of the SQLite catalog: PutInstance and AppendOutbox.
//
// Upper-level attributes: the first instance of a patient, study or series creates its row;
// later instances only fill attributes that are still empty ("first writer wins, blanks get
// filled"). Corrections of patient or study attributes are an explicit administrative
// operation, not a side effect of receiving one more instance.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "catalog/sqlite_ops.h"

namespace strata::catalog::sqlite {
namespace {

// A patient, study or series row: its id and its parent's id (0 for patients).
struct Row {
  int64_t id = 0;
  int64_t parent = 0;
};

// The current version of an instance, as PutInstance needs it.
struct CurrentInstance {
  int64_t id = 0;
  int64_t seq = 0;  // instance_seq: the position of the instance's first version
  int64_t version = 0;
  int64_t series_pk = 0;
  std::string sha256;
  std::string sop_class;
};

// A statement parameter: text or integer.
using Value = std::variant<std::string_view, int64_t>;

void BindValues(Statement& stmt, std::initializer_list<Value> values) {
  int index = 1;
  for (const Value& value : values) {
    std::visit([&](auto v) { stmt.Bind(index++, v); }, value);
  }
}

Result<std::optional<Row>> SelectRow(Connection& conn, const std::string& sql,
                                     std::initializer_list<Value> params) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  BindValues(stmt, params);
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<Row>();
  return std::optional<Row>(Row{stmt.Int(0), stmt.Int(1)});
}

Result<int64_t> Insert(Connection& conn, const std::string& sql,
                       std::initializer_list<Value> params) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  BindValues(stmt, params);
  STRATA_RETURN_IF_ERROR(stmt.Run());
  return conn.LastInsertRowId();
}

// Sets each column that is empty in row `id` of `table` to its new non-empty value.
Status FillBlanks(Connection& conn, const char* table, int64_t id,
                  const std::vector<std::pair<const char*, const std::string*>>& columns) {
  std::string set, any;
  for (size_t n = 0; n < columns.size(); ++n) {
    std::string col = columns[n].first;
    std::string param = "?" + std::to_string(n + 2);
    set += (n == 0 ? "" : ", ") + col + " = CASE WHEN " + col + " = '' THEN " + param + " ELSE " +
           col + " END";
    any += (n == 0 ? "" : " OR ") + ("(" + col + " = '' AND " + param + " <> '')");
  }
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(std::string("UPDATE ") + table + " SET " +
                                                       set + " WHERE id = ?1 AND (" + any + ")"));
  stmt.Bind(1, id);
  for (size_t n = 0; n < columns.size(); ++n) {
    stmt.Bind(static_cast<int>(n + 2), *columns[n].second);
  }
  return stmt.Run();
}

Status AddCounts(Connection& conn, const char* sql, int64_t id,
                 std::initializer_list<int64_t> deltas) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  int index = 1;
  for (int64_t delta : deltas) stmt.Bind(index++, delta);
  stmt.Bind(index, id);
  return stmt.Run();
}

Status AddSopClass(Connection& conn, int64_t study_pk, const std::string& sop_class,
                   int64_t delta) {
  STRATA_ASSIGN_OR_RETURN(
      Statement upsert,
      conn.Prepare("INSERT INTO study_sop_classes (study_pk, sop_class, num_instances)"
                   " VALUES (?1, ?2, ?3) ON CONFLICT (study_pk, sop_class)"
                   " DO UPDATE SET num_instances = num_instances + ?3"));
  STRATA_RETURN_IF_ERROR(upsert.Bind(1, study_pk).Bind(2, sop_class).Bind(3, delta).Run());
  STRATA_ASSIGN_OR_RETURN(Statement prune, conn.Prepare("DELETE FROM study_sop_classes WHERE"
                                                        " study_pk = ? AND sop_class = ? AND"
                                                        " num_instances <= 0"));
  return prune.Bind(1, study_pk).Bind(2, sop_class).Run();
}

constexpr const char* kAddPatientCounts =
    "UPDATE patients SET num_studies = num_studies + ?1, num_series = num_series + ?2,"
    " num_instances = num_instances + ?3 WHERE id = ?4";
constexpr const char* kAddStudyCounts =
    "UPDATE studies SET num_series = num_series + ?1, num_instances = num_instances + ?2"
    " WHERE id = ?3";
constexpr const char* kAddSeriesCounts =
    "UPDATE series SET num_instances = num_instances + ?1 WHERE id = ?2";
constexpr const char* kAddTotals =
    "UPDATE totals SET patients = patients + ?1, studies = studies + ?2, series = series + ?3,"
    " instances = instances + ?4 WHERE id = ?5";

// The writes of one PutInstance, after all checks passed. REQUIRES: inside a savepoint.
// `patient_visible`: the patient already has a visible (not soft-deleted) study, so it is
// counted in the totals.
Status WriteInstance(Connection& conn, const InstanceRecord& record,
                     std::optional<int64_t> patient_pk, bool patient_visible,
                     std::optional<Row> study, std::optional<Row> series,
                     const std::optional<CurrentInstance>& current) {
  const dicom::InstanceMetadata& m = record.metadata;
  bool new_patient = !patient_pk, new_study = !study, new_series = !series;
  if (new_patient) {
    STRATA_ASSIGN_OR_RETURN(
        patient_pk,
        Insert(conn,
               "INSERT INTO patients (patient_id, issuer, patient_name, birth_date, sex)"
               " VALUES (?, ?, ?, ?, ?)",
               {m.patient_id, m.issuer_of_patient_id, m.patient_name, m.patient_birth_date,
                m.patient_sex}));
  } else {
    STRATA_RETURN_IF_ERROR(FillBlanks(conn, "patients", *patient_pk,
                                      {{"patient_name", &m.patient_name},
                                       {"birth_date", &m.patient_birth_date},
                                       {"sex", &m.patient_sex}}));
  }
  if (new_study) {
    STRATA_ASSIGN_OR_RETURN(
        int64_t id,
        Insert(
            conn,
            "INSERT INTO studies (patient_pk, study_uid, study_date, study_time, accession,"
            " study_id, description, referring_physician, retention_until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {*patient_pk, m.study_instance_uid, m.study_date, m.study_time, m.accession_number,
             m.study_id, m.study_description, m.referring_physician_name, record.retention_until}));
    study = Row{id, *patient_pk};
  } else {
    STRATA_RETURN_IF_ERROR(FillBlanks(conn, "studies", study->id,
                                      {{"study_date", &m.study_date},
                                       {"study_time", &m.study_time},
                                       {"accession", &m.accession_number},
                                       {"study_id", &m.study_id},
                                       {"description", &m.study_description},
                                       {"referring_physician", &m.referring_physician_name}}));
  }
  if (new_series) {
    STRATA_ASSIGN_OR_RETURN(
        int64_t id,
        Insert(conn,
               "INSERT INTO series (study_pk, series_uid, modality, series_number, description,"
               " series_date, series_time, body_part) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               {study->id, m.series_instance_uid, m.modality, m.series_number, m.series_description,
                m.series_date, m.series_time, m.body_part_examined}));
    series = Row{id, study->id};
  } else {
    STRATA_RETURN_IF_ERROR(FillBlanks(conn, "series", series->id,
                                      {{"modality", &m.modality},
                                       {"series_number", &m.series_number},
                                       {"description", &m.series_description},
                                       {"series_date", &m.series_date},
                                       {"series_time", &m.series_time},
                                       {"body_part", &m.body_part_examined}}));
  }

  // Rowids are assigned here so that instance_seq can equal the first version's rowid: a new
  // version keeps its instance's place in the result order.
  STRATA_ASSIGN_OR_RETURN(Statement next,
                          conn.Prepare("SELECT coalesce(max(id), 0) + 1 FROM instances"));
  STRATA_ASSIGN_OR_RETURN(bool has_row, next.Step());
  if (!has_row) return Internal("no next instance id");
  const int64_t id = next.Int(0);
  int64_t seq = id;
  int64_t version = 1;
  if (current) {
    seq = current->seq;
    version = current->version + 1;
    STRATA_ASSIGN_OR_RETURN(Statement retire,
                            conn.Prepare("UPDATE instances SET is_current = 0 WHERE id = ?"));
    STRATA_RETURN_IF_ERROR(retire.Bind(1, current->id).Run());
    if (current->sop_class != m.sop_class_uid) {
      STRATA_RETURN_IF_ERROR(AddSopClass(conn, study->id, current->sop_class, -1));
      STRATA_RETURN_IF_ERROR(AddSopClass(conn, study->id, m.sop_class_uid, 1));
    }
  } else {
    STRATA_RETURN_IF_ERROR(AddSopClass(conn, study->id, m.sop_class_uid, 1));
  }

  STRATA_ASSIGN_OR_RETURN(
      Statement insert,
      conn.Prepare("INSERT INTO instances (series_pk, sop_uid, version, is_current, sop_class,"
                   " transfer_syntax, blob_key, size_bytes, sha256, received_at_ms, source_ae,"
                   " instance_number, content_date, content_time, image_rows, image_columns,"
                   " number_of_frames, specific_character_set, id, instance_seq)"
                   " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, series->id)
      .Bind(2, m.sop_instance_uid)
      .Bind(3, version)
      .Bind(4, m.sop_class_uid)
      .Bind(5, m.transfer_syntax_uid)
      .Bind(6, record.blob_key)
      .Bind(7, static_cast<int64_t>(record.size_bytes))
      .Bind(8, record.sha256_hex)
      .Bind(9, record.received_at_ms)
      .Bind(10, record.source_ae)
      .Bind(11, m.instance_number)
      .Bind(12, m.content_date)
      .Bind(13, m.content_time)
      .Bind(14, m.rows)
      .Bind(15, m.columns)
      .Bind(16, m.number_of_frames)
      .Bind(17, m.specific_character_set)
      .Bind(18, id)
      .Bind(19, seq);
  STRATA_RETURN_IF_ERROR(insert.Run());
  // A new instance or version is a receipt: the series is active again (never moved back, so
  // a late-arriving record with an older time does not make a series look quieter).
  STRATA_ASSIGN_OR_RETURN(Statement activity,
                          conn.Prepare("UPDATE series SET last_received_ms ="
                                       " max(last_received_ms, ?) WHERE id = ?"));
  STRATA_RETURN_IF_ERROR(activity.Bind(1, record.received_at_ms).Bind(2, series->id).Run());

  if (current) return OkStatus();  // a new version of a counted instance
  const int64_t add_study = new_study ? 1 : 0, add_series = new_series ? 1 : 0;
  STRATA_RETURN_IF_ERROR(AddCounts(conn, kAddSeriesCounts, series->id, {1}));
  STRATA_RETURN_IF_ERROR(AddCounts(conn, kAddStudyCounts, study->id, {add_series, 1}));
  STRATA_RETURN_IF_ERROR(
      AddCounts(conn, kAddPatientCounts, *patient_pk, {add_study, add_series, 1}));
  const int64_t add_patient = new_patient || (new_study && !patient_visible) ? 1 : 0;
  return AddCounts(conn, kAddTotals, 1, {add_patient, add_study, add_series, 1});
}

Status RunSql(Connection& conn, const char* sql) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  return stmt.Run();
}

}  // namespace

Result<PutOutcome> PutInstanceRecord(Connection& conn, const InstanceRecord& record,
                                     DuplicatePolicy policy) {
  const dicom::InstanceMetadata& m = record.metadata;
  if (m.study_instance_uid.empty() || m.series_instance_uid.empty() || m.sop_instance_uid.empty() ||
      m.sop_class_uid.empty()) {
    return InvalidArgument(
        "instance record lacks a Study, Series or SOP Instance UID or a"
        " SOP Class UID");
  }

  // Checks first, so that rejections write nothing.
  STRATA_ASSIGN_OR_RETURN(
      std::optional<Row> patient,
      SelectRow(conn, "SELECT id, num_studies FROM patients WHERE patient_id = ? AND issuer = ?",
                {m.patient_id, m.issuer_of_patient_id}));
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> study,
                          SelectRow(conn, "SELECT id, patient_pk FROM studies WHERE study_uid = ?",
                                    {m.study_instance_uid}));
  if (study && (!patient || study->parent != patient->id)) {
    return FailedPrecondition("study " + m.study_instance_uid +
                              " is already recorded under another patient");
  }
  std::optional<StudyProtection> protection;
  if (study) {
    STRATA_ASSIGN_OR_RETURN(protection, ReadStudyProtection(conn, m.study_instance_uid));
    if (protection->state == StudyState::kDeleted) {
      return FailedPrecondition("study " + m.study_instance_uid +
                                " is deleted (recoverable): restore it before storing into it");
    }
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> series,
                          SelectRow(conn, "SELECT id, study_pk FROM series WHERE series_uid = ?",
                                    {m.series_instance_uid}));
  if (series && (!study || series->parent != study->id)) {
    return FailedPrecondition("series " + m.series_instance_uid +
                              " is already recorded under another study");
  }

  std::optional<CurrentInstance> current;
  {
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT id, instance_seq, version, series_pk, sha256, sop_class FROM instances"
                     " WHERE sop_uid = ? AND is_current = 1"));
    stmt.Bind(1, m.sop_instance_uid);
    STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (found) {
      current = CurrentInstance{stmt.Int(0), stmt.Int(1),  stmt.Int(2),
                                stmt.Int(3), stmt.Text(4), stmt.Text(5)};
    }
  }
  if (current) {
    // Compared with the current version: resending an older version makes it current again.
    if (current->sha256 == record.sha256_hex) return PutOutcome::kDuplicate;
    if (policy == DuplicatePolicy::kReject) {
      return AlreadyExists("instance " + m.sop_instance_uid +
                           " is already stored with different content");
    }
    if (!series || current->series_pk != series->id) {
      return FailedPrecondition("instance " + m.sop_instance_uid +
                                " is already recorded under another series");
    }
    // Contract 2: nothing under retention or legal hold is overwritten.
    if (protection) {
      STRATA_RETURN_IF_ERROR(
          CheckUnprotected(*protection, record.received_at_ms,
                           "store a different object under SOPInstanceUID " + m.sop_instance_uid));
    }
  }

  STRATA_RETURN_IF_ERROR(RunSql(conn, "SAVEPOINT put_instance"));
  Status status =
      WriteInstance(conn, record, patient ? std::optional<int64_t>(patient->id) : std::nullopt,
                    patient && patient->parent > 0, study, series, current);
  if (!status.ok()) {
    // Undo this call only; the enclosing transaction goes on.
    RunSql(conn, "ROLLBACK TO put_instance").IgnoreError();
    RunSql(conn, "RELEASE put_instance").IgnoreError();
    return status;
  }
  STRATA_RETURN_IF_ERROR(RunSql(conn, "RELEASE put_instance"));
  return current ? PutOutcome::kNewVersion : PutOutcome::kStored;
}

Status AppendOutboxEvent(Connection& conn, const OutboxEvent& event) {
  if (event.kind.empty()) return InvalidArgument("outbox event without a kind");
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt, conn.Prepare("INSERT INTO outbox (kind, payload, created_at_ms) VALUES (?, ?,"
                                   " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"));
  return stmt.Bind(1, event.kind).Bind(2, event.payload).Run();
}

}  // namespace strata::catalog::sqlite
