// The route table of /dicomweb and the DicomWebServer that owns the HTTP listener.
#include <chrono>
#include <utility>

#include "dicomweb/ai_handlers.h"
#include "dicomweb/handlers.h"
#include "dicomweb/series_activity.h"

namespace strata::dicomweb {
namespace {

using catalog::QueryLevel;
using security::Role;

class BeastDicomWebServer : public DicomWebServer {
 public:
  BeastDicomWebServer(const DicomWebOptions& options, ingest::IngestService& ingest,
                      catalog::Catalog& catalog, blob::BlobStore& blobs,
                      const AccessControl& access, ai::AiPipeline* ai)
      : services_{options, ingest, catalog, blobs, access}, http_(HttpOptions(options)) {
    Services* s = &services_;
    // Every route is registered through here, so none escapes authentication and audit.
    auto route = [this](const char* method, const std::string& pattern, Role need,
                        const char* action, Handler handler) {
      http_.AddRoute(method, pattern, Guarded(services_.access, need, action, std::move(handler)));
    };
    auto qido = [s](QueryLevel level) {
      return [s, level](Request& r) { return HandleQido(*s, r, level); };
    };
    auto wado = [s](Request& r) { return HandleWado(*s, r); };
    auto metadata = [s](Request& r) { return HandleMetadata(*s, r); };
    auto stow = [s](Request& r) { return HandleStow(*s, r); };
    const std::string base = "/dicomweb";
    route("GET", base + "/studies", Role::kReader, "qido.studies", qido(QueryLevel::kStudy));
    route("GET", base + "/series", Role::kReader, "qido.series", qido(QueryLevel::kSeries));
    route("GET", base + "/instances", Role::kReader, "qido.instances", qido(QueryLevel::kInstance));
    route("GET", base + "/studies/{study}/series", Role::kReader, "qido.series",
          qido(QueryLevel::kSeries));
    route("GET", base + "/studies/{study}/instances", Role::kReader, "qido.instances",
          qido(QueryLevel::kInstance));
    route("GET", base + "/studies/{study}/series/{series}/instances", Role::kReader,
          "qido.instances", qido(QueryLevel::kInstance));
    route("GET", base + "/studies/{study}", Role::kReader, "wado.study", wado);
    route("GET", base + "/studies/{study}/series/{series}", Role::kReader, "wado.series", wado);
    route("GET", base + "/studies/{study}/series/{series}/instances/{instance}", Role::kReader,
          "wado.instance", wado);
    route("GET", base + "/studies/{study}/metadata", Role::kReader, "wado.metadata", metadata);
    route("GET", base + "/studies/{study}/series/{series}/metadata", Role::kReader, "wado.metadata",
          metadata);
    route("GET", base + "/studies/{study}/series/{series}/instances/{instance}/metadata",
          Role::kReader, "wado.metadata", metadata);
    const std::string instance = base + "/studies/{study}/series/{series}/instances/{instance}";
    auto frames = [s](Request& r) { return HandleFrames(*s, r); };
    route("GET", instance + "/frames/{frames}", Role::kReader, "wado.frames", frames);
    auto bulkdata = [s](Request& r) { return HandleBulkData(*s, r); };
    route("GET", instance + "/bulkdata/{tag}", Role::kReader, "wado.bulkdata", bulkdata);
    auto rendered = [s](Request& r) { return HandleRendered(*s, r, /*thumbnail=*/false); };
    route("GET", instance + "/rendered", Role::kReader, "wado.rendered", rendered);
    route("GET", instance + "/frames/{frames}/rendered", Role::kReader, "wado.rendered", rendered);
    auto thumbnail = [s](Request& r) { return HandleRendered(*s, r, /*thumbnail=*/true); };
    route("GET", base + "/studies/{study}/thumbnail", Role::kReader, "wado.thumbnail", thumbnail);
    route("GET", base + "/studies/{study}/series/{series}/thumbnail", Role::kReader,
          "wado.thumbnail", thumbnail);
    route("GET", instance + "/thumbnail", Role::kReader, "wado.thumbnail", thumbnail);
    route("GET", instance + "/frames/{frames}/thumbnail", Role::kReader, "wado.thumbnail",
          thumbnail);
    if (!options.viewer_dir.empty()) {
      // The viewer's static files hold no patient data; its DICOMweb requests are guarded.
      const std::string viewer_dir = options.viewer_dir;
      http_.SetFallback("GET", [viewer_dir](Request& r) { return HandleViewer(viewer_dir, r); });
    }
    route("POST", base + "/studies", Role::kWriter, "stow.request", stow);
    route("POST", base + "/studies/{study}", Role::kWriter, "stow.request", stow);
    route("DELETE", base + "/studies/{study}", Role::kAdmin, "study.delete",
          [s](Request& r) { return HandleDeleteStudy(*s, r); });
    route("GET", "/changefeed", Role::kReader, "changefeed.read",
          [s](Request& r) { return HandleChangeFeed(*s, r); });
    // The catalog's series state (when each series last received an instance), for operators
    // and for checking what per-series AI runs and lifecycle passes will see.
    auto now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    route("GET", "/admin/v1/series/{series}/activity", Role::kAdmin, "admin.series_activity",
          [s, now_ms](Request& r) { return HandleSeriesActivity(s->catalog, r, now_ms()); });
    route("GET", "/admin/v1/series", Role::kAdmin, "admin.series_stable",
          [s, now_ms](Request& r) { return HandleStableSeries(s->catalog, r, now_ms()); });
    if (options.admin_status) {
      route("GET", "/admin/v1/status", Role::kAdmin, "admin.status",
            [status = options.admin_status](Request&) {
              Result<std::string> body = status();
              if (!body.ok()) return Response::Error(body.status());
              return Response::Json(200, std::move(*body), "application/json");
            });
    }
    if (ai) AddAiRoutes(route, *ai, ingest);
  }

  // /ai/v1 and the KServe v2 (Open Inference Protocol) routes. Any authenticated user may
  // read results and review them (the reviewer is the token's name); the job list and retrying a
  // failed job are for admins. KServe health carries no data and answers without credentials, for
  // probes.
  template <typename Route>
  void AddAiRoutes(Route& route, ai::AiPipeline& ai, ingest::IngestService& ingest) {
    ai::AiPipeline* a = &ai;
    ingest::IngestService* in = &ingest;
    route("GET", "/ai/v1/models", Role::kReader, "ai.models",
          [a](Request& r) { return HandleAiModels(*a, r); });
    route("POST", "/ai/v1/models/{name}/infer", Role::kReader, "ai.infer",
          [a, in](Request& r) { return HandleAiInfer(*a, *in, r); });
    route("GET", "/ai/v1/results", Role::kReader, "ai.results",
          [a](Request& r) { return HandleAiResults(*a, r); });
    route("GET", "/ai/v1/results/{id}", Role::kReader, "ai.result",
          [a](Request& r) { return HandleAiResult(*a, r); });
    route("POST", "/ai/v1/results/{id}/review", Role::kReader, "ai.review",
          [a](Request& r) { return HandleAiReview(*a, r); });
    route("GET", "/ai/v1/stats", Role::kReader, "ai.stats",
          [a](Request& r) { return HandleAiStats(*a, r); });
    route("GET", "/ai/v1/jobs", Role::kAdmin, "ai.jobs",
          [a](Request& r) { return HandleAiJobs(*a, r); });
    route("POST", "/ai/v1/jobs/{id}/retry", Role::kAdmin, "ai.job_retry",
          [a](Request& r) { return HandleAiJobRetry(*a, r); });
    http_.AddRoute("GET", "/v2/health/live", HandleKServeHealth);
    http_.AddRoute("GET", "/v2/health/ready", HandleKServeHealth);
    auto metadata = [a](Request& r) { return HandleKServeMetadata(*a, r); };
    route("GET", "/v2/models/{name}", Role::kReader, "kserve.metadata", metadata);
    route("GET", "/v2/models/{name}/versions/{version}", Role::kReader, "kserve.metadata",
          metadata);
    auto infer = [a](Request& r) { return HandleKServeInfer(*a, r); };
    route("POST", "/v2/models/{name}/infer", Role::kReader, "kserve.infer", infer);
    route("POST", "/v2/models/{name}/versions/{version}/infer", Role::kReader, "kserve.infer",
          infer);
  }

  Status Start() override { return http_.Start(); }
  uint16_t port() const override { return http_.port(); }
  void Stop() override { http_.Stop(); }

 private:
  static HttpServerOptions HttpOptions(const DicomWebOptions& options) {
    HttpServerOptions http;
    http.bind_address = options.bind_address;
    http.port = options.port;
    http.max_body_bytes = options.max_body_bytes;
    http.worker_threads = options.threads;
    http.cors_allowed_origins = options.cors_allowed_origins;
    http.tls_certificate_file = options.tls_certificate_file;
    http.tls_private_key_file = options.tls_private_key_file;
    return http;
  }

  Services services_;
  HttpServer http_;
};

}  // namespace

std::unique_ptr<DicomWebServer> CreateDicomWebServer(const DicomWebOptions& options,
                                                     ingest::IngestService& ingest,
                                                     catalog::Catalog& catalog,
                                                     blob::BlobStore& blobs,
                                                     const security::Authenticator& authenticator,
                                                     audit::AuditLog& audit, ai::AiPipeline* ai) {
  return std::make_unique<BeastDicomWebServer>(options, ingest, catalog, blobs,
                                               AccessControl{&authenticator, &audit}, ai);
}

}  // namespace strata::dicomweb
