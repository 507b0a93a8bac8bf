// Strata Status -> DIMSE response status (PS3.7 Annex C, PS3.4 B.2.3 / C.4), in one place.
//
// Every SCP handler turns a failed Status into the status code and ErrorComment it sends
// through these functions, so the conformance statement can be read off dimse_status.cc.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace strata::dimse {

// The DIMSE services whose failures map differently (each has its own status table).
enum class DimseService { kStore, kFind, kRetrieve };

// A response status plus the text for Error Comment (0000,0902); empty comment on success.
struct DimseStatus {
  uint16_t code = 0;
  std::string error_comment;
};

// Status codes Strata sends (PS3.4 Annex B.2.3 and C.4, PS3.7 Annex C).
inline constexpr uint16_t kSuccess = 0x0000;
inline constexpr uint16_t kPending = 0xFF00;
inline constexpr uint16_t kCancelled = 0xFE00;
inline constexpr uint16_t kOutOfResources = 0xA700;
inline constexpr uint16_t kOutOfResourcesMatches = 0xA701;
inline constexpr uint16_t kOutOfResourcesSubOperations = 0xA702;
inline constexpr uint16_t kMoveDestinationUnknown = 0xA801;
inline constexpr uint16_t kDataSetDoesNotMatchSopClass = 0xA900;
inline constexpr uint16_t kSubOperationsWithFailures = 0xB000;
inline constexpr uint16_t kCannotUnderstand = 0xC000;
inline constexpr uint16_t kProcessingFailure = 0xC001;
inline constexpr uint16_t kDuplicateSopInstance = 0x0111;
inline constexpr uint16_t kNotAuthorized = 0x0124;

// The response status for `status` returned by the work behind `service`. OK -> 0x0000.
DimseStatus ToDimseStatus(DimseService service, const Status& status);

// "0xA900" style text for log lines.
std::string StatusHex(uint16_t code);

// Makes `text` a valid Error Comment (LO: at most 64 characters, no backslash or control
// characters).
std::string ToErrorComment(const std::string& text);

}  // namespace strata::dimse
