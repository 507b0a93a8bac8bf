// C-GET SCP (PS3.4 C.4.3): sub-operations on the requesting association, on the storage
// contexts for which the requestor accepted the SCP role.
#include "dimse/negotiation.h"
#include "dimse/retrieve_runner.h"
#include "dimse/scu.h"

namespace strata::dimse {
namespace {

using GetRunner = RetrieveRunner<T_DIMSE_C_GetRSP>;

void GetCallback(void* data, OFBool cancelled, T_DIMSE_C_GetRQ* /*request*/, DcmDataset* identifier,
                 int /*response_count*/, T_DIMSE_C_GetRSP* response, DcmDataset** status_detail,
                 DcmDataset** response_ids) {
  static_cast<GetRunner*>(data)->Step(cancelled, identifier, response, status_detail, response_ids);
}

}  // namespace

OFCondition HandleGet(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                      T_DIMSE_C_GetRQ& request) {
  const DimseServerOptions& options = ctx.server->options;
  const std::string model = AbstractSyntaxOf(ctx.assoc, pres_id);
  GetRunner* runner_ptr = nullptr;
  GetRunner runner(
      ctx, IsPatientRootModel(model) ? QueryModel::kPatientRoot : QueryModel::kStudyRoot, "get",
      [](const std::vector<catalog::InstanceLocation>&) { return OkStatus(); },
      [&](const catalog::InstanceLocation& location, bool* warning) -> Status {
        SubOperationOptions sub_options;
        sub_options.require_scp_role = true;
        sub_options.timeout_seconds = options.dimse_timeout_seconds;
        bool cancel_seen = false;
        sub_options.cancel_seen = &cancel_seen;
        Status sent = SendInstance(ctx.assoc, *ctx.server->blobs, location, sub_options, warning);
        if (cancel_seen) runner_ptr->CancelRequested();
        return sent;
      });
  runner_ptr = &runner;
  if (!IsGetModel(model)) {
    runner.Refuse({STATUS_GET_Refused_SOPClassNotSupported, "C-GET on a non C-GET context"});
  }
  return DIMSE_getProvider(ctx.assoc, pres_id, &request, GetCallback, &runner, DIMSE_NONBLOCKING,
                           options.dimse_timeout_seconds);
}

}  // namespace strata::dimse
