// What C-MOVE and C-GET share: finding the instances an identifier names, and counting
// sub-operations into response statuses (PS3.4 C.4.2.1.5, C.4.3.1.4).
//
// Internal to the dimse module. Thread-safety: a RetrieveTally belongs to one association.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"
#include "dimse/query_identifier.h"

namespace strata::dimse {

// The current versions of every instance a C-MOVE/C-GET identifier names (unique keys at its
// level, UID lists allowed; PATIENT level by PatientID). kInvalidArgument for a bad
// identifier; catalog errors pass through.
Result<std::vector<catalog::InstanceLocation>> LocateForRetrieve(catalog::Catalog& catalog,
                                                                 DcmDataset& identifier,
                                                                 QueryModel model);

// Sub-operation counters of one retrieve.
class RetrieveTally {
 public:
  explicit RetrieveTally(size_t total) : remaining_(total) {}

  void Completed(bool warning) {
    --remaining_;
    (warning ? warnings_ : completed_)++;
  }
  void Failed(const std::string& sop_instance_uid) {
    --remaining_;
    ++failed_;
    failed_uids_.push_back(sop_instance_uid);
  }
  // Marks everything not yet attempted as failed (cancel, lost destination).
  void FailRemaining(const std::vector<std::string>& uids);

  size_t remaining() const { return remaining_; }
  size_t completed() const { return completed_; }
  size_t failed() const { return failed_; }
  size_t warnings() const { return warnings_; }

  // Final status once nothing remains: 0x0000 when nothing failed, 0xA702 when every
  // sub-operation failed, else 0xB000.
  uint16_t FinalStatus() const;
  // An identifier with FailedSOPInstanceUIDList (0008,0058), or null when nothing failed.
  std::unique_ptr<DcmDataset> FailedIdentifier() const;

 private:
  size_t remaining_;
  size_t completed_ = 0;
  size_t failed_ = 0;
  size_t warnings_ = 0;
  std::vector<std::string> failed_uids_;
};

}  // namespace strata::dimse
