// StoreFiles: a storage SCU (PS3.4 B.2) that sends Part 10 files to a configured DICOM peer,
// e.g. AI result SRs to the hospital PACS. The adapter over DCMTK's dcmnet; no DCMTK type
// crosses this header.
//
// Thread-safety: free function; concurrent calls use separate associations.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace strata::dimse {

struct StoreScuOptions {
  std::string calling_ae = "STRATA";
  int max_pdu = 131072;
  // ACSE (association request/release) and DIMSE (each C-STORE response) timeout. The TCP
  // connect itself follows DCMTK's process-wide dcmConnectionTimeout (the system's default
  // when unset); a refused connection fails at once.
  int timeout_seconds = 30;
};

struct StoreScuResult {
  int sent = 0;      // files the peer acknowledged, warnings included
  int warnings = 0;  // of those, answered with a warning status (0001, Bxxx)
};

// Opens one association to `peer` as `options.calling_ae`, proposing for each SOP class among
// the files a context with explicit and implicit VR little endian and one per other transfer
// syntax the files are in; checks that every file can be sent on what the peer accepted
// (transcoding to a native syntax if needed) before sending any; sends each file with C-STORE
// in order; releases. On a failure, files before the failing one were delivered and the rest
// were not sent; sending the same files again is safe (same SOP Instance UIDs).
// An empty `paths` sends nothing and opens no association. Fails with:
//  kInvalidArgument: a file that is not Part 10 DICOM (no file meta information, unreadable,
//                    or missing its UIDs), or a peer without host or port;
//  kNotFound: a path with no file;
//  kUnavailable: cannot connect, association rejected (the message gives the reject reason,
//                e.g. "Calling AE Title Not Recognized"), network failure or timeout: the
//                caller should retry later;
//  kFailedPrecondition: the peer accepted no presentation context usable for one of the files
//                       (nothing was sent; retrying will not help);
//  kAborted: the peer answered a C-STORE with a failure status (the message gives the SOP
//            Instance UID, the status in hex and the peer's Error Comment, if any).
//  A transcoding error (dicom/transcode.h) when a compressed file must be decoded for the
//  peer and cannot be.
Result<StoreScuResult> StoreFiles(const DicomPeer& peer, const std::vector<std::string>& paths,
                                  const StoreScuOptions& options);

}  // namespace strata::dimse
