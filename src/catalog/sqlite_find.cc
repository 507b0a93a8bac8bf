// The read side of the SQLite catalog: Find (query → parameterised SQL), Locate, Versions,
// Counts.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "catalog/sqlite_ops.h"

namespace strata::catalog::sqlite {
namespace {

namespace t = dicom::tags;

using Param = std::variant<std::string, int64_t>;

int Depth(QueryLevel level) { return static_cast<int>(level); }

// Where each returned or matchable attribute lives. Aliases: p patients, s studies, se series,
// i instances. Counters are integers in the schema and text in query rows.
struct Column {
  dicom::Tag tag;
  QueryLevel level;
  const char* expr;
};

constexpr Column kColumns[] = {
    {t::kPatientName, QueryLevel::kPatient, "p.patient_name"},
    {t::kPatientId, QueryLevel::kPatient, "p.patient_id"},
    {t::kIssuerOfPatientId, QueryLevel::kPatient, "p.issuer"},
    {t::kPatientBirthDate, QueryLevel::kPatient, "p.birth_date"},
    {t::kPatientSex, QueryLevel::kPatient, "p.sex"},
    {t::kNumberOfPatientRelatedStudies, QueryLevel::kPatient, "CAST(p.num_studies AS TEXT)"},
    {t::kNumberOfPatientRelatedSeries, QueryLevel::kPatient, "CAST(p.num_series AS TEXT)"},
    {t::kNumberOfPatientRelatedInstances, QueryLevel::kPatient, "CAST(p.num_instances AS TEXT)"},
    {t::kStudyInstanceUid, QueryLevel::kStudy, "s.study_uid"},
    {t::kStudyDate, QueryLevel::kStudy, "s.study_date"},
    {t::kStudyTime, QueryLevel::kStudy, "s.study_time"},
    {t::kAccessionNumber, QueryLevel::kStudy, "s.accession"},
    {t::kStudyId, QueryLevel::kStudy, "s.study_id"},
    {t::kStudyDescription, QueryLevel::kStudy, "s.description"},
    {t::kReferringPhysicianName, QueryLevel::kStudy, "s.referring_physician"},
    {t::kNumberOfStudyRelatedSeries, QueryLevel::kStudy, "CAST(s.num_series AS TEXT)"},
    {t::kNumberOfStudyRelatedInstances, QueryLevel::kStudy, "CAST(s.num_instances AS TEXT)"},
    {t::kSeriesInstanceUid, QueryLevel::kSeries, "se.series_uid"},
    {t::kModality, QueryLevel::kSeries, "se.modality"},
    {t::kSeriesNumber, QueryLevel::kSeries, "se.series_number"},
    {t::kSeriesDescription, QueryLevel::kSeries, "se.description"},
    {t::kSeriesDate, QueryLevel::kSeries, "se.series_date"},
    {t::kSeriesTime, QueryLevel::kSeries, "se.series_time"},
    {t::kBodyPartExamined, QueryLevel::kSeries, "se.body_part"},
    {t::kNumberOfSeriesRelatedInstances, QueryLevel::kSeries, "CAST(se.num_instances AS TEXT)"},
    {t::kSopClassUid, QueryLevel::kInstance, "i.sop_class"},
    {t::kSopInstanceUid, QueryLevel::kInstance, "i.sop_uid"},
    {t::kInstanceNumber, QueryLevel::kInstance, "i.instance_number"},
    {t::kContentDate, QueryLevel::kInstance, "i.content_date"},
    {t::kContentTime, QueryLevel::kInstance, "i.content_time"},
    {t::kRows, QueryLevel::kInstance, "i.image_rows"},
    {t::kColumns, QueryLevel::kInstance, "i.image_columns"},
    {t::kNumberOfFrames, QueryLevel::kInstance, "i.number_of_frames"},
    {t::kAvailableTransferSyntaxUid, QueryLevel::kInstance, "i.transfer_syntax"},
};

const Column* FindColumn(dicom::Tag tag) {
  for (const Column& column : kColumns) {
    if (column.tag == tag) return &column;
  }
  return nullptr;
}

const char* FromClause(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient:
      return " FROM patients p";
    case QueryLevel::kStudy:
      return " FROM studies s JOIN patients p ON p.id = s.patient_pk";
    case QueryLevel::kSeries:
      return " FROM series se JOIN studies s ON s.id = se.study_pk"
             " JOIN patients p ON p.id = s.patient_pk";
    case QueryLevel::kInstance:
      return " FROM instances i JOIN series se ON se.id = i.series_pk"
             " JOIN studies s ON s.id = se.study_pk JOIN patients p ON p.id = s.patient_pk";
  }
  return "";
}

const char* OrderKey(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient:
      return "p.id";
    case QueryLevel::kStudy:
      return "s.id";
    case QueryLevel::kSeries:
      return "se.id";
    case QueryLevel::kInstance:
      return "i.instance_seq";
  }
  return "";
}

// DICOM wildcards are GLOB's * and ?; GLOB's own class syntax must be taken literally.
std::string ToGlob(const std::string& pattern) {
  std::string glob;
  for (char c : pattern) {
    if (c == '[') {
      glob += "[[]";
    } else if (c == ']') {
      glob += "[]]";
    } else {
      glob += c;
    }
  }
  return glob;
}

bool HasWildcard(const std::string& s) { return s.find_first_of("*?") != std::string::npos; }

// Appends " AND <condition on expr>" for one parsed matching value. `fold_case` compares
// ASCII case-insensitively (fuzzy person-name matching).
void AppendCondition(const std::string& expr, const MatchRule& rule, MatchVr vr, bool fold_case,
                     std::string* where, std::vector<Param>* params) {
  const std::string lhs = fold_case ? "lower(" + expr + ")" : expr;
  const std::string rhs = fold_case ? "lower(?)" : "?";
  switch (rule.kind) {
    case MatchRule::Kind::kUniversal:
      return;
    case MatchRule::Kind::kSingle:
      *where += " AND " + lhs + " = " + rhs;
      params->push_back(rule.value);
      return;
    case MatchRule::Kind::kWildcard:
      *where += " AND " + lhs + " GLOB " + rhs;
      params->push_back(ToGlob(rule.value));
      return;
    case MatchRule::Kind::kRange:
      // An absent value matches no range. The upper bound is a prefix bound: "-1200" includes
      // 12:00:59.5 and "-2024" (DT) includes all of 2024; '~' sorts after every character a
      // DA/TM/DT may contain.
      *where += " AND " + expr + " <> ''";
      if (!rule.range_low.empty()) {
        *where += " AND " + expr + " >= ?";
        params->push_back(rule.range_low);
      }
      if (!rule.range_high.empty()) {
        *where += " AND " + expr + " <= ?";
        params->push_back(rule.range_high + "~");
      }
      return;
    case MatchRule::Kind::kList: {
      std::vector<std::string> literal, patterns;
      for (const std::string& value : rule.list) {
        bool wildcard = vr != MatchVr::kUid && vr != MatchVr::kDate && vr != MatchVr::kTime &&
                        vr != MatchVr::kDateTime && HasWildcard(value);
        (wildcard ? patterns : literal).push_back(value);
      }
      std::string any;
      if (!literal.empty()) {
        any = lhs + " IN (";
        for (size_t n = 0; n < literal.size(); ++n) {
          any += n == 0 ? rhs : ", " + rhs;
          params->push_back(literal[n]);
        }
        any += ")";
      }
      for (const std::string& pattern : patterns) {
        any += (any.empty() ? "" : " OR ") + lhs + " GLOB " + rhs;
        params->push_back(ToGlob(pattern));
      }
      *where += " AND (" + any + ")";
      return;
    }
  }
}

// Matching on a computed multi-valued study attribute: the study has at least one value that
// matches (PS3.4 C.2.2.2.8 for multiple values).
void AppendStudySetCondition(dicom::Tag tag, const MatchRule& rule, MatchVr vr, std::string* where,
                             std::vector<Param>* params) {
  if (rule.kind == MatchRule::Kind::kUniversal) return;
  std::string inner;
  if (tag == t::kModalitiesInStudy) {
    inner = "SELECT 1 FROM series x WHERE x.study_pk = s.id";
    AppendCondition("x.modality", rule, vr, false, &inner, params);
  } else {
    inner = "SELECT 1 FROM study_sop_classes x WHERE x.study_pk = s.id";
    AppendCondition("x.sop_class", rule, vr, false, &inner, params);
  }
  *where += " AND EXISTS (" + inner + ")";
}

void BindAll(Statement& stmt, const std::vector<Param>& params) {
  int index = 1;
  for (const Param& param : params) {
    if (const auto* text = std::get_if<std::string>(&param)) {
      stmt.Bind(index++, *text);
    } else {
      stmt.Bind(index++, std::get<int64_t>(param));
    }
  }
}

Result<std::string> JoinColumn(Connection& conn, const std::string& sql, int64_t study_pk) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  stmt.Bind(1, study_pk);
  std::string joined;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return joined;
    if (!joined.empty()) joined += '\\';
    joined += stmt.Text(0);
  }
}

constexpr const char* kLocationColumns =
    "SELECT s.study_uid, se.series_uid, i.sop_uid, i.sop_class, i.transfer_syntax, i.blob_key,"
    " i.size_bytes, i.sha256, i.version, i.is_current"
    " FROM instances i JOIN series se ON se.id = i.series_pk"
    " JOIN studies s ON s.id = se.study_pk";

Result<std::vector<InstanceLocation>> ReadLocations(Statement& stmt) {
  std::vector<InstanceLocation> locations;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return locations;
    InstanceLocation& loc = locations.emplace_back();
    loc.study_instance_uid = stmt.Text(0);
    loc.series_instance_uid = stmt.Text(1);
    loc.sop_instance_uid = stmt.Text(2);
    loc.sop_class_uid = stmt.Text(3);
    loc.transfer_syntax_uid = stmt.Text(4);
    loc.blob_key = stmt.Text(5);
    loc.size_bytes = static_cast<uint64_t>(stmt.Int(6));
    loc.sha256_hex = stmt.Text(7);
    loc.version = static_cast<int>(stmt.Int(8));
    loc.current = stmt.Int(9) != 0;
  }
}

}  // namespace

Result<std::vector<QueryRow>> FindRows(Connection& conn, const Query& query) {
  const std::map<dicom::Tag, MatchVr>& supported = SupportedKeys(query.level);

  // Soft-deleted studies are hidden; a patient whose studies are all deleted has none counted.
  std::string where;
  switch (query.level) {
    case QueryLevel::kPatient:
      where = " WHERE p.num_studies > 0";
      break;
    case QueryLevel::kInstance:
      where = " WHERE s.deleted_at_ms = 0 AND i.is_current = 1";
      break;
    default:
      where = " WHERE s.deleted_at_ms = 0";
  }
  std::vector<Param> params;
  for (const MatchKey& key : query.keys) {
    auto vr = supported.find(key.tag);
    if (vr == supported.end()) continue;  // answered as empty by the caller
    STRATA_ASSIGN_OR_RETURN(MatchRule rule, ParseMatchRule(key.value, vr->second));
    if (key.tag == t::kModalitiesInStudy || key.tag == t::kSopClassesInStudy) {
      AppendStudySetCondition(key.tag, rule, vr->second, &where, &params);
      continue;
    }
    const Column* column = FindColumn(key.tag);
    if (column == nullptr) continue;
    bool fold_case = query.fuzzy_matching && vr->second == MatchVr::kPersonName;
    AppendCondition(column->expr, rule, vr->second, fold_case, &where, &params);
  }

  std::string sql = "SELECT ";
  std::vector<dicom::Tag> selected;
  for (const Column& column : kColumns) {
    if (Depth(column.level) > Depth(query.level)) continue;
    sql += column.expr;
    sql += ", ";
    selected.push_back(column.tag);
  }
  const bool has_study = Depth(query.level) >= Depth(QueryLevel::kStudy);
  sql += has_study ? "s.id" : "p.id";
  sql += FromClause(query.level);
  sql += where;
  sql += " ORDER BY ";
  sql += OrderKey(query.level);
  sql += " LIMIT ? OFFSET ?";
  params.emplace_back(query.limit ? static_cast<int64_t>(*query.limit) : int64_t{-1});
  params.emplace_back(static_cast<int64_t>(query.offset));

  std::vector<QueryRow> rows;
  std::vector<int64_t> study_pks;
  {
    STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
    BindAll(stmt, params);
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool more, stmt.Step());
      if (!more) break;
      QueryRow& row = rows.emplace_back();
      for (size_t n = 0; n < selected.size(); ++n) {
        row.attributes.emplace(selected[n], stmt.Text(static_cast<int>(n)));
      }
      study_pks.push_back(stmt.Int(static_cast<int>(selected.size())));
    }
  }

  if (has_study) {
    // Computed per returned study (cached: many series/instance rows share one study).
    std::map<int64_t, std::pair<std::string, std::string>> computed;
    for (size_t n = 0; n < rows.size(); ++n) {
      auto it = computed.find(study_pks[n]);
      if (it == computed.end()) {
        STRATA_ASSIGN_OR_RETURN(
            std::string modalities,
            JoinColumn(conn,
                       "SELECT DISTINCT modality FROM series WHERE study_pk = ? AND modality <> ''"
                       " ORDER BY modality",
                       study_pks[n]));
        STRATA_ASSIGN_OR_RETURN(
            std::string sop_classes,
            JoinColumn(conn,
                       "SELECT sop_class FROM study_sop_classes WHERE study_pk = ?"
                       " ORDER BY sop_class",
                       study_pks[n]));
        it = computed.emplace(study_pks[n], std::make_pair(modalities, sop_classes)).first;
      }
      rows[n].attributes[t::kModalitiesInStudy] = it->second.first;
      rows[n].attributes[t::kSopClassesInStudy] = it->second.second;
    }
  }
  return rows;
}

Result<std::vector<InstanceLocation>> LocateInstances(Connection& conn,
                                                      const std::string& study_uid,
                                                      const std::string& series_uid,
                                                      const std::string& sop_uid) {
  if (study_uid.empty() && series_uid.empty() && sop_uid.empty()) {
    return InvalidArgument("Locate needs a study, series or SOP Instance UID");
  }
  std::string sql =
      std::string(kLocationColumns) + " WHERE i.is_current = 1 AND s.deleted_at_ms = 0";
  std::vector<Param> params;
  if (!study_uid.empty()) {
    sql += " AND s.study_uid = ?";
    params.push_back(study_uid);
  }
  if (!series_uid.empty()) {
    sql += " AND se.series_uid = ?";
    params.push_back(series_uid);
  }
  if (!sop_uid.empty()) {
    sql += " AND i.sop_uid = ?";
    params.push_back(sop_uid);
  }
  sql += " ORDER BY se.id, i.instance_seq";
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  BindAll(stmt, params);
  return ReadLocations(stmt);
}

Result<std::vector<InstanceLocation>> InstanceVersions(Connection& conn, const std::string& sop_uid,
                                                       bool include_deleted) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare(std::string(kLocationColumns) + " WHERE i.sop_uid = ?" +
                   (include_deleted ? "" : " AND s.deleted_at_ms = 0") + " ORDER BY i.version"));
  stmt.Bind(1, sop_uid);
  return ReadLocations(stmt);
}

Result<CatalogCounts> ReadCounts(Connection& conn) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT patients, studies, series, instances FROM totals WHERE id = 1"));
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return DataLoss("catalog totals row is missing");
  CatalogCounts counts;
  counts.patients = static_cast<uint64_t>(stmt.Int(0));
  counts.studies = static_cast<uint64_t>(stmt.Int(1));
  counts.series = static_cast<uint64_t>(stmt.Int(2));
  counts.instances = static_cast<uint64_t>(stmt.Int(3));
  return counts;
}

Result<std::vector<ChangeEntry>> ReadChanges(Connection& conn, const ChangeQuery& query) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT seq, kind, payload, created_at_ms FROM outbox WHERE seq > ?"
                   " AND created_at_ms >= ? AND created_at_ms < ? ORDER BY seq LIMIT ?"));
  stmt.Bind(1, query.after_seq)
      .Bind(2, query.since_ms.value_or(INT64_MIN))
      .Bind(3, query.until_ms.value_or(INT64_MAX))
      .Bind(4, static_cast<int64_t>(query.limit));
  std::vector<ChangeEntry> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back({stmt.Int(0), stmt.Text(1), stmt.Text(2), stmt.Int(3)});
  }
  return out;
}

}  // namespace strata::catalog::sqlite
