// Storage SCU pieces for C-MOVE and C-GET sub-operations (PS3.4 C.4.2.3, C.4.3.3).
//
// Internal to the dimse module. Thread-safety: a StoreAssociation belongs to one thread.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "core/status.h"

namespace strata::dimse {

// How one C-STORE sub-operation is sent.
struct SubOperationOptions {
  bool require_scp_role = false;   // C-GET: the requestor must have accepted the SCP role
  std::string move_originator_ae;  // C-MOVE: who asked (empty for C-GET)
  uint16_t move_originator_id = 0;
  int timeout_seconds = 60;
  // C-GET: set to true when a C-CANCEL-RQ arrived while waiting for the C-STORE-RSP.
  bool* cancel_seen = nullptr;
};

// Sends the stored object of `location` on `assoc` as a C-STORE-RQ, in its stored transfer
// syntax when a context for it was accepted, else transcoded (dicom/transcode.h) to an
// accepted native syntax. OK when the peer answered success or a warning (then *warning is
// set). Fails with kFailedPrecondition (no usable presentation context), kNotFound (object
// missing), a transcoding error, kAborted (the peer answered with a failure status; the
// message names it) or kUnavailable (network failure: the association is unusable).
Status SendInstance(T_ASC_Association* assoc, blob::BlobStore& blobs,
                    const catalog::InstanceLocation& location, const SubOperationOptions& options,
                    bool* warning);

// An association Strata opened to a C-MOVE destination, released (or aborted) on destruction.
class StoreAssociation {
 public:
  // Proposes, for each SOP class in `objects` (sop class, stored transfer syntax), the stored
  // syntaxes plus explicit/implicit LE as fallbacks. kUnavailable when the peer cannot be
  // reached or rejects the association.
  static Result<std::unique_ptr<StoreAssociation>> Open(
      const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
      const std::vector<std::pair<std::string, std::string>>& objects);
  ~StoreAssociation();
  StoreAssociation(const StoreAssociation&) = delete;
  StoreAssociation& operator=(const StoreAssociation&) = delete;

  T_ASC_Association* assoc() { return assoc_; }
  // After a network failure: abort instead of release on destruction.
  void MarkBroken() { broken_ = true; }

 private:
  StoreAssociation(T_ASC_Network* net, T_ASC_Association* assoc) : net_(net), assoc_(assoc) {}
  T_ASC_Network* net_;
  T_ASC_Association* assoc_;
  bool broken_ = false;
};

}  // namespace strata::dimse
