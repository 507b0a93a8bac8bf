#include "blob/blob_naming.h"

#include "blob/crypto_util.h"

namespace strata::blob {
namespace {

constexpr size_t kMinNamingKeyBytes = 32;

}  // namespace

bool IsPlausibleUid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  char previous = 0;
  for (char c : uid) {
    if (c == '.' && previous == '.') return false;
    if (c != '.' && (c < '0' || c > '9')) return false;
    previous = c;
  }
  return true;
}

Result<BlobNamer> BlobNamer::Create(BlobNaming naming, std::string naming_key) {
  if (naming == BlobNaming::kOpaque && naming_key.size() < kMinNamingKeyBytes) {
    return InvalidArgument("opaque blob naming needs a naming key of at least " +
                           std::to_string(kMinNamingKeyBytes) + " bytes");
  }
  return BlobNamer(naming, std::move(naming_key));
}

Result<std::string> BlobNamer::ObjectKey(const InstanceUids& uids) const {
  if (!IsPlausibleUid(uids.study) || !IsPlausibleUid(uids.series) || !IsPlausibleUid(uids.sop)) {
    return InvalidArgument("object key needs valid study, series and SOP instance UIDs");
  }
  const std::string path = uids.study + "/" + uids.series + "/" + uids.sop;
  if (naming_ == BlobNaming::kVendorNeutral) return "dicom/" + path + ".dcm";
  const std::string hash = HexEncode(HmacSha256(naming_key_, path));
  return "dicom-opaque/" + hash.substr(0, 2) + "/" + hash.substr(2, 2) + "/" + hash + ".dcm";
}

std::map<std::string, std::string> BlobNamer::InstanceMetadata(const InstanceUids& uids) {
  return {{kStudyUidMetadata, uids.study},
          {kSeriesUidMetadata, uids.series},
          {kSopUidMetadata, uids.sop}};
}

Result<InstanceUids> BlobNamer::UidsFromMetadata(
    const std::map<std::string, std::string>& metadata) {
  InstanceUids uids;
  const std::pair<const char*, std::string*> fields[] = {{kStudyUidMetadata, &uids.study},
                                                         {kSeriesUidMetadata, &uids.series},
                                                         {kSopUidMetadata, &uids.sop}};
  for (const auto& [name, target] : fields) {
    auto it = metadata.find(name);
    if (it == metadata.end()) return NotFound(std::string("object metadata lacks ") + name);
    if (!IsPlausibleUid(it->second)) {
      return InvalidArgument(std::string("object metadata ") + name + " is not a UID");
    }
    *target = it->second;
  }
  return uids;
}

}  // namespace strata::blob
