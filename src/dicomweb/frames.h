// WADO-RS frame retrieval (PS3.18 10.4.1.1.4), internal to the module: frames.cc answers
// /frames/{list}; bulkdata.cc uses it for encapsulated Pixel Data.
// Thread-safety: free functions over thread-safe services.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"
#include "dicomweb/handlers.h"

namespace strata::dicomweb {

// "1,3,5" -> {1, 3, 5}. kInvalidArgument for anything else (empty items, signs, zero, more
// than 10,000 numbers).
Result<std::vector<uint32_t>> ParseFrameList(const std::string& text);

// How frames go out: each part's media type and transfer syntax, and whether the stored
// bytes must be decompressed first.
struct FrameEncoding {
  bool decompress = false;
  std::string part_type;        // "application/octet-stream", "image/jls", ...
  std::string transfer_syntax;  // the part's transfer-syntax parameter
};

// Picks the encoding for frames stored in `stored_ts` from `accept` (PS3.18 8.7.3.5): the first
// acceptable media range wins. multipart/related; type="application/octet-stream" with
// transfer-syntax=* gets the stored bytes (compressed frames keep their own media type, as
// OHIF expects); without it, or with explicit/implicit VR little endian, native bytes. A
// compressed type (image/jls, ...) matching the stored syntax gets the stored bytes. No
// Accept, */* or multipart/related without type: native bytes. nullopt: nothing acceptable
// (406). kInvalidArgument for a malformed Accept.
Result<std::optional<FrameEncoding>> NegotiateFrames(const std::string& accept,
                                                     const std::string& stored_ts,
                                                     bool encapsulated);

// The response with `frames` (1-based; empty: every frame) of the instance at `location`,
// as multipart/related, streamed one frame at a time.
Response RetrieveFrames(Services& services, const Request& request,
                        const catalog::InstanceLocation& location, std::vector<uint32_t> frames);

}  // namespace strata::dicomweb
