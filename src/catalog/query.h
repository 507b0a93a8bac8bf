// Query: what C-FIND and QIDO-RS ask of the catalog, independent of DIMSE, HTTP and SQL.
//
// A Query names a level and a list of match keys, each a tag with a DICOM matching value
// (PS3.4 C.2.2.2): empty = universal; "*"/"?" wildcards; "A-B", "A-", "-B" ranges for
// DA/TM/DT; backslash-separated UID lists. Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/tags.h"

namespace strata::catalog {

enum class QueryLevel { kPatient, kStudy, kSeries, kInstance };

// Parses "PATIENT", "STUDY", "SERIES", "IMAGE" (and "INSTANCE").
Result<QueryLevel> ParseQueryLevel(const std::string& text);

struct MatchKey {
  dicom::Tag tag = 0;
  std::string value;  // raw DICOM matching value, as received
};

struct Query {
  QueryLevel level = QueryLevel::kStudy;
  std::vector<MatchKey> keys;
  // Patient Root vs Study Root: with patient_root the upper levels need a unique key
  // (PatientID for STUDY...), which the caller checks; the catalog matches the same way.
  size_t offset = 0;
  std::optional<size_t> limit;
  bool fuzzy_matching = false;  // case-insensitive PN matching
};

// One matched entity: its attributes, plus those of the levels above it, keyed by tag.
// Computed attributes (NumberOfStudyRelatedInstances, ModalitiesInStudy, ...) are included
// for the matched level. Multi-valued attributes are backslash-separated.
struct QueryRow {
  std::map<dicom::Tag, std::string> attributes;
};

// How a single matching value is to be applied, after parsing.
struct MatchRule {
  enum class Kind { kUniversal, kSingle, kWildcard, kRange, kList };
  Kind kind = Kind::kUniversal;
  std::string value;                  // kSingle, kWildcard (with * and ?)
  std::string range_low, range_high;  // kRange; either may be empty (open)
  std::vector<std::string> list;      // kList
};

// The value representation classes that change how matching works.
enum class MatchVr { kText, kPersonName, kUid, kDate, kTime, kDateTime, kCodeString };

// Parses a raw matching value for an attribute of the given VR class. Fails with
// kInvalidArgument on a malformed date/time range or invalid UID list.
Result<MatchRule> ParseMatchRule(const std::string& raw, MatchVr vr);

// The tags the catalog can match on and return at `level` (including upper levels), with
// their VR class. Keys outside this set are answered as empty (zero length) values.
const std::map<dicom::Tag, MatchVr>& SupportedKeys(QueryLevel level);

}  // namespace strata::catalog
