// HotCache: the bounded local copy of stored objects, in front of the archive store.
//
// A BlobStore decorator over the local store, so every reader (WADO-RS, C-MOVE, C-GET,
// rendered, zip) keeps calling BlobStore::Open. Writes go to the local store and are counted.
// Open serves the local copy when there is one; otherwise, for an object the catalog records
// as archived, it fetches the archive copy (ArchiveRecord::archive_key), checks its size
// against the catalog, places it back into the local store and serves it from there. An
// archive copy in the Archive tier cannot be read until it is rehydrated: Open then fails
// with kUnavailable and a retry hint (Status::retry_after_seconds, sent as Retry-After), having
// asked the archive store to rehydrate it.
//
// Eviction keeps the local bytes under max_bytes: when over, least-recently-used objects are
// deleted from the local store down to low_watermark * max_bytes. Never evicted (contract 2 of
// DESIGN.md): an object the catalog does not record as archived (counted as refused), one
// stored less than pin_recent ago, one pinned (Pin/PinStudy), and one opened less than
// min_idle ago (a reader may still be about to open its path). Without an archive store
// nothing is ever evicted.
//
// State: recency is kept in memory. At start-up it is rebuilt from the local store (each
// object's file modification time counts as its store time and its last access), so access
// recency from before a restart is lost for eviction; opens do not write to the file system.
// The time of reader opens is also written to the catalog in batches (FlushAccessTimes, at
// eviction-interval granularity) for the lifecycle rules, which count from the last read. A
// fetched-back object gets its archive time as modification time, so that after a restart it is not
// taken for a newly received one. Pins are in memory only and end with the process.
//
// Prefetch (the Prefetcher, prefetcher.h) opens objects on behalf of readers to come: such
// opens are not reader hits or misses; the first reader open of a prefetched object is a
// prefetch hit, its eviction before any reader open a wasted prefetch (HotCacheStats).
//
// Thread-safety: safe for concurrent use. Concurrent misses for one key fetch it once.
// Ownership: borrows the catalog and both stores, which must outlive the HotCache. The local
// store must be the one ingest writes to, through this cache, so that its bytes are counted;
// a FileBlobStore (Open returns the stored file itself, so a local hit copies nothing).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::cache {

struct HotCacheOptions {
  // Local bytes above which objects are evicted. REQUIRES: > 0.
  uint64_t max_bytes = 0;
  // Eviction goes down to low_watermark * max_bytes. REQUIRES: 0 < low_watermark <= 1.
  double low_watermark = 0.9;
  // Objects stored less than this ago are never evicted (a fetched-back copy counts from
  // its archive time, not from the fetch).
  std::chrono::milliseconds pin_recent{std::chrono::hours(24)};
  // Objects opened less than this ago are not evicted.
  std::chrono::milliseconds min_idle{std::chrono::minutes(5)};
  // How often the background thread checks the limit (it also runs after a put that crosses
  // it).
  std::chrono::milliseconds eviction_interval{std::chrono::seconds(60)};
  // Retry hint for an archive copy in the Archive tier when the archive store gives none
  // (Azure gives none; the emulating FileBlobStore does).
  std::chrono::seconds rehydration_retry_after{std::chrono::hours(1)};
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// What one EvictToFit pass did.
struct EvictionReport {
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t evicted_objects = 0;
  uint64_t evicted_bytes = 0;
  // Candidates kept because the catalog does not record them as archived.
  uint64_t refused_unarchived = 0;
  // Still over max_bytes after the pass (everything else is unarchived, pinned or recent).
  bool over_limit = false;
};

struct HotCacheStats {
  uint64_t max_bytes = 0;
  uint64_t bytes = 0;    // local bytes counted
  uint64_t objects = 0;  // local objects counted
  uint64_t pins = 0;     // keys pinned now
  uint64_t hits = 0;     // reader opens served by a local copy
  uint64_t misses = 0;   // reader opens that found no local copy
  uint64_t fetch_backs = 0;
  uint64_t evictions = 0;
  uint64_t bytes_evicted = 0;
  uint64_t refused_unarchived = 0;  // eviction candidates kept because not archived
  // Prefetch (HotCache::Prefetch): objects made local for a reader not yet asking. Prefetch opens
  // count in none of the reader counters above (hits, misses), but their fetch-backs do count.
  uint64_t prefetched = 0;               // objects a prefetch found local or fetched back
  uint64_t prefetch_fetch_backs = 0;     // of those, fetched back from the archive store
  uint64_t prefetch_hits = 0;            // prefetched objects a reader then opened (once each)
  uint64_t prefetch_evicted_unread = 0;  // of those, evicted before any reader opened them
  uint64_t prefetch_unread = 0;          // prefetched objects not opened by a reader yet (now)

  // Reader opens served locally, of all reader opens; 0 without any.
  double HitRatio() const;
  // Prefetched objects a reader opened, of those prefetched and since read or evicted (the
  // still unread ones are not counted either way yet); 0 without any.
  double PrefetchHitRatio() const;
};

class HotCache final : public blob::BlobStore {
 public:
  // Counts the local store's objects (List, then one stat each). kInvalidArgument for bad
  // options; the local store's errors otherwise. `archive` may be null: no archive store,
  // nothing is fetched back or evicted.
  static Result<std::unique_ptr<HotCache>> Create(catalog::Catalog& catalog, blob::BlobStore& local,
                                                  blob::BlobStore* archive,
                                                  HotCacheOptions options);
  ~HotCache() override;  // stops the background thread
  HotCache(const HotCache&) = delete;
  HotCache& operator=(const HotCache&) = delete;

  // BlobStore. Puts, staging paths, leftovers, free bytes, List and SetTier are the local
  // store's. Delete removes the local copy only: deleting archive copies is a matter for
  // retention, not for the cache. Stat of an object without a local copy but archived
  // reports the archive copy.
  Status PutFile(const std::string& key, const std::string& source_path, bool create_only) override;
  Status PutFileUnsyncedName(const std::string& key, const std::string& source_path,
                             bool create_only) override;
  Status SyncNames(const std::vector<std::string>& keys) override;
  Status Put(const std::string& key, const std::string& source_path,
             const blob::PutOptions& options) override;
  Status SetTier(const std::string& key, blob::StorageTier tier) override;
  Result<std::string> StagingPath() override;
  std::vector<std::string> StagedLeftovers() override;
  // The local copy, fetched back from the archive store first when missing (see the class
  // comment). kNotFound when the local store has no copy and the catalog records no archive
  // copy; kUnavailable with a retry hint while the archive copy is being rehydrated;
  // kDataLoss when the archive copy is missing or its size disagrees with the catalog; the
  // archive store's other errors (kUnavailable when it is down).
  Result<std::unique_ptr<blob::LocalObject>> Open(const std::string& key) override;
  Result<blob::BlobInfo> Stat(const std::string& key) override;
  Status Delete(const std::string& key) override;
  Status List(const std::string& prefix,
              const std::function<void(const std::string& key)>& fn) override;
  Result<uint64_t> FreeBytes() override;

  // Keeps `keys` from eviction for `duration` (a key need not be cached yet: a prefetcher
  // pins, then opens). A later pin of a key extends it, never shortens it.
  void Pin(const std::vector<std::string>& keys, std::chrono::milliseconds duration);
  void Unpin(const std::vector<std::string>& keys);
  // Pins the current versions of every instance of a study; returns their keys (for a
  // prefetcher to open). Catalog errors.
  Result<std::vector<std::string>> PinStudy(const std::string& study_uid,
                                            std::chrono::milliseconds duration);
  Status UnpinStudy(const std::string& study_uid);

  // Makes `key` local for a reader expected soon (the prefetcher): like Open, fetching it back
  // from the archive store when missing, with the same errors (kUnavailable with a retry hint
  // while an Archive-tier copy is rehydrated), but counted as a prefetch rather than a reader
  // hit or miss; the first reader Open afterwards counts as a prefetch hit.
  Status Prefetch(const std::string& key);

  // Evicts least-recently-used objects if the local bytes exceed max_bytes (see the class
  // comment). Catalog and local store errors stop the pass (what was evicted stays evicted).
  Result<EvictionReport> EvictToFit();

  // Deletes the local copy of `key` (which the caller knows to be archived) unless it is
  // pinned, stored less than pin_recent ago or opened less than min_idle ago: the lifecycle's
  // age-based eviction. Returns the bytes freed; nullopt when kept; 0 when there is no local
  // copy. Local store errors.
  Result<std::optional<uint64_t>> EvictIfIdle(const std::string& key);

  HotCacheStats Stats() const;

  // Records the reader opens since the last call in the catalog (WriteTxn::RecordAccess), one
  // transaction for all, at the current time: the lifecycle ages archived objects from their
  // last read. The background thread calls it before each eviction pass, and Stop at the end.
  Status FlushAccessTimes();

  // Starts the background eviction thread. Idempotent.
  void Start();
  // Stops and joins it. Idempotent.
  void Stop();

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t stored_ms = 0;
    int64_t last_access_ms = 0;
    std::list<std::string>::iterator lru_position;  // into lru_
  };
  struct Fetch;  // one in-flight fetch-back

  HotCache(catalog::Catalog& catalog, blob::BlobStore& local, blob::BlobStore* archive,
           HotCacheOptions options);

  enum class Opener { kReader, kPrefetch };
  Result<std::unique_ptr<blob::LocalObject>> OpenFor(const std::string& key, Opener opener);
  // REQUIRES: mutex_ held. Counts a prefetch of `key` (once until a reader opens it).
  void MarkPrefetched(const std::string& key, bool fetched_back);
  // REQUIRES: mutex_ held. Forgets a prefetched object that leaves the local store.
  void ForgetPrefetched(const std::string& key, bool evicted);
  Status Scan();
  int64_t NowMs() const;
  // Moves `key` to the front of the LRU list; false if it is not counted.
  bool Touch(const std::string& key);
  // Counts (or recounts) the local object `key` after a successful put. Wakes the eviction
  // thread when over the limit.
  void Account(const std::string& key, int64_t stored_ms);
  // REQUIRES: mutex_ held.
  void Insert(const std::string& key, uint64_t size, int64_t stored_ms, int64_t last_access_ms);
  // REQUIRES: mutex_ held.
  void Erase(const std::string& key);
  // Deletes the local copy of counted `key` and counts the eviction; the bytes freed.
  // REQUIRES: mutex_ held.
  Result<uint64_t> EvictLocked(const std::string& key);
  // Not pinned, not recently stored, not recently opened. REQUIRES: mutex_ held.
  bool Evictable(const std::string& key, const Entry& entry, int64_t now_ms) const;
  // Fetches `key` from the archive store into the local store; the caller then opens it.
  Status FetchBack(const std::string& key);
  Status FetchBackOnce(const std::string& key);
  // The archive store's error for `archive_key`, explained, with a retry hint when the copy is
  // in the Archive tier (rehydration requested here if the store has not started one).
  Status ExplainArchiveError(const std::string& key, const std::string& archive_key,
                             const Status& error);
  void Run();

  catalog::Catalog& catalog_;
  blob::BlobStore& local_;
  blob::BlobStore* const archive_;
  const HotCacheOptions options_;

  mutable std::mutex mutex_;
  std::list<std::string> lru_;                      // GUARDED_BY(mutex_); front: most recent
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mutex_)
  std::map<std::string, int64_t> pins_;             // GUARDED_BY(mutex_); key -> until (ms)
  // Prefetched objects no reader has opened since; bounded by the local objects.
  std::unordered_set<std::string> prefetched_unread_;  // GUARDED_BY(mutex_)
  // Objects readers opened since the last FlushAccessTimes; bounded by the objects read in
  // one eviction interval.
  std::unordered_set<std::string> read_since_flush_;  // GUARDED_BY(mutex_)
  // In-flight fetch-backs; shared by the fetching thread and those waiting for it.
  std::map<std::string, std::shared_ptr<Fetch>> fetches_;  // GUARDED_BY(mutex_)
  uint64_t bytes_ = 0;                                     // GUARDED_BY(mutex_)
  HotCacheStats counters_;                                 // GUARDED_BY(mutex_)
  bool stopping_ = false;                                  // GUARDED_BY(mutex_)
  bool evict_now_ = false;                                 // GUARDED_BY(mutex_)
  std::condition_variable wake_;

  // EvictToFit passes do not overlap (the thread's and a caller's).
  std::mutex evict_mutex_;
  std::mutex start_stop_mutex_;
  std::thread worker_;  // started and joined under start_stop_mutex_
};

}  // namespace strata::cache
