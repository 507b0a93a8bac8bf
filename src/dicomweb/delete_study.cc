// DELETE /dicomweb/studies/{study}: a soft delete (DESIGN.md contract 2). The study disappears
// from QIDO-RS, WADO-RS, C-FIND, C-MOVE and C-GET but every object stays, recoverable with
// `strata admin restore`, until `strata admin purge` removes it after [retention]
// soft_delete_days. A study under retention or legal hold is refused with 409 and the reason.
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/time_format.h"
#include "dicomweb/handlers.h"

namespace strata::dicomweb {

Response HandleDeleteStudy(Services& services, Request& request) {
  const std::string study = request.path_params.at("study");
  const std::string by = request.user.empty() ? "anonymous" : request.user;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  catalog::StudyProtection after;
  Status status = services.catalog.Write([&](catalog::WriteTxn& txn) -> Status {
    STRATA_RETURN_IF_ERROR(txn.SoftDeleteStudy(study, by, now_ms));
    STRATA_ASSIGN_OR_RETURN(after, txn.GetStudyProtection(study));
    return OkStatus();
  });
  if (!status.ok()) return Response::Error(status);
  nlohmann::json body = {
      {"study_instance_uid", study},    {"state", "deleted"},
      {"deleted_by", after.deleted_by}, {"deleted_at", FormatUtcMs(after.deleted_at_ms)},
      {"instances", after.instances},   {"recoverable", true}};
  return Response::Json(200, body.dump(), "application/json");
}

}  // namespace strata::dicomweb
