// The C-MOVE/C-GET provider loop shared by move_scp.cc and get_scp.cc: DCMTK calls Step() once
// per response; each call performs at most one C-STORE sub-operation.
//
// Internal to the dimse module. Thread-safety: belongs to the association's thread.
#pragma once

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "dimse/dimse_status.h"
#include "dimse/retrieve.h"
#include "dimse/scp.h"

namespace strata::dimse {

template <typename Response>
class RetrieveRunner {
 public:
  // `open` runs once the instances are known (C-MOVE opens its sub-association there);
  // `send` performs one sub-operation.
  using OpenFn = std::function<Status(const std::vector<catalog::InstanceLocation>&)>;
  using SendFn = std::function<Status(const catalog::InstanceLocation&, bool* warning)>;

  RetrieveRunner(AssociationContext& ctx, QueryModel model, const char* service, OpenFn open,
                 SendFn send)
      : ctx_(ctx),
        model_(model),
        service_(service),
        open_(std::move(open)),
        send_(std::move(send)) {}

  // Fails the whole request before anything is located (e.g. unknown move destination).
  void Refuse(const DimseStatus& status) { refusal_ = status; }
  // A C-CANCEL seen while a sub-operation was in flight.
  void CancelRequested() { cancel_requested_ = true; }

  void Step(OFBool cancelled, DcmDataset* identifier, Response* response,
            DcmDataset** status_detail, DcmDataset** response_ids) {
    *response_ids = nullptr;
    try {
      if (!started_) {
        started_ = true;
        if (refusal_) return Finish(*refusal_, response, status_detail);
        if (identifier == nullptr) {
          return Fail(InvalidArgument("retrieve without identifier"), response, status_detail);
        }
        auto located = LocateForRetrieve(*ctx_.server->catalog, *identifier, model_);
        if (!located.ok()) return Fail(located.status(), response, status_detail);
        locations_ = std::move(*located);
        tally_.emplace(locations_.size());
        if (!locations_.empty()) {
          Status opened = open_(locations_);
          if (!opened.ok()) {
            LogFailure(opened, "");
            tally_->FailRemaining(UidsFrom(0));
          }
        }
      }
      if (cancelled || cancel_requested_) {
        response->DimseStatus = STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
        SetCounts(response);
        *response_ids = tally_->FailedIdentifier().release();
        return;
      }
      if (tally_->remaining() > 0 && ctx_.server->stopping) {
        LogFailure(Unavailable("server stopping"), "");
        tally_->FailRemaining(UidsFrom(next_));
      }
      if (tally_->remaining() > 0) {
        const catalog::InstanceLocation& location = locations_[next_++];
        bool warning = false;
        Status sent = send_(location, &warning);
        Audit(ctx_, service_ == std::string("move") ? "dimse.move" : "dimse.get",
              location.study_instance_uid, location.series_instance_uid, location.sop_instance_uid,
              sent);
        if (sent.ok()) {
          tally_->Completed(warning);
        } else {
          tally_->Failed(location.sop_instance_uid);
          LogFailure(sent, location.sop_instance_uid);
          // The association is gone: the rest cannot be sent either.
          if (sent.code() == StatusCode::kUnavailable) tally_->FailRemaining(UidsFrom(next_));
        }
      }
      SetCounts(response);
      if (tally_->remaining() > 0) {
        response->DimseStatus = STATUS_Pending;
        return;
      }
      response->DimseStatus = tally_->FinalStatus();
      *response_ids = tally_->FailedIdentifier().release();  // DCMTK deletes it
      if (tally_->failed() > 0) {
        SetComment(std::to_string(tally_->failed()) + " of " + std::to_string(locations_.size()) +
                       " sub-operations failed",
                   status_detail);
      }
    } catch (const std::exception& e) {
      Fail(Internal(std::string("retrieve failed: ") + e.what()), response, status_detail);
    }
  }

 private:
  std::vector<std::string> UidsFrom(size_t index) const {
    std::vector<std::string> uids;
    for (size_t i = index; i < locations_.size(); ++i)
      uids.push_back(locations_[i].sop_instance_uid);
    return uids;
  }

  void SetCounts(Response* response) const {
    auto clamp = [](size_t n) { return static_cast<DIC_US>(std::min<size_t>(n, 0xFFFF)); };
    response->NumberOfRemainingSubOperations = clamp(tally_->remaining());
    response->NumberOfCompletedSubOperations = clamp(tally_->completed());
    response->NumberOfFailedSubOperations = clamp(tally_->failed());
    response->NumberOfWarningSubOperations = clamp(tally_->warnings());
  }

  static void SetComment(const std::string& text, DcmDataset** status_detail) {
    auto* detail = new DcmDataset();  // DCMTK's provider deletes it
    (void)detail->putAndInsertString(DCM_ErrorComment, ToErrorComment(text).c_str());
    *status_detail = detail;
  }

  void Finish(const DimseStatus& status, Response* response, DcmDataset** status_detail) {
    response->DimseStatus = status.code;
    if (!status.error_comment.empty()) SetComment(status.error_comment, status_detail);
    ++ctx_.failures;
    log::Warn("dimse_retrieve_failed", {{"service", std::string(service_)},
                                        {"calling_ae", ctx_.calling_ae},
                                        {"peer", ctx_.peer_address},
                                        {"status", StatusHex(status.code)},
                                        {"reason", status.error_comment}});
  }

  void Fail(const Status& error, Response* response, DcmDataset** status_detail) {
    DimseStatus status = ToDimseStatus(DimseService::kRetrieve, error);
    status.error_comment = ToErrorComment(error.message());
    Finish(status, response, status_detail);
  }

  void LogFailure(const Status& error, const std::string& sop_instance_uid) {
    ++ctx_.failures;
    log::Warn("dimse_suboperation_failed", {{"service", std::string(service_)},
                                            {"calling_ae", ctx_.calling_ae},
                                            {"sop_instance_uid", sop_instance_uid},
                                            {"reason", error.ToString()}});
  }

  AssociationContext& ctx_;
  QueryModel model_;
  const char* service_;
  OpenFn open_;
  SendFn send_;
  std::optional<DimseStatus> refusal_;
  bool cancel_requested_ = false;
  bool started_ = false;
  std::vector<catalog::InstanceLocation> locations_;
  size_t next_ = 0;
  std::optional<RetrieveTally> tally_;
};

}  // namespace strata::dimse
