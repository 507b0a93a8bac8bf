// DicomWebServer: Strata's DICOMweb door (PS3.18) under /dicomweb on an HTTP/1.1 listener.
//
// QIDO-RS (/studies, /studies/{study}/series, /studies/{study}/series/{series}/instances,
// /series, /instances), WADO-RS (study, series, instance as multipart/related
// application/dicom or application/zip; /metadata, /frames, /bulkdata, /rendered,
// /thumbnail), optionally a web viewer at /, and STOW-RS (POST /studies, /studies/{study}).
// Answers come from the same catalog as C-FIND, objects are stored through the same
// IngestService as C-STORE.
// Thread-safety: Start/Stop from one controlling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ai/ai_pipeline.h"
#include "audit/audit_log.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"
#include "ingest/ingest_service.h"
#include "security/authenticator.h"

namespace strata::dicomweb {

struct DicomWebOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 8080;  // 0: pick a free port (tests)
  uint64_t max_body_bytes = 4ULL << 30;
  int threads = 8;
  // Most QIDO results in one response; more get a Warning header (PS3.18 8.3.4.4) and the
  // client pages with offset.
  size_t max_query_results = 10000;
  // Origins allowed to call from browser pages of another origin (CORS); "*" for any.
  std::vector<std::string> cors_allowed_origins;
  // A web viewer's static files (OHIF's dist/, see tools/setup_viewer.sh), served at / with
  // a generated /app-config.js; empty: no viewer.
  std::string viewer_dir;
  // HTTPS (TLS 1.2+) when both are set: PEM certificate chain and private key files.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
  // The JSON document of GET /admin/v1/status (admin role): the hot cache's counters and
  // hit ratios and the prefetch queue, from the wiring; empty: no such route.
  std::function<Result<std::string>()> admin_status;
};

class DicomWebServer {
 public:
  virtual ~DicomWebServer() = default;
  // Binds and starts serving. kUnavailable if the address cannot be bound.
  virtual Status Start() = 0;
  // The bound port (after Start), useful with port 0.
  virtual uint16_t port() const = 0;
  // Stops accepting, closes connections, joins every thread. Idempotent.
  virtual void Stop() = 0;
};

// The services must outlive the server. Every route authenticates with `authenticator` and
// records its accesses in `audit`. With `ai`, the server also answers /ai/v1 and the KServe v2
// routes (/v2).
std::unique_ptr<DicomWebServer> CreateDicomWebServer(
    const DicomWebOptions& options, ingest::IngestService& ingest, catalog::Catalog& catalog,
    blob::BlobStore& blobs, const security::Authenticator& authenticator, audit::AuditLog& audit,
    ai::AiPipeline* ai = nullptr);

}  // namespace strata::dicomweb
