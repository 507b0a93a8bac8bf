// Fuzzes parsing of C-FIND / QIDO-RS matching values for every VR class.
#include <string>

#include "catalog/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string value(reinterpret_cast<const char*>(data), size);
  using strata::catalog::MatchVr;
  for (MatchVr vr : {MatchVr::kText, MatchVr::kPersonName, MatchVr::kUid, MatchVr::kDate,
                     MatchVr::kTime, MatchVr::kDateTime, MatchVr::kCodeString}) {
    strata::catalog::ParseMatchRule(value, vr).status().IgnoreError();
  }
  strata::catalog::ParseQueryLevel(value).status().IgnoreError();
  return 0;
}
