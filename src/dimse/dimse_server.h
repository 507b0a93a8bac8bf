// DimseServer: Strata's DICOM upper-layer listener (PS3.7/PS3.8), the adapter over DCMTK dcmnet.
//
// Serves C-ECHO, C-STORE (every storage SOP class, common transfer syntaxes, stored as
// received), C-FIND and C-MOVE/C-GET (Patient Root and Study Root) on many associations at
// once, each on its own thread, up to max_associations.
// Thread-safety: Start/Stop from one controlling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "core/status.h"
#include "ingest/ingest_service.h"

namespace strata::dimse {

struct DimseServerOptions {
  std::string ae_title = "STRATA";
  std::string bind_address = "0.0.0.0";
  uint16_t port = 11112;  // 0: pick a free port (tests)
  int max_associations = 32;
  int max_pdu = 131072;
  int acse_timeout_seconds = 30;
  int dimse_timeout_seconds = 60;
  bool accept_any_calling_ae = true;
  std::vector<std::string> allowed_calling_aes;  // peers' AE titles are allowed too
  std::vector<DicomPeer> peers;                  // C-MOVE destinations
};

class DimseServer {
 public:
  virtual ~DimseServer() = default;
  // Binds and starts accepting. kUnavailable if the address cannot be bound.
  virtual Status Start() = 0;
  // The bound port (after Start), useful with port 0.
  virtual uint16_t port() const = 0;
  // Stops accepting, aborts open associations, joins every thread. Idempotent.
  virtual void Stop() = 0;
};

// The services must outlive the server. Every association, query, store and retrieval is
// recorded in `audit` (actor "ae:<calling AE>").
std::unique_ptr<DimseServer> CreateDimseServer(const DimseServerOptions& options,
                                               ingest::IngestService& ingest,
                                               catalog::Catalog& catalog, blob::BlobStore& blobs,
                                               audit::AuditLog& audit);

}  // namespace strata::dimse
