// Strata Status -> HTTP response status, in one place (like dimse/dimse_status.h for DIMSE).
//
// Every DICOMweb handler that fails returns a Status; the server turns it into an HTTP status
// and a JSON error body through these functions. Thread-safety: pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::dicomweb {

// The HTTP status code sent for a failed `code` (kOk -> 200).
int HttpStatusFor(StatusCode code);

// The standard reason phrase of an HTTP status code ("Not Found"); "Unknown" if unlisted.
const char* HttpReasonPhrase(int http_status);

// The error body sent with a failure: {"status": 404, "error": "Not Found", "reason": "..."}.
// The reason is `status.message()`, written for a human reader.
std::string ErrorBody(int http_status, const std::string& reason);

// Headers sent with the error response for `status`, beyond Content-Type: "Retry-After" (in
// seconds, RFC 9110 §10.2.3) when the status carries a retry hint, e.g. a 503 for an object
// still being rehydrated from the Archive tier; empty otherwise.
std::vector<std::pair<std::string, std::string>> ErrorHeaders(const Status& status);

}  // namespace strata::dicomweb
