#include "app/wiring.h"

#include <filesystem>

#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"

namespace strata::app {

Result<std::unique_ptr<Services>> BuildServices(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return Unavailable("cannot create data directory '" + config.data_dir + "': " + ec.message());

  auto services = std::make_unique<Services>();
  STRATA_ASSIGN_OR_RETURN(services->catalog, catalog::OpenSqliteCatalog(config.CatalogPath()));
  STRATA_ASSIGN_OR_RETURN(services->blobs, blob::OpenFileBlobStore(config.BlobPath()));

  ingest::IngestOptions ingest_options;
  ingest_options.duplicates = config.duplicates == DuplicatePolicy::kReject
                                  ? catalog::DuplicatePolicy::kReject
                                  : catalog::DuplicatePolicy::kKeepVersions;
  ingest_options.max_batch = config.group_commit_max_batch;
  ingest_options.min_free_bytes = static_cast<uint64_t>(config.min_free_bytes);
  services->ingest =
      ingest::CreateIngestService(*services->catalog, *services->blobs, ingest_options);
  STRATA_RETURN_IF_ERROR(services->ingest->Recover());

  dimse::DimseServerOptions dimse_options;
  dimse_options.ae_title = config.ae_title;
  dimse_options.bind_address = config.dimse_bind;
  dimse_options.port = config.dimse_port;
  dimse_options.max_associations = config.max_associations;
  dimse_options.max_pdu = config.max_pdu;
  dimse_options.acse_timeout_seconds = config.acse_timeout_seconds;
  dimse_options.dimse_timeout_seconds = config.dimse_timeout_seconds;
  dimse_options.accept_any_calling_ae = config.accept_any_calling_ae;
  dimse_options.allowed_calling_aes = config.allowed_calling_aes;
  dimse_options.peers = config.peers;
  services->dimse = dimse::CreateDimseServer(dimse_options, *services->ingest, *services->catalog,
                                             *services->blobs);

  dicomweb::DicomWebOptions web_options;
  web_options.bind_address = config.http_bind;
  web_options.port = config.http_port;
  web_options.max_body_bytes = static_cast<uint64_t>(config.http_max_body_bytes);
  web_options.threads = config.http_threads;
  services->dicomweb = dicomweb::CreateDicomWebServer(web_options, *services->ingest,
                                                      *services->catalog, *services->blobs);
  return services;
}

}  // namespace strata::app
