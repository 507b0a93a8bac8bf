// BlobStore: immutable objects under string keys ("dicom/<study>/<series>/<sop>.dcm").
//
// Objects are written once and never modified in place. Thread-safety: implementations are
// safe for concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

// Access tiers of cloud object storage, from fast and dear to slow and cheap. An object in
// kArchive cannot be read until it is rehydrated to another tier.
enum class StorageTier { kHot, kCool, kCold, kArchive };

// "Hot", "Cool", "Cold", "Archive" (the Azure spelling).
std::string_view StorageTierName(StorageTier tier);
// Case-insensitive inverse of StorageTierName; nullopt for anything else.
std::optional<StorageTier> ParseStorageTier(std::string_view name);

struct BlobInfo {
  uint64_t size_bytes = 0;
  // The object's tier where the back end has tiers, else nullopt.
  std::optional<StorageTier> tier = std::nullopt;
  // Rehydration state of an archived object as the service reports it (e.g.
  // "rehydrate-pending-to-hot"); empty when none.
  std::string archive_status = {};
  // Raw MD5 of the content where the back end keeps one, else empty.
  std::string content_md5 = {};
  std::string etag = {};
  // User metadata stored with the object (names lowercase).
  std::map<std::string, std::string> metadata = {};
  // Write protection in force in the store itself (see BlobProtection), where it has any.
  std::optional<int64_t> retain_until_ms = std::nullopt;
  bool legal_hold = false;
};

// Write protection of one object by the store itself (WORM): while retained or held, the
// store refuses to delete or overwrite it, whatever the caller's credentials. Strata enforces
// retention and holds itself too (catalog); this is the second line, in the archive.
struct BlobProtection {
  int64_t retain_until_ms = 0;  // Unix ms; 0: no time-based retention
  bool legal_hold = false;
};

// Options of BlobStore::Put.
struct PutOptions {
  bool create_only = false;
  // Tier of the new object; nullopt leaves the back end's default.
  std::optional<StorageTier> tier = std::nullopt;
  // Stored with the object. Names: letters, digits and '_' (C identifiers, lowercase);
  // values printable ASCII.
  std::map<std::string, std::string> metadata = {};
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

  // PutFile for a caller that stores several objects and then makes them durable together:
  // the object's bytes are flushed before this returns, its name (the directory entry) only
  // by a later SyncNames of its key, which flushes each directory once however many of the
  // keys it holds. Stores whose PutFile is durable on return keep the base versions (PutFile,
  // and nothing left to do).
  virtual Status PutFileUnsyncedName(const std::string& key, const std::string& source_path,
                                     bool create_only);
  virtual Status SyncNames(const std::vector<std::string>& keys);

  // Stores that keep a content MD5 (Azure) have checked the bytes they received against the
  // source file's when a put returns OK, so a caller need not read the object back.
  //
  // PutFile with a tier and metadata for the new object. The base version serves back ends
  // without tiers or metadata: it calls PutFile when neither is asked for and otherwise
  // returns kUnimplemented rather than silently dropping them (metadata may be what makes
  // the archive rebuildable, see blob_naming.h).
  virtual Status Put(const std::string& key, const std::string& source_path,
                     const PutOptions& options);

  // Put, then the new object as Stat would describe it. The base version calls Stat; stores
  // that learn it from the write itself override this to save the round trip.
  virtual Result<BlobInfo> PutDescribed(const std::string& key, const std::string& source_path,
                                        const PutOptions& options);

  // Moves an object to `tier`. kNotFound if missing; kUnimplemented where the back end has no
  // tiers (the base version).
  virtual Status SetTier(const std::string& key, StorageTier tier);

  // Sets the object's write protection to exactly `protection` (a retention may be moved or
  // removed where the store allows: Azure's unlocked policies, the emulating FileBlobStore).
  // kNotFound if missing; kUnimplemented where the back end has none (the base version).
  virtual Status SetProtection(const std::string& key, const BlobProtection& protection);

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
