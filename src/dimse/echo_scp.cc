// C-ECHO SCP (PS3.4 Annex A): always success on an accepted Verification context.
#include "dimse/scp.h"

namespace strata::dimse {

OFCondition HandleEcho(AssociationContext& ctx, T_ASC_PresentationContextID pres_id,
                       const T_DIMSE_C_EchoRQ& request) {
  Audit(ctx, "dimse.echo", "", "", "", OkStatus());
  return DIMSE_sendEchoResponse(ctx.assoc, pres_id, &request, STATUS_Success, nullptr);
}

}  // namespace strata::dimse
