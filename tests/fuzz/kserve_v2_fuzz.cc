// Fuzzes the KServe v2 codec (inference/kserve_v2.h): the same bytes as an infer request, an
// infer response and model metadata. Whatever parses must survive a round trip through its
// writer unchanged.
#include <cstdlib>
#include <string_view>

#include "inference/kserve_v2.h"

namespace {

template <typename T, typename Parse, typename Write>
void RoundTrip(std::string_view text, Parse parse, Write write) {
  strata::Result<T> parsed = parse(text);
  if (!parsed.ok()) {
    if (parsed.status().code() != strata::StatusCode::kInvalidArgument) std::abort();
    return;
  }
  strata::Result<T> again = parse(write(*parsed));
  if (!again.ok() || !(*again == *parsed)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::inference;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  RoundTrip<V2InferRequest>(text, ParseInferRequest, InferRequestToJson);
  RoundTrip<V2InferResponse>(text, ParseInferResponse, InferResponseToJson);
  RoundTrip<V2ModelMetadata>(text, ParseModelMetadata, ModelMetadataToJson);
  return 0;
}
