#include "inference/remote_engine.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "blob/curl_http_client.h"
#include "core/log.h"
#include "inference/batch.h"
#include "inference/kserve_v2.h"

namespace strata::inference {
namespace {

constexpr std::string_view kEngineName = "kserve-v2";
constexpr size_t kMaxErrorText = 512;
constexpr std::chrono::milliseconds kMaxConnectTimeout{10'000};

Status WithEngine(const Status& status) { return status.WithContext(kEngineName); }

// RFC 3986 unreserved characters pass; everything else is percent-encoded, so a model name or
// version is always exactly one path segment.
std::string EncodePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string TrimmedBaseUrl(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

// The server's explanation of a failed call: the protocol's {"error": "..."} text, else the
// start of the body with control characters replaced.
std::string ServerErrorText(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string text;
  if (json.is_object()) {
    auto it = json.find("error");
    if (it != json.end() && it->is_string()) text = it->get<std::string>();
  }
  if (text.empty()) text = body;
  if (text.size() > kMaxErrorText) text = text.substr(0, kMaxErrorText) + "...";
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text.empty() ? "(no error text)" : text;
}

// One place where an answer of the remote server becomes a Status. REQUIRES: not 2xx.
Status HttpStatusToStatus(int http_status, const std::string& what, const std::string& body) {
  const std::string message = std::string(kEngineName) + ": " + what + ": HTTP " +
                              std::to_string(http_status) + ": " + ServerErrorText(body);
  switch (http_status) {
    case 401:
      return Unauthenticated(message);
    case 403:
      return PermissionDenied(message);
    case 404:
      return NotFound(message);
    case 408:
    case 429:
      return Unavailable(message);
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return InvalidArgument(message);
  if (http_status >= 500) return Unavailable(message);
  return Internal(message + " (unexpected status)");
}

bool IsSuccess(int http_status) { return http_status >= 200 && http_status < 300; }

// The HTTP client, retry policy and credentials shared by an engine and its models.
class Transport {
 public:
  Transport(std::unique_ptr<blob::HttpClient> client, blob::RetryPolicy policy,
            blob::RetryEnvironment environment, std::string bearer_token)
      : client_(std::move(client)),
        policy_(policy),
        environment_(std::move(environment)),
        bearer_token_(std::move(bearer_token)) {}

  // GET (empty body) or POST (JSON body) with retries. Any HTTP status is a response;
  // kUnavailable (and whatever else the client reports) for a failed exchange.
  Result<blob::HttpResponse> Send(const std::string& method, const std::string& url,
                                  const std::string& json_body) const {
    auto build = [&]() -> Result<blob::HttpRequest> {
      blob::HttpRequest request;
      request.method = method;
      request.url = url;
      request.headers.emplace_back("Accept", "application/json");
      if (method == "POST") request.headers.emplace_back("Content-Type", "application/json");
      if (!bearer_token_.empty()) {
        request.headers.emplace_back("Authorization", "Bearer " + bearer_token_);
      }
      request.body = json_body;
      return request;
    };
    return blob::SendWithRetries(*client_, policy_, build, environment_);
  }

 private:
  const std::unique_ptr<blob::HttpClient> client_;
  const blob::RetryPolicy policy_;
  const blob::RetryEnvironment environment_;
  const std::string bearer_token_;
};

class RemoteKServeModel final : public LoadedModel {
 public:
  RemoteKServeModel(ModelCard card, const Transport& transport, std::string infer_url,
                    std::string display_name, bool one_image_per_request)
      : card_(std::move(card)),
        transport_(transport),
        infer_url_(std::move(infer_url)),
        display_name_(std::move(display_name)),
        one_image_per_request_(one_image_per_request) {}

  const ModelCard& card() const override { return card_; }

  Result<std::vector<Scores>> Run(std::span<const Tensor> batch) const override {
    STRATA_RETURN_IF_ERROR(internal::CheckBatch(batch, card_.input));
    if (!one_image_per_request_) return RunRequest(batch);
    std::vector<Scores> scores;
    scores.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      STRATA_ASSIGN_OR_RETURN(std::vector<Scores> one, RunRequest(batch.subspan(i, 1)));
      scores.push_back(std::move(one.front()));
    }
    return scores;
  }

 private:
  Result<std::vector<Scores>> RunRequest(std::span<const Tensor> batch) const {
    STRATA_ASSIGN_OR_RETURN(V2InferRequest request, RequestFromTensors(card_, batch));
    const std::string what = "infer " + display_name_;
    auto response = transport_.Send("POST", infer_url_, InferRequestToJson(request));
    if (!response.ok()) return WithEngine(response.status().WithContext(what));
    if (!IsSuccess(response->status)) {
      return HttpStatusToStatus(response->status, what, response->body);
    }
    auto parsed = ParseInferResponse(response->body);
    if (!parsed.ok()) {
      return Internal(std::string(kEngineName) + ": " + what +
                      ": invalid response: " + parsed.status().message());
    }
    auto scores = ScoresFromResponse(card_, *parsed, batch.size());
    if (!scores.ok()) return WithEngine(scores.status().WithContext(what));
    return scores;
  }

  const ModelCard card_;
  const Transport& transport_;
  const std::string infer_url_;
  const std::string display_name_;  // "name/version" for messages
  const bool one_image_per_request_;
};

// The axis of a server shape agrees with the card's value when equal or dynamic (-1).
bool AxisFits(int64_t server, int expected) { return server == -1 || server == expected; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

// Checks the server's metadata against the card. Returns whether the server takes one image
// per request (a batch axis fixed at 1). kInvalidArgument on disagreement.
Result<bool> CheckMetadata(const V2ModelMetadata& metadata, const ModelCard& card,
                           const std::string& display_name) {
  const std::string prefix =
      std::string(kEngineName) + ": model " + display_name + " on the server: ";
  if (metadata.inputs.size() != 1) {
    return InvalidArgument(prefix + "has " + std::to_string(metadata.inputs.size()) +
                           " inputs; Strata models take one image tensor");
  }
  const V2TensorMeta& input = metadata.inputs.front();
  const std::string card_shape = "[-1, " + std::to_string(card.input.channels) + ", " +
                                 std::to_string(card.input.height) + ", " +
                                 std::to_string(card.input.width) + "]";
  if (input.datatype != "FP32") {
    return InvalidArgument(prefix + "input \"" + input.name + "\" is " + input.datatype +
                           "; the card needs FP32");
  }
  const auto& shape = input.shape;
  if (shape.size() != 4 || !AxisFits(shape[1], card.input.channels) ||
      !AxisFits(shape[2], card.input.height) || !AxisFits(shape[3], card.input.width)) {
    return InvalidArgument(prefix + "input \"" + input.name + "\" has shape " + ShapeText(shape) +
                           "; the card needs " + card_shape);
  }
  if (shape[0] != -1 && shape[0] != 1) {
    return InvalidArgument(prefix + "input \"" + input.name + "\" has a fixed batch size of " +
                           std::to_string(shape[0]) + "; only -1 (dynamic) or 1 is supported");
  }
  if (!metadata.outputs.empty()) {
    const V2TensorMeta* output = nullptr;
    if (metadata.outputs.size() == 1) {
      output = &metadata.outputs.front();
    } else {
      for (const V2TensorMeta& candidate : metadata.outputs) {
        if (candidate.name == kV2OutputName) output = &candidate;
      }
    }
    if (output == nullptr) {
      return InvalidArgument(prefix + "has " + std::to_string(metadata.outputs.size()) +
                             " outputs and none named \"" + std::string(kV2OutputName) + "\"");
    }
    const size_t labels = card.labels.size();
    const bool fits =
        (output->shape.size() == 2 && AxisFits(output->shape[1], static_cast<int>(labels))) ||
        (output->shape.size() == 1 && labels == 1);
    if (!fits) {
      return InvalidArgument(prefix + "output \"" + output->name + "\" has shape " +
                             ShapeText(output->shape) + "; the card has " + std::to_string(labels) +
                             " labels");
    }
  }
  return shape[0] == 1;
}

class RemoteKServeEngine final : public InferenceEngine {
 public:
  RemoteKServeEngine(RemoteKServeOptions options, std::unique_ptr<Transport> transport)
      : options_(std::move(options)),
        base_url_(TrimmedBaseUrl(options_.base_url)),
        transport_(std::move(transport)) {}

  std::string_view name() const override { return kEngineName; }

  // `onnx_path` is ignored: the model is the server's.
  Result<std::unique_ptr<LoadedModel>> Load(const std::string& onnx_path,
                                            const ModelCard& card) override {
    const std::string model = options_.model_name.empty() ? card.name : options_.model_name;
    const std::string version =
        options_.model_version.empty() ? card.version : options_.model_version;
    std::string model_url = base_url_ + "/v2/models/" + EncodePathSegment(model);
    std::string display_name = model;
    if (options_.use_version) {
      model_url += "/versions/" + EncodePathSegment(version);
      display_name += "/" + version;
    }
    const std::string what = "metadata of " + display_name;
    auto response = transport_->Send("GET", model_url, "");
    if (!response.ok()) return WithEngine(response.status().WithContext(what));
    if (!IsSuccess(response->status)) {
      return HttpStatusToStatus(response->status, what, response->body);
    }
    auto metadata = ParseModelMetadata(response->body);
    if (!metadata.ok()) {
      return InvalidArgument(std::string(kEngineName) + ": " + what +
                             ": invalid answer: " + metadata.status().message());
    }
    STRATA_ASSIGN_OR_RETURN(const bool one_image_per_request,
                            CheckMetadata(*metadata, card, display_name));
    log::Info("inference.model_loaded", {{"engine", kEngineName},
                                         {"model", std::string_view(card.name)},
                                         {"version", std::string_view(card.version)},
                                         {"remote_model", std::string_view(display_name)},
                                         {"remote_platform", metadata->platform},
                                         {"one_image_per_request", one_image_per_request}});
    return std::unique_ptr<LoadedModel>(std::make_unique<RemoteKServeModel>(
        card, *transport_, model_url + "/infer", display_name, one_image_per_request));
  }

 private:
  const RemoteKServeOptions options_;
  const std::string base_url_;
  const std::unique_ptr<Transport> transport_;
};

}  // namespace

Status ValidateRemoteKServeOptions(const RemoteKServeOptions& options) {
  const std::string_view url = options.base_url;
  const std::string prefix = std::string(kEngineName) + ": ";
  if (url.empty()) return InvalidArgument(prefix + "no URL configured");
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return InvalidArgument(prefix + "URL must start with http:// or https://");
  }
  const size_t host_end = rest.find('/');
  if (host_end == 0 || rest.empty()) return InvalidArgument(prefix + "URL has no host");
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '?' || c == '#') {
      return InvalidArgument(prefix +
                             "URL must not contain spaces, control characters, '?' or '#'");
    }
  }
  if (options.timeout.count() <= 0) return InvalidArgument(prefix + "timeout must be > 0");
  if (options.max_attempts < 1) return InvalidArgument(prefix + "max_attempts must be >= 1");
  return OkStatus();
}

Result<std::unique_ptr<InferenceEngine>> CreateRemoteKServeEngine(
    const RemoteKServeOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidateRemoteKServeOptions(options));
  blob::CurlHttpOptions http;
  http.request_timeout = options.timeout;
  http.connect_timeout = std::min(options.timeout, kMaxConnectTimeout);
  return CreateRemoteKServeEngine(options, blob::MakeCurlHttpClient(http),
                                  blob::RetryEnvironment::Real());
}

Result<std::unique_ptr<InferenceEngine>> CreateRemoteKServeEngine(
    const RemoteKServeOptions& options, std::unique_ptr<blob::HttpClient> client,
    blob::RetryEnvironment retry_environment) {
  STRATA_CHECK(client != nullptr) << "CreateRemoteKServeEngine needs an HttpClient";
  STRATA_RETURN_IF_ERROR(ValidateRemoteKServeOptions(options));
  if (!options.bearer_token.empty() && options.base_url.starts_with("http://")) {
    log::Warn("inference.remote_token_over_http", {{"engine", kEngineName}});
  }
  blob::RetryPolicy policy;
  policy.max_attempts = options.max_attempts;
  policy.initial_backoff = std::chrono::milliseconds(200);
  policy.max_backoff = std::chrono::milliseconds(5'000);
  // Room for every attempt to use its whole timeout.
  policy.max_total = options.timeout * options.max_attempts;
  auto transport = std::make_unique<Transport>(std::move(client), policy,
                                               std::move(retry_environment), options.bearer_token);
  return std::unique_ptr<InferenceEngine>(
      std::make_unique<RemoteKServeEngine>(options, std::move(transport)));
}

}  // namespace strata::inference
