// Archiver: the outbox consumer that copies every stored object to the archive store.
//
// The local store stays the primary copy; the archive store (Azure Blob in production) gets
// an immutable copy of each instance version. The archiver reads outbox events after its
// durable cursor in sequence order, in batches. For each "instance.stored" or
// "instance.replaced" event it uploads the local object create-only, with the configured tier
// and the UIDs and sha256 as metadata, checks the result (the Azure store sends Content-MD5,
// so the service refuses corrupted bytes; the size is compared with the local file and the
// catalog), and then records the archive state and moves the cursor in one catalog
// transaction. Delivery is at least once: a crash before that commit repeats the upload,
// which finds the object already there and counts it as archived when its size, MD5 (where
// the store keeps one) and recorded sha256 match.
//
// Failures: an unreachable or refusing store (kUnavailable, kDeadlineExceeded, kAborted,
// kResourceExhausted, kUnauthenticated, kPermissionDenied, kDataLoss in flight, kNotFound for
// a missing container) stops the batch at that event; the worker backs off exponentially
// with jitter and tries again, so the backlog drains when the store returns. Ingest never
// waits for the archiver. An object that can never be archived (missing or altered locally,
// unknown to the catalog, a different object already under its archive key) is logged and
// recorded as failed, and the queue goes on.
//
// Thread-safety: Start/Stop and ReadStatus may be called from any thread; RunBatch must not
// run concurrently with the worker or another RunBatch. Ownership: borrows the catalog and
// both stores, which must outlive the Archiver.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "archive/archive_status.h"
#include "archive/backoff.h"
#include "blob/blob_naming.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::archive {

struct ArchiverOptions {
  std::string consumer = kArchiverConsumer;
  size_t batch_size = 100;  // outbox events per catalog transaction
  // Objects of a batch uploaded at once. Results are still committed in outbox order, up to
  // the first one that must be retried.
  int parallel_uploads = 4;
  // Wait between polls of an empty outbox.
  std::chrono::milliseconds poll_interval{1000};
  BackoffPolicy backoff;
  // How often the lag is logged ("archive_lag").
  std::chrono::milliseconds status_log_interval{60 * 1000};
  // Tier of new archive objects; nullopt: the store's default.
  std::optional<blob::StorageTier> tier;
  blob::BlobNaming naming = blob::BlobNaming::kVendorNeutral;
  std::string naming_key;  // for kOpaque: the secret of at least 32 bytes
  // Also protects each archive copy in the archive store itself (BlobStore::SetProtection:
  // Azure immutability policy and legal hold) with its study's retention and hold: at upload,
  // and again for every catalog::kProtectionChangedEvent. Transient store errors are retried
  // like uploads; a refusal (a container without version-level immutability, a store without
  // protection) is logged and the copy stays archived, protected by Strata's own checks only.
  bool protect_archive_copies = false;
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
  // Seed of the backoff jitter; 0: from std::random_device.
  uint32_t jitter_seed = 0;
};

// What one batch did.
struct BatchOutcome {
  size_t events = 0;            // events moved past (the cursor advanced by this many)
  size_t archived = 0;          // uploaded and verified now
  size_t already_archived = 0;  // found in the archive with the same content, or recorded
  size_t failed = 0;            // recorded as failed for good
  size_t skipped = 0;           // events of other kinds
  size_t protected_copies = 0;  // archive copies whose protection was set
  size_t protect_refused = 0;   // archive copies whose store refused protection (logged)
  uint64_t bytes_uploaded = 0;
  // Not OK when the archive store failed transiently: the batch stopped before that event.
  Status retry_later;
};

// What the worker knows beyond the catalog's figures.
struct ArchiverStatus {
  ArchiveLag lag;
  int consecutive_failures = 0;  // transient failures since the last progress
  std::string last_error;        // of the last transient failure; empty after progress
  bool running = false;
};

class Archiver {
 public:
  // kInvalidArgument for bad options (batch size or parallel uploads below 1, an opaque naming
  // key that is too short).
  static Result<std::unique_ptr<Archiver>> Create(catalog::Catalog& catalog,
                                                  blob::BlobStore& local_store,
                                                  blob::BlobStore& archive_store,
                                                  ArchiverOptions options);
  ~Archiver();  // stops the worker
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;

  // Starts the background worker. Idempotent.
  void Start();
  // Asks the worker to stop after the object it is uploading and joins it. Idempotent.
  void Stop();

  // Processes one batch now (tests, and the worker's step). The error is a catalog failure;
  // a failing archive store is reported in BatchOutcome::retry_later. Uploads of a batch run
  // on up to parallel_uploads threads; objects after the first one to retry may have been
  // uploaded already, and are found so next time.
  Result<BatchOutcome> RunBatch();

  // The lag from the catalog plus the worker's retry state.
  Result<ArchiverStatus> ReadStatus();

 private:
  struct EventResult;
  Archiver(catalog::Catalog& catalog, blob::BlobStore& local_store, blob::BlobStore& archive_store,
           ArchiverOptions options, blob::BlobNamer namer);

  void Run();
  // Waits `delay` or until Stop; false when stopping.
  bool WaitFor(std::chrono::milliseconds delay);
  void LogLag();
  int64_t NowMs() const;
  bool Stopping();
  // Runs ArchiveEvent for `entries` on up to parallel_uploads threads; an entry not started
  // (because of Stop, or after one that must be retried) has no result.
  std::vector<std::optional<EventResult>> ArchiveAll(
      const std::vector<catalog::ChangeEntry>& entries);
  EventResult ArchiveEvent(const catalog::ChangeEntry& entry);
  EventResult ArchiveObject(const std::string& blob_key, const blob::InstanceUids& uids,
                            const std::string& sha256);
  // Sets the protection of `archive_keys` to what the catalog holds for `study_uid` now.
  // Counts into `result`; a transient store error makes it kRetryLater.
  void Protect(const std::string& study_uid, const std::vector<std::string>& archive_keys,
               EventResult& result);
  // Protect for every archived version of a study (a kProtectionChangedEvent).
  EventResult ProtectStudy(const std::string& study_uid);

  catalog::Catalog& catalog_;
  blob::BlobStore& local_store_;
  blob::BlobStore& archive_store_;
  const ArchiverOptions options_;
  const blob::BlobNamer namer_;
  std::minstd_rand rng_;  // used by the worker thread only

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;         // GUARDED_BY(mutex_)
  int consecutive_failures_ = 0;  // GUARDED_BY(mutex_)
  std::string last_error_;        // GUARDED_BY(mutex_)
  std::thread worker_;            // started and joined under start_stop_mutex_
  std::mutex start_stop_mutex_;
};

}  // namespace strata::archive
