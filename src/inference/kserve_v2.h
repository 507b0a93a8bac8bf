// The KServe v2 / Open Inference Protocol REST payloads as plain structs, their JSON codec, and
// the mapping between Strata's tensors and scores and the protocol's tensors. No HTTP here:
// remote_engine.h is the client, and a server route can use the same codec.
//
// Protocol (https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol):
//   POST v2/models/<name>[/versions/<version>]/infer
//     request  {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?,
//               "data"}], "outputs"?: [{"name", "parameters"?}]}
//     response {"model_name", "model_version"?, "id"?, "parameters"?, "outputs": [{"name",
//               "shape", "datatype", "parameters"?, "data"}]}
//   GET v2/models/<name>[/versions/<version>]
//     metadata {"name", "versions"?, "platform", "inputs": [{"name", "datatype", "shape"}],
//               "outputs": [...]}   (shape -1: a dynamic axis)
//   any error  {"error": "<message>"}
//
// What the codec accepts:
//  - `data` flat (row-major) or nested exactly as `shape` (each level an array of shape[d]);
//  - numeric datatypes FP16, FP32, FP64, INT8..INT64, UINT8..UINT64, held as float: FP values
//    must be finite and within the datatype's range (FP64 also within FP32's); integer values
//    must be whole, within the datatype's range and exactly representable as FP32 (|v| <= 2^24);
//  - BYTES and BOOL tensors, and binary (non-JSON) tensor data, are rejected;
//  - shape dims >= 0 (metadata: >= -1), at most kV2MaxRank of them, at most kV2MaxElements
//    elements, product equal to the number of values; names non-empty; input names unique;
//  - unknown fields are ignored; "parameters", where the protocol allows it, must be an object
//    and is otherwise ignored; "platform" in metadata is optional (informational only).
// Every parse error is kInvalidArgument and names the JSON path ("infer request:
// inputs[0].shape[1]: must be >= 0").
//
// The *ToJson functions write what the matching parser accepts: V2Tensor data are written as
// integers for integer datatypes and in shortest round-trip form for FP datatypes, so
// Parse(ToJson(x)) == x for every x a parser returned. Strings that are not valid UTF-8 are
// written with U+FFFD replacements rather than failing.
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "inference/inference_engine.h"
#include "inference/model_card.h"
#include "inference/tensor.h"

namespace strata::inference {

// Bounds on what a peer may ask the parser to hold.
inline constexpr size_t kV2MaxRank = 32;
inline constexpr uint64_t kV2MaxElements = uint64_t{64} << 20;  // 64 Mi values per tensor

// Strata's names in the protocol: the one input of an image model and its one output.
inline constexpr std::string_view kV2InputName = "input";
inline constexpr std::string_view kV2OutputName = "probabilities";

// A tensor with its values in row-major order. `datatype` is the protocol's name ("FP32",
// "INT64", ...); the values are held as float whatever it is.
struct V2Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string datatype;
  std::vector<float> data;

  friend bool operator==(const V2Tensor&, const V2Tensor&) = default;
};

struct V2InferRequest {
  std::string id;  // empty: none
  std::vector<V2Tensor> inputs;
  std::vector<std::string> requested_outputs;  // "outputs"[].name; empty: all outputs

  friend bool operator==(const V2InferRequest&, const V2InferRequest&) = default;
};

struct V2InferResponse {
  std::string model_name;
  std::string model_version;  // empty: none
  std::string id;             // empty: none
  std::vector<V2Tensor> outputs;

  friend bool operator==(const V2InferResponse&, const V2InferResponse&) = default;
};

// A tensor's description in model metadata; -1 in `shape` is a dynamic axis.
struct V2TensorMeta {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;

  friend bool operator==(const V2TensorMeta&, const V2TensorMeta&) = default;
};

struct V2ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;  // e.g. "onnxruntime_onnx"; empty when the server gave none
  std::vector<V2TensorMeta> inputs;
  std::vector<V2TensorMeta> outputs;

  friend bool operator==(const V2ModelMetadata&, const V2ModelMetadata&) = default;
};

// Codec. Parse errors are kInvalidArgument naming the JSON path (see the file comment).
Result<V2InferRequest> ParseInferRequest(std::string_view json);
std::string InferRequestToJson(const V2InferRequest& request);

Result<V2InferResponse> ParseInferResponse(std::string_view json);
std::string InferResponseToJson(const V2InferResponse& response);

Result<V2ModelMetadata> ParseModelMetadata(std::string_view json);
std::string ModelMetadataToJson(const V2ModelMetadata& metadata);

// {"error": message}, the protocol's error body for every endpoint.
std::string ErrorJson(std::string_view message);

// Client side: the batch as one FP32 input "input" of shape [n, channels, height, width],
// no id and no requested outputs. kInvalidArgument for an empty batch or a tensor whose shape
// differs from the card's input.
Result<V2InferRequest> RequestFromTensors(const ModelCard& card, std::span<const Tensor> batch);

// Client side: the scores of `batch` images from a response. The output used is the only one,
// or else the one named "probabilities"; its shape must be [batch, labels] (or [batch] for a
// one-label card). kInternal when the response does not fit (the server is at fault, as when a
// local runtime produces the wrong output).
Result<std::vector<Scores>> ScoresFromResponse(const ModelCard& card,
                                               const V2InferResponse& response, size_t batch);

// Server side: a request for `card`'s model as one Tensor per image. The request must have one
// input of shape [n, channels, height, width] (n >= 1, the rest as in the card) and may request
// only the "probabilities" output. kInvalidArgument otherwise, naming the JSON path.
Result<std::vector<Tensor>> TensorsFromRequest(const ModelCard& card,
                                               const V2InferRequest& request);

// Server side: one FP32 output "probabilities" of shape [n, labels], model_name and
// model_version from the card. REQUIRES: every Scores has one value per card label.
V2InferResponse ResponseFromScores(const ModelCard& card, const std::vector<Scores>& scores,
                                   std::string id);

}  // namespace strata::inference
