// Fuzzes the model card parser (JSON with strict validation); a parsed card must also survive
// a round trip through ModelCardToJson.
#include <cstdlib>
#include <string_view>

#include "inference/model_card.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto card = strata::inference::ParseModelCard(text);
  if (!card.ok()) return 0;
  auto again = strata::inference::ParseModelCard(strata::inference::ModelCardToJson(*card));
  if (!again.ok()) std::abort();
  return 0;
}
