// Transcoding stored objects for sending: "send object X in one of these transfer syntaxes".
//
// The adapter over DCMTK's codecs (JPEG, JPEG-LS, RLE decoders) and OpenJPEG (JPEG 2000
// decoding, which DCMTK's free edition lacks). No DCMTK type crosses this header.
// Thread-safety: free functions, safe to call concurrently on different files once
// RegisterTranscodeCodecs() has returned.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace strata::dicom {

// Registers the DCMTK decoders once per process. Thread-safe; cheap after the first call.
void RegisterTranscodeCodecs();

// True for the uncompressed ("native") transfer syntaxes: implicit LE, explicit LE,
// explicit BE.
bool IsNativeTransferSyntax(const std::string& ts);

// True if objects in `ts` can be converted to a native transfer syntax.
bool CanDecode(const std::string& ts);

// The transfer syntax to send an object stored in `stored` in, given the ones the peer
// accepted: `stored` itself if accepted; else explicit LE, implicit LE or explicit BE (in
// that order) if accepted and `stored` can be decoded. kFailedPrecondition when none works.
Result<std::string> ChooseTransferSyntax(const std::string& stored,
                                         const std::vector<std::string>& accepted);

// Writes the Part 10 file at `source_path` to `dest_path`, re-encoded in the native transfer
// syntax `target_ts` (pixel data decompressed; for JPEG 2000, PhotometricInterpretation
// YBR_RCT/YBR_ICT becomes RGB). Failure codes:
//  kInvalidArgument: `target_ts` is not native, or the source is not readable DICOM;
//  kUnimplemented: the source's transfer syntax cannot be decoded;
//  kDataLoss: the compressed pixel data is corrupt;
//  kUnavailable: `dest_path` cannot be written.
Status TranscodeFile(const std::string& source_path, const std::string& target_ts,
                     const std::string& dest_path);

}  // namespace strata::dicom
