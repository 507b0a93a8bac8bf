#include "dimse/store_scu.h"

#include <set>
#include <utility>

#include "dicom/dicom_file.h"
#include "dicom/transcode.h"
#include "dimse/scu.h"

namespace strata::dimse {

Result<StoreScuResult> StoreFiles(const DicomPeer& peer, const std::vector<std::string>& paths,
                                  const StoreScuOptions& options) {
  StoreScuResult result;
  if (paths.empty()) return result;
  if (peer.host.empty() || peer.port == 0) {
    return InvalidArgument("peer " + peer.ae_title + " has no host or port");
  }

  std::vector<FileToSend> files;
  std::set<std::pair<std::string, std::string>> objects;
  for (const auto& path : paths) {
    Result<dicom::ParsedInstance> parsed = dicom::ReadInstance(path);
    if (!parsed.ok()) return parsed.status().WithContext(path);
    const dicom::InstanceMetadata& m = parsed->metadata;
    if (m.transfer_syntax_uid.empty()) {
      return InvalidArgument(path + ": not a Part 10 file (no file meta information)");
    }
    files.push_back({path, m.sop_class_uid, m.sop_instance_uid, m.transfer_syntax_uid});
    objects.insert({m.sop_class_uid, m.transfer_syntax_uid});
  }

  // Transcoding may be needed when the peer takes only native syntaxes.
  dicom::RegisterTranscodeCodecs();
  STRATA_ASSIGN_OR_RETURN(auto association,
                          StoreAssociation::OpenEvenWithoutContexts(
                              peer, options.calling_ae, options.max_pdu, options.timeout_seconds,
                              {objects.begin(), objects.end()}));
  for (const auto& file : files) {
    Status usable =
        CheckCanSend(association->assoc(), file.sop_class_uid, file.transfer_syntax_uid);
    if (!usable.ok()) {
      return FailedPrecondition(peer.ae_title + " cannot receive " + file.path + ": " +
                                usable.message());
    }
  }

  SubOperationOptions send_options;
  send_options.timeout_seconds = options.timeout_seconds;
  for (const auto& file : files) {
    bool warning = false;
    Status sent = SendFile(association->assoc(), file, send_options, &warning);
    if (!sent.ok()) {
      if (sent.code() == StatusCode::kUnavailable) association->MarkBroken();
      return sent.WithContext("sending " + file.path + " to " + peer.ae_title);
    }
    ++result.sent;
    if (warning) ++result.warnings;
  }
  return result;
}

}  // namespace strata::dimse
