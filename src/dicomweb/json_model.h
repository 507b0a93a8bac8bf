// The attributes QIDO-RS names and returns, and their DICOM JSON encoding (PS3.18 F.2).
//
// A small dictionary of the attributes the catalog indexes (keyword, tag, VR), so query
// parameters can name them by keyword or tag, and the conversion of catalog values (DICOM
// string values, multiple values backslash-separated) to DICOM JSON. No DCMTK.
// Thread-safety: pure functions over constant tables.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "dicom/tags.h"

namespace strata::dicomweb {

struct AttributeInfo {
  dicom::Tag tag;
  const char* keyword;
  const char* vr;
};

constexpr dicom::Tag kRetrieveUrlTag = dicom::MakeTag(0x0008, 0x1190);

// Looks up a query-parameter attribute: a keyword ("PatientID") or eight hex digits
// ("00100020"). kInvalidArgument for anything else; kNotFound for a well-formed tag or
// keyword Strata does not know.
Result<AttributeInfo> LookupAttribute(const std::string& name);

// The dictionary entry for `tag`; vr "UN" and empty keyword when unknown.
AttributeInfo AttributeOf(dicom::Tag tag);

// "00100020".
std::string TagKey(dicom::Tag tag);

// One DICOM JSON attribute object: {"vr": vr, "Value": [...]} with PN as {"Alphabetic": ...}
// (and Ideographic/Phonetic from '=' groups), IS/DS/US/UL/SS/SL/FL/FD as numbers, and no
// "Value" for an empty value. A numeric string that is not a number is kept as a string.
nlohmann::json ToJsonAttribute(const std::string& vr, const std::string& value);

}  // namespace strata::dicomweb
