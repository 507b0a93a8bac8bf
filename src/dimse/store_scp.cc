// C-STORE SCP (PS3.4 Annex B): the data set streams straight into a staged Part 10 file, bit
// for bit as received (file meta information added) and hashed as it arrives, then
// IngestService makes it durable and the response status comes from dimse_status.cc.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "core/log.h"
#include "dimse/dimse_status.h"
#include "dimse/scp.h"
#include "ingest/dataset_hasher.h"

namespace strata::dimse {
namespace {

struct StoreState {
  ~StoreState() {
    if (staged_fd >= 0) ::close(staged_fd);
  }

  // Hashes what DCMTK has written to the staged file so far, while the rest is still on its way.
  void HashStaged() {
    if (staged_path.empty() || hash_failed) return;
    if (staged_fd < 0) staged_fd = ::open(staged_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (staged_fd < 0) return;                      // not created yet
    hash_failed = !hasher.CatchUp(staged_fd).ok();  // ingest then hashes the file itself
  }

  AssociationContext* ctx = nullptr;
  std::string staged_path;  // empty when staging failed and the data set is discarded
  Status staging_error;
  std::unique_ptr<DcmDataset> status_detail;  // owned here: DIMSE_storeProvider does not
  int staged_fd = -1;
  ingest::DatasetHasher hasher;
  bool hash_failed = false;
};

void SetFailure(StoreState& state, T_DIMSE_C_StoreRSP* response, DcmDataset** status_detail,
                const DimseStatus& status) {
  response->DimseStatus = status.code;
  if (status.error_comment.empty()) return;
  state.status_detail = std::make_unique<DcmDataset>();
  (void)state.status_detail->putAndInsertString(DCM_ErrorComment, status.error_comment.c_str());
  *status_detail = state.status_detail.get();
}

void StoreCallback(void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ* request,
                   char* /*file_name*/, DcmDataset** /*dataset*/, T_DIMSE_C_StoreRSP* response,
                   DcmDataset** status_detail) {
  auto& state = *static_cast<StoreState*>(data);
  state.HashStaged();
  if (progress->state != DIMSE_StoreEnd) return;
  AssociationContext& ctx = *state.ctx;
  Status result;
  std::string study_uid, series_uid;
  if (!state.staging_error.ok()) {
    result = state.staging_error;
  } else if (response->DimseStatus != STATUS_Success) {
    // DCMTK could not write the staged file (disk full, I/O error).
    result = ResourceExhausted("cannot write the received data set to staging");
  } else {
    ingest::IngestRequest ingest_request;
    ingest_request.staged_path = state.staged_path;
    ingest_request.source_ae = ctx.calling_ae;
    ingest_request.source_address = ctx.peer_address;
    ingest_request.expected_sop_class_uid = request->AffectedSOPClassUID;
    ingest_request.expected_sop_instance_uid = request->AffectedSOPInstanceUID;
    if (state.staged_fd >= 0 && !state.hash_failed) ingest_request.digest = state.hasher.Finish();
    try {
      auto ingested = ctx.server->ingest->Ingest(ingest_request);
      if (!ingested.ok()) {
        result = ingested.status();
      } else {
        study_uid = ingested->study_instance_uid;
        series_uid = ingested->series_instance_uid;
      }
    } catch (const std::exception& e) {
      result = Internal(std::string("ingest threw: ") + e.what());
    }
    // Ingest removes the staged file on failure; make sure, as the sender must not leave
    // anything behind.
    if (!result.ok()) (void)unlink(state.staged_path.c_str());
  }
  Audit(ctx, "dimse.store", study_uid, series_uid, request->AffectedSOPInstanceUID, result);
  if (result.ok()) {
    response->DimseStatus = STATUS_Success;
    ++ctx.stored;
    return;
  }
  ++ctx.failures;
  const DimseStatus status = ToDimseStatus(DimseService::kStore, result);
  SetFailure(state, response, status_detail, status);
  log::Warn("dimse_store_failed",
            {{"calling_ae", ctx.calling_ae},
             {"peer", ctx.peer_address},
             {"sop_instance_uid", std::string(request->AffectedSOPInstanceUID)},
             {"sop_class_uid", std::string(request->AffectedSOPClassUID)},
             {"status", StatusHex(status.code)},
             {"reason", result.ToString()}});
}

}  // namespace

OFCondition HandleStore(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                        T_DIMSE_C_StoreRQ& request) {
  StoreState state;
  state.ctx = &ctx;
  auto staged = ctx.server->ingest->StagingPath();
  if (staged.ok()) {
    state.staged_path = *staged;
  } else {
    state.staging_error =
        staged.status().code() == StatusCode::kResourceExhausted
            ? staged.status()
            : ResourceExhausted("staging unavailable: " + staged.status().message());
  }
  // Without a staging file the data set still has to be read off the wire: into /dev/null.
  const char* file = state.staged_path.empty() ? NULL_DEVICE_NAME : state.staged_path.c_str();
  OFCondition cond = DIMSE_storeProvider(
      ctx.assoc, pres_id, &request, file, /*writeMetaheader=*/OFTrue, nullptr, StoreCallback,
      &state, DIMSE_NONBLOCKING, ctx.server->options.dimse_timeout_seconds);
  if (cond.bad() && !state.staged_path.empty()) (void)unlink(state.staged_path.c_str());
  if (cond == DIMSE_OUTOFRESOURCES) {
    // The staged file could not be written (disk full): DCMTK has read the rest of the data
    // set off the wire and sent our 0xA700 response, so the association goes on.
    return EC_Normal;
  }
  if (cond.bad() && !state.staged_path.empty()) {
    // Truncated or aborted transfer: nothing may stay behind.
    ++ctx.failures;
    log::Warn("dimse_store_aborted",
              {{"calling_ae", ctx.calling_ae},
               {"peer", ctx.peer_address},
               {"sop_instance_uid", std::string(request.AffectedSOPInstanceUID)},
               {"reason", std::string(cond.text())}});
  }
  return cond;
}

}  // namespace strata::dimse
