// The route table of /dicomweb and the DicomWebServer that owns the HTTP listener.
#include <utility>

#include "dicomweb/handlers.h"

namespace strata::dicomweb {
namespace {

using catalog::QueryLevel;

class BeastDicomWebServer : public DicomWebServer {
 public:
  BeastDicomWebServer(const DicomWebOptions& options, ingest::IngestService& ingest,
                      catalog::Catalog& catalog, blob::BlobStore& blobs)
      : services_{options, ingest, catalog, blobs}, http_(HttpOptions(options)) {
    Services* s = &services_;
    auto qido = [s](QueryLevel level) {
      return [s, level](Request& r) { return HandleQido(*s, r, level); };
    };
    auto wado = [s](Request& r) { return HandleWado(*s, r); };
    auto stow = [s](Request& r) { return HandleStow(*s, r); };
    const std::string base = "/dicomweb";
    http_.AddRoute("GET", base + "/studies", qido(QueryLevel::kStudy));
    http_.AddRoute("GET", base + "/series", qido(QueryLevel::kSeries));
    http_.AddRoute("GET", base + "/instances", qido(QueryLevel::kInstance));
    http_.AddRoute("GET", base + "/studies/{study}/series", qido(QueryLevel::kSeries));
    http_.AddRoute("GET", base + "/studies/{study}/instances", qido(QueryLevel::kInstance));
    http_.AddRoute("GET", base + "/studies/{study}/series/{series}/instances",
                   qido(QueryLevel::kInstance));
    http_.AddRoute("GET", base + "/studies/{study}", wado);
    http_.AddRoute("GET", base + "/studies/{study}/series/{series}", wado);
    http_.AddRoute("GET", base + "/studies/{study}/series/{series}/instances/{instance}", wado);
    auto metadata = [s](Request& r) { return HandleMetadata(*s, r); };
    http_.AddRoute("GET", base + "/studies/{study}/metadata", metadata);
    http_.AddRoute("GET", base + "/studies/{study}/series/{series}/metadata", metadata);
    http_.AddRoute("GET", base + "/studies/{study}/series/{series}/instances/{instance}/metadata",
                   metadata);
    http_.AddRoute("POST", base + "/studies", stow);
    http_.AddRoute("POST", base + "/studies/{study}", stow);
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
    return http;
  }

  Services services_;
  HttpServer http_;
};

}  // namespace

std::unique_ptr<DicomWebServer> CreateDicomWebServer(const DicomWebOptions& options,
                                                     ingest::IngestService& ingest,
                                                     catalog::Catalog& catalog,
                                                     blob::BlobStore& blobs) {
  return std::make_unique<BeastDicomWebServer>(options, ingest, catalog, blobs);
}

}  // namespace strata::dicomweb
