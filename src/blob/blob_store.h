// BlobStore: immutable objects under string keys ("dicom/<study>/<series>/<sop>.dcm").
//
// Objects are written once and never modified in place. Thread-safety: implementations are
// safe for concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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

  // Moves the file at `source_path` (which the store's StagingPath gave, already written) to
  // `key`, durably (file and directory fsynced) before returning. With create_only, fails
  // with kAlreadyExists if `key` exists and leaves `source_path` in place. kResourceExhausted
  // when the store is out of space.
  virtual Status PutFile(const std::string& key, const std::string& source_path,
                         bool create_only) = 0;

  // A fresh path where a caller may write a file to be handed to PutFile (same file system,
  // so the move is a rename). The caller removes it if it does not call PutFile.
  virtual Result<std::string> StagingPath() = 0;

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
