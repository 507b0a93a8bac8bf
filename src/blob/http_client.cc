#include "blob/http_client.h"

namespace strata::blob {

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [header_name, value] : headers) {
    if (header_name == name) return value;
  }
  return std::nullopt;
}

}  // namespace strata::blob
