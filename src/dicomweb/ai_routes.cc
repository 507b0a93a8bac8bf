// The AI routes: /ai/v1 (models, online inference on a DICOM instance, results, reviews,
// agreement statistics, jobs) and the KServe v2 / Open Inference Protocol routes (/v2), so the
// same models serve KServe clients, including another Strata's remote inference back end.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/time_format.h"
#include "dicomweb/ai_handlers.h"
#include "dicomweb/request_params.h"
#include "inference/kserve_v2.h"

namespace strata::dicomweb {
namespace {

using nlohmann::json;

constexpr size_t kMaxJsonBody = 64 << 20;  // KServe tensors as JSON text
constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 1000;

Result<std::string> ReadBody(Request& request, size_t max_bytes) {
  std::string body;
  std::vector<char> buf(std::min(kBodyReadChunk, max_bytes + 1));
  while (true) {
    STRATA_ASSIGN_OR_RETURN(size_t n, request.body->Read(buf.data(), buf.size()));
    if (n == 0) return body;
    if (body.size() + n > max_bytes) {
      return ResourceExhausted("request body larger than " + std::to_string(max_bytes) + " bytes");
    }
    body.append(buf.data(), n);
  }
}

json ModelJson(const ai::RegisteredModel& m) {
  json card = json::parse(m.card_json, nullptr, false);
  return {{"name", m.name},
          {"version", m.version},
          {"active", m.active},
          {"sha256", m.sha256_hex},
          {"registered_at", FormatUtcMs(m.registered_at_ms)},
          {"registered_by", m.registered_by},
          {"card", card.is_discarded() ? json() : card}};
}

json ResultJson(const ai::InferenceResult& r) {
  json findings = json::parse(r.findings_json, nullptr, false);
  return {{"id", r.id},
          {"model", r.model_name},
          {"model_version", r.model_version},
          {"study_instance_uid", r.study_uid},
          {"series_instance_uid", r.series_uid},
          {"sop_instance_uid", r.sop_uid},
          {"engine", r.engine},
          {"findings", findings.is_discarded() ? json::array() : findings},
          {"positive", r.any_positive},
          {"latency_ms", r.latency_ms},
          {"time", FormatUtcMs(r.created_at_ms)},
          {"report_sop_instance_uid", r.report_sop_uid}};
}

json FindingsJson(const std::vector<ai::Finding>& findings) {
  json out = json::array();
  for (const auto& f : findings) {
    out.push_back({{"label", f.label},
                   {"probability", f.probability},
                   {"threshold", f.threshold},
                   {"positive", f.positive}});
  }
  return out;
}

Response JsonOk(int status, const json& body) {
  return Response::Json(status, body.dump(), "application/json");
}

// `what` names the id in the error: "result", "job".
Result<int64_t> PathId(const Request& request, const std::string& what = "result") {
  auto it = request.path_params.find("id");
  const std::string text = it == request.path_params.end() ? "" : it->second;
  auto id = ParseNonNegative("id", text);
  if (!id.ok()) {
    return InvalidArgument(what + " id must be a non-negative integer, not '" + text + "'");
  }
  return id;
}

std::string PathParam(const Request& request, const char* name) {
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? "" : it->second;
}

// The model as the KServe v2 metadata route describes it: its input and output with a
// dynamic batch axis.
inference::V2ModelMetadata MetadataFromCard(const inference::ModelCard& card,
                                            std::vector<std::string> versions) {
  inference::V2ModelMetadata meta;
  meta.name = card.name;
  meta.versions = std::move(versions);
  meta.platform = "onnxruntime_onnx";
  meta.inputs.push_back({std::string(inference::kV2InputName),
                         "FP32",
                         {-1, card.input.channels, card.input.height, card.input.width}});
  meta.outputs.push_back({std::string(inference::kV2OutputName),
                          "FP32",
                          {-1, static_cast<int64_t>(card.labels.size())}});
  return meta;
}

Response KServeError(const Status& status) {
  Response r = Response::Error(status);
  r.body = inference::ErrorJson(status.message());
  return r;
}

}  // namespace

Response HandleAiModels(ai::AiPipeline& ai, Request& request) {
  auto models = ai.records().ListModels();
  if (!models.ok()) return Response::Error(models.status());
  json out = json::array();
  for (const auto& m : *models) out.push_back(ModelJson(m));
  return JsonOk(200, {{"models", out}});
}

Response HandleAiInfer(ai::AiPipeline& ai, ingest::IngestService& ingest, Request& request) {
  const std::string model = PathParam(request, "name");
  // The instance goes to a private staging file, is scored, and is removed: nothing is stored.
  auto staged = ingest.StagingPath();
  if (!staged.ok()) return Response::Error(staged.status());
  Status written = [&]() -> Status {
    FILE* f = std::fopen(staged->c_str(), "wb");
    if (!f) return Internal("cannot write a staging file");
    std::vector<char> buf(kBodyReadChunk);
    Status status;
    while (true) {
      auto n = request.body->Read(buf.data(), buf.size());
      if (!n.ok()) {
        status = n.status();
        break;
      }
      if (*n == 0) break;
      if (std::fwrite(buf.data(), 1, *n, f) != *n) {
        status = Unavailable("staging file write failed");
        break;
      }
    }
    std::fclose(f);
    return status;
  }();
  Result<ai::InferOutcome> outcome =
      written.ok() ? ai.InferFile(model, *staged) : Result<ai::InferOutcome>(written);
  ::unlink(staged->c_str());
  if (!outcome.ok()) return Response::Error(outcome.status());
  return JsonOk(200, {{"model", outcome->model_name},
                      {"model_version", outcome->model_version},
                      {"engine", outcome->engine},
                      {"findings", FindingsJson(outcome->findings)},
                      {"positive", std::any_of(outcome->findings.begin(), outcome->findings.end(),
                                               [](const ai::Finding& f) { return f.positive; })},
                      {"latency_ms", outcome->latency_ms}});
}

Response HandleAiResults(ai::AiPipeline& ai, Request& request) {
  ai::ResultFilter filter;
  filter.limit = kDefaultLimit;
  for (const auto& [name, value] : request.query) {
    if (name == "study") {
      filter.study_uid = value;
    } else if (name == "instance") {
      filter.sop_uid = value;
    } else if (name == "model") {
      filter.model_name = value;
    } else if (name == "offset") {
      auto v = ParseNonNegative(name, value);
      if (!v.ok()) return Response::Error(v.status());
      filter.after_id = *v;
    } else if (name == "limit") {
      auto limit = ParseLimit(name, value, kMaxLimit);
      if (!limit.ok()) return Response::Error(limit.status());
      filter.limit = *limit;
    } else {
      return Response::Error(400, "unknown query parameter '" + name +
                                      "' (results take study, instance, model, offset, limit)");
    }
  }
  auto results = ai.records().ListResults(filter);
  if (!results.ok()) return Response::Error(results.status());
  json out = json::array();
  for (const auto& r : *results) out.push_back(ResultJson(r));
  return JsonOk(200, {{"results", out},
                      {"next_offset", results->empty() ? filter.after_id : results->back().id},
                      {"done", results->size() < filter.limit}});
}

Response HandleAiResult(ai::AiPipeline& ai, Request& request) {
  auto id = PathId(request);
  if (!id.ok()) return Response::Error(id.status());
  auto result = ai.records().GetResult(*id);
  if (!result.ok()) return Response::Error(result.status());
  if (!*result) return Response::Error(404, "no inference result " + std::to_string(*id));
  auto reviews = ai.records().Reviews(*id);
  if (!reviews.ok()) return Response::Error(reviews.status());
  json out = ResultJson(**result);
  // Only here, not in the list: it costs a catalog lookup per result.
  if (std::string heatmap = ai.HeatmapUid(**result); !heatmap.empty()) {
    out["heatmap_sop_instance_uid"] = heatmap;
  }
  out["reviews"] = json::array();
  for (const auto& r : *reviews) {
    out["reviews"].push_back({{"reviewer", r.reviewer},
                              {"agree", r.agree},
                              {"comment", r.comment},
                              {"time", FormatUtcMs(r.created_at_ms)}});
  }
  return JsonOk(200, out);
}

Response HandleAiReview(ai::AiPipeline& ai, Request& request) {
  auto id = PathId(request);
  if (!id.ok()) return Response::Error(id.status());
  auto body = ReadBody(request, 64 * 1024);
  if (!body.ok()) return Response::Error(body.status());
  json j = json::parse(*body, nullptr, false);
  if (!j.is_object() || !j.contains("agree") || !j["agree"].is_boolean()) {
    return Response::Error(400,
                           "review body must be a JSON object with a boolean \"agree\" "
                           "and an optional string \"comment\"");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "agree" && key != "comment") {
      return Response::Error(400, "unknown review field '" + key + "'");
    }
  }
  if (j.contains("comment") && !j["comment"].is_string()) {
    return Response::Error(400, "review field 'comment' must be a string");
  }
  ai::Review review;
  review.result_id = *id;
  review.reviewer = request.user;
  review.agree = j["agree"].get<bool>();
  review.comment = j.value("comment", "");
  Status added = ai.records().AddReview(review);
  if (!added.ok()) return Response::Error(added);
  return JsonOk(201, {{"result_id", *id}, {"reviewer", review.reviewer}, {"agree", review.agree}});
}

Response HandleAiStats(ai::AiPipeline& ai, Request& request) {
  auto stats = ai.records().Agreement();
  if (!stats.ok()) return Response::Error(stats.status());
  json out = json::array();
  for (const auto& s : *stats) {
    out.push_back({{"model", s.model_name},
                   {"model_version", s.model_version},
                   {"results", s.results},
                   {"positive", s.positive},
                   {"reviewed", s.reviewed},
                   {"agreed", s.agreed},
                   {"agreement", s.reviewed ? static_cast<double>(s.agreed) / s.reviewed : 0.0}});
  }
  auto counters = ai.Counters();
  return JsonOk(200, {{"models", out},
                      {"pipeline",
                       {{"inferences", counters.inferences},
                        {"reports_stored", counters.reports_stored},
                        {"notifications_sent", counters.notifications_sent},
                        {"failures", counters.failures}}}});
}

Response HandleAiJobs(ai::AiPipeline& ai, Request& request) {
  jobs::JobFilter filter;
  for (const auto& [name, value] : request.query) {
    if (name == "kind") {
      filter.kind = value;
    } else if (name == "state") {
      auto state = jobs::ParseJobState(value);
      if (!state) return Response::Error(400, "unknown job state '" + value + "'");
      filter.state = *state;
    } else if (name == "offset") {
      auto v = ParseNonNegative(name, value);
      if (!v.ok()) return Response::Error(v.status());
      filter.after_id = *v;
    } else if (name == "limit") {
      auto limit = ParseLimit(name, value, kMaxLimit);
      if (!limit.ok()) return Response::Error(limit.status());
      filter.limit = *limit;
    } else {
      return Response::Error(
          400, "unknown query parameter '" + name + "' (jobs take kind, state, offset, limit)");
    }
  }
  auto list = ai.jobs().List(filter);
  if (!list.ok()) return Response::Error(list.status());
  json out = json::array();
  for (const auto& job : *list) {
    json payload = json::parse(job.payload, nullptr, false);
    out.push_back({{"id", job.id},
                   {"kind", job.kind},
                   {"state", std::string(jobs::JobStateName(job.state))},
                   {"attempts", job.attempts},
                   {"max_attempts", job.max_attempts},
                   {"payload", payload.is_discarded() ? json() : payload},
                   {"last_error", job.last_error},
                   {"created", FormatUtcMs(job.created_at_ms)},
                   {"updated", FormatUtcMs(job.updated_at_ms)}});
  }
  return JsonOk(200, {{"jobs", out}});
}

Response HandleAiJobRetry(ai::AiPipeline& ai, Request& request) {
  auto id = PathId(request, "job");
  if (!id.ok()) return Response::Error(id.status());
  // Only a failed job goes back to pending (attempts reset); anything else is refused.
  Status retried = ai.jobs().Retry(*id);
  if (!retried.ok()) return Response::Error(retried);
  ai.Notify();
  return JsonOk(200, {{"id", *id}, {"state", "pending"}});
}

Response HandleKServeMetadata(ai::AiPipeline& ai, Request& request) {
  const std::string name = PathParam(request, "name");
  const std::string version = PathParam(request, "version");
  auto card = ai.Card(name, version);
  if (!card.ok()) return KServeError(card.status());
  auto models = ai.records().ListModels();
  if (!models.ok()) return KServeError(models.status());
  std::vector<std::string> versions;
  for (const auto& m : *models) {
    if (m.name == name) versions.push_back(m.version);
  }
  inference::V2ModelMetadata meta = MetadataFromCard(*card, std::move(versions));
  return Response::Json(200, inference::ModelMetadataToJson(meta), "application/json");
}

Response HandleKServeInfer(ai::AiPipeline& ai, Request& request) {
  const std::string name = PathParam(request, "name");
  const std::string version = PathParam(request, "version");
  auto body = ReadBody(request, kMaxJsonBody);
  if (!body.ok()) return KServeError(body.status());
  auto parsed = inference::ParseInferRequest(*body);
  if (!parsed.ok()) return KServeError(parsed.status());
  auto card = ai.Card(name, version);
  if (!card.ok()) return KServeError(card.status());
  auto tensors = inference::TensorsFromRequest(*card, *parsed);
  if (!tensors.ok()) return KServeError(tensors.status());
  inference::ModelCard used;
  auto scores = ai.InferTensors(name, version, *tensors, &used);
  if (!scores.ok()) return KServeError(scores.status());
  auto response = inference::ResponseFromScores(used, *scores, parsed->id);
  return Response::Json(200, inference::InferResponseToJson(response), "application/json");
}

Response HandleKServeHealth(Request& request) {
  return Response::Json(200, "{}", "application/json");
}

}  // namespace strata::dicomweb
