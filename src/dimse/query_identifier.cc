#include "dimse/query_identifier.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <vector>

#include "dicom/tags.h"

namespace strata::dimse {
namespace {

namespace tags = dicom::tags;

dicom::Tag TagOf(const DcmTagKey& key) { return dicom::MakeTag(key.getGroup(), key.getElement()); }

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

// Attributes Strata answers itself rather than matching.
bool IsReturnOnly(dicom::Tag tag) {
  return tag == tags::kQueryRetrieveLevel || tag == tags::kSpecificCharacterSet ||
         tag == tags::kRetrieveAeTitle || tag == tags::kInstanceAvailability;
}

std::string ValueOf(DcmElement* element) {
  OFString value;
  if (element->getOFStringArray(value).bad()) return "";
  return Trim(value.c_str());
}

const char* KeyName(dicom::Tag tag) {
  switch (tag) {
    case tags::kPatientId:
      return "PatientID";
    case tags::kStudyInstanceUid:
      return "StudyInstanceUID";
    case tags::kSeriesInstanceUid:
      return "SeriesInstanceUID";
    default:
      return "SOPInstanceUID";
  }
}

// The unique keys of the levels above `level` (Patient Root includes PatientID).
std::vector<dicom::Tag> KeysAbove(catalog::QueryLevel level, QueryModel model) {
  std::vector<dicom::Tag> keys;
  if (level == catalog::QueryLevel::kPatient) return keys;
  if (model == QueryModel::kPatientRoot) keys.push_back(tags::kPatientId);
  if (level == catalog::QueryLevel::kStudy) return keys;
  keys.push_back(tags::kStudyInstanceUid);
  if (level == catalog::QueryLevel::kSeries) return keys;
  keys.push_back(tags::kSeriesInstanceUid);
  return keys;
}

dicom::Tag UniqueKeyOf(catalog::QueryLevel level) {
  switch (level) {
    case catalog::QueryLevel::kPatient:
      return tags::kPatientId;
    case catalog::QueryLevel::kStudy:
      return tags::kStudyInstanceUid;
    case catalog::QueryLevel::kSeries:
      return tags::kSeriesInstanceUid;
    case catalog::QueryLevel::kInstance:
      return tags::kSopInstanceUid;
  }
  return tags::kSopInstanceUid;
}

// PS3.4 C.6.1.1.1 level names; INSTANCE as well, as some SCUs send it.
Result<catalog::QueryLevel> ParseLevel(const std::string& text) {
  if (text == "PATIENT") return catalog::QueryLevel::kPatient;
  if (text == "STUDY") return catalog::QueryLevel::kStudy;
  if (text == "SERIES") return catalog::QueryLevel::kSeries;
  if (text == "IMAGE" || text == "INSTANCE") return catalog::QueryLevel::kInstance;
  return InvalidArgument("unknown QueryRetrieveLevel");
}

bool HasWildcard(const std::string& value) {
  return value.find_first_of("*?") != std::string::npos;
}

}  // namespace

Result<catalog::Query> IdentifierToQuery(DcmDataset& identifier, QueryModel model,
                                         IdentifierUse use) {
  OFString level_text;
  if (identifier.findAndGetOFString(DCM_QueryRetrieveLevel, level_text).bad()) {
    return InvalidArgument("identifier has no QueryRetrieveLevel");
  }
  auto level = ParseLevel(Trim(level_text.c_str()));
  if (!level.ok()) return level.status();
  if (model == QueryModel::kStudyRoot && *level == catalog::QueryLevel::kPatient) {
    return InvalidArgument("Study Root has no PATIENT level");
  }
  catalog::Query query;
  query.level = *level;
  for (unsigned long i = 0; i < identifier.card(); ++i) {
    DcmElement* element = identifier.getElement(i);
    const DcmTagKey key = element->getTag();
    if (key.getGroup() == 0x0000 || key.getGroup() == 0x0002) continue;
    const dicom::Tag tag = TagOf(key);
    if (IsReturnOnly(tag) || element->ident() == EVR_SQ) continue;
    query.keys.push_back({tag, ValueOf(element)});
  }
  auto value_of = [&](dicom::Tag tag) -> std::string {
    for (const auto& k : query.keys) {
      if (k.tag == tag) return k.value;
    }
    return "";
  };
  std::vector<dicom::Tag> required;
  if (model == QueryModel::kPatientRoot) required = KeysAbove(query.level, model);
  if (use == IdentifierUse::kRetrieve) required.push_back(UniqueKeyOf(query.level));
  for (dicom::Tag tag : required) {
    const std::string value = value_of(tag);
    if (value.empty() || HasWildcard(value)) {
      return InvalidArgument(std::string("identifier needs a single-value ") + KeyName(tag) +
                             " at this level");
    }
  }
  return query;
}

std::unique_ptr<DcmDataset> BuildFindResponse(DcmDataset& request, const catalog::QueryRow& row,
                                              const std::string& retrieve_ae) {
  auto response = std::make_unique<DcmDataset>();
  auto row_value = [&](dicom::Tag tag) -> std::string {
    auto it = row.attributes.find(tag);
    return it == row.attributes.end() ? "" : it->second;
  };
  bool has_charset = false;
  for (unsigned long i = 0; i < request.card(); ++i) {
    DcmElement* element = request.getElement(i);
    const DcmTag tag_with_vr = element->getTag();
    if (tag_with_vr.getGroup() == 0x0000 || tag_with_vr.getGroup() == 0x0002) continue;
    const dicom::Tag tag = TagOf(tag_with_vr);
    if (element->ident() == EVR_SQ) {
      (void)response->insert(new DcmSequenceOfItems(tag_with_vr), /*replaceOld=*/true);
      continue;
    }
    std::string value;
    if (tag == tags::kQueryRetrieveLevel) {
      value = ValueOf(element);
    } else if (tag == tags::kRetrieveAeTitle) {
      value = retrieve_ae;
    } else if (tag == tags::kInstanceAvailability) {
      value = "ONLINE";
    } else {
      if (tag == tags::kSpecificCharacterSet) has_charset = true;
      value = row_value(tag);
    }
    if (value.empty() ||
        response->putAndInsertString(tag_with_vr, value.c_str(), /*replaceOld=*/true).bad()) {
      (void)response->insertEmptyElement(tag_with_vr, /*replaceOld=*/true);
    }
  }
  const std::string charset = row_value(tags::kSpecificCharacterSet);
  if (!has_charset && !charset.empty()) {
    (void)response->putAndInsertString(DCM_SpecificCharacterSet, charset.c_str());
  }
  return response;
}

}  // namespace strata::dimse
