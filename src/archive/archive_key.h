// The archive store's object key for one stored object version.
//
// The local store names a first version "dicom/<study>/<series>/<sop>.dcm" and later versions
// "dicom/<study>/<series>/<sop>.<hash prefix>.dcm" (see ingest). The archive keeps that version
// suffix after the BlobNamer's key, so versions never collide there either:
// vendor-neutral names equal the local key; opaque names become
// "dicom-opaque/ab/cd/<h>[.<hash prefix>].dcm". Thread-safety: a pure function.
#pragma once

#include <string>

#include "blob/blob_naming.h"
#include "core/status.h"

namespace strata::archive {

// kInvalidArgument if a UID is not plausible or `local_key` is not the local name of `uids`.
Result<std::string> ArchiveKey(const blob::BlobNamer& namer, const blob::InstanceUids& uids,
                               const std::string& local_key);

}  // namespace strata::archive
