// The one place where an Azure Blob service answer (HTTP status + x-ms-error-code) becomes a
// strata::Status. Messages name the operation, the object key and the Azure error code, never
// a URL (it may carry a SAS) or a credential.
//
// Thread-safety: reentrant.
#pragma once

#include <string_view>

#include "core/status.h"

namespace strata::blob {

struct AzureCallContext {
  std::string_view operation;  // "put", "get", "stat", "delete", "list", "set tier", ...
  std::string_view key;        // object key or container name
  bool create_only = false;    // a failed If-None-Match: * means the object exists
};

// REQUIRES: http_status is not 2xx. `error_code` is the x-ms-error-code header (or the
// <Code> of the error body), possibly empty.
Status AzureErrorToStatus(int http_status, std::string_view error_code,
                          const AzureCallContext& context);

}  // namespace strata::blob
