// FileBlobStore: a BlobStore on the local file system, one file per key under a root folder.
//
// Durable puts: the staged file is fsynced, linked into place (create-only is atomic) and the
// directory fsynced. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "blob/blob_store.h"

namespace strata::blob {

// Creates `root` (and its staging folder) if missing. kUnavailable if it cannot.
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);

}  // namespace strata::blob
