#include "dicom/internal/derived_instance.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "dicom/uid.h"

namespace strata::dicom::internal {
namespace {

// Values longer than this are not loaded from the source until they are used (pixel data); a
// derived instance's header needs only the source's Patient and General Study attributes.
constexpr Uint32 kMaxSourceValueLength = 4096;

}  // namespace

bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

std::string Trimmed(const OFString& value) {
  size_t end = value.length();
  while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\0')) --end;
  size_t begin = 0;
  while (begin < end && value[begin] == ' ') ++begin;
  return std::string(value.c_str() + begin, end - begin);
}

Status CheckUid(const std::string& uid, const std::string& what) {
  if (!IsValidUid(uid)) return InvalidArgument(what + " is not a valid UID: '" + uid + "'");
  return OkStatus();
}

DateTime UtcDateTime(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[48];
  char time[48];
  std::snprintf(date, sizeof(date), "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  std::snprintf(time, sizeof(time), "%02d%02d%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return {date, time};
}

std::string TruncateUtf8(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

Status DcmtkError(const std::string& what, const OFCondition& cond) {
  return Internal(what + ": " + cond.text());
}

Result<std::string> LoadSource(const std::string& path, bool to_utf8, DcmFileFormat& file) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound("no such source file: " + path);
  OFCondition cond =
      file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxSourceValueLength, ERM_autoDetect);
  if (cond.bad()) {
    return InvalidArgument("source " + path + " is not a readable DICOM file: " + cond.text());
  }
  DcmDataset& ds = *file.getDataset();
  OFString value;
  std::string charset;
  if (ds.findAndGetOFStringArray(DCM_SpecificCharacterSet, value).good()) charset = Trimmed(value);
  if (ds.findAndGetOFString(DCM_StudyInstanceUID, value).bad() || !IsValidUid(Trimmed(value))) {
    return InvalidArgument("source " + path + " has no valid Study Instance UID");
  }
  if (!to_utf8 || charset == kUtf8) return charset;
  if (!charset.empty() && charset != "ISO_IR 6") {
    cond = ds.convertToUTF8();
    if (cond.bad()) {
      return InvalidArgument("cannot convert the source's attributes from " + charset +
                             " to UTF-8: " + cond.text());
    }
  }
  return std::string(kUtf8);
}

Status SaveAtomically(DcmFileFormat& file, const std::string& output_path) {
  const std::string temporary = output_path + ".tmp";
  OFCondition cond = file.saveFile(temporary.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength,
                                   EGL_recalcGL, EPD_withoutPadding, 0, 0, EWM_createNewMeta);
  if (cond.bad()) {
    (void)std::remove(temporary.c_str());
    return DcmtkError("saving " + output_path, cond);
  }
  if (std::rename(temporary.c_str(), output_path.c_str()) != 0) {
    (void)std::remove(temporary.c_str());
    return Internal("cannot move the file into place at " + output_path);
  }
  return OkStatus();
}

}  // namespace strata::dicom::internal
