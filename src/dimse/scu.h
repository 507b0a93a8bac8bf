// Storage SCU pieces for C-MOVE and C-GET sub-operations (PS3.4 C.4.2.3, C.4.3.3) and for
// sending files to a peer (store_scu.h).
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

// A Part 10 file to send, with what its file meta information and data set say.
struct FileToSend {
  std::string path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
};

// Sends the Part 10 file `file` on `assoc` as a C-STORE-RQ, in its own transfer syntax when a
// context for it was accepted, else transcoded (into a temporary file in the system's temp
// folder, removed afterwards) to an accepted native syntax. OK when the peer answered success
// or a warning (0001 or Bxxx; then *warning is set). Fails like SendInstance, except that the
// kAborted message also carries the peer's Error Comment, and with kUnavailable when no
// temporary file can be made.
Status SendFile(T_ASC_Association* assoc, const FileToSend& file,
                const SubOperationOptions& options, bool* warning);

// OK when `assoc` has an accepted presentation context to send an object of `sop_class_uid`
// stored in `transfer_syntax_uid` (as is or transcoded); kFailedPrecondition otherwise.
Status CheckCanSend(T_ASC_Association* assoc, const std::string& sop_class_uid,
                    const std::string& transfer_syntax_uid, bool require_scp_role = false);

// An association Strata opened to a C-MOVE destination, released (or aborted) on destruction.
class StoreAssociation {
 public:
  // Proposes, for each SOP class in `objects` (sop class, stored transfer syntax), the stored
  // syntaxes plus explicit/implicit LE as fallbacks. kUnavailable when the peer cannot be
  // reached or rejects the association.
  static Result<std::unique_ptr<StoreAssociation>> Open(
      const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
      const std::vector<std::pair<std::string, std::string>>& objects);
  // As Open, but an association on which the peer accepted none of the proposed contexts is
  // returned as well (Open fails with kUnavailable), so that the caller can tell a peer that
  // does not take these SOP classes (CheckCanSend: kFailedPrecondition) from an outage.
  static Result<std::unique_ptr<StoreAssociation>> OpenEvenWithoutContexts(
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
  static Result<std::unique_ptr<StoreAssociation>> Connect(
      const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
      const std::vector<std::pair<std::string, std::string>>& objects, bool require_context);
  T_ASC_Network* net_;
  T_ASC_Association* assoc_;
  bool broken_ = false;
};

}  // namespace strata::dimse
