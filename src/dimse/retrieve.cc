#include "dimse/retrieve.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include "dicom/tags.h"
#include "dimse/dimse_status.h"

namespace strata::dimse {
namespace {

namespace tags = dicom::tags;

constexpr size_t kPageSize = 1000;

std::string RowValue(const catalog::QueryRow& row, dicom::Tag tag) {
  auto it = row.attributes.find(tag);
  return it == row.attributes.end() ? "" : it->second;
}

}  // namespace

Result<std::vector<catalog::InstanceLocation>> LocateForRetrieve(catalog::Catalog& catalog,
                                                                 DcmDataset& identifier,
                                                                 QueryModel model) {
  STRATA_ASSIGN_OR_RETURN(catalog::Query parsed,
                          IdentifierToQuery(identifier, model, IdentifierUse::kRetrieve));
  // Only unique keys select what to retrieve (PS3.4 C.4.2.2.1); a PATIENT-level retrieve
  // is the patient's studies.
  catalog::Query query;
  query.level =
      parsed.level == catalog::QueryLevel::kPatient ? catalog::QueryLevel::kStudy : parsed.level;
  for (const auto& key : parsed.keys) {
    if (key.tag == tags::kPatientId || key.tag == tags::kStudyInstanceUid ||
        key.tag == tags::kSeriesInstanceUid || key.tag == tags::kSopInstanceUid) {
      if (!key.value.empty()) query.keys.push_back(key);
    }
  }
  query.limit = kPageSize;
  std::vector<catalog::InstanceLocation> locations;
  Status status = catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    for (;;) {
      STRATA_ASSIGN_OR_RETURN(auto rows, txn.Find(query));
      for (const auto& row : rows) {
        const std::string study = RowValue(row, tags::kStudyInstanceUid);
        const std::string series = query.level == catalog::QueryLevel::kStudy
                                       ? ""
                                       : RowValue(row, tags::kSeriesInstanceUid);
        const std::string sop = query.level == catalog::QueryLevel::kInstance
                                    ? RowValue(row, tags::kSopInstanceUid)
                                    : "";
        STRATA_ASSIGN_OR_RETURN(auto found, txn.Locate(study, series, sop));
        locations.insert(locations.end(), found.begin(), found.end());
      }
      if (rows.size() < kPageSize) return OkStatus();
      query.offset += rows.size();
    }
  });
  if (!status.ok()) return status;
  return locations;
}

void RetrieveTally::FailRemaining(const std::vector<std::string>& uids) {
  for (const auto& uid : uids) {
    if (remaining_ == 0) break;
    Failed(uid);
  }
}

uint16_t RetrieveTally::FinalStatus() const {
  if (failed_ == 0) return kSuccess;
  if (completed_ == 0 && warnings_ == 0) return kOutOfResourcesSubOperations;
  return kSubOperationsWithFailures;
}

std::unique_ptr<DcmDataset> RetrieveTally::FailedIdentifier() const {
  if (failed_uids_.empty()) return nullptr;
  std::string list;
  for (const auto& uid : failed_uids_) {
    if (!list.empty()) list += '\\';
    list += uid;
  }
  auto identifier = std::make_unique<DcmDataset>();
  (void)identifier->putAndInsertString(DCM_FailedSOPInstanceUIDList, list.c_str());
  return identifier;
}

}  // namespace strata::dimse
