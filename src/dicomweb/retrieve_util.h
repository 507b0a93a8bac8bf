// Helpers shared by the WADO-RS handlers (wado.cc, frames.cc, rendered.cc, bulkdata.cc).
// Thread-safety: free functions; LocateFromPath reads the catalog, which is thread-safe.
#pragma once

#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"
#include "dicomweb/handlers.h"

namespace strata::dicomweb {

// The current instances named by the request path ({study}, {series}, {instance}).
// kInvalidArgument for a malformed UID, kNotFound when nothing matches.
Result<std::vector<catalog::InstanceLocation>> LocateFromPath(Services& services,
                                                              const Request& request);

// Streamed answers cannot fail cleanly once their headers are sent, so before streaming:
// every object only in the archive's Archive tier gets its rehydration started, and the
// answer is then the longest wait (kUnavailable with a retry hint: 503 + Retry-After).
// Objects that are merely evicted from the local cache are fetched back while streaming.
Status StartRehydrations(blob::BlobStore& blobs,
                         const std::vector<catalog::InstanceLocation>& locations);

// Splits a header value at commas outside double quotes (the media ranges of Accept).
std::vector<std::string> SplitTopLevel(const std::string& text);

// A fresh random multipart boundary.
std::string NewBoundary();

// True when the first Accept range that names either application/zip or DICOM instances
// names application/zip (study_zip.cc). kInvalidArgument for a malformed Accept.
Result<bool> PrefersZip(const std::string& accept);

// The instances at `locations` as one streamed application/zip archive (study_zip.cc).
Response RetrieveZip(Services& services, std::vector<catalog::InstanceLocation> locations);

}  // namespace strata::dicomweb
