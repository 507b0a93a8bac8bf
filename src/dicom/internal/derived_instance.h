// What the writers of derived instances (findings_sr.cc, heatmap_sc.cc) share: loading the
// source instance whose Patient and Study they copy, with its character set; date, time and
// text helpers; and saving a data set so that a crash never leaves a partial file.
//
// Internal to the dicom module: DCMTK types appear here, so no header outside src/dicom may
// include this one.
// Thread-safety: free functions; safe to call concurrently on different objects.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <cstdint>
#include <string>

#include "core/status.h"

namespace strata::dicom::internal {

inline constexpr const char* kUtf8 = "ISO_IR 192";

bool IsAscii(const std::string& s);

// `value` without leading spaces and trailing spaces or NULs (DICOM padding).
std::string Trimmed(const OFString& value);

// kInvalidArgument naming `what` unless `uid` is a valid UID.
Status CheckUid(const std::string& uid, const std::string& what);

struct DateTime {
  std::string date;  // YYYYMMDD
  std::string time;  // HHMMSS.FFF
};

// Unix time in milliseconds as a DICOM date and time in UTC.
DateTime UtcDateTime(int64_t unix_ms);

// `text` cut to at most `max_bytes` at a UTF-8 character boundary (for LO, 64 characters).
std::string TruncateUtf8(std::string text, size_t max_bytes);

Status DcmtkError(const std::string& what, const OFCondition& cond);

// Loads the Part 10 file at `path` into `file` (large values, such as pixel data, stay on disk
// until used) and checks that it has a valid Study Instance UID. When `to_utf8`, its attributes
// are converted to UTF-8 if they are in another character set. Returns the character set the
// derived instance is to be written in (empty: the default repertoire). Fails with kNotFound
// (no file) or kInvalidArgument (not readable DICOM, no Study Instance UID, a conversion that
// fails).
Result<std::string> LoadSource(const std::string& path, bool to_utf8, DcmFileFormat& file);

// Saves `file` as explicit VR little endian with new meta information, through a temporary
// file renamed into place.
Status SaveAtomically(DcmFileFormat& file, const std::string& output_path);

}  // namespace strata::dicom::internal
