// C-FIND SCP (PS3.4 C.4.1), Patient Root and Study Root: one pending response per catalog row,
// fetched a page at a time so memory does not grow with the number of matches.
#include <dcmtk/dcmdata/dcdeftag.h>

#include <vector>

#include "core/log.h"
#include "dimse/dimse_status.h"
#include "dimse/negotiation.h"
#include "dimse/query_identifier.h"
#include "dimse/scp.h"

namespace strata::dimse {
namespace {

constexpr size_t kPageSize = 256;

struct FindState {
  AssociationContext* ctx = nullptr;
  QueryModel model = QueryModel::kStudyRoot;
  bool started = false;
  bool exhausted = false;  // the last page was short: no more rows
  catalog::Query query;
  std::vector<catalog::QueryRow> page;
  size_t next = 0;
  int64_t matches = 0;
};

Status FetchPage(FindState& state) {
  state.query.limit = kPageSize;
  state.page.clear();
  state.next = 0;
  Status status = state.ctx->server->catalog->Read([&](catalog::ReadTxn& txn) -> Status {
    auto rows = txn.Find(state.query);
    if (!rows.ok()) return rows.status();
    state.page = std::move(*rows);
    return OkStatus();
  });
  state.query.offset += state.page.size();
  if (state.page.size() < kPageSize) state.exhausted = true;
  return status;
}

void Fail(FindState& state, const Status& error, T_DIMSE_C_FindRSP* response,
          DcmDataset** status_detail) {
  const DimseStatus status = ToDimseStatus(DimseService::kFind, error);
  response->DimseStatus = status.code;
  auto* detail = new DcmDataset();  // DIMSE_findProvider deletes it
  (void)detail->putAndInsertString(DCM_ErrorComment, status.error_comment.c_str());
  *status_detail = detail;
  ++state.ctx->failures;
  log::Warn("dimse_find_failed", {{"calling_ae", state.ctx->calling_ae},
                                  {"peer", state.ctx->peer_address},
                                  {"status", StatusHex(status.code)},
                                  // Matching values may be patient data: name the code only.
                                  {"reason", error.code() == StatusCode::kInvalidArgument
                                                 ? std::string("invalid identifier")
                                                 : error.ToString()}});
}

void FindCallback(void* data, OFBool cancelled, T_DIMSE_C_FindRQ* /*request*/,
                  DcmDataset* identifier, int /*response_count*/, T_DIMSE_C_FindRSP* response,
                  DcmDataset** response_ids, DcmDataset** status_detail) {
  auto& state = *static_cast<FindState*>(data);
  *response_ids = nullptr;
  if (cancelled) {
    response->DimseStatus = STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest;
    return;
  }
  try {
    if (!state.started) {
      state.started = true;
      if (identifier == nullptr) {
        Fail(state, InvalidArgument("C-FIND without identifier"), response, status_detail);
        return;
      }
      auto query = IdentifierToQuery(*identifier, state.model, IdentifierUse::kFind);
      if (!query.ok()) {
        Fail(state, query.status(), response, status_detail);
        return;
      }
      state.query = std::move(*query);
      Status fetched = FetchPage(state);
      if (!fetched.ok()) {
        Fail(state, fetched, response, status_detail);
        return;
      }
    }
    if (state.next == state.page.size() && !state.exhausted) {
      Status fetched = FetchPage(state);
      if (!fetched.ok()) {
        Fail(state, fetched, response, status_detail);
        return;
      }
    }
    if (state.next < state.page.size()) {
      *response_ids = BuildFindResponse(*identifier, state.page[state.next++],
                                        state.ctx->server->options.ae_title)
                          .release();  // DIMSE_findProvider deletes it
      response->DimseStatus = STATUS_FIND_Pending_MatchesAreContinuing;
      ++state.matches;
      return;
    }
    response->DimseStatus = STATUS_FIND_Success_MatchingIsComplete;
  } catch (const std::exception& e) {
    Fail(state, Internal(std::string("C-FIND failed: ") + e.what()), response, status_detail);
  }
}

}  // namespace

OFCondition HandleFind(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request) {
  FindState state;
  state.ctx = &ctx;
  const std::string model = AbstractSyntaxOf(ctx.assoc, pres_id);
  state.model = IsPatientRootModel(model) ? QueryModel::kPatientRoot : QueryModel::kStudyRoot;
  if (!IsFindModel(model)) {
    // A C-FIND on a context for another service: refuse (PS3.7 C.5.1 "SOP class not supported").
    T_DIMSE_C_FindRSP response{};
    response.DimseStatus = STATUS_FIND_Refused_SOPClassNotSupported;
    DcmDataset* ids = nullptr;
    OFCondition cond = DIMSE_receiveDataSetInMemory(ctx.assoc, DIMSE_NONBLOCKING,
                                                    ctx.server->options.dimse_timeout_seconds,
                                                    &pres_id, &ids, nullptr, nullptr);
    delete ids;
    if (cond.bad()) return cond;
    return DIMSE_sendFindResponse(ctx.assoc, pres_id, &request, &response, nullptr, nullptr);
  }
  OFCondition cond =
      DIMSE_findProvider(ctx.assoc, pres_id, &request, FindCallback, &state, DIMSE_NONBLOCKING,
                         ctx.server->options.dimse_timeout_seconds);
  log::Debug("dimse_find", {{"calling_ae", ctx.calling_ae}, {"matches", state.matches}});
  Audit(ctx, "dimse.find", "", "", "", cond.good() ? OkStatus() : Unavailable(cond.text()),
        "matches=" + std::to_string(state.matches));
  return cond;
}

}  // namespace strata::dimse
