// Wiring: the only place that names concrete back ends. Builds every service of
// `strata serve` from a Config.
#pragma once

#include <memory>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "core/status.h"
#include "dicomweb/dicomweb_server.h"
#include "dimse/dimse_server.h"
#include "ingest/ingest_service.h"

namespace strata::app {

// Owns the services; members are destroyed in reverse order (server first).
struct Services {
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<ingest::IngestService> ingest;
  std::unique_ptr<dimse::DimseServer> dimse;
  std::unique_ptr<dicomweb::DicomWebServer> dicomweb;
};

// Creates the data directory, opens the catalog and object store, finishes ingests a crash
// interrupted, and prepares (does not start) the DIMSE server.
Result<std::unique_ptr<Services>> BuildServices(const Config& config);

}  // namespace strata::app
