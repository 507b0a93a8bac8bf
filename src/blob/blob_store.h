// BlobStore: immutable objects under string keys ("dicom/<study>/<series>/<sop>.dcm").
//
// Objects are written once and never modified in place. Thread-safety: implementations are
// safe for concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::blob {

// A readable local file holding one object's bytes. For a local back end it is the stored
// object itself (read-only); a remote back end fetches into a temporary file that is removed
// when the LocalObject is destroyed.
class LocalObject {
 public:
  LocalObject(std::string path, bool remove_on_close)
      : path_(std::move(path)), remove_on_close_(remove_on_close) {}
  ~LocalObject();
  LocalObject(const LocalObject&) = delete;
  LocalObject& operator=(const LocalObject&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool remove_on_close_;
};

struct BlobInfo {
  uint64_t size_bytes = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores the file at `source_path` (written by the caller at a StagingPath) under `key`,
  // durably (file and directory fsynced) before returning. The staged file stays where it is
  // until the caller removes it: a staged file that survives a crash tells start-up recovery
  // which object an interrupted ingest may have placed. With create_only, fails with
  // kAlreadyExists if `key` exists. kResourceExhausted when the store is out of space.
  virtual Status PutFile(const std::string& key, const std::string& source_path,
                         bool create_only) = 0;

  // A fresh path where a caller may write a file to be handed to PutFile (same file system,
  // so storing it is a link, not a copy). The caller removes it when done.
  virtual Result<std::string> StagingPath() = 0;

  // Staged files that existed when the store was opened: left by a process that stopped
  // before removing them. The caller inspects and removes them (see IngestService::Recover).
  virtual std::vector<std::string> StagedLeftovers() = 0;

  // kNotFound if `key` does not exist.
  virtual Result<std::unique_ptr<LocalObject>> Open(const std::string& key) = 0;
  virtual Result<BlobInfo> Stat(const std::string& key) = 0;
  // Deleting a missing key is OK (idempotent).
  virtual Status Delete(const std::string& key) = 0;
  // Calls fn for every key starting with `prefix`, in no particular order.
  virtual Status List(const std::string& prefix,
                      const std::function<void(const std::string& key)>& fn) = 0;
  // Free bytes where new objects go; kUnimplemented where that has no meaning.
  virtual Result<uint64_t> FreeBytes() = 0;
};

}  // namespace strata::blob
