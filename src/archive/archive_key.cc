#include "archive/archive_key.h"

namespace strata::archive {
namespace {

constexpr std::string_view kExtension = ".dcm";

bool EndsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<std::string> ArchiveKey(const blob::BlobNamer& namer, const blob::InstanceUids& uids,
                               const std::string& local_key) {
  const std::string local_base = "dicom/" + uids.study + "/" + uids.series + "/" + uids.sop;
  if (local_key.rfind(local_base, 0) != 0 || !EndsWith(local_key, kExtension)) {
    return InvalidArgument("object key '" + local_key + "' is not the local name of SOP " +
                           uids.sop);
  }
  // "" for a first version, ".<hash prefix>" for a later one.
  const std::string version_suffix =
      local_key.substr(local_base.size(), local_key.size() - local_base.size() - kExtension.size());
  if (!version_suffix.empty() && version_suffix.find('/') != std::string::npos) {
    return InvalidArgument("object key '" + local_key + "' has an unexpected version suffix");
  }
  STRATA_ASSIGN_OR_RETURN(std::string named, namer.ObjectKey(uids));
  if (!EndsWith(named, kExtension)) return Internal("blob namer key without .dcm: " + named);
  return named.substr(0, named.size() - kExtension.size()) + version_suffix +
         std::string(kExtension);
}

}  // namespace strata::archive
