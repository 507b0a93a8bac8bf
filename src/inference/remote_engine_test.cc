// The "kserve-v2" engine against a fake HttpClient: URLs, headers and bodies it sends, metadata
// checks against the card, and how server answers become Status codes.
#include "inference/remote_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "inference/engine_factory.h"
#include "inference/kserve_v2.h"

namespace strata::inference {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBase[] = "https://scoring.example.net/prefix";
constexpr char kToken[] = "secret-key-123";

// Answers each request with `handler` and records what it was sent.
class FakeHttpClient final : public blob::HttpClient {
 public:
  using Handler = std::function<Result<blob::HttpResponse>(const blob::HttpRequest&)>;

  explicit FakeHttpClient(Handler handler) : handler_(std::move(handler)) {}

  Result<blob::HttpResponse> Send(const blob::HttpRequest& request) override {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
      handler = handler_;
    }
    return handler(request);
  }

  std::vector<blob::HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  Handler handler_;                          // GUARDED_BY(mutex_)
  std::vector<blob::HttpRequest> requests_;  // GUARDED_BY(mutex_)
};

blob::HttpResponse Answer(int status, std::string body) {
  blob::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string Header(const blob::HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

ModelCard TestCard() {
  ModelCard card;
  card.name = "chest";
  card.version = "1.0.0";
  card.input = {.width = 4, .height = 3, .channels = 1};
  card.labels = {{"anomaly", 0.5}, {"effusion", 0.5}};
  return card;
}

Tensor TestTensor(float value) {
  Tensor t;
  t.channels = 1;
  t.height = 3;
  t.width = 4;
  t.values.assign(t.ExpectedSize(), value);
  return t;
}

std::string Metadata(const std::string& input_shape, const std::string& output_shape = "[-1, 2]",
                     const std::string& datatype = "FP32") {
  return R"({"name": "chest", "versions": ["1.0.0"], "platform": "onnxruntime_onnx",
             "inputs": [{"name": "input", "datatype": ")" +
         datatype + R"(", "shape": )" + input_shape + R"(}],
             "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": )" +
         output_shape + "}]}";
}

// A server that answers metadata with `metadata` and scores every image i of a request as
// {value(i), 1 - value(i)} where value(i) is the image's first pixel.
Result<blob::HttpResponse> GoodServer(const blob::HttpRequest& request,
                                      const std::string& metadata) {
  if (request.method == "GET") return Answer(200, metadata);
  auto parsed = ParseInferRequest(request.body);
  if (!parsed.ok()) return Answer(400, ErrorJson(parsed.status().message()));
  auto tensors = TensorsFromRequest(TestCard(), *parsed);
  if (!tensors.ok()) return Answer(400, ErrorJson(tensors.status().message()));
  std::vector<Scores> scores;
  for (const Tensor& t : *tensors) scores.push_back({t.values[0], 1.0f - t.values[0]});
  return Answer(200, InferResponseToJson(ResponseFromScores(TestCard(), scores, "")));
}

RemoteKServeOptions Options() {
  RemoteKServeOptions options;
  options.base_url = std::string(kBase) + "/";
  options.bearer_token = kToken;
  options.max_attempts = 3;
  return options;
}

struct Harness {
  std::unique_ptr<InferenceEngine> engine;
  FakeHttpClient* client = nullptr;  // owned by engine
  std::shared_ptr<std::vector<std::chrono::milliseconds>> sleeps;
};

Harness MakeEngine(const RemoteKServeOptions& options, FakeHttpClient::Handler handler) {
  Harness setup;
  auto client = std::make_unique<FakeHttpClient>(std::move(handler));
  setup.client = client.get();
  setup.sleeps = std::make_shared<std::vector<std::chrono::milliseconds>>();
  blob::RetryEnvironment environment;
  environment.sleep = [sleeps = setup.sleeps](std::chrono::milliseconds d) {
    sleeps->push_back(d);
  };
  environment.now = [] { return std::chrono::steady_clock::time_point(); };
  environment.random01 = [] { return 0.5; };
  auto engine = CreateRemoteKServeEngine(options, std::move(client), environment);
  STRATA_CHECK(engine.ok()) << engine.status().ToString();
  setup.engine = std::move(*engine);
  return setup;
}

TEST(RemoteKServeEngineTest, LoadAndRunSendTheProtocolRequests) {
  const std::string metadata = Metadata("[-1, 1, 3, 4]");
  Harness s =
      MakeEngine(Options(), [&](const blob::HttpRequest& r) { return GoodServer(r, metadata); });
  EXPECT_EQ(s.engine->name(), "kserve-v2");

  auto model = s.engine->Load("/ignored/model.onnx", TestCard());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->card().name, "chest");
  const std::vector<Tensor> batch = {TestTensor(0.25f), TestTensor(0.75f)};
  auto scores = (*model)->Run(batch);
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  EXPECT_EQ(*scores, (std::vector<Scores>{{0.25f, 0.75f}, {0.75f, 0.25f}}));

  const auto requests = s.client->requests();
  ASSERT_EQ(requests.size(), 2u);
  const blob::HttpRequest& get = requests[0];
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.url, std::string(kBase) + "/v2/models/chest/versions/1.0.0");
  EXPECT_EQ(Header(get, "Authorization"), "Bearer secret-key-123");
  EXPECT_EQ(Header(get, "Accept"), "application/json");
  EXPECT_EQ(Header(get, "Content-Type"), "");
  EXPECT_TRUE(get.body.empty());

  const blob::HttpRequest& post = requests[1];
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.url, std::string(kBase) + "/v2/models/chest/versions/1.0.0/infer");
  EXPECT_EQ(Header(post, "Content-Type"), "application/json");
  EXPECT_EQ(Header(post, "Authorization"), "Bearer secret-key-123");
  auto sent = ParseInferRequest(post.body);
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  ASSERT_EQ(sent->inputs.size(), 1u);
  EXPECT_EQ(sent->inputs[0].name, "input");
  EXPECT_EQ(sent->inputs[0].datatype, "FP32");
  EXPECT_EQ(sent->inputs[0].shape, (std::vector<int64_t>{2, 1, 3, 4}));
  EXPECT_TRUE(s.sleeps->empty());
}

TEST(RemoteKServeEngineTest, NameOverrideWithoutVersionAndNoToken) {
  RemoteKServeOptions options = Options();
  options.bearer_token.clear();
  options.model_name = "chest model/v2";  // escaped into one path segment
  options.use_version = false;
  const std::string metadata = Metadata("[-1, -1, -1, -1]");
  Harness s =
      MakeEngine(options, [&](const blob::HttpRequest& r) { return GoodServer(r, metadata); });
  auto model = s.engine->Load("", TestCard());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_TRUE((*model)->Run(std::vector<Tensor>{TestTensor(0.5f)}).ok());
  const auto requests = s.client->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].url, std::string(kBase) + "/v2/models/chest%20model%2Fv2");
  EXPECT_EQ(requests[1].url, std::string(kBase) + "/v2/models/chest%20model%2Fv2/infer");
  for (const auto& r : requests) EXPECT_EQ(Header(r, "Authorization"), "");
}

TEST(RemoteKServeEngineTest, VersionOverride) {
  RemoteKServeOptions options = Options();
  options.model_version = "7";
  const std::string metadata = Metadata("[-1, 1, 3, 4]");
  Harness s =
      MakeEngine(options, [&](const blob::HttpRequest& r) { return GoodServer(r, metadata); });
  ASSERT_TRUE(s.engine->Load("", TestCard()).ok());
  EXPECT_EQ(s.client->requests()[0].url, std::string(kBase) + "/v2/models/chest/versions/7");
}

TEST(RemoteKServeEngineTest, FixedBatchOfOneSendsOneImagePerRequest) {
  const std::string metadata = Metadata("[1, 1, 3, 4]", "[1, 2]");
  Harness s =
      MakeEngine(Options(), [&](const blob::HttpRequest& r) { return GoodServer(r, metadata); });
  auto model = s.engine->Load("", TestCard());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto scores =
      (*model)->Run(std::vector<Tensor>{TestTensor(0.1f), TestTensor(0.2f), TestTensor(0.3f)});
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 3u);
  EXPECT_FLOAT_EQ((*scores)[2][0], 0.3f);
  const auto requests = s.client->requests();
  ASSERT_EQ(requests.size(), 4u);  // metadata + one POST per image
  for (size_t i = 1; i < requests.size(); ++i) {
    auto sent = ParseInferRequest(requests[i].body);
    ASSERT_TRUE(sent.ok());
    EXPECT_EQ(sent->inputs[0].shape[0], 1);
  }
}

TEST(RemoteKServeEngineTest, MetadataThatDisagreesWithTheCard) {
  struct Case {
    std::string metadata;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Metadata("[-1, 3, 3, 4]"),
       "input \"input\" has shape [-1, 3, 3, 4]; the card needs "
       "[-1, 1, 3, 4]"},
      {Metadata("[-1, 1, 4, 3]"), "has shape [-1, 1, 4, 3]"},
      {Metadata("[-1, 12]"), "has shape [-1, 12]"},
      {Metadata("[8, 1, 3, 4]"), "fixed batch size of 8; only -1 (dynamic) or 1 is supported"},
      {Metadata("[-1, 1, 3, 4]", "[-1, 2]", "INT64"), "is INT64; the card needs FP32"},
      {Metadata("[-1, 1, 3, 4]", "[-1, 5]"),
       "output \"probabilities\" has shape [-1, 5]; the "
       "card has 2 labels"},
      {Metadata("[-1, 1, 3, 4]", "[-1]"), "has shape [-1]; the card has 2 labels"},
      {R"({"name": "chest", "inputs": [], "outputs": []})", "has 0 inputs"},
      {R"({"name": "chest", "inputs": [{"name": "a", "datatype": "FP32", "shape": [-1, 1, 3, 4]},
                                        {"name": "b", "datatype": "FP32", "shape": [-1]}],
          "outputs": []})",
       "has 2 inputs"},
      {R"({"name": "chest", "inputs": [{"name": "a", "datatype": "FP32", "shape": [-1, 1, 3, 4]}],
          "outputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]},
                      {"name": "y", "datatype": "FP32", "shape": [-1, 2]}]})",
       "has 2 outputs and none named \"probabilities\""},
      {"<html>gateway</html>",
       "metadata of chest/1.0.0: invalid answer: model metadata: not "
       "valid JSON"},
      {R"({"name": "chest", "inputs": "x", "outputs": []})", "inputs: must be an array"},
  };
  for (const Case& c : cases) {
    Harness s =
        MakeEngine(Options(), [&](const blob::HttpRequest&) { return Answer(200, c.metadata); });
    auto model = s.engine->Load("", TestCard());
    ASSERT_FALSE(model.ok()) << c.metadata;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument) << model.status().ToString();
    EXPECT_THAT(model.status().message(), HasSubstr(c.message));
    EXPECT_THAT(model.status().message(), HasSubstr("kserve-v2: "));
  }
}

TEST(RemoteKServeEngineTest, MetadataWithoutOutputsIsAccepted) {
  const std::string metadata =
      R"({"name": "chest", "inputs": [{"name": "x", "datatype": "FP32",
          "shape": [-1, 1, 3, 4]}], "outputs": []})";
  Harness s =
      MakeEngine(Options(), [&](const blob::HttpRequest&) { return Answer(200, metadata); });
  EXPECT_TRUE(s.engine->Load("", TestCard()).ok());
}

TEST(RemoteKServeEngineTest, LoadErrorsMapToStatusCodes) {
  struct Case {
    int http_status;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {400, StatusCode::kInvalidArgument},  {401, StatusCode::kUnauthenticated},
      {403, StatusCode::kPermissionDenied}, {404, StatusCode::kNotFound},
      {409, StatusCode::kInvalidArgument},  {429, StatusCode::kUnavailable},
      {500, StatusCode::kUnavailable},      {503, StatusCode::kUnavailable},
      {302, StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    Harness s = MakeEngine(Options(), [&](const blob::HttpRequest&) {
      return Answer(c.http_status, ErrorJson("model chest has no version 1.0.0"));
    });
    auto model = s.engine->Load("", TestCard());
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), c.code) << c.http_status << " " << model.status().ToString();
    EXPECT_THAT(model.status().message(),
                HasSubstr("kserve-v2: metadata of chest/1.0.0: HTTP " +
                          std::to_string(c.http_status) + ": model chest has no version 1.0.0"));
    EXPECT_THAT(model.status().message(), Not(HasSubstr(kToken)));
  }
}

TEST(RemoteKServeEngineTest, RetriesOutagesThenReportsUnavailable) {
  int calls = 0;
  Harness s = MakeEngine(Options(), [&](const blob::HttpRequest&) {
    ++calls;
    return Answer(503, "upstream busy\r\n");
  });
  auto model = s.engine->Load("", TestCard());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnavailable);
  // A body that is not the protocol's error JSON is quoted, control characters blanked.
  EXPECT_THAT(model.status().message(), HasSubstr("HTTP 503: upstream busy"));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.sleeps->size(), 2u);
}

TEST(RemoteKServeEngineTest, RetrySucceedsAfterAnOutage) {
  const std::string metadata = Metadata("[-1, 1, 3, 4]");
  int posts = 0;
  Harness s = MakeEngine(Options(), [&](const blob::HttpRequest& r) -> Result<blob::HttpResponse> {
    if (r.method == "POST" && ++posts == 1) return Unavailable("connection reset");
    return GoodServer(r, metadata);
  });
  auto model = s.engine->Load("", TestCard());
  ASSERT_TRUE(model.ok());
  auto scores = (*model)->Run(std::vector<Tensor>{TestTensor(0.5f)});
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  EXPECT_EQ(posts, 2);
  EXPECT_EQ(s.sleeps->size(), 1u);
}

TEST(RemoteKServeEngineTest, NetworkFailureIsUnavailable) {
  Harness s = MakeEngine(Options(), [&](const blob::HttpRequest&) -> Result<blob::HttpResponse> {
    return Unavailable("could not resolve host");
  });
  auto model = s.engine->Load("", TestCard());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(model.status().message(),
              HasSubstr("kserve-v2: metadata of chest/1.0.0: could not resolve host"));
  EXPECT_EQ(s.client->requests().size(), 3u);
}

// A model loaded against good metadata whose infer calls get `answer`.
Result<std::vector<Scores>> RunAgainst(const blob::HttpResponse& answer,
                                       std::vector<blob::HttpRequest>* requests = nullptr) {
  const std::string metadata = Metadata("[-1, 1, 3, 4]");
  Harness s = MakeEngine(Options(), [&](const blob::HttpRequest& r) -> Result<blob::HttpResponse> {
    if (r.method == "GET") return Answer(200, metadata);
    return answer;
  });
  auto model = s.engine->Load("", TestCard());
  STRATA_CHECK(model.ok()) << model.status().ToString();
  auto result = (*model)->Run(std::vector<Tensor>{TestTensor(0.5f)});
  if (requests != nullptr) *requests = s.client->requests();
  return result;
}

TEST(RemoteKServeEngineTest, RunErrorsMapToStatusCodes) {
  auto bad_request = RunAgainst(Answer(400, ErrorJson("inputs[0].shape: wrong")));
  EXPECT_EQ(bad_request.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_request.status().message(),
              HasSubstr("kserve-v2: infer chest/1.0.0: HTTP 400: inputs[0].shape: wrong"));

  EXPECT_EQ(RunAgainst(Answer(404, ErrorJson("gone"))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(RunAgainst(Answer(401, "")).status().code(), StatusCode::kUnauthenticated);

  std::vector<blob::HttpRequest> requests;
  auto outage = RunAgainst(Answer(502, ""), &requests);
  EXPECT_EQ(outage.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(outage.status().message(), HasSubstr("HTTP 502: (no error text)"));
  EXPECT_EQ(requests.size(), 4u);  // metadata + 3 attempts

  auto garbage = RunAgainst(Answer(200, "not json"));
  EXPECT_EQ(garbage.status().code(), StatusCode::kInternal);
  EXPECT_THAT(garbage.status().message(),
              HasSubstr("kserve-v2: infer chest/1.0.0: invalid response: infer response: not "
                        "valid JSON"));

  auto wrong_shape = RunAgainst(
      Answer(200, R"({"model_name": "chest", "outputs": [{"name": "probabilities", "shape": [1, 3],
              "datatype": "FP32", "data": [0.1, 0.2, 0.3]}]})"));
  EXPECT_EQ(wrong_shape.status().code(), StatusCode::kInternal);
  EXPECT_THAT(wrong_shape.status().message(), HasSubstr("has shape [1, 3]; expected [1, 2]"));

  const std::string long_text(2000, 'x');
  auto long_error = RunAgainst(Answer(400, ErrorJson(long_text)));
  EXPECT_LT(long_error.status().message().size(), 700u);
}

TEST(RemoteKServeEngineTest, RunRejectsBadBatchesWithoutCallingTheServer) {
  const std::string metadata = Metadata("[-1, 1, 3, 4]");
  Harness s =
      MakeEngine(Options(), [&](const blob::HttpRequest& r) { return GoodServer(r, metadata); });
  auto model = s.engine->Load("", TestCard());
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->Run({}).status().code(), StatusCode::kInvalidArgument);
  Tensor wrong = TestTensor(0.5f);
  wrong.channels = 3;
  wrong.values.resize(wrong.ExpectedSize());
  EXPECT_EQ((*model)->Run(std::vector<Tensor>{wrong}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(s.client->requests().size(), 1u);  // the metadata only
}

TEST(RemoteKServeEngineTest, ValidatesOptions) {
  auto invalid = [](const std::string& url, const std::string& what) {
    RemoteKServeOptions options = Options();
    options.base_url = url;
    const Status status = ValidateRemoteKServeOptions(options);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(status.message(), HasSubstr(what)) << url;
  };
  invalid("", "no URL configured");
  invalid("ftp://host", "must start with http:// or https://");
  invalid("scoring.example.net", "must start with http:// or https://");
  invalid("https://", "no host");
  invalid("http:///v2", "no host");
  invalid("https://host/a b", "must not contain spaces");
  invalid("https://host/?key=1", "'?' or '#'");
  invalid("https://host/#x", "'?' or '#'");

  RemoteKServeOptions options = Options();
  EXPECT_TRUE(ValidateRemoteKServeOptions(options).ok());
  options.base_url = "http://127.0.0.1:8080";
  EXPECT_TRUE(ValidateRemoteKServeOptions(options).ok());
  options.timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(ValidateRemoteKServeOptions(options).code(), StatusCode::kInvalidArgument);
  options.timeout = std::chrono::milliseconds(1000);
  options.max_attempts = 0;
  EXPECT_EQ(ValidateRemoteKServeOptions(options).code(), StatusCode::kInvalidArgument);
}

TEST(RemoteKServeEngineTest, FactoryCreatesTheRemoteKind) {
  EngineOptions options;
  options.kind = EngineKind::kRemoteKServe;
  auto missing = CreateInferenceEngine(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("no URL configured"));

  options.remote_url = "file:///etc/passwd";
  EXPECT_EQ(CreateInferenceEngine(options).status().code(), StatusCode::kInvalidArgument);

  // Creating the engine does not contact the server.
  options.remote_url = "http://127.0.0.1:9/";
  options.remote_token = kToken;
  auto engine = CreateInferenceEngine(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->name(), "kserve-v2");
}

}  // namespace
}  // namespace strata::inference
