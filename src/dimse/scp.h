// Internal to the dimse module: what every per-service SCP handler gets, and the handlers.
//
// Handlers run on the association's thread, one DIMSE message at a time; they return the
// network condition (bad: the association is unusable and is aborted by the caller). Service
// failures are reported to the peer as DIMSE statuses, never as a bad condition.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "audit/audit_log.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "dimse/dimse_server.h"
#include "ingest/ingest_service.h"

namespace strata::dimse {

// The services and settings shared by every association; owned by the server.
struct ServerContext {
  DimseServerOptions options;
  ingest::IngestService* ingest = nullptr;
  catalog::Catalog* catalog = nullptr;
  blob::BlobStore* blobs = nullptr;
  audit::AuditLog* audit = nullptr;
  std::atomic<bool> stopping{false};
  // Associations past negotiation, for the max_associations limit.
  std::atomic<int> active_associations{0};
};

// One accepted association, as the handlers see it.
struct AssociationContext {
  ServerContext* server = nullptr;
  T_ASC_Association* assoc = nullptr;
  std::string calling_ae;
  std::string peer_address;
  // Counters for the association's log line.
  int64_t stored = 0;
  int64_t failures = 0;
};

OFCondition HandleEcho(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       const T_DIMSE_C_EchoRQ& request);
OFCondition HandleStore(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                        T_DIMSE_C_StoreRQ& request);
OFCondition HandleFind(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request);
OFCondition HandleMove(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_MoveRQ& request);
OFCondition HandleGet(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                      T_DIMSE_C_GetRQ& request);

// `text` without leading and trailing spaces (AE titles arrive space-padded).
inline std::string TrimSpaces(const std::string& text) {
  const auto first = text.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

// Records one audit event for the association's peer (actor "ae:<calling AE>").
void Audit(const AssociationContext& ctx, const char* action, const std::string& study_uid,
           const std::string& series_uid, const std::string& instance_uid, const Status& outcome,
           const std::string& detail = "");

// The abstract syntax (SOP class UID) of an accepted presentation context, or "".
std::string AbstractSyntaxOf(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id);

}  // namespace strata::dimse
