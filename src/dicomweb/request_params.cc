#include "dicomweb/request_params.h"

#include <charconv>

namespace strata::dicomweb {

Result<int64_t> ParseNonNegative(const std::string& name, const std::string& text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
    return InvalidArgument("query parameter '" + name + "' must be a non-negative integer, not '" +
                           text + "'");
  }
  return v;
}

Result<size_t> ParseLimit(const std::string& name, const std::string& text, size_t max) {
  auto v = ParseNonNegative(name, text);
  if (!v.ok() || *v < 1 || static_cast<uint64_t>(*v) > max) {
    return InvalidArgument("query parameter '" + name + "' must be between 1 and " +
                           std::to_string(max));
  }
  return static_cast<size_t>(*v);
}

}  // namespace strata::dicomweb
