// Fuzzes the configuration parser (TOML text plus an environment override).
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto split = text.find('\n');
  std::string env_value = split == std::string::npos ? text : text.substr(0, split);
  strata::ParseConfig(text, {}).status().IgnoreError();
  strata::ParseConfig("", {{"STRATA_DIMSE_PEERS", env_value}}).status().IgnoreError();
  strata::ParseConfig("", {{"STRATA_DIMSE_PORT", env_value}}).status().IgnoreError();
  return 0;
}
