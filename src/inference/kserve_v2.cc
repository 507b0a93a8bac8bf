#include "inference/kserve_v2.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "inference/batch.h"

namespace strata::inference {
namespace {

using Json = nlohmann::json;
// Writers keep the protocol's field order, which makes payloads easier to read in logs.
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kRequestDoc = "infer request";
constexpr std::string_view kResponseDoc = "infer response";
constexpr std::string_view kMetadataDoc = "model metadata";

// Integers above this magnitude are not all exactly representable as float.
constexpr double kMaxExactFloatInteger = 16777216.0;  // 2^24
// Integer values are written as JSON integers up to this magnitude (exact in a double).
constexpr double kMaxExactDoubleInteger = 9007199254740992.0;  // 2^53

enum class NumberKind { kFloat, kInteger, kUnsupported };

struct Datatype {
  std::string_view name;
  NumberKind kind;
  // kInteger: the type's range, inclusive. kFloat: values must lie strictly between them, the
  // bounds being where rounding to the type gives infinity (its max plus half an ulp).
  double min;
  double max;
};

constexpr double kFloatLimit =
    static_cast<double>(std::numeric_limits<float>::max()) + 0x1p103;  // FLT_MAX + ulp/2
constexpr double kHalfLimit = 65520.0;                                 // 65504 + ulp/2

constexpr std::array<Datatype, 13> kDatatypes = {{
    {"FP16", NumberKind::kFloat, -kHalfLimit, kHalfLimit},
    {"FP32", NumberKind::kFloat, -kFloatLimit, kFloatLimit},
    // Held as float, so FP64 values must fit FP32 too.
    {"FP64", NumberKind::kFloat, -kFloatLimit, kFloatLimit},
    {"INT8", NumberKind::kInteger, -128.0, 127.0},
    {"INT16", NumberKind::kInteger, -32768.0, 32767.0},
    {"INT32", NumberKind::kInteger, -2147483648.0, 2147483647.0},
    {"INT64", NumberKind::kInteger, -9223372036854775808.0, 9223372036854775807.0},
    {"UINT8", NumberKind::kInteger, 0.0, 255.0},
    {"UINT16", NumberKind::kInteger, 0.0, 65535.0},
    {"UINT32", NumberKind::kInteger, 0.0, 4294967295.0},
    {"UINT64", NumberKind::kInteger, 0.0, 18446744073709551615.0},
    {"BOOL", NumberKind::kUnsupported, 0.0, 0.0},
    {"BYTES", NumberKind::kUnsupported, 0.0, 0.0},
}};

const Datatype* FindDatatype(std::string_view name) {
  for (const Datatype& type : kDatatypes) {
    if (type.name == name) return &type;
  }
  return nullptr;
}

bool IsIntegerDatatype(std::string_view name) {
  const Datatype* type = FindDatatype(name);
  return type != nullptr && type->kind == NumberKind::kInteger;
}

Status PathError(std::string_view doc, const std::string& path, const std::string& what) {
  return InvalidArgument(std::string(doc) + ": " + (path.empty() ? "" : path + ": ") + what);
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

const Json* Find(const Json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<Json> ParseDocument(std::string_view text, std::string_view doc) {
  Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return PathError(doc, "", "not valid JSON");
  if (!root.is_object()) return PathError(doc, "", "must be a JSON object");
  return root;
}

Result<std::string> StringField(const Json& object, const std::string& path, std::string_view key,
                                std::string_view doc, bool required, bool non_empty) {
  const std::string field = Join(path, key);
  const Json* value = Find(object, key);
  if (value == nullptr) {
    if (required) return PathError(doc, field, "missing");
    return std::string();
  }
  if (!value->is_string()) return PathError(doc, field, "must be a string");
  std::string text = value->get<std::string>();
  if (non_empty && text.empty()) return PathError(doc, field, "must not be empty");
  return text;
}

// "parameters" is free-form in the protocol, but must be an object where it appears.
Status CheckParameters(const Json& object, const std::string& path, std::string_view doc) {
  const Json* parameters = Find(object, "parameters");
  if (parameters != nullptr && !parameters->is_object()) {
    return PathError(doc, Join(path, "parameters"), "must be an object");
  }
  return OkStatus();
}

Result<const Json*> ArrayField(const Json& object, const std::string& path, std::string_view key,
                               std::string_view doc, bool required) {
  const Json* value = Find(object, key);
  if (value == nullptr) {
    if (required) return PathError(doc, Join(path, key), "missing");
    return static_cast<const Json*>(nullptr);
  }
  if (!value->is_array()) return PathError(doc, Join(path, key), "must be an array");
  return value;
}

Result<std::vector<int64_t>> ParseShape(const Json& value, const std::string& path,
                                        std::string_view doc, int64_t min_dim) {
  if (!value.is_array()) return PathError(doc, path, "must be an array of integers");
  if (value.size() > kV2MaxRank) {
    return PathError(doc, path, "more than " + std::to_string(kV2MaxRank) + " dimensions");
  }
  std::vector<int64_t> shape;
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& dim = value[i];
    if (!dim.is_number_integer()) return PathError(doc, Index(path, i), "must be an integer");
    // Non-negative JSON integers parse as unsigned, negative ones as signed.
    if (dim.is_number_unsigned()) {
      const uint64_t u = dim.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return PathError(doc, Index(path, i), "too large");
      }
      shape.push_back(static_cast<int64_t>(u));
    } else {
      shape.push_back(dim.get<int64_t>());
    }
    if (shape.back() < min_dim) {
      return PathError(doc, Index(path, i), "must be >= " + std::to_string(min_dim));
    }
  }
  return shape;
}

// The number of values a shape holds, bounded by kV2MaxElements. REQUIRES: every dim >= 0.
Result<uint64_t> ElementCount(const std::vector<int64_t>& shape, const std::string& path,
                              std::string_view doc) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    // Each factor is at most 2^26 and so is the running product: no overflow.
    const uint64_t d = static_cast<uint64_t>(dim);
    if (d > kV2MaxElements || count * d > kV2MaxElements) {
      return PathError(
          doc, path,
          ShapeText(shape) + " has more than " + std::to_string(kV2MaxElements) + " elements");
    }
    count *= d;
  }
  return count;
}

Result<float> ParseValue(const Json& value, const Datatype& type, const std::string& path,
                         std::string_view doc) {
  if (!value.is_number()) return PathError(doc, path, "must be a number");
  const double d = value.get<double>();
  if (!std::isfinite(d)) return PathError(doc, path, "must be finite");
  if (type.kind == NumberKind::kInteger && std::trunc(d) != d) {
    return PathError(doc, path, "must be an integer for " + std::string(type.name));
  }
  const bool in_range = type.kind == NumberKind::kInteger ? d >= type.min && d <= type.max
                                                          : d > type.min && d < type.max;
  if (!in_range) {
    return PathError(
        doc, path,
        std::string("outside the range of ") +
            (type.name == "FP64" ? "FP32 (values are held as FP32)" : std::string(type.name)));
  }
  if (type.kind == NumberKind::kInteger && std::fabs(d) > kMaxExactFloatInteger) {
    return PathError(doc, path, "not exactly representable as FP32 (|value| > 2^24)");
  }
  return static_cast<float>(d);
}

// `data` nested exactly as `shape` from dimension `dim` on.
Status ParseNested(const Json& node, const std::vector<int64_t>& shape, size_t dim,
                   const Datatype& type, const std::string& path, std::string_view doc,
                   std::vector<float>* out) {
  if (!node.is_array()) {
    return PathError(doc, path, "must be an array (nested data follows the shape)");
  }
  if (node.size() != static_cast<uint64_t>(shape[dim])) {
    return PathError(doc, path,
                     "has " + std::to_string(node.size()) + " elements; shape[" +
                         std::to_string(dim) + "] is " + std::to_string(shape[dim]));
  }
  const bool leaves = dim + 1 == shape.size();
  for (size_t i = 0; i < node.size(); ++i) {
    if (leaves) {
      STRATA_ASSIGN_OR_RETURN(float v, ParseValue(node[i], type, Index(path, i), doc));
      out->push_back(v);
    } else {
      STRATA_RETURN_IF_ERROR(ParseNested(node[i], shape, dim + 1, type, Index(path, i), doc, out));
    }
  }
  return OkStatus();
}

Status ParseData(const Json& data, const std::vector<int64_t>& shape, uint64_t count,
                 const Datatype& type, const std::string& path, std::string_view doc,
                 std::vector<float>* out) {
  if (!data.is_array()) return PathError(doc, path, "must be an array");
  const bool flat = data.empty() || !data.front().is_array();
  if (!flat) {
    if (shape.empty()) return PathError(doc, path, "nested data for a scalar shape []");
    // No reserve: the nesting is checked level by level, so memory follows the input's size.
    return ParseNested(data, shape, 0, type, path, doc, out);
  }
  if (data.size() != count) {
    return PathError(doc, path,
                     "has " + std::to_string(data.size()) + " values; shape " + ShapeText(shape) +
                         " needs " + std::to_string(count));
  }
  out->reserve(count);
  for (size_t i = 0; i < data.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(float v, ParseValue(data[i], type, Index(path, i), doc));
    out->push_back(v);
  }
  return OkStatus();
}

Result<const Datatype*> ParseDatatype(const Json& object, const std::string& path,
                                      std::string_view doc, bool numeric_only) {
  const std::string field = Join(path, "datatype");
  STRATA_ASSIGN_OR_RETURN(std::string name,
                          StringField(object, path, "datatype", doc, /*required=*/true, false));
  const Datatype* type = FindDatatype(name);
  if (type == nullptr) return PathError(doc, field, "unknown datatype \"" + name + "\"");
  if (numeric_only && type->kind == NumberKind::kUnsupported) {
    return PathError(doc, field,
                     name +
                         " tensors are not supported (numeric datatypes only: FP16, FP32, "
                         "FP64, INT8-INT64, UINT8-UINT64)");
  }
  return type;
}

Result<V2Tensor> ParseTensor(const Json& value, const std::string& path, std::string_view doc) {
  if (!value.is_object()) return PathError(doc, path, "must be an object");
  V2Tensor tensor;
  STRATA_ASSIGN_OR_RETURN(tensor.name,
                          StringField(value, path, "name", doc, /*required=*/true, true));
  const Json* shape = Find(value, "shape");
  if (shape == nullptr) return PathError(doc, Join(path, "shape"), "missing");
  STRATA_ASSIGN_OR_RETURN(tensor.shape, ParseShape(*shape, Join(path, "shape"), doc, 0));
  STRATA_ASSIGN_OR_RETURN(uint64_t count, ElementCount(tensor.shape, Join(path, "shape"), doc));
  STRATA_ASSIGN_OR_RETURN(const Datatype* type,
                          ParseDatatype(value, path, doc, /*numeric_only=*/true));
  tensor.datatype = std::string(type->name);
  STRATA_RETURN_IF_ERROR(CheckParameters(value, path, doc));
  const Json* data = Find(value, "data");
  if (data == nullptr) {
    return PathError(doc, Join(path, "data"), "missing (binary tensor data is not supported)");
  }
  STRATA_RETURN_IF_ERROR(
      ParseData(*data, tensor.shape, count, *type, Join(path, "data"), doc, &tensor.data));
  return tensor;
}

Result<std::vector<V2Tensor>> ParseTensorList(const Json& root, std::string_view key,
                                              std::string_view doc, bool non_empty) {
  const std::string path(key);
  STRATA_ASSIGN_OR_RETURN(const Json* list, ArrayField(root, "", key, doc, /*required=*/true));
  if (non_empty && list->empty()) return PathError(doc, path, "must not be empty");
  std::vector<V2Tensor> tensors;
  std::set<std::string> names;
  for (size_t i = 0; i < list->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(V2Tensor tensor, ParseTensor((*list)[i], Index(path, i), doc));
    if (!names.insert(tensor.name).second) {
      return PathError(doc, Join(Index(path, i), "name"), "duplicate \"" + tensor.name + "\"");
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

Result<V2TensorMeta> ParseTensorMeta(const Json& value, const std::string& path) {
  if (!value.is_object()) return PathError(kMetadataDoc, path, "must be an object");
  V2TensorMeta meta;
  STRATA_ASSIGN_OR_RETURN(meta.name,
                          StringField(value, path, "name", kMetadataDoc, /*required=*/true, true));
  STRATA_ASSIGN_OR_RETURN(const Datatype* type,
                          ParseDatatype(value, path, kMetadataDoc, /*numeric_only=*/false));
  meta.datatype = std::string(type->name);
  const Json* shape = Find(value, "shape");
  if (shape == nullptr) return PathError(kMetadataDoc, Join(path, "shape"), "missing");
  STRATA_ASSIGN_OR_RETURN(meta.shape, ParseShape(*shape, Join(path, "shape"), kMetadataDoc, -1));
  return meta;
}

Result<std::vector<V2TensorMeta>> ParseTensorMetaList(const Json& root, std::string_view key) {
  const std::string path(key);
  STRATA_ASSIGN_OR_RETURN(const Json* list,
                          ArrayField(root, "", key, kMetadataDoc, /*required=*/true));
  std::vector<V2TensorMeta> metas;
  for (size_t i = 0; i < list->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(V2TensorMeta meta, ParseTensorMeta((*list)[i], Index(path, i)));
    metas.push_back(std::move(meta));
  }
  return metas;
}

// The double nearest to the float's shortest decimal form, so that the JSON writer prints
// "0.1" for 0.1f rather than the 17 digits of its exact value. The writer prints doubles so
// that they parse back exactly, and narrowing that double must give the float again; if double
// rounding ever broke that, the float's exact value is used instead.
double ShortestDouble(float value) {
  char buffer[64];
  const auto written = std::to_chars(buffer, buffer + sizeof(buffer), value);
  double d = value;
  if (written.ec != std::errc() || std::from_chars(buffer, written.ptr, d).ec != std::errc() ||
      static_cast<float>(d) != value) {
    return value;
  }
  return d;
}

OrderedJson DataJson(const V2Tensor& tensor) {
  const bool integers = IsIntegerDatatype(tensor.datatype);
  OrderedJson data = OrderedJson::array();
  data.get_ref<OrderedJson::array_t&>().reserve(tensor.data.size());
  for (float v : tensor.data) {
    if (!std::isfinite(v)) {
      data.push_back(nullptr);  // JSON has no NaN or infinity; parsers reject this
    } else if (integers && std::fabs(v) <= kMaxExactDoubleInteger) {
      data.push_back(static_cast<int64_t>(std::nearbyint(v)));
    } else {
      data.push_back(ShortestDouble(v));
    }
  }
  return data;
}

OrderedJson TensorJson(const V2Tensor& tensor) {
  OrderedJson json = OrderedJson::object();
  json["name"] = tensor.name;
  json["shape"] = tensor.shape;
  json["datatype"] = tensor.datatype;
  json["data"] = DataJson(tensor);
  return json;
}

OrderedJson TensorListJson(const std::vector<V2Tensor>& tensors) {
  OrderedJson list = OrderedJson::array();
  for (const V2Tensor& tensor : tensors) list.push_back(TensorJson(tensor));
  return list;
}

OrderedJson TensorMetaListJson(const std::vector<V2TensorMeta>& metas) {
  OrderedJson list = OrderedJson::array();
  for (const V2TensorMeta& meta : metas) {
    OrderedJson json = OrderedJson::object();
    json["name"] = meta.name;
    json["datatype"] = meta.datatype;
    json["shape"] = meta.shape;
    list.push_back(std::move(json));
  }
  return list;
}

std::string Dump(const OrderedJson& json) {
  return json.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// The parsers check types before every get<>(), so nlohmann throws only on allocation
// failure; the catch keeps exceptions inside this module regardless.
template <typename T, typename Fn>
Result<T> Guarded(std::string_view doc, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(doc) + ": " + e.what());
  }
}

}  // namespace

Result<V2InferRequest> ParseInferRequest(std::string_view json) {
  return Guarded<V2InferRequest>(kRequestDoc, [&]() -> Result<V2InferRequest> {
    STRATA_ASSIGN_OR_RETURN(const Json root, ParseDocument(json, kRequestDoc));
    V2InferRequest request;
    STRATA_ASSIGN_OR_RETURN(request.id, StringField(root, "", "id", kRequestDoc, false, false));
    STRATA_RETURN_IF_ERROR(CheckParameters(root, "", kRequestDoc));
    STRATA_ASSIGN_OR_RETURN(request.inputs,
                            ParseTensorList(root, "inputs", kRequestDoc, /*non_empty=*/true));
    STRATA_ASSIGN_OR_RETURN(const Json* outputs,
                            ArrayField(root, "", "outputs", kRequestDoc, /*required=*/false));
    if (outputs != nullptr) {
      for (size_t i = 0; i < outputs->size(); ++i) {
        const std::string path = Index("outputs", i);
        const Json& output = (*outputs)[i];
        if (!output.is_object()) return PathError(kRequestDoc, path, "must be an object");
        STRATA_ASSIGN_OR_RETURN(std::string name,
                                StringField(output, path, "name", kRequestDoc, true, true));
        STRATA_RETURN_IF_ERROR(CheckParameters(output, path, kRequestDoc));
        request.requested_outputs.push_back(std::move(name));
      }
    }
    return request;
  });
}

std::string InferRequestToJson(const V2InferRequest& request) {
  OrderedJson json = OrderedJson::object();
  if (!request.id.empty()) json["id"] = request.id;
  json["inputs"] = TensorListJson(request.inputs);
  if (!request.requested_outputs.empty()) {
    OrderedJson outputs = OrderedJson::array();
    for (const std::string& name : request.requested_outputs) {
      outputs.push_back(OrderedJson{{"name", name}});
    }
    json["outputs"] = std::move(outputs);
  }
  return Dump(json);
}

Result<V2InferResponse> ParseInferResponse(std::string_view json) {
  return Guarded<V2InferResponse>(kResponseDoc, [&]() -> Result<V2InferResponse> {
    STRATA_ASSIGN_OR_RETURN(const Json root, ParseDocument(json, kResponseDoc));
    V2InferResponse response;
    STRATA_ASSIGN_OR_RETURN(response.model_name,
                            StringField(root, "", "model_name", kResponseDoc, true, false));
    STRATA_ASSIGN_OR_RETURN(response.model_version,
                            StringField(root, "", "model_version", kResponseDoc, false, false));
    STRATA_ASSIGN_OR_RETURN(response.id, StringField(root, "", "id", kResponseDoc, false, false));
    STRATA_RETURN_IF_ERROR(CheckParameters(root, "", kResponseDoc));
    STRATA_ASSIGN_OR_RETURN(response.outputs,
                            ParseTensorList(root, "outputs", kResponseDoc, /*non_empty=*/false));
    return response;
  });
}

std::string InferResponseToJson(const V2InferResponse& response) {
  OrderedJson json = OrderedJson::object();
  json["model_name"] = response.model_name;
  if (!response.model_version.empty()) json["model_version"] = response.model_version;
  if (!response.id.empty()) json["id"] = response.id;
  json["outputs"] = TensorListJson(response.outputs);
  return Dump(json);
}

Result<V2ModelMetadata> ParseModelMetadata(std::string_view json) {
  return Guarded<V2ModelMetadata>(kMetadataDoc, [&]() -> Result<V2ModelMetadata> {
    STRATA_ASSIGN_OR_RETURN(const Json root, ParseDocument(json, kMetadataDoc));
    V2ModelMetadata metadata;
    STRATA_ASSIGN_OR_RETURN(metadata.name, StringField(root, "", "name", kMetadataDoc, true, true));
    STRATA_ASSIGN_OR_RETURN(const Json* versions,
                            ArrayField(root, "", "versions", kMetadataDoc, /*required=*/false));
    if (versions != nullptr) {
      for (size_t i = 0; i < versions->size(); ++i) {
        const Json& version = (*versions)[i];
        if (!version.is_string()) {
          return PathError(kMetadataDoc, Index("versions", i), "must be a string");
        }
        metadata.versions.push_back(version.get<std::string>());
      }
    }
    STRATA_ASSIGN_OR_RETURN(metadata.platform,
                            StringField(root, "", "platform", kMetadataDoc, false, false));
    STRATA_ASSIGN_OR_RETURN(metadata.inputs, ParseTensorMetaList(root, "inputs"));
    STRATA_ASSIGN_OR_RETURN(metadata.outputs, ParseTensorMetaList(root, "outputs"));
    return metadata;
  });
}

std::string ModelMetadataToJson(const V2ModelMetadata& metadata) {
  OrderedJson json = OrderedJson::object();
  json["name"] = metadata.name;
  json["versions"] = metadata.versions;
  json["platform"] = metadata.platform;
  json["inputs"] = TensorMetaListJson(metadata.inputs);
  json["outputs"] = TensorMetaListJson(metadata.outputs);
  return Dump(json);
}

std::string ErrorJson(std::string_view message) {
  return Dump(OrderedJson{{"error", std::string(message)}});
}

Result<V2InferRequest> RequestFromTensors(const ModelCard& card, std::span<const Tensor> batch) {
  STRATA_RETURN_IF_ERROR(internal::CheckBatch(batch, card.input));
  V2Tensor input;
  input.name = std::string(kV2InputName);
  input.shape = {static_cast<int64_t>(batch.size()), card.input.channels, card.input.height,
                 card.input.width};
  input.datatype = "FP32";
  input.data = internal::PackBatch(batch);
  V2InferRequest request;
  request.inputs.push_back(std::move(input));
  return request;
}

Result<std::vector<Scores>> ScoresFromResponse(const ModelCard& card,
                                               const V2InferResponse& response, size_t batch) {
  const V2Tensor* output = nullptr;
  if (response.outputs.size() == 1) {
    output = &response.outputs.front();
  } else {
    for (const V2Tensor& candidate : response.outputs) {
      if (candidate.name == kV2OutputName) output = &candidate;
    }
  }
  if (output == nullptr) {
    return Internal("infer response: outputs: " + std::to_string(response.outputs.size()) +
                    " outputs and none named \"" + std::string(kV2OutputName) + "\"");
  }
  const size_t labels = card.labels.size();
  const std::vector<int64_t>& shape = output->shape;
  const bool shape_ok =
      (shape.size() == 2 && shape[0] == static_cast<int64_t>(batch) &&
       shape[1] == static_cast<int64_t>(labels)) ||
      (shape.size() == 1 && labels == 1 && shape[0] == static_cast<int64_t>(batch));
  if (!shape_ok) {
    return Internal("infer response: output \"" + output->name + "\" has shape " +
                    ShapeText(shape) + "; expected [" + std::to_string(batch) + ", " +
                    std::to_string(labels) + "] for " + std::to_string(batch) + " images of " +
                    std::to_string(labels) + " labels");
  }
  return internal::SplitScores(output->data.data(), output->data.size(), batch, labels);
}

Result<std::vector<Tensor>> TensorsFromRequest(const ModelCard& card,
                                               const V2InferRequest& request) {
  if (request.inputs.size() != 1) {
    return PathError(
        kRequestDoc, "inputs",
        "model \"" + card.name + "\" takes 1 input, got " + std::to_string(request.inputs.size()));
  }
  const V2Tensor& input = request.inputs.front();
  if (input.name != kV2InputName) {
    return PathError(kRequestDoc, "inputs[0].name",
                     "model \"" + card.name + "\" has one input, \"" + std::string(kV2InputName) +
                         "\", not \"" + input.name + "\"");
  }
  const InputShape& want = card.input;
  const std::vector<int64_t>& shape = input.shape;
  if (shape.size() != 4 || shape[0] < 1 || shape[1] != want.channels || shape[2] != want.height ||
      shape[3] != want.width) {
    return PathError(kRequestDoc, "inputs[0].shape",
                     ShapeText(shape) + " does not match the model's input [n >= 1, " +
                         std::to_string(want.channels) + ", " + std::to_string(want.height) + ", " +
                         std::to_string(want.width) + "]");
  }
  const size_t per_image = static_cast<size_t>(want.channels) * static_cast<size_t>(want.height) *
                           static_cast<size_t>(want.width);
  const size_t images = static_cast<size_t>(shape[0]);
  // A parsed request always agrees; a hand-built one may not.
  if (input.data.size() / per_image != images || input.data.size() % per_image != 0) {
    return PathError(
        kRequestDoc, "inputs[0].data",
        std::to_string(input.data.size()) + " values do not fill shape " + ShapeText(shape));
  }
  for (size_t i = 0; i < request.requested_outputs.size(); ++i) {
    if (request.requested_outputs[i] != kV2OutputName) {
      return PathError(kRequestDoc, Join(Index("outputs", i), "name"),
                       "model \"" + card.name + "\" has no output \"" +
                           request.requested_outputs[i] + "\" (its output is \"" +
                           std::string(kV2OutputName) + "\")");
    }
  }
  std::vector<Tensor> tensors(images);
  for (size_t i = 0; i < images; ++i) {
    Tensor& t = tensors[i];
    t.channels = want.channels;
    t.height = want.height;
    t.width = want.width;
    const auto begin = input.data.begin() + static_cast<ptrdiff_t>(i * per_image);
    t.values.assign(begin, begin + static_cast<ptrdiff_t>(per_image));
  }
  return tensors;
}

V2InferResponse ResponseFromScores(const ModelCard& card, const std::vector<Scores>& scores,
                                   std::string id) {
  const size_t labels = card.labels.size();
  V2Tensor output;
  output.name = std::string(kV2OutputName);
  output.shape = {static_cast<int64_t>(scores.size()), static_cast<int64_t>(labels)};
  output.datatype = "FP32";
  output.data.reserve(scores.size() * labels);
  for (const Scores& s : scores) {
    STRATA_CHECK(s.size() == labels) << "scores of " << s.size() << " for " << labels << " labels";
    output.data.insert(output.data.end(), s.begin(), s.end());
  }
  V2InferResponse response;
  response.model_name = card.name;
  response.model_version = card.version;
  response.id = std::move(id);
  response.outputs.push_back(std::move(output));
  return response;
}

}  // namespace strata::inference
