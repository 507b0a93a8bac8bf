#include "dicomweb/qido.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "dicom/dicom_file.h"
#include "dicomweb/handlers.h"
#include "dicomweb/json_model.h"

namespace strata::dicomweb {
namespace {

namespace t = dicom::tags;
using catalog::QueryLevel;

// PS3.18 Table 6.7.1-2 (defaults per level), limited to what the catalog holds.
const std::vector<dicom::Tag>& StudyDefaults() {
  static const std::vector<dicom::Tag> tags = {t::kSpecificCharacterSet,
                                               t::kStudyDate,
                                               t::kStudyTime,
                                               t::kAccessionNumber,
                                               t::kInstanceAvailability,
                                               t::kModalitiesInStudy,
                                               t::kReferringPhysicianName,
                                               t::kPatientName,
                                               t::kPatientId,
                                               t::kPatientBirthDate,
                                               t::kPatientSex,
                                               t::kStudyInstanceUid,
                                               t::kStudyId,
                                               t::kNumberOfStudyRelatedSeries,
                                               t::kNumberOfStudyRelatedInstances};
  return tags;
}
const std::vector<dicom::Tag>& SeriesDefaults() {
  static const std::vector<dicom::Tag> tags = {
      t::kSpecificCharacterSet, t::kModality,
      t::kSeriesDescription,    t::kSeriesInstanceUid,
      t::kSeriesNumber,         t::kNumberOfSeriesRelatedInstances,
      t::kStudyInstanceUid,     t::kInstanceAvailability};
  return tags;
}
const std::vector<dicom::Tag>& InstanceDefaults() {
  static const std::vector<dicom::Tag> tags = {t::kSpecificCharacterSet,
                                               t::kSopClassUid,
                                               t::kSopInstanceUid,
                                               t::kInstanceAvailability,
                                               t::kInstanceNumber,
                                               t::kRows,
                                               t::kColumns,
                                               t::kNumberOfFrames,
                                               t::kStudyInstanceUid,
                                               t::kSeriesInstanceUid};
  return tags;
}

Result<size_t> ParseCount(const std::string& name, const std::string& text) {
  size_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return InvalidArgument("query parameter '" + name + "' must be a non-negative integer, not '" +
                           text + "'");
  }
  return v;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(',', start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

const char* LevelName(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient:
      return "patient";
    case QueryLevel::kStudy:
      return "study";
    case QueryLevel::kSeries:
      return "series";
    case QueryLevel::kInstance:
      return "instance";
  }
  return "?";
}

}  // namespace

Result<QidoQuery> ParseQidoQuery(const QidoScope& scope,
                                 const std::vector<std::pair<std::string, std::string>>& params) {
  QidoQuery out;
  out.query.level = scope.level;
  std::set<dicom::Tag> matched;
  auto add_return = [&](dicom::Tag tag) {
    if (std::find(out.return_tags.begin(), out.return_tags.end(), tag) == out.return_tags.end()) {
      out.return_tags.push_back(tag);
    }
  };
  auto add_scope = [&](dicom::Tag tag, const std::string& uid, const char* what) -> Status {
    if (uid.empty()) return OkStatus();
    if (!dicom::IsValidUid(uid))
      return InvalidArgument(std::string("invalid ") + what + " '" + uid + "'");
    out.query.keys.push_back({tag, uid});
    matched.insert(tag);
    return OkStatus();
  };
  STRATA_RETURN_IF_ERROR(add_scope(t::kStudyInstanceUid, scope.study_uid, "Study Instance UID"));
  STRATA_RETURN_IF_ERROR(add_scope(t::kSeriesInstanceUid, scope.series_uid, "Series Instance UID"));

  // Defaults (PS3.18 10.6.3.3.1): a level's own attributes, and those of the levels above when
  // the path does not already fix them.
  if (scope.level == QueryLevel::kStudy || scope.study_uid.empty()) {
    for (dicom::Tag tag : StudyDefaults()) add_return(tag);
  }
  if (scope.level == QueryLevel::kSeries ||
      (scope.level == QueryLevel::kInstance && scope.series_uid.empty())) {
    for (dicom::Tag tag : SeriesDefaults()) add_return(tag);
  }
  if (scope.level == QueryLevel::kInstance) {
    for (dicom::Tag tag : InstanceDefaults()) add_return(tag);
  }

  const auto& supported = catalog::SupportedKeys(scope.level);
  for (const auto& [name, value] : params) {
    if (name == "limit") {
      STRATA_ASSIGN_OR_RETURN(size_t limit, ParseCount(name, value));
      out.query.limit = limit;
    } else if (name == "offset") {
      STRATA_ASSIGN_OR_RETURN(out.query.offset, ParseCount(name, value));
    } else if (name == "fuzzymatching") {
      if (value != "true" && value != "false") {
        return InvalidArgument("query parameter 'fuzzymatching' must be true or false, not '" +
                               value + "'");
      }
      out.query.fuzzy_matching = value == "true";
    } else if (name == "includefield") {
      for (const std::string& field : SplitComma(value)) {
        if (field.empty()) continue;
        if (field == "all") {
          out.include_all = true;
          continue;
        }
        auto info = LookupAttribute(field);
        if (info.ok()) {
          add_return(info->tag);
        } else if (info.status().code() != StatusCode::kNotFound || field.size() != 8 ||
                   !std::all_of(field.begin(), field.end(), ::isxdigit)) {
          // An unknown tag number is simply not returned; an unknown keyword is a mistake.
          return InvalidArgument("includefield: " + info.status().message());
        }
      }
    } else {
      auto info = LookupAttribute(name);
      if (!info.ok()) {
        return InvalidArgument("unknown query parameter '" + name +
                               "': " + info.status().message());
      }
      if (!supported.count(info->tag)) {
        return InvalidArgument(std::string("attribute ") + info->keyword +
                               " cannot be matched at the " + LevelName(scope.level) + " level");
      }
      if (!matched.insert(info->tag).second) {
        return InvalidArgument(std::string("attribute ") + info->keyword +
                               " is given more than once (or also by the path)");
      }
      std::string match = value;
      // PS3.18 8.3.4.1: a UID list is comma-separated in a URL; the catalog takes '\'.
      if (std::string(info->vr) == "UI") std::replace(match.begin(), match.end(), ',', '\\');
      auto rule = catalog::ParseMatchRule(match, supported.at(info->tag));
      if (!rule.ok()) {
        return InvalidArgument(std::string(info->keyword) + ": " + rule.status().message());
      }
      out.query.keys.push_back({info->tag, match});
      add_return(info->tag);
    }
  }
  return out;
}

std::string QidoResponseJson(const QidoQuery& query, const std::vector<catalog::QueryRow>& rows) {
  nlohmann::json array = nlohmann::json::array();
  for (const catalog::QueryRow& row : rows) {
    std::map<dicom::Tag, nlohmann::json> attrs;
    auto add = [&](dicom::Tag tag) {
      if (attrs.count(tag)) return;
      AttributeInfo info = AttributeOf(tag);
      if (std::string(info.vr) == "UN") return;
      std::string value;
      if (tag == t::kInstanceAvailability) {
        value = "ONLINE";
      } else {
        auto it = row.attributes.find(tag);
        if (it != row.attributes.end()) value = it->second;
      }
      if (tag == t::kSpecificCharacterSet && value.empty()) return;
      attrs[tag] = ToJsonAttribute(info.vr, value);
    };
    for (dicom::Tag tag : query.return_tags) add(tag);
    if (query.include_all) {
      for (const auto& [tag, value] : row.attributes) add(tag);
    }
    nlohmann::json object = nlohmann::json::object();
    for (auto& [tag, attr] : attrs) object[TagKey(tag)] = std::move(attr);  // ascending tags
    array.push_back(std::move(object));
  }
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace strata::dicomweb

namespace strata::dicomweb {

Response HandleQido(Services& services, Request& request, catalog::QueryLevel level) {
  QidoScope scope;
  scope.level = level;
  if (auto it = request.path_params.find("study"); it != request.path_params.end()) {
    scope.study_uid = it->second;
  }
  if (auto it = request.path_params.find("series"); it != request.path_params.end()) {
    scope.series_uid = it->second;
  }
  auto parsed = ParseQidoQuery(scope, request.query);
  if (!parsed.ok()) return Response::Error(parsed.status());
  QidoQuery& qido = *parsed;

  // Cap the response; one row more than the cap tells whether results were left out.
  const size_t cap = services.options.max_query_results;
  bool capped = false;
  if (cap != 0 && (!qido.query.limit || *qido.query.limit > cap)) {
    capped = true;
    qido.query.limit = cap + 1;
  }
  std::vector<catalog::QueryRow> rows;
  Status status = services.catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(rows, txn.Find(qido.query));
    return OkStatus();
  });
  if (!status.ok()) return Response::Error(status);
  bool truncated = capped && rows.size() > cap;
  if (truncated) rows.resize(cap);
  Response response = Response::Json(200, QidoResponseJson(qido, rows), "application/dicom+json");
  if (truncated) {
    response.headers.emplace_back(
        "Warning",
        "299 strata \"The number of results exceeded the maximum supported by the "
        "server. Additional results can be requested.\"");
  }
  return response;
}

}  // namespace strata::dicomweb
