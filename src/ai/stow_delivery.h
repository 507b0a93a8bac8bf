// STOW-RS delivery: sends one stored DICOM file to a DICOMweb server (a PACS or another
// archive) as `POST <base>/studies`, multipart/related; type="application/dicom" (PS3.18
// §10.5), and reads its answer.
//
// Thread-safety: StowFile is reentrant; the HttpClient must be safe for concurrent use when
// shared (the curl client is).
#pragma once

#include <string>

#include "blob/http_client.h"
#include "core/status.h"

namespace strata::ai {

// A DICOMweb destination: its base URL (".../dicom-web", without "/studies") and, where it
// needs one, a bearer token sent as Authorization.
struct StowDestination {
  std::string base_url;
  std::string bearer_token;
};

// Stores the Part 10 file at `path` on `destination`. OK when the server answers 200 without a
// FailedSOPSequence (0008,1198). kUnavailable for a network failure, 408, 429 and 5xx (worth
// retrying); kFailedPrecondition for any other answer (202 or 409: the server refused the
// instance; 4xx), with the server's status, and its failure reason where it gave one.
Status StowFile(blob::HttpClient& http, const StowDestination& destination,
                const std::string& path);

}  // namespace strata::ai
