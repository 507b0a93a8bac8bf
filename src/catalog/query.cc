#include "catalog/query.h"

#include <cctype>
#include <string_view>

#include "dicom/uid.h"

namespace strata::catalog {
namespace {

namespace t = dicom::tags;

// Matching values arrive padded to even length (space for text, NUL for UIDs); the padding is
// not part of the value (PS3.5 6.2).
std::string_view TrimPadding(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

std::string_view TrimLeadingSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int ToInt(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

// YYYYMMDD with a plausible month and day.
bool IsValidDate(std::string_view s) {
  if (s.size() != 8 || !AllDigits(s)) return false;
  int month = ToInt(s.substr(4, 2));
  int day = ToInt(s.substr(6, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// HH[MM[SS[.F{1,6}]]] (PS3.5 6.2, TM).
bool IsValidTime(std::string_view s) {
  std::string_view whole = s.substr(0, s.find('.'));
  if (whole.size() != 2 && whole.size() != 4 && whole.size() != 6) return false;
  if (!AllDigits(whole)) return false;
  if (ToInt(whole.substr(0, 2)) > 23) return false;
  if (whole.size() >= 4 && ToInt(whole.substr(2, 2)) > 59) return false;
  if (whole.size() == 6 && ToInt(whole.substr(4, 2)) > 60) return false;  // leap second
  if (whole.size() == s.size()) return true;
  std::string_view fraction = s.substr(whole.size() + 1);
  return whole.size() == 6 && !fraction.empty() && fraction.size() <= 6 && AllDigits(fraction);
}

// YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX] (PS3.5 6.2, DT), checked textually.
bool IsValidDateTime(std::string_view s) {
  size_t tz = s.find_first_of("+-");
  if (tz != std::string_view::npos) {
    std::string_view offset = s.substr(tz + 1);
    if (offset.size() != 4 || !AllDigits(offset)) return false;
    if (ToInt(offset.substr(0, 2)) > 14 || ToInt(offset.substr(2, 2)) > 59) return false;
    s = s.substr(0, tz);
  }
  std::string_view whole = s.substr(0, s.find('.'));
  if (whole.size() < 4 || whole.size() > 14 || whole.size() % 2 != 0 || !AllDigits(whole)) {
    return false;
  }
  if (whole.size() >= 6) {
    int month = ToInt(whole.substr(4, 2));
    if (month < 1 || month > 12) return false;
  }
  if (whole.size() >= 8) {
    int day = ToInt(whole.substr(6, 2));
    if (day < 1 || day > 31) return false;
  }
  if (whole.size() > 8 && !IsValidTime(s.substr(8))) return false;
  if (whole.size() == s.size()) return true;
  return whole.size() == 14;  // a fraction only after full seconds; IsValidTime checked it
}

bool IsTemporal(MatchVr vr) {
  return vr == MatchVr::kDate || vr == MatchVr::kTime || vr == MatchVr::kDateTime;
}

bool IsValidTemporal(std::string_view s, MatchVr vr) {
  switch (vr) {
    case MatchVr::kDate:
      return IsValidDate(s);
    case MatchVr::kTime:
      return IsValidTime(s);
    case MatchVr::kDateTime:
      return IsValidDateTime(s);
    default:
      return false;
  }
}

const char* VrName(MatchVr vr) {
  switch (vr) {
    case MatchVr::kDate:
      return "DA";
    case MatchVr::kTime:
      return "TM";
    case MatchVr::kDateTime:
      return "DT";
    case MatchVr::kUid:
      return "UI";
    case MatchVr::kPersonName:
      return "PN";
    case MatchVr::kCodeString:
      return "CS";
    case MatchVr::kText:
      return "text";
  }
  return "?";
}

std::vector<std::string> SplitBackslash(std::string_view s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find('\\', start);
    parts.emplace_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

// One element of a multi-valued matching value, or the whole value: a UID, date or time must
// be valid; text is taken as is.
Status CheckElement(const std::string& element, MatchVr vr) {
  if (vr == MatchVr::kUid && !dicom::IsValidUid(element)) {
    return InvalidArgument("invalid UID in matching value: '" + element + "'");
  }
  if (IsTemporal(vr) && !IsValidTemporal(element, vr)) {
    return InvalidArgument(std::string("invalid ") + VrName(vr) + " matching value: '" + element +
                           "'");
  }
  return OkStatus();
}

Result<MatchRule> ParseRange(std::string_view value, MatchVr vr) {
  size_t dash = value.find('-');
  if (vr == MatchVr::kDateTime) {
    // A DT may carry a negative UTC offset ("...-0500"), so the range separator is the dash
    // that splits the value into two valid (or empty) date-times.
    for (size_t pos = value.find('-'); pos != std::string_view::npos;
         pos = value.find('-', pos + 1)) {
      std::string_view lo = value.substr(0, pos), hi = value.substr(pos + 1);
      if ((lo.empty() || IsValidDateTime(lo)) && (hi.empty() || IsValidDateTime(hi)) &&
          !(lo.empty() && hi.empty())) {
        dash = pos;
        break;
      }
    }
  }
  MatchRule rule;
  rule.kind = MatchRule::Kind::kRange;
  rule.range_low = std::string(value.substr(0, dash));
  rule.range_high = std::string(value.substr(dash + 1));
  if (rule.range_low.empty() && rule.range_high.empty()) {
    return InvalidArgument("range matching value has no bounds: '" + std::string(value) + "'");
  }
  for (const std::string* bound : {&rule.range_low, &rule.range_high}) {
    if (!bound->empty() && !IsValidTemporal(*bound, vr)) {
      return InvalidArgument(std::string("invalid ") + VrName(vr) + " range bound '" + *bound +
                             "' in '" + std::string(value) + "'");
    }
  }
  if (!rule.range_low.empty() && !rule.range_high.empty() && rule.range_low > rule.range_high) {
    return InvalidArgument("range lower bound after upper bound: '" + std::string(value) + "'");
  }
  return rule;
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

}  // namespace

Result<QueryLevel> ParseQueryLevel(const std::string& text) {
  std::string_view level = TrimLeadingSpaces(TrimPadding(text));
  if (level == "PATIENT") return QueryLevel::kPatient;
  if (level == "STUDY") return QueryLevel::kStudy;
  if (level == "SERIES") return QueryLevel::kSeries;
  if (level == "IMAGE" || level == "INSTANCE") return QueryLevel::kInstance;
  return InvalidArgument("unknown query/retrieve level: '" + text + "'");
}

Result<MatchRule> ParseMatchRule(const std::string& raw, MatchVr vr) {
  std::string_view value = TrimPadding(raw);
  // Leading spaces are insignificant for everything but free text (PS3.5 6.2).
  if (vr != MatchVr::kText && vr != MatchVr::kPersonName) value = TrimLeadingSpaces(value);

  MatchRule rule;
  if (value.empty() || value == "*") return rule;  // universal (PS3.4 C.2.2.2.3)

  if (value.find('\\') != std::string_view::npos) {
    rule.kind = MatchRule::Kind::kList;
    for (std::string& element : SplitBackslash(value)) {
      element = std::string(TrimPadding(TrimLeadingSpaces(element)));
      if (element.empty()) return InvalidArgument("empty value in list: '" + raw + "'");
      STRATA_RETURN_IF_ERROR(CheckElement(element, vr));
      rule.list.push_back(std::move(element));
    }
    return rule;
  }

  if (IsTemporal(vr) && value.find('-') != std::string_view::npos) {
    // A DT with a negative UTC offset and no range is a single value.
    if (!(vr == MatchVr::kDateTime && IsValidDateTime(value))) return ParseRange(value, vr);
  }

  rule.value = std::string(value);
  // Wildcards apply to text, names and code strings only (PS3.4 C.2.2.2.4); in a UID, date or
  // time they are simply invalid characters.
  if (vr != MatchVr::kUid && !IsTemporal(vr) && HasWildcard(value)) {
    rule.kind = MatchRule::Kind::kWildcard;
    return rule;
  }
  STRATA_RETURN_IF_ERROR(CheckElement(rule.value, vr));
  rule.kind = MatchRule::Kind::kSingle;
  return rule;
}

const std::map<dicom::Tag, MatchVr>& SupportedKeys(QueryLevel level) {
  static const auto* const kPatient = new std::map<dicom::Tag, MatchVr>{
      {t::kPatientName, MatchVr::kPersonName},
      {t::kPatientId, MatchVr::kText},
      {t::kIssuerOfPatientId, MatchVr::kText},
      {t::kPatientBirthDate, MatchVr::kDate},
      {t::kPatientSex, MatchVr::kCodeString},
      {t::kNumberOfPatientRelatedStudies, MatchVr::kText},
      {t::kNumberOfPatientRelatedSeries, MatchVr::kText},
      {t::kNumberOfPatientRelatedInstances, MatchVr::kText},
  };
  static const auto* const kStudy = [] {
    auto* keys = new std::map<dicom::Tag, MatchVr>(*kPatient);
    keys->insert({
        {t::kStudyInstanceUid, MatchVr::kUid},
        {t::kStudyDate, MatchVr::kDate},
        {t::kStudyTime, MatchVr::kTime},
        {t::kAccessionNumber, MatchVr::kText},
        {t::kStudyId, MatchVr::kText},
        {t::kStudyDescription, MatchVr::kText},
        {t::kReferringPhysicianName, MatchVr::kPersonName},
        {t::kModalitiesInStudy, MatchVr::kCodeString},
        {t::kSopClassesInStudy, MatchVr::kUid},
        {t::kNumberOfStudyRelatedSeries, MatchVr::kText},
        {t::kNumberOfStudyRelatedInstances, MatchVr::kText},
    });
    return keys;
  }();
  static const auto* const kSeries = [] {
    auto* keys = new std::map<dicom::Tag, MatchVr>(*kStudy);
    keys->insert({
        {t::kSeriesInstanceUid, MatchVr::kUid},
        {t::kModality, MatchVr::kCodeString},
        {t::kSeriesNumber, MatchVr::kText},
        {t::kSeriesDescription, MatchVr::kText},
        {t::kSeriesDate, MatchVr::kDate},
        {t::kSeriesTime, MatchVr::kTime},
        {t::kBodyPartExamined, MatchVr::kCodeString},
        {t::kNumberOfSeriesRelatedInstances, MatchVr::kText},
    });
    return keys;
  }();
  static const auto* const kInstance = [] {
    auto* keys = new std::map<dicom::Tag, MatchVr>(*kSeries);
    keys->insert({
        {t::kSopClassUid, MatchVr::kUid},
        {t::kSopInstanceUid, MatchVr::kUid},
        {t::kInstanceNumber, MatchVr::kText},
        {t::kContentDate, MatchVr::kDate},
        {t::kContentTime, MatchVr::kTime},
        {t::kRows, MatchVr::kText},
        {t::kColumns, MatchVr::kText},
        {t::kNumberOfFrames, MatchVr::kText},
        {t::kAvailableTransferSyntaxUid, MatchVr::kUid},
    });
    return keys;
  }();
  switch (level) {
    case QueryLevel::kPatient:
      return *kPatient;
    case QueryLevel::kStudy:
      return *kStudy;
    case QueryLevel::kSeries:
      return *kSeries;
    case QueryLevel::kInstance:
      return *kInstance;
  }
  return *kStudy;
}

}  // namespace strata::catalog
