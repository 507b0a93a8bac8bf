// The DICOMweb request handlers, internal to the module; routes.cc puts them in the table.
// Thread-safety: handlers run concurrently; the services they share are thread-safe.
#pragma once

#include <string>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "dicomweb/access.h"
#include "dicomweb/dicomweb_server.h"
#include "dicomweb/http_server.h"
#include "ingest/ingest_service.h"

namespace strata::dicomweb {

struct Services {
  DicomWebOptions options;
  ingest::IngestService& ingest;
  catalog::Catalog& catalog;
  blob::BlobStore& blobs;
  AccessControl access;
};

Response HandleQido(Services& services, Request& request, catalog::QueryLevel level);
Response HandleWado(Services& services, Request& request);
Response HandleMetadata(Services& services, Request& request);
Response HandleStow(Services& services, Request& request);
Response HandleChangeFeed(Services& services, Request& request);
// DELETE /studies/{study}: soft delete; 409 naming the retention or legal hold that forbids it.
Response HandleDeleteStudy(Services& services, Request& request);
Response HandleFrames(Services& services, Request& request);
Response HandleBulkData(Services& services, Request& request);
// `thumbnail`: /thumbnail (a small picture) rather than /rendered.
Response HandleRendered(Services& services, Request& request, bool thumbnail);
// The viewer's static files under `viewer_dir`, for any GET no other route answers.
Response HandleViewer(const std::string& viewer_dir, Request& request);

}  // namespace strata::dicomweb
