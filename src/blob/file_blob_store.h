// FileBlobStore: a BlobStore on the local file system, one file per key under a root folder.
//
// Durable puts: the staged file is fsynced, linked into place (create-only is atomic) and the
// directory fsynced. Thread-safe.
//
// Tier emulation (FileBlobStoreOptions::emulate_tiers), so that an archive on a file system
// (tests, demos, sites without a cloud) behaves like Azure Blob Storage's access tiers, which
// Azurite does not emulate: Put keeps the asked tier and metadata, SetTier moves an object,
// and an object in the Archive tier cannot be opened until it is rehydrated. Rehydration
// starts with SetTier out of Archive (as on Azure) or with the first Open, and completes by
// itself `rehydration_delay` later (observed lazily, on the next Open, Stat or SetTier). The
// state lives in a small JSON sidecar per object under <root>/.tiers/<key>.json, replaced
// atomically and fsynced, so it survives a restart; List never shows sidecars. The same
// emulation keeps write protection (SetProtection, as Azure's immutability policies and legal
// holds, which Azurite does not emulate either): a retained or held object cannot be deleted
// or overwritten (kFailedPrecondition). Without
// emulation the store has no tiers or metadata (Put with either, and SetTier, return
// kUnimplemented).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "blob/blob_store.h"

namespace strata::blob {

struct FileBlobStoreOptions {
  bool emulate_tiers = false;
  // How long a rehydration out of the Archive tier takes (Azure: up to 15 hours at standard
  // priority).
  std::chrono::milliseconds rehydration_delay{std::chrono::hours(1)};
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// Creates `root` (and its staging folder) if missing. kUnavailable if it cannot.
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root,
                                                     FileBlobStoreOptions options);

}  // namespace strata::blob
