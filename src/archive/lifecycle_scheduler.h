// LifecycleScheduler: runs the lifecycle rules (lifecycle.h) inside `strata serve`, on a
// schedule, so tier moves and evictions happen without an operator.
//
// The first run comes `first_run_delay` after Start, then one every `interval`. Each run
// applies the rules (never a dry run) and logs what it did ("lifecycle_scheduled_run"); a
// failed run is logged and the schedule goes on. Runs are counted for tests and status.
//
// Thread-safety: Start/Stop/Runs from any thread. Ownership: borrows the catalog, the archive
// store and the local copies, which must outlive the scheduler (Stop joins the thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "archive/lifecycle.h"

namespace strata::archive {

struct LifecycleScheduleOptions {
  LifecycleOptions lifecycle;  // dry_run is ignored: scheduled runs apply
  std::chrono::milliseconds interval{std::chrono::hours(24)};  // REQUIRES: > 0
  std::chrono::milliseconds first_run_delay{std::chrono::minutes(10)};
};

class LifecycleScheduler {
 public:
  LifecycleScheduler(catalog::Catalog& catalog, blob::BlobStore& archive_store, LocalCopies* local,
                     LifecycleScheduleOptions options);
  ~LifecycleScheduler();  // stops
  LifecycleScheduler(const LifecycleScheduler&) = delete;
  LifecycleScheduler& operator=(const LifecycleScheduler&) = delete;

  // Starts the thread. Idempotent.
  void Start();
  // Stops and joins it; a run in progress finishes its current page first. Idempotent.
  void Stop();
  // Runs finished (successful or not) since construction.
  uint64_t Runs() const;

 private:
  void Loop();

  catalog::Catalog& catalog_;
  blob::BlobStore& archive_;
  LocalCopies* const local_;
  LifecycleScheduleOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  uint64_t runs_ = 0;      // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace strata::archive
