// Object keys for DICOM instances in a BlobStore.
//
// kVendorNeutral: "dicom/<study>/<series>/<sop>.dcm", readable by any tool without Strata.
// kOpaque: "dicom-opaque/<h[0..1]>/<h[2..3]>/<h>.dcm" where h is the hex
// HMAC-SHA256(naming key, "<study>/<series>/<sop>"), so that no UID (which can carry patient
// information) appears in object names or storage logs. The two fan-out levels keep listings
// and per-folder tooling manageable.
//
// Either way the UIDs are also written as object metadata (InstanceMetadata), so the archive
// can be rebuilt from the objects alone; with opaque names that metadata is the only way back
// from a name to its instance.
//
// Thread-safety: a BlobNamer is immutable after Create; safe for concurrent use.
#pragma once

#include <map>
#include <string>

#include "core/status.h"

namespace strata::blob {

enum class BlobNaming { kVendorNeutral, kOpaque };

struct InstanceUids {
  std::string study;
  std::string series;
  std::string sop;
};

// A DICOM UID: 1 to 64 characters of digits and dots (PS3.5 §9.1), no empty component.
bool IsPlausibleUid(const std::string& uid);

class BlobNamer {
 public:
  // Metadata names under which the UIDs are stored.
  static constexpr const char* kStudyUidMetadata = "strata_study_uid";
  static constexpr const char* kSeriesUidMetadata = "strata_series_uid";
  static constexpr const char* kSopUidMetadata = "strata_sop_uid";

  // kInvalidArgument if naming is kOpaque and `naming_key` is shorter than 32 bytes (it is a
  // secret: whoever has it can test a guessed UID against the names).
  static Result<BlobNamer> Create(BlobNaming naming, std::string naming_key);

  // kInvalidArgument if a UID is not plausible.
  Result<std::string> ObjectKey(const InstanceUids& uids) const;

  // The metadata to store with the object for `uids`.
  static std::map<std::string, std::string> InstanceMetadata(const InstanceUids& uids);

  // The UIDs stored by InstanceMetadata; kNotFound if missing, kInvalidArgument if not UIDs.
  static Result<InstanceUids> UidsFromMetadata(const std::map<std::string, std::string>& metadata);

 private:
  BlobNamer(BlobNaming naming, std::string naming_key)
      : naming_(naming), naming_key_(std::move(naming_key)) {}

  BlobNaming naming_;
  std::string naming_key_;
};

}  // namespace strata::blob
