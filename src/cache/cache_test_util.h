// Test helpers shared by the hot cache's and the prefetcher's tests: objects placed in a store
// the way ingest places them, and archived the way the archiver archives them.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "blob/blob_store.h"
#include "blob/file_blob_store.h"
#include "catalog/catalog.h"

namespace strata::cache::testing {

// A file store under `dir` that emulates the archive's tiers; a rehydration takes ten minutes
// of `now_ms`. Null (and a test failure) when it cannot be opened.
inline std::unique_ptr<blob::BlobStore> OpenEmulatedArchive(const std::string& dir,
                                                            std::function<int64_t()> now_ms) {
  blob::FileBlobStoreOptions options;
  options.emulate_tiers = true;
  options.rehydration_delay = std::chrono::seconds(600);
  options.now_ms = std::move(now_ms);
  auto archive = blob::OpenFileBlobStore(dir, options);
  if (!archive.ok()) {
    ADD_FAILURE() << archive.status().ToString();
    return nullptr;
  }
  return std::move(archive).value();
}

// Writes `content` to a staging file of `store` and places it under `key`.
inline void PutContent(blob::BlobStore& store, const std::string& key, const std::string& content,
                       const blob::PutOptions& options) {
  auto staged = store.StagingPath();
  ASSERT_TRUE(staged.ok());
  std::ofstream(*staged, std::ios::binary) << content;
  ASSERT_TRUE(store.Put(key, *staged, options).ok());
  ::unlink(staged->c_str());
}

// Copies the instance's object (`content`) to `archive` under the same key at `tier`, and
// records it in the catalog as archived at `now_ms`.
inline void ArchiveInstance(catalog::Catalog& catalog, blob::BlobStore& archive,
                            const catalog::InstanceRecord& record, const std::string& content,
                            blob::StorageTier tier, int64_t now_ms) {
  blob::PutOptions put;
  put.create_only = true;
  put.tier = tier;
  PutContent(archive, record.blob_key, content, put);
  catalog::ArchiveRecord archived;
  archived.blob_key = record.blob_key;
  archived.sop_instance_uid = record.metadata.sop_instance_uid;
  archived.outcome = catalog::ArchiveOutcome::kArchived;
  archived.archive_key = record.blob_key;
  archived.tier = std::string(blob::StorageTierName(tier));
  archived.size_bytes = content.size();
  archived.archived_at_ms = now_ms;
  ASSERT_TRUE(
      catalog
          .Write([&](catalog::WriteTxn& txn) -> Status { return txn.RecordArchiveState(archived); })
          .ok());
}

}  // namespace strata::cache::testing
