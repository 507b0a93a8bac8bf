#include "blob/azure_errors.h"

#include <string>

namespace strata::blob {

Status AzureErrorToStatus(int http_status, std::string_view error_code,
                          const AzureCallContext& context) {
  std::string message = std::string(context.operation) + " '" + std::string(context.key) +
                        "': HTTP " + std::to_string(http_status);
  if (!error_code.empty()) message += " " + std::string(error_code);

  if (error_code == "BlobArchived") {
    return FailedPrecondition(message + ": object is in the Archive tier; rehydrate first");
  }
  if (error_code == "BlobBeingRehydrated") {
    return Unavailable(message + ": rehydration from the Archive tier is in progress");
  }
  if (error_code == "Md5Mismatch" || error_code == "InvalidMd5") {
    return DataLoss(message + ": content hash mismatch");
  }
  switch (http_status) {
    case 400:
    case 405:
    case 411:
    case 413:
    case 414:
    case 416:
      return InvalidArgument(message);
    case 401:
      return Unauthenticated(message);
    case 403:
      return PermissionDenied(message);
    case 404:
      return NotFound(message);
    case 409:
      if (error_code == "BlobAlreadyExists" || error_code == "ContainerAlreadyExists") {
        return AlreadyExists(message);
      }
      return FailedPrecondition(message);
    case 304:
    case 412:
      // With If-None-Match: * a failed precondition means the object exists.
      if (context.create_only) return AlreadyExists(message);
      return FailedPrecondition(message);
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return Unavailable(message);
    case 501:
      return Unimplemented(message);
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return InvalidArgument(message);
  return Internal(message);
}

}  // namespace strata::blob
