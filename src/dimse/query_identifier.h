// Query/retrieve identifiers (PS3.4 C.4.1.1.3, C.6) <-> catalog queries.
//
// Internal to the dimse module. Thread-safety: free functions; the data sets they get belong
// to the caller's thread.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>

#include <memory>
#include <string>

#include "catalog/query.h"
#include "core/status.h"

namespace strata::dimse {

enum class QueryModel { kPatientRoot, kStudyRoot };

enum class IdentifierUse { kFind, kRetrieve };

// Reads QueryRetrieveLevel and turns the identifier's other top-level attributes into match
// keys (raw values; sequences and return-only attributes skipped). Fails with
// kInvalidArgument naming the problem when the level is missing, unknown or not in `model`
// (Study Root has no PATIENT level), when a Patient Root identifier lacks the unique keys of
// the levels above (PS3.4 C.4.1.2.1 hierarchical search), or when a retrieve identifier lacks
// the unique key of its level.
Result<catalog::Query> IdentifierToQuery(DcmDataset& identifier, QueryModel model,
                                         IdentifierUse use);

// One C-FIND response identifier: exactly the request's top-level attributes, valued from
// `row` (zero length where the row has none), QueryRetrieveLevel as requested,
// RetrieveAETitle = `retrieve_ae`, InstanceAvailability ONLINE; SpecificCharacterSet when the
// request asked for it or the row carries one.
std::unique_ptr<DcmDataset> BuildFindResponse(DcmDataset& request, const catalog::QueryRow& row,
                                              const std::string& retrieve_ae);

}  // namespace strata::dimse
