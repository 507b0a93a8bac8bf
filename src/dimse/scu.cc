#include "dimse/scu.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "dicom/transcode.h"
#include "dimse/association.h"

namespace strata::dimse {
namespace {

// PS3.8 9.3.2.2: presentation context IDs are odd numbers 1..255.
constexpr int kMaxContexts = 128;

struct AcceptedContext {
  T_ASC_PresentationContextID id = 0;
  std::string transfer_syntax;
};

std::vector<AcceptedContext> AcceptedContextsFor(T_ASC_Association* assoc,
                                                 const std::string& sop_class, bool scp_role) {
  std::vector<AcceptedContext> result;
  for (int id = 1; id <= 255; id += 2) {
    T_ASC_PresentationContext pc;
    if (ASC_findAcceptedPresentationContext(assoc->params,
                                            static_cast<T_ASC_PresentationContextID>(id), &pc)
            .bad()) {
      continue;
    }
    if (sop_class != pc.abstractSyntax) continue;
    // acceptedRole is the requestor's role: for C-GET it must include SCP.
    if (scp_role && pc.acceptedRole != ASC_SC_ROLE_SCP && pc.acceptedRole != ASC_SC_ROLE_SCUSCP) {
      continue;
    }
    result.push_back({pc.presentationContextID, pc.acceptedTransferSyntax});
  }
  return result;
}

bool IsWarning(uint16_t status) {
  return status == STATUS_STORE_Warning_CoercionOfDataElements ||
         status == STATUS_STORE_Warning_DataSetDoesNotMatchSOPClass ||
         status == STATUS_STORE_Warning_ElementsDiscarded;
}

struct ChosenContext {
  T_ASC_PresentationContextID id = 0;
  std::string transfer_syntax;
};

// The accepted context to send an object of `sop_class` stored in `stored_ts` on: one for
// `stored_ts` itself, else one for a native syntax it can be transcoded to.
Result<ChosenContext> ChooseContext(T_ASC_Association* assoc, const std::string& sop_class,
                                    const std::string& stored_ts, bool scp_role) {
  const auto contexts = AcceptedContextsFor(assoc, sop_class, scp_role);
  if (contexts.empty()) {
    return FailedPrecondition("no accepted presentation context for SOP class " + sop_class);
  }
  std::vector<std::string> accepted;
  for (const auto& c : contexts) accepted.push_back(c.transfer_syntax);
  STRATA_ASSIGN_OR_RETURN(std::string ts, dicom::ChooseTransferSyntax(stored_ts, accepted));
  ChosenContext chosen;
  chosen.transfer_syntax = ts;
  for (const auto& c : contexts) {
    if (c.transfer_syntax == ts) {
      chosen.id = c.id;
      break;
    }
  }
  return chosen;
}

struct StoreReply {
  OFCondition cond;  // bad: network failure, the association is unusable
  uint16_t status = 0;
  std::string error_comment;
};

// Sends the Part 10 file at `path` as one C-STORE-RQ on context `pres_id`.
StoreReply SendStoreRequest(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                            const std::string& sop_class, const std::string& sop_instance,
                            const std::string& path, const SubOperationOptions& options) {
  T_DIMSE_C_StoreRQ request;
  std::memset(&request, 0, sizeof(request));
  request.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(request.AffectedSOPClassUID, sop_class.c_str(),
                      sizeof(request.AffectedSOPClassUID));
  OFStandard::strlcpy(request.AffectedSOPInstanceUID, sop_instance.c_str(),
                      sizeof(request.AffectedSOPInstanceUID));
  request.DataSetType = DIMSE_DATASET_PRESENT;
  request.Priority = DIMSE_PRIORITY_MEDIUM;
  if (!options.move_originator_ae.empty()) {
    OFStandard::strlcpy(request.MoveOriginatorApplicationEntityTitle,
                        options.move_originator_ae.c_str(),
                        sizeof(request.MoveOriginatorApplicationEntityTitle));
    request.MoveOriginatorID = options.move_originator_id;
    request.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
  }
  T_DIMSE_C_StoreRSP response;
  std::memset(&response, 0, sizeof(response));
  DcmDataset* detail = nullptr;
  T_DIMSE_DetectedCancelParameters cancel;
  std::memset(&cancel, 0, sizeof(cancel));
  StoreReply reply;
  reply.cond = DIMSE_storeUser(assoc, pres_id, &request, path.c_str(), nullptr, nullptr, nullptr,
                               DIMSE_NONBLOCKING, options.timeout_seconds, &response, &detail,
                               options.cancel_seen != nullptr ? &cancel : nullptr);
  if (detail != nullptr) {
    OFString comment;
    if (detail->findAndGetOFString(DCM_ErrorComment, comment).good()) {
      reply.error_comment = comment.c_str();
    }
    delete detail;
  }
  if (options.cancel_seen != nullptr && cancel.cancelEncountered) *options.cancel_seen = true;
  reply.status = response.DimseStatus;
  return reply;
}

std::string StatusHex(uint16_t status) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", status);
  return buf;
}

}  // namespace

Status SendInstance(T_ASC_Association* assoc, blob::BlobStore& blobs,
                    const catalog::InstanceLocation& location, const SubOperationOptions& options,
                    bool* warning) {
  *warning = false;
  STRATA_ASSIGN_OR_RETURN(ChosenContext chosen,
                          ChooseContext(assoc, location.sop_class_uid, location.transfer_syntax_uid,
                                        options.require_scp_role));
  const std::string& ts = chosen.transfer_syntax;

  STRATA_ASSIGN_OR_RETURN(auto object, blobs.Open(location.blob_key));
  std::string path = object->path();
  std::string transcoded;
  if (ts != location.transfer_syntax_uid) {
    STRATA_ASSIGN_OR_RETURN(transcoded, blobs.StagingPath());
    Status converted = dicom::TranscodeFile(object->path(), ts, transcoded);
    if (!converted.ok()) {
      (void)unlink(transcoded.c_str());
      return converted;
    }
    path = transcoded;
  }

  const StoreReply reply = SendStoreRequest(assoc, chosen.id, location.sop_class_uid,
                                            location.sop_instance_uid, path, options);
  if (!transcoded.empty()) (void)unlink(transcoded.c_str());
  if (reply.cond.bad()) {
    return Unavailable(std::string("C-STORE sub-operation: ") + reply.cond.text());
  }
  if (reply.status == STATUS_Success) return OkStatus();
  if (IsWarning(reply.status)) {
    *warning = true;
    return OkStatus();
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "peer answered C-STORE with status 0x%04X", reply.status);
  return Aborted(buf);
}

Status SendFile(T_ASC_Association* assoc, const FileToSend& file,
                const SubOperationOptions& options, bool* warning) {
  *warning = false;
  STRATA_ASSIGN_OR_RETURN(
      ChosenContext chosen,
      ChooseContext(assoc, file.sop_class_uid, file.transfer_syntax_uid, options.require_scp_role));
  std::string path = file.path;
  std::string transcoded;
  if (chosen.transfer_syntax != file.transfer_syntax_uid) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-scu-XXXXXX").string();
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) return Unavailable("cannot create a temporary file for transcoding");
    (void)close(fd);
    transcoded = tmpl;
    Status converted = dicom::TranscodeFile(file.path, chosen.transfer_syntax, transcoded);
    if (!converted.ok()) {
      (void)unlink(transcoded.c_str());
      return converted;
    }
    path = transcoded;
  }

  const StoreReply reply =
      SendStoreRequest(assoc, chosen.id, file.sop_class_uid, file.sop_instance_uid, path, options);
  if (!transcoded.empty()) (void)unlink(transcoded.c_str());
  if (reply.cond.bad()) return Unavailable(std::string("C-STORE: ") + reply.cond.text());
  if (reply.status == STATUS_Success) return OkStatus();
  if (reply.status == 0x0001 || (reply.status & 0xF000) == 0xB000) {
    *warning = true;
    return OkStatus();
  }
  std::string message = "peer answered C-STORE of " + file.sop_instance_uid + " with status " +
                        StatusHex(reply.status);
  if (!reply.error_comment.empty()) message += ": " + reply.error_comment;
  return Aborted(message);
}

Status CheckCanSend(T_ASC_Association* assoc, const std::string& sop_class_uid,
                    const std::string& transfer_syntax_uid, bool require_scp_role) {
  Result<ChosenContext> chosen =
      ChooseContext(assoc, sop_class_uid, transfer_syntax_uid, require_scp_role);
  return chosen.ok() ? OkStatus() : chosen.status();
}

Result<std::unique_ptr<StoreAssociation>> StoreAssociation::Open(
    const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
    const std::vector<std::pair<std::string, std::string>>& objects) {
  return Connect(peer, our_ae, max_pdu, timeout_seconds, objects, /*require_context=*/true);
}

Result<std::unique_ptr<StoreAssociation>> StoreAssociation::OpenEvenWithoutContexts(
    const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
    const std::vector<std::pair<std::string, std::string>>& objects) {
  return Connect(peer, our_ae, max_pdu, timeout_seconds, objects, /*require_context=*/false);
}

Result<std::unique_ptr<StoreAssociation>> StoreAssociation::Connect(
    const DicomPeer& peer, const std::string& our_ae, int max_pdu, int timeout_seconds,
    const std::vector<std::pair<std::string, std::string>>& objects, bool require_context) {
  // sop class -> stored syntaxes that need their own context (not explicit/implicit LE).
  std::map<std::string, std::set<std::string>> needs;
  for (const auto& [sop_class, ts] : objects) {
    auto& set = needs[sop_class];
    if (ts != UID_LittleEndianExplicitTransferSyntax &&
        ts != UID_LittleEndianImplicitTransferSyntax) {
      set.insert(ts);
    }
  }
  T_ASC_Network* net = nullptr;
  OFCondition cond;
  {
    std::lock_guard lock(DcmtkNetworkMutex());
    cond = ASC_initializeNetwork(NET_REQUESTOR, 0, timeout_seconds, &net);
  }
  if (cond.bad()) return Unavailable(std::string("network init: ") + cond.text());
  T_ASC_Parameters* params = nullptr;
  cond = ASC_createAssociationParameters(&params, max_pdu);
  if (cond.bad()) {
    (void)ASC_dropNetwork(&net);
    return Unavailable(std::string("association parameters: ") + cond.text());
  }
  (void)ASC_setAPTitles(params, our_ae.c_str(), peer.ae_title.c_str(), nullptr);
  const std::string address = peer.host + ":" + std::to_string(peer.port);
  (void)ASC_setPresentationAddresses(params, "strata", address.c_str());

  int next_id = 1;
  auto add = [&](const std::string& sop_class, std::vector<const char*> syntaxes) {
    if (next_id > 2 * kMaxContexts - 1) return;
    (void)ASC_addPresentationContext(params, static_cast<T_ASC_PresentationContextID>(next_id),
                                     sop_class.c_str(), syntaxes.data(),
                                     static_cast<int>(syntaxes.size()));
    next_id += 2;
  };
  // Fallback contexts first, so that every SOP class gets one before the context IDs run out.
  for (const auto& [sop_class, stored] : needs) {
    add(sop_class,
        {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax});
  }
  for (const auto& [sop_class, stored] : needs) {
    for (const auto& ts : stored) add(sop_class, {ts.c_str()});
  }

  T_ASC_Association* assoc = nullptr;
  cond = ASC_requestAssociation(net, params, &assoc);
  if (cond.bad()) {
    std::string reason = cond.text();
    if (cond == DUL_ASSOCIATIONREJECTED) {
      T_ASC_RejectParameters rej;
      (void)ASC_getRejectParameters(params, &rej);
      OFString text;
      reason =
          std::string("association rejected: ") + ASC_printRejectParameters(text, &rej).c_str();
    }
    if (assoc != nullptr) {
      (void)ASC_dropAssociation(assoc);
      (void)ASC_destroyAssociation(&assoc);
    } else {
      (void)ASC_destroyAssociationParameters(&params);
    }
    (void)ASC_dropNetwork(&net);
    return Unavailable("cannot associate with " + peer.ae_title + " at " + address + ": " + reason);
  }
  if (require_context && ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
    (void)ASC_releaseAssociation(assoc);
    (void)ASC_destroyAssociation(&assoc);
    (void)ASC_dropNetwork(&net);
    return Unavailable(peer.ae_title + " accepted no presentation context");
  }
  return std::unique_ptr<StoreAssociation>(new StoreAssociation(net, assoc));
}

StoreAssociation::~StoreAssociation() {
  if (broken_) {
    (void)ASC_abortAssociation(assoc_);
  } else {
    (void)ASC_releaseAssociation(assoc_);
  }
  (void)ASC_dropAssociation(assoc_);
  (void)ASC_destroyAssociation(&assoc_);
  (void)ASC_dropNetwork(&net_);
}

}  // namespace strata::dimse
