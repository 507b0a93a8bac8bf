#include "dicomweb/json_model.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

namespace strata::dicomweb {
namespace {

namespace t = dicom::tags;

constexpr AttributeInfo kAttributes[] = {
    {t::kSpecificCharacterSet, "SpecificCharacterSet", "CS"},
    {t::kSopClassUid, "SOPClassUID", "UI"},
    {t::kSopInstanceUid, "SOPInstanceUID", "UI"},
    {t::kStudyDate, "StudyDate", "DA"},
    {t::kSeriesDate, "SeriesDate", "DA"},
    {t::kContentDate, "ContentDate", "DA"},
    {t::kStudyTime, "StudyTime", "TM"},
    {t::kSeriesTime, "SeriesTime", "TM"},
    {t::kContentTime, "ContentTime", "TM"},
    {t::kAccessionNumber, "AccessionNumber", "SH"},
    {t::kQueryRetrieveLevel, "QueryRetrieveLevel", "CS"},
    {t::kRetrieveAeTitle, "RetrieveAETitle", "AE"},
    {t::kInstanceAvailability, "InstanceAvailability", "CS"},
    {t::kModality, "Modality", "CS"},
    {t::kModalitiesInStudy, "ModalitiesInStudy", "CS"},
    {t::kSopClassesInStudy, "SOPClassesInStudy", "UI"},
    {t::kReferringPhysicianName, "ReferringPhysicianName", "PN"},
    {t::kStudyDescription, "StudyDescription", "LO"},
    {t::kSeriesDescription, "SeriesDescription", "LO"},
    {kRetrieveUrlTag, "RetrieveURL", "UR"},
    {t::kAvailableTransferSyntaxUid, "AvailableTransferSyntaxUID", "UI"},
    {t::kPatientName, "PatientName", "PN"},
    {t::kPatientId, "PatientID", "LO"},
    {t::kIssuerOfPatientId, "IssuerOfPatientID", "LO"},
    {t::kPatientBirthDate, "PatientBirthDate", "DA"},
    {t::kPatientSex, "PatientSex", "CS"},
    {t::kBodyPartExamined, "BodyPartExamined", "CS"},
    {t::kStudyInstanceUid, "StudyInstanceUID", "UI"},
    {t::kSeriesInstanceUid, "SeriesInstanceUID", "UI"},
    {t::kStudyId, "StudyID", "SH"},
    {t::kSeriesNumber, "SeriesNumber", "IS"},
    {t::kInstanceNumber, "InstanceNumber", "IS"},
    {t::kNumberOfPatientRelatedStudies, "NumberOfPatientRelatedStudies", "IS"},
    {t::kNumberOfPatientRelatedSeries, "NumberOfPatientRelatedSeries", "IS"},
    {t::kNumberOfPatientRelatedInstances, "NumberOfPatientRelatedInstances", "IS"},
    {t::kNumberOfStudyRelatedSeries, "NumberOfStudyRelatedSeries", "IS"},
    {t::kNumberOfStudyRelatedInstances, "NumberOfStudyRelatedInstances", "IS"},
    {t::kNumberOfSeriesRelatedInstances, "NumberOfSeriesRelatedInstances", "IS"},
    {t::kNumberOfFrames, "NumberOfFrames", "IS"},
    {t::kRows, "Rows", "US"},
    {t::kColumns, "Columns", "US"},
};

bool IsHexTag(const std::string& name) {
  if (name.size() != 8) return false;
  for (char c : name) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

std::string TrimSpaces(const std::string& s) {
  size_t first = s.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

// IS/DS and binary numbers as JSON numbers (PS3.18 F.2.3.1); nullopt when not a number.
std::optional<nlohmann::json> Number(const std::string& vr, const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (vr == "IS" || vr == "US" || vr == "UL" || vr == "SS" || vr == "SL" || vr == "SV" ||
      vr == "UV") {
    int64_t v = 0;
    auto [ptr, ec] =
        std::from_chars(text.data() + (text[0] == '+' ? 1 : 0), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return nlohmann::json(v);
  }
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return nlohmann::json(v);
}

}  // namespace

Result<AttributeInfo> LookupAttribute(const std::string& name) {
  if (IsHexTag(name)) {
    dicom::Tag tag = static_cast<dicom::Tag>(std::strtoul(name.c_str(), nullptr, 16));
    for (const auto& a : kAttributes) {
      if (a.tag == tag) return a;
    }
    return NotFound("attribute " + name + " is not one Strata can query or return");
  }
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) {
    return InvalidArgument("'" + name + "' is neither an attribute keyword nor a tag (ggggeeee)");
  }
  for (const auto& a : kAttributes) {
    if (name == a.keyword) return a;
  }
  return NotFound("unknown attribute keyword '" + name + "'");
}

AttributeInfo AttributeOf(dicom::Tag tag) {
  for (const auto& a : kAttributes) {
    if (a.tag == tag) return a;
  }
  return {tag, "", "UN"};
}

std::string TagKey(dicom::Tag tag) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08X", tag);
  return buf;
}

nlohmann::json ToJsonAttribute(const std::string& vr, const std::string& value) {
  nlohmann::json attr = {{"vr", vr}};
  if (value.empty()) return attr;
  nlohmann::json values = nlohmann::json::array();
  for (const std::string& raw : Split(value, '\\')) {
    if (vr == "PN") {
      nlohmann::json name = nlohmann::json::object();
      const std::vector<std::string> groups = Split(raw, '=');
      static const char* const kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
      for (size_t i = 0; i < groups.size() && i < 3; ++i) {
        if (!groups[i].empty()) name[kGroups[i]] = groups[i];
      }
      values.push_back(name.empty() ? nlohmann::json(nullptr) : name);
    } else if (vr == "IS" || vr == "DS" || vr == "US" || vr == "UL" || vr == "SS" || vr == "SL" ||
               vr == "FL" || vr == "FD" || vr == "SV" || vr == "UV") {
      std::string text = TrimSpaces(raw);
      auto number = Number(vr, text);
      if (number) {
        values.push_back(*number);
      } else if (text.empty()) {
        values.push_back(nullptr);
      } else {
        values.push_back(text);
      }
    } else {
      values.push_back(raw.empty() ? nlohmann::json(nullptr) : nlohmann::json(raw));
    }
  }
  attr["Value"] = std::move(values);
  return attr;
}

}  // namespace strata::dicomweb
