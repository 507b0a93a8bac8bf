// Reading and checking stored DICOM Part 10 files (the adapter over DCMTK's dcmdata).
//
// Thread-safety: free functions; safe to call concurrently on different files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "dicom/instance_metadata.h"
#include "dicom/uid.h"

namespace strata::dicom {

// Parsed view of a Part 10 file's indexable attributes.
struct ParsedInstance {
  InstanceMetadata metadata;
  // Byte offset where the data set starts (after preamble and file meta information); the
  // content hash covers the data set only, so a resend through another sender is identical.
  uint64_t dataset_offset = 0;
};

// Reads the file meta information and the indexable attributes of `path`, without loading
// large values (pixel data). Fails with:
//  kInvalidArgument: not DICOM, truncated or malformed, or missing Study/Series/SOP Instance
//                    UID or SOP Class UID (the message names what is wrong);
//  kNotFound: no such file.
Result<ParsedInstance> ReadInstance(const std::string& path);

// The first bytes of a Part 10 file that DatasetOffsetOfHead needs.
inline constexpr size_t kPart10HeadBytes = 144;

// ParsedInstance::dataset_offset from the file's first kPart10HeadBytes bytes (fewer when the
// file is shorter): 0 when there is no preamble or no file meta group length, and then the
// whole file counts as the data set.
uint64_t DatasetOffsetOfHead(std::string_view head);

// Registers DCMTK's decompression codecs once per process.
void RegisterCodecs();

// Turns DCMTK's own console logging off: Strata reports what DCMTK returns in its JSON-lines
// log instead, so every line of the server's log has one format.
void SilenceDcmtkLogging();

}  // namespace strata::dicom
