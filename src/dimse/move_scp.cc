// C-MOVE SCP (PS3.4 C.4.2): sub-operations on one association Strata opens to the move
// destination, which must be a configured peer.
#include <memory>
#include <set>

#include "dimse/negotiation.h"
#include "dimse/retrieve_runner.h"
#include "dimse/scu.h"

namespace strata::dimse {
namespace {

using MoveRunner = RetrieveRunner<T_DIMSE_C_MoveRSP>;

void MoveCallback(void* data, OFBool cancelled, T_DIMSE_C_MoveRQ* /*request*/,
                  DcmDataset* identifier, int /*response_count*/, T_DIMSE_C_MoveRSP* response,
                  DcmDataset** status_detail, DcmDataset** response_ids) {
  static_cast<MoveRunner*>(data)->Step(cancelled, identifier, response, status_detail,
                                       response_ids);
}

}  // namespace

OFCondition HandleMove(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_MoveRQ& request) {
  const DimseServerOptions& options = ctx.server->options;
  const std::string model = AbstractSyntaxOf(ctx.assoc, pres_id);
  const std::string destination = TrimSpaces(request.MoveDestination);
  const DicomPeer* peer = nullptr;
  for (const auto& p : options.peers) {
    if (p.ae_title == destination) peer = &p;
  }
  std::unique_ptr<StoreAssociation> sub;
  const uint16_t message_id = request.MessageID;
  MoveRunner runner(
      ctx, IsPatientRootModel(model) ? QueryModel::kPatientRoot : QueryModel::kStudyRoot, "move",
      [&](const std::vector<catalog::InstanceLocation>& locations) -> Status {
        std::set<std::pair<std::string, std::string>> objects;
        for (const auto& l : locations) objects.insert({l.sop_class_uid, l.transfer_syntax_uid});
        STRATA_ASSIGN_OR_RETURN(sub,
                                StoreAssociation::Open(*peer, options.ae_title, options.max_pdu,
                                                       options.dimse_timeout_seconds,
                                                       {objects.begin(), objects.end()}));
        return OkStatus();
      },
      [&](const catalog::InstanceLocation& location, bool* warning) -> Status {
        SubOperationOptions sub_options;
        sub_options.move_originator_ae = ctx.calling_ae;
        sub_options.move_originator_id = message_id;
        sub_options.timeout_seconds = options.dimse_timeout_seconds;
        Status sent =
            SendInstance(sub->assoc(), *ctx.server->blobs, location, sub_options, warning);
        if (sent.code() == StatusCode::kUnavailable) sub->MarkBroken();
        return sent;
      });
  if (!IsMoveModel(model)) {
    runner.Refuse({STATUS_MOVE_Refused_SOPClassNotSupported, "C-MOVE on a non C-MOVE context"});
  } else if (peer == nullptr) {
    runner.Refuse(
        {kMoveDestinationUnknown, ToErrorComment("move destination unknown: " + destination)});
  }
  return DIMSE_moveProvider(ctx.assoc, pres_id, &request, MoveCallback, &runner, DIMSE_NONBLOCKING,
                            options.dimse_timeout_seconds);
}

}  // namespace strata::dimse
