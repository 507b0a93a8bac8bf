// The one mapping from Strata's StatusCode to DIMSE response statuses.
//
// C-STORE (PS3.4 B.2.3):
//   kOk                 0x0000 Success
//   kInvalidArgument    0xC000 Error: cannot understand. Ingest reports kInvalidArgument for
//                       data that is not parseable DICOM or lacks/garbles the UIDs it needs;
//                       the code cannot tell those apart reliably, so both are "cannot
//                       understand"; the ErrorComment says which.
//   kFailedPrecondition 0xA900 Error: data set does not match SOP class (Affected SOP
//                       Class/Instance UID disagree with the data set, or the instance
//                       contradicts the stored study/series hierarchy, or would overwrite
//                       an instance of a study under retention or legal hold, or belongs
//                       to a soft-deleted study).
//   kAlreadyExists      0x0111 Duplicate SOP instance (a different object under this SOP
//                       Instance UID, and the archive is configured to reject those).
//   kResourceExhausted, kUnavailable, kAborted, kDeadlineExceeded
//                       0xA700 Refused: out of resources (transient: the sender may retry).
//   kPermissionDenied, kUnauthenticated
//                       0x0124 Refused: not authorized.
//   anything else       0xC001 Error: processing failure (Cxxx class).
// C-FIND (PS3.4 C.4.1.1.4):
//   kInvalidArgument, kFailedPrecondition
//                       0xA900 Identifier does not match SOP class (bad level, missing unique
//                       keys, malformed matching values).
//   kResourceExhausted, kUnavailable, kAborted, kDeadlineExceeded  0xA700
//   kCancelled          0xFE00
//   kPermissionDenied, kUnauthenticated  0x0124
//   anything else       0xC001 Unable to process.
// C-MOVE / C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4): as C-FIND, except that transient failures are
//   0xA701 (out of resources: unable to calculate number of matches) and kNotFound (unknown
//   move destination) is 0xA801.
#include "dimse/dimse_status.h"

#include <algorithm>
#include <cstdio>

namespace strata::dimse {
namespace {

bool IsTransient(StatusCode code) {
  return code == StatusCode::kResourceExhausted || code == StatusCode::kUnavailable ||
         code == StatusCode::kAborted || code == StatusCode::kDeadlineExceeded;
}

bool IsUnauthorized(StatusCode code) {
  return code == StatusCode::kPermissionDenied || code == StatusCode::kUnauthenticated;
}

uint16_t StoreCode(StatusCode code) {
  if (IsTransient(code)) return kOutOfResources;
  if (IsUnauthorized(code)) return kNotAuthorized;
  switch (code) {
    case StatusCode::kOk:
      return kSuccess;
    case StatusCode::kInvalidArgument:
      return kCannotUnderstand;
    case StatusCode::kFailedPrecondition:
      return kDataSetDoesNotMatchSopClass;
    case StatusCode::kAlreadyExists:
      return kDuplicateSopInstance;
    default:
      return kProcessingFailure;
  }
}

uint16_t QueryCode(DimseService service, StatusCode code) {
  if (IsTransient(code)) {
    return service == DimseService::kFind ? kOutOfResources : kOutOfResourcesMatches;
  }
  if (IsUnauthorized(code)) return kNotAuthorized;
  switch (code) {
    case StatusCode::kOk:
      return kSuccess;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
      return kDataSetDoesNotMatchSopClass;
    case StatusCode::kCancelled:
      return kCancelled;
    case StatusCode::kNotFound:
      return service == DimseService::kRetrieve ? kMoveDestinationUnknown : kProcessingFailure;
    default:
      return kProcessingFailure;
  }
}

}  // namespace

std::string StatusHex(uint16_t code) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", code);
  return buf;
}

std::string ToErrorComment(const std::string& text) {
  constexpr size_t kMaxLo = 64;
  std::string out;
  out.reserve(std::min(text.size(), kMaxLo));
  for (char c : text) {
    if (out.size() == kMaxLo) break;
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || u == 0x7F || c == '\\') ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

DimseStatus ToDimseStatus(DimseService service, const Status& status) {
  DimseStatus result;
  result.code = service == DimseService::kStore ? StoreCode(status.code())
                                                : QueryCode(service, status.code());
  if (!status.ok()) result.error_comment = ToErrorComment(status.message());
  return result;
}

}  // namespace strata::dimse
