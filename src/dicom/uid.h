// DICOM UID syntax (PS3.5 9.1), header-only so that modules without DCMTK can check UIDs.
#pragma once

#include <string_view>

namespace strata::dicom {

// True if `uid` is a syntactically valid DICOM UID: digits and dots, at most 64 characters,
// no empty component. Components with a leading zero, which PS3.5 forbids but real archives
// contain, are tolerated. A valid UID is safe to use in an object key or a file name.
inline bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  if (uid.front() == '.' || uid.back() == '.') return false;
  char previous = '.';
  for (char c : uid) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    }
    previous = c;
  }
  return true;
}

}  // namespace strata::dicom
