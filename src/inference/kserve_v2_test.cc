// The KServe v2 codec: round trips, every rejection path, and the mapping between Strata's
// tensors/scores and protocol tensors.
#include "inference/kserve_v2.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace strata::inference {
namespace {

using ::testing::HasSubstr;

ModelCard TestCard(int labels = 2) {
  ModelCard card;
  card.name = "chest";
  card.version = "1.0.0";
  card.input = {.width = 3, .height = 2, .channels = 1};
  for (int i = 0; i < labels; ++i) card.labels.push_back({"label" + std::to_string(i), 0.5});
  return card;
}

Tensor TestTensor(const ModelCard& card, float start) {
  Tensor t;
  t.channels = card.input.channels;
  t.height = card.input.height;
  t.width = card.input.width;
  for (size_t i = 0; i < t.ExpectedSize(); ++i) t.values.push_back(start + 0.25f * i);
  return t;
}

// A request whose first input is `tensor_json`.
std::string RequestWith(const std::string& tensor_json) {
  return R"({"inputs": [)" + tensor_json + "]}";
}

void ExpectInvalid(const Status& status, const std::string& path_and_what) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr(path_and_what));
}

void ExpectRequestInvalid(const std::string& json, const std::string& path_and_what) {
  auto request = ParseInferRequest(json);
  ASSERT_FALSE(request.ok()) << json;
  ExpectInvalid(request.status(), path_and_what);
}

TEST(KserveV2RequestTest, ParsesProtocolExample) {
  auto request = ParseInferRequest(R"({
    "id": "42",
    "parameters": {"binary_data_output": false},
    "inputs": [{"name": "input0", "shape": [2, 2], "datatype": "FP32",
                "parameters": {"content_type": "np"}, "data": [1, 2.5, -3, 4e-3]}],
    "outputs": [{"name": "output0", "parameters": {}}],
    "future_field": [1, 2, 3]
  })");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->id, "42");
  ASSERT_EQ(request->inputs.size(), 1u);
  const V2Tensor& input = request->inputs[0];
  EXPECT_EQ(input.name, "input0");
  EXPECT_EQ(input.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(input.datatype, "FP32");
  EXPECT_EQ(input.data, (std::vector<float>{1.0f, 2.5f, -3.0f, 4e-3f}));
  EXPECT_EQ(request->requested_outputs, (std::vector<std::string>{"output0"}));
}

TEST(KserveV2RequestTest, NestedDataIsRowMajor) {
  auto request = ParseInferRequest(RequestWith(
      R"({"name": "x", "shape": [2, 1, 3], "datatype": "FP32",
          "data": [[[1, 2, 3]], [[4, 5, 6]]]})"));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->inputs[0].data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(KserveV2RequestTest, EmptyTensorsAndScalars) {
  auto empty = ParseInferRequest(RequestWith(R"({"name": "x", "shape": [0, 3],
                                                 "datatype": "FP32", "data": []})"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->inputs[0].data.empty());
  auto nested_empty = ParseInferRequest(RequestWith(R"({"name": "x", "shape": [2, 0],
                                                        "datatype": "FP32", "data": [[], []]})"));
  ASSERT_TRUE(nested_empty.ok()) << nested_empty.status().ToString();
  auto scalar = ParseInferRequest(
      RequestWith(R"({"name": "x", "shape": [], "datatype": "FP32", "data": [7]})"));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(scalar->inputs[0].data, std::vector<float>{7});
}

TEST(KserveV2RequestTest, NumericDatatypesBecomeFloat) {
  struct Case {
    const char* datatype;
    const char* data;
    std::vector<float> want;
  };
  const std::vector<Case> cases = {
      {"FP64", "[0.5, -1e30]", {0.5f, -1e30f}},
      {"FP16", "[0.5, 65504]", {0.5f, 65504.0f}},
      {"INT64", "[-16777216, 16777216]", {-16777216.0f, 16777216.0f}},
      {"INT32", "[-7, 3.0]", {-7.0f, 3.0f}},
      {"INT16", "[-32768, 32767]", {-32768.0f, 32767.0f}},
      {"INT8", "[-128, 127]", {-128.0f, 127.0f}},
      {"UINT8", "[0, 255]", {0.0f, 255.0f}},
      {"UINT16", "[0, 65535]", {0.0f, 65535.0f}},
      {"UINT32", "[0, 1]", {0.0f, 1.0f}},
      {"UINT64", "[0, 16777216]", {0.0f, 16777216.0f}},
  };
  for (const Case& c : cases) {
    auto request = ParseInferRequest(RequestWith(std::string(R"({"name": "x", "shape": [2],
        "datatype": ")") + c.datatype + R"(", "data": )" +
                                                 c.data + "}"));
    ASSERT_TRUE(request.ok()) << c.datatype << ": " << request.status().ToString();
    EXPECT_EQ(request->inputs[0].datatype, c.datatype);
    EXPECT_EQ(request->inputs[0].data, c.want) << c.datatype;
  }
}

TEST(KserveV2RequestTest, RejectsMalformedDocuments) {
  ExpectRequestInvalid("", "infer request: not valid JSON");
  ExpectRequestInvalid("{\"inputs\": [", "not valid JSON");
  ExpectRequestInvalid("[]", "must be a JSON object");
  ExpectRequestInvalid("{}", "inputs: missing");
  ExpectRequestInvalid(R"({"inputs": {}})", "inputs: must be an array");
  ExpectRequestInvalid(R"({"inputs": []})", "inputs: must not be empty");
  ExpectRequestInvalid(R"({"inputs": [3]})", "inputs[0]: must be an object");
  ExpectRequestInvalid(R"({"id": 5, "inputs": []})", "id: must be a string");
  ExpectRequestInvalid(R"({"parameters": [], "inputs": []})", "parameters: must be an object");
  ExpectRequestInvalid(
      R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
          "outputs": {}})",
      "outputs: must be an array");
  ExpectRequestInvalid(
      R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
          "outputs": [{"name": ""}]})",
      "outputs[0].name: must not be empty");
  ExpectRequestInvalid(
      R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
          "outputs": [{"name": "y", "parameters": 1}]})",
      "outputs[0].parameters: must be an object");
  ExpectRequestInvalid(
      R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
          "outputs": ["y"]})",
      "outputs[0]: must be an object");
}

TEST(KserveV2RequestTest, RejectsBadTensorFields) {
  ExpectRequestInvalid(RequestWith(R"({"shape": [1], "datatype": "FP32", "data": [1]})"),
                       "inputs[0].name: missing");
  ExpectRequestInvalid(RequestWith(R"({"name": "", "shape": [1], "datatype": "FP32",
                                       "data": [1]})"),
                       "inputs[0].name: must not be empty");
  ExpectRequestInvalid(RequestWith(R"({"name": 1, "shape": [1], "datatype": "FP32",
                                       "data": [1]})"),
                       "inputs[0].name: must be a string");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "datatype": "FP32", "data": [1]})"),
                       "inputs[0].shape: missing");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": 1, "datatype": "FP32",
                                       "data": [1]})"),
                       "inputs[0].shape: must be an array of integers");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1.5], "datatype": "FP32",
                                       "data": [1]})"),
                       "inputs[0].shape[0]: must be an integer");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, -1], "datatype": "FP32",
                                       "data": [1]})"),
                       "inputs[0].shape[1]: must be >= 0");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "data": [1]})"),
                       "inputs[0].datatype: missing");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "datatype": "fp32",
                                       "data": [1]})"),
                       "inputs[0].datatype: unknown datatype \"fp32\"");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "datatype": "FP32",
                                       "parameters": "no", "data": [1]})"),
                       "inputs[0].parameters: must be an object");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "datatype": "FP32",
                                       "parameters": {"binary_data_size": 4}})"),
                       "inputs[0].data: missing (binary tensor data is not supported)");
  ExpectRequestInvalid(
      R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
                     {"name": "x", "shape": [1], "datatype": "FP32", "data": [2]}]})",
      "inputs[1].name: duplicate \"x\"");
}

TEST(KserveV2RequestTest, RejectsBytesAndBool) {
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "datatype": "BYTES",
                                       "data": ["abc"]})"),
                       "inputs[0].datatype: BYTES tensors are not supported");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [1], "datatype": "BOOL",
                                       "data": [true]})"),
                       "inputs[0].datatype: BOOL tensors are not supported");
}

TEST(KserveV2RequestTest, RejectsShapeDataMismatch) {
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": [1, 2, 3]})"),
                       "inputs[0].data: has 3 values; shape [2, 2] needs 4");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": 4})"),
                       "inputs[0].data: must be an array");
  // Nested data must follow the shape level by level.
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": [[1, 2], [3]]})"),
                       "inputs[0].data[1]: has 1 elements; shape[1] is 2");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": [[1, 2], [3, 4], [5, 6]]})"),
                       "inputs[0].data: has 3 elements; shape[0] is 2");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": [[1, 2], 3]})"),
                       "inputs[0].data[1]: must be an array");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [4], "datatype": "FP32",
                                       "data": [[1, 2], [3, 4]]})"),
                       "inputs[0].data: has 2 elements; shape[0] is 4");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2], "datatype": "FP32",
                                       "data": [[1], [2]]})"),
                       "inputs[0].data[0]: must be a number");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                       "data": [1, [2], 3, 4]})"),
                       "inputs[0].data[1]: must be a number");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [], "datatype": "FP32",
                                       "data": [[1]]})"),
                       "inputs[0].data: nested data for a scalar shape");
}

TEST(KserveV2RequestTest, RejectsHugeShapes) {
  // 2^13 * 2^13 * 2 = 2^27 elements: over the 64 Mi cap, with four values of data.
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [8192, 8192, 2], "datatype": "FP32",
                                       "data": [1, 2, 3, 4]})"),
                       "inputs[0].shape: [8192, 8192, 2] has more than 67108864 elements");
  // A product that overflows 64 bits must not wrap around to something small.
  ExpectRequestInvalid(
      RequestWith(R"({"name": "x", "shape": [4294967296, 4294967296, 0], "datatype": "FP32",
                     "data": []})"),
      "inputs[0].shape: [4294967296, 4294967296, 0] has more than");
  ExpectRequestInvalid(RequestWith(R"({"name": "x", "shape": [18446744073709551615],
                                       "datatype": "FP32", "data": [1]})"),
                       "inputs[0].shape[0]: too large");
  std::string deep = "[";
  for (int i = 0; i < 33; ++i) deep += i == 0 ? "1" : ", 1";
  deep += "]";
  ExpectRequestInvalid(
      RequestWith(R"({"name": "x", "datatype": "FP32", "data": [1], "shape": )" + deep + "}"),
      "inputs[0].shape: more than 32 dimensions");
}

TEST(KserveV2RequestTest, RejectsBadValues) {
  auto value = [](const std::string& datatype, const std::string& v) {
    return RequestWith(R"({"name": "x", "shape": [1], "datatype": ")" + datatype +
                       R"(", "data": [)" + v + "]}");
  };
  ExpectRequestInvalid(value("FP32", "\"1\""), "inputs[0].data[0]: must be a number");
  ExpectRequestInvalid(value("FP32", "null"), "inputs[0].data[0]: must be a number");
  ExpectRequestInvalid(value("FP32", "true"), "inputs[0].data[0]: must be a number");
  // JSON has no NaN or infinity, and the JSON parser rejects literals that overflow a double.
  ExpectRequestInvalid(value("FP64", "1e400"), "infer request: not valid JSON");
  ExpectRequestInvalid(value("FP32", "-1e400"), "infer request: not valid JSON");
  ExpectRequestInvalid(value("FP32", "NaN"), "infer request: not valid JSON");
  ExpectRequestInvalid(value("FP32", "Infinity"), "infer request: not valid JSON");
  ExpectRequestInvalid(value("FP64", "1e39"), "inputs[0].data[0]: outside the range of FP32");
  // FLT_MAX + ulp/2 rounds to infinity; FLT_MAX's own shortest form (a little above it) fits.
  ExpectRequestInvalid(value("FP32", "3.4028235677973366e38"), "outside the range of FP32");
  EXPECT_TRUE(ParseInferRequest(value("FP32", "3.4028235e38")).ok());
  EXPECT_TRUE(ParseInferRequest(value("FP16", "65519.9")).ok());
  ExpectRequestInvalid(value("FP16", "65520"), "inputs[0].data[0]: outside the range of FP16");
  ExpectRequestInvalid(value("INT32", "1.5"), "inputs[0].data[0]: must be an integer for INT32");
  ExpectRequestInvalid(value("UINT8", "256"), "inputs[0].data[0]: outside the range of UINT8");
  ExpectRequestInvalid(value("UINT8", "-1"), "inputs[0].data[0]: outside the range of UINT8");
  ExpectRequestInvalid(value("INT8", "-129"), "outside the range of INT8");
  ExpectRequestInvalid(value("INT32", "3000000000"), "outside the range of INT32");
  ExpectRequestInvalid(value("INT64", "16777217"),
                       "inputs[0].data[0]: not exactly representable as FP32");
  ExpectRequestInvalid(value("UINT64", "18446744073709551615"),
                       "inputs[0].data[0]: not exactly representable as FP32");
}

TEST(KserveV2RequestTest, RoundTrips) {
  V2InferRequest request;
  request.id = "req-1";
  request.inputs.push_back({"input", {1, 2, 2}, "FP32", {0.1f, -0.0f, 1e-30f, 3.4e38f}});
  request.inputs.push_back(
      {"extremes",
       {4},
       "FP32",
       {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
        std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min()}});
  request.inputs.push_back({"ids", {3}, "INT64", {-16777216.0f, 0.0f, 42.0f}});
  request.inputs.push_back({"empty", {0}, "UINT8", {}});
  request.requested_outputs = {"probabilities", "other"};
  const std::string json = InferRequestToJson(request);
  auto again = ParseInferRequest(json);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << json;
  EXPECT_EQ(*again, request);
  EXPECT_TRUE(std::signbit(again->inputs[0].data[1]));
  // Shortest round-trip forms, integers as integers.
  EXPECT_THAT(json, HasSubstr("[0.1,-0.0,1e-30,3.4e+38]"));
  EXPECT_THAT(json, HasSubstr("[-16777216,0,42]"));
  EXPECT_THAT(json, HasSubstr(R"("outputs":[{"name":"probabilities"},{"name":"other"}])"));

  V2InferRequest anonymous;
  anonymous.inputs.push_back({"x", {}, "FP32", {1}});
  const std::string bare = InferRequestToJson(anonymous);
  EXPECT_EQ(bare, R"({"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[1.0]}]})");
}

TEST(KserveV2ResponseTest, ParsesAndRoundTrips) {
  auto response = ParseInferResponse(R"({
    "model_name": "chest", "model_version": "1.0.0", "id": "7", "parameters": {},
    "outputs": [{"name": "probabilities", "shape": [1, 2], "datatype": "FP32",
                 "data": [[0.25, 0.75]]}]})");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->model_name, "chest");
  EXPECT_EQ(response->model_version, "1.0.0");
  EXPECT_EQ(response->id, "7");
  ASSERT_EQ(response->outputs.size(), 1u);
  EXPECT_EQ(response->outputs[0].data, (std::vector<float>{0.25f, 0.75f}));
  auto again = ParseInferResponse(InferResponseToJson(*response));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *response);

  // model_version and id are optional; outputs may be empty.
  auto minimal = ParseInferResponse(R"({"model_name": "m", "outputs": []})");
  ASSERT_TRUE(minimal.ok()) << minimal.status().ToString();
  EXPECT_EQ(InferResponseToJson(*minimal), R"({"model_name":"m","outputs":[]})");
}

TEST(KserveV2ResponseTest, Rejections) {
  auto invalid = [](const std::string& json, const std::string& what) {
    auto response = ParseInferResponse(json);
    ASSERT_FALSE(response.ok()) << json;
    ExpectInvalid(response.status(), what);
  };
  invalid("nope", "infer response: not valid JSON");
  invalid(R"({"outputs": []})", "infer response: model_name: missing");
  invalid(R"({"model_name": 1, "outputs": []})", "model_name: must be a string");
  invalid(R"({"model_name": "m", "model_version": 1, "outputs": []})",
          "model_version: must be a string");
  invalid(R"({"model_name": "m"})", "infer response: outputs: missing");
  invalid(R"({"model_name": "m", "outputs": [{"name": "p", "shape": [1], "datatype": "FP32",
              "data": [1, 2]}]})",
          "infer response: outputs[0].data: has 2 values; shape [1] needs 1");
  invalid(R"({"model_name": "m", "outputs": [{"name": "p", "shape": [1], "datatype": "BYTES",
              "data": ["a"]}]})",
          "outputs[0].datatype: BYTES tensors are not supported");
  invalid(R"({"model_name": "m", "outputs": [{"name": "p", "shape": [1], "datatype": "FP64",
              "data": [1e300]}]})",
          "outputs[0].data[0]: outside the range of FP32");
  // A hand-built response with non-finite scores is written with nulls, which do not parse.
  V2InferResponse non_finite;
  non_finite.model_name = "m";
  non_finite.outputs.push_back(
      {"p", {2}, "FP32", {std::numeric_limits<float>::quiet_NaN(), -INFINITY}});
  const std::string json = InferResponseToJson(non_finite);
  EXPECT_THAT(json, HasSubstr(R"("data":[null,null])"));
  invalid(json, "infer response: outputs[0].data[0]: must be a number");
}

TEST(KserveV2MetadataTest, ParsesAndRoundTrips) {
  auto metadata = ParseModelMetadata(R"({
    "name": "chest", "versions": ["1.0.0", "2"], "platform": "onnxruntime_onnx",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 128, 128]}],
    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
                {"name": "tokens", "datatype": "BYTES", "shape": [-1]}]})");
  ASSERT_TRUE(metadata.ok()) << metadata.status().ToString();
  EXPECT_EQ(metadata->name, "chest");
  EXPECT_EQ(metadata->versions, (std::vector<std::string>{"1.0.0", "2"}));
  EXPECT_EQ(metadata->platform, "onnxruntime_onnx");
  ASSERT_EQ(metadata->inputs.size(), 1u);
  EXPECT_EQ(metadata->inputs[0].shape, (std::vector<int64_t>{-1, 1, 128, 128}));
  EXPECT_EQ(metadata->outputs[1].datatype, "BYTES");
  auto again = ParseModelMetadata(ModelMetadataToJson(*metadata));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *metadata);

  // versions and platform are optional.
  auto minimal = ParseModelMetadata(R"({"name": "m", "inputs": [], "outputs": []})");
  ASSERT_TRUE(minimal.ok()) << minimal.status().ToString();
  EXPECT_TRUE(minimal->versions.empty());
  EXPECT_EQ(minimal->platform, "");
}

TEST(KserveV2MetadataTest, Rejections) {
  auto invalid = [](const std::string& json, const std::string& what) {
    auto metadata = ParseModelMetadata(json);
    ASSERT_FALSE(metadata.ok()) << json;
    ExpectInvalid(metadata.status(), what);
  };
  invalid("{", "model metadata: not valid JSON");
  invalid(R"({"inputs": [], "outputs": []})", "model metadata: name: missing");
  invalid(R"({"name": "", "inputs": [], "outputs": []})", "name: must not be empty");
  invalid(R"({"name": "m", "versions": [1], "inputs": [], "outputs": []})",
          "versions[0]: must be a string");
  invalid(R"({"name": "m", "platform": 3, "inputs": [], "outputs": []})",
          "platform: must be a string");
  invalid(R"({"name": "m", "outputs": []})", "model metadata: inputs: missing");
  invalid(R"({"name": "m", "inputs": []})", "model metadata: outputs: missing");
  invalid(R"({"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-2]}],
              "outputs": []})",
          "inputs[0].shape[0]: must be >= -1");
  invalid(R"({"name": "m", "inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1]}],
              "outputs": []})",
          "inputs[0].datatype: unknown datatype \"FLOAT\"");
  invalid(R"({"name": "m", "inputs": [], "outputs": [{"datatype": "FP32", "shape": [1]}]})",
          "outputs[0].name: missing");
  invalid(R"({"name": "m", "inputs": [], "outputs": [{"name": "y", "datatype": "FP32"}]})",
          "outputs[0].shape: missing");
}

TEST(KserveV2ErrorTest, ErrorJson) {
  EXPECT_EQ(ErrorJson("model \"x\" not found"), R"({"error":"model \"x\" not found"})");
  // Invalid UTF-8 (e.g. from a file name) is replaced rather than failing.
  const auto parsed = nlohmann::json::parse(ErrorJson("bad \xff byte"));
  EXPECT_EQ(parsed.at("error").get<std::string>(), "bad \xEF\xBF\xBD byte");
}

TEST(KserveV2MappingTest, RequestFromTensorsPacksTheBatch) {
  const ModelCard card = TestCard();
  const std::vector<Tensor> batch = {TestTensor(card, 0), TestTensor(card, 10)};
  auto request = RequestFromTensors(card, batch);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  ASSERT_EQ(request->inputs.size(), 1u);
  const V2Tensor& input = request->inputs[0];
  EXPECT_EQ(input.name, "input");
  EXPECT_EQ(input.datatype, "FP32");
  EXPECT_EQ(input.shape, (std::vector<int64_t>{2, 1, 2, 3}));
  ASSERT_EQ(input.data.size(), 12u);
  EXPECT_EQ(input.data[0], 0.0f);
  EXPECT_EQ(input.data[6], 10.0f);
  EXPECT_TRUE(request->requested_outputs.empty());

  EXPECT_EQ(RequestFromTensors(card, {}).status().code(), StatusCode::kInvalidArgument);
  Tensor wrong = TestTensor(card, 0);
  wrong.width = 4;
  EXPECT_EQ(RequestFromTensors(card, std::vector<Tensor>{wrong}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(KserveV2MappingTest, ServerSideRoundTrip) {
  const ModelCard card = TestCard();
  const std::vector<Tensor> batch = {TestTensor(card, 0), TestTensor(card, 10),
                                     TestTensor(card, 20)};
  // Client request -> JSON -> server tensors.
  auto request = RequestFromTensors(card, batch);
  ASSERT_TRUE(request.ok());
  auto parsed = ParseInferRequest(InferRequestToJson(*request));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto tensors = TensorsFromRequest(card, *parsed);
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  ASSERT_EQ(tensors->size(), 3u);
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ((*tensors)[i].channels, 1);
    EXPECT_EQ((*tensors)[i].height, 2);
    EXPECT_EQ((*tensors)[i].width, 3);
    EXPECT_EQ((*tensors)[i].values, batch[i].values) << i;
  }
  // Server scores -> JSON -> client scores.
  const std::vector<Scores> scores = {{0.1f, 0.9f}, {0.5f, 0.5f}, {1.0f, 0.0f}};
  V2InferResponse response = ResponseFromScores(card, scores, "id-9");
  EXPECT_EQ(response.model_name, "chest");
  EXPECT_EQ(response.model_version, "1.0.0");
  EXPECT_EQ(response.id, "id-9");
  ASSERT_EQ(response.outputs.size(), 1u);
  EXPECT_EQ(response.outputs[0].name, "probabilities");
  EXPECT_EQ(response.outputs[0].shape, (std::vector<int64_t>{3, 2}));
  auto client = ParseInferResponse(InferResponseToJson(response));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto back = ScoresFromResponse(card, *client, 3);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, scores);
}

TEST(KserveV2MappingTest, TensorsFromRequestRejections) {
  const ModelCard card = TestCard();
  auto request_with = [](V2Tensor input) {
    V2InferRequest request;
    request.inputs.push_back(std::move(input));
    return request;
  };
  const std::vector<float> six(6, 0.5f);
  ExpectInvalid(TensorsFromRequest(card, V2InferRequest{}).status(),
                "infer request: inputs: model \"chest\" takes 1 input, got 0");
  ExpectInvalid(
      TensorsFromRequest(card, request_with({"pixels", {1, 1, 2, 3}, "FP32", six})).status(),
      "inputs[0].name: model \"chest\" has one input, \"input\", not \"pixels\"");
  ExpectInvalid(
      TensorsFromRequest(card, request_with({"input", {1, 1, 3, 2}, "FP32", six})).status(),
      "inputs[0].shape: [1, 1, 3, 2] does not match the model's input [n >= 1, 1, 2, 3]");
  ExpectInvalid(TensorsFromRequest(card, request_with({"input", {1, 2, 3}, "FP32", six})).status(),
                "inputs[0].shape: [1, 2, 3] does not match");
  ExpectInvalid(
      TensorsFromRequest(card, request_with({"input", {0, 1, 2, 3}, "FP32", {}})).status(),
      "inputs[0].shape: [0, 1, 2, 3] does not match");
  ExpectInvalid(
      TensorsFromRequest(card, request_with({"input", {2, 1, 2, 3}, "FP32", six})).status(),
      "inputs[0].data: 6 values do not fill shape [2, 1, 2, 3]");
  V2InferRequest wrong_output = request_with({"input", {1, 1, 2, 3}, "FP32", six});
  wrong_output.requested_outputs = {"probabilities", "logits"};
  ExpectInvalid(TensorsFromRequest(card, wrong_output).status(),
                "outputs[1].name: model \"chest\" has no output \"logits\"");
  // Integer pixels are fine: the values are numbers either way.
  auto uint8 = TensorsFromRequest(card, request_with({"input", {1, 1, 2, 3}, "UINT8", six}));
  EXPECT_TRUE(uint8.ok()) << uint8.status().ToString();
}

TEST(KserveV2MappingTest, ScoresFromResponseChecksTheOutput) {
  const ModelCard card = TestCard();
  V2InferResponse response;
  response.model_name = "chest";
  response.outputs.push_back({"logits", {1, 2}, "FP32", {0.0f, 0.0f}});
  response.outputs.push_back({"probabilities", {1, 2}, "FP32", {0.3f, 0.7f}});
  auto scores = ScoresFromResponse(card, response, 1);
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  EXPECT_EQ(*scores, (std::vector<Scores>{{0.3f, 0.7f}}));

  // A single output is used whatever its name.
  V2InferResponse single;
  single.outputs.push_back({"output_0", {2, 2}, "FP32", {0.1f, 0.2f, 0.3f, 0.4f}});
  auto two = ScoresFromResponse(card, single, 2);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->size(), 2u);

  // [batch] for a one-label card.
  V2InferResponse flat;
  flat.outputs.push_back({"p", {3}, "FP32", {0.1f, 0.2f, 0.3f}});
  EXPECT_TRUE(ScoresFromResponse(TestCard(1), flat, 3).ok());

  auto internal = [&](const V2InferResponse& r, size_t batch, const std::string& what) {
    auto result = ScoresFromResponse(card, r, batch);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kInternal) << result.status().ToString();
    EXPECT_THAT(result.status().message(), HasSubstr(what));
  };
  internal(V2InferResponse{}, 1, "0 outputs and none named \"probabilities\"");
  V2InferResponse two_unnamed;
  two_unnamed.outputs.push_back({"a", {1, 2}, "FP32", {0, 0}});
  two_unnamed.outputs.push_back({"b", {1, 2}, "FP32", {0, 0}});
  internal(two_unnamed, 1, "2 outputs and none named");
  internal(single, 1, "output \"output_0\" has shape [2, 2]; expected [1, 2]");
  internal(flat, 3, "has shape [3]; expected [3, 2]");
  V2InferResponse short_data;
  short_data.outputs.push_back({"p", {1, 2}, "FP32", {0.5f}});
  internal(short_data, 1, "produced 1 values for 1 images of 2 labels");
}

}  // namespace
}  // namespace strata::inference
