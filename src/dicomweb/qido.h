// QIDO-RS (PS3.18 10.6): query parameters -> catalog::Query, catalog rows -> DICOM JSON.
//
// Attributes are named by keyword or tag; values are DICOM matching values (single,
// wildcard, range, UID list with ',' or '\'), matched by the catalog exactly as C-FIND
// matches them, so QIDO and C-FIND agree. Thread-safety: pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "catalog/query.h"
#include "core/status.h"
#include "dicom/tags.h"

namespace strata::dicomweb {

// Where a query runs: its level and the UIDs of the resource path (/studies/{study}/series).
struct QidoScope {
  catalog::QueryLevel level = catalog::QueryLevel::kStudy;
  std::string study_uid;   // empty: all studies
  std::string series_uid;  // empty: all series
};

struct QidoQuery {
  catalog::Query query;
  std::vector<dicom::Tag> return_tags;  // in order, without duplicates
  bool include_all = false;             // includefield=all
};

// Parses the query parameters. kInvalidArgument, with a reason naming the parameter, for an
// unknown parameter or attribute, an attribute that cannot be matched at the level, a
// repeated attribute, a bad limit/offset/fuzzymatching value, an invalid UID in the scope or
// a malformed matching value. `max_results` caps the limit (0: no cap).
Result<QidoQuery> ParseQidoQuery(const QidoScope& scope,
                                 const std::vector<std::pair<std::string, std::string>>& params);

// The DICOM JSON array for `rows`: for each row the return tags (and with include_all every
// attribute the row has), InstanceAvailability ONLINE.
std::string QidoResponseJson(const QidoQuery& query, const std::vector<catalog::QueryRow>& rows);

}  // namespace strata::dicomweb
