// Prefetcher: brings a patient's relevant prior studies into the hot cache when a new study
// of the patient arrives, so that a radiologist comparing them does not wait for the archive.
//
//   outbox --router--> "cache.prefetch" jobs (one per new study and prior) --runner-->
//   HotCache::PinStudy + HotCache::Prefetch of every object of the prior
//
// The router is an outbox consumer with its own durable cursor ("prefetch"): for each study
// seen in new "instance.stored" events (once per batch), it reads the patient's other studies
// from the catalog (same PatientID and issuer; soft-deleted ones are invisible), picks the
// priors (prior_selection.h) and enqueues one job per prior under the idempotency key
// "cache.prefetch/<new study>/<prior>": jobs first, cursor after, so a crash in between only
// re-enqueues what exists already. The runner leases these jobs; a job pins the prior's
// objects for `pin` and makes each local (fetching it back from the archive store). Objects in
// the Archive tier are being rehydrated by then (the cache asked for it): the job is
// rescheduled after the retry hint, so pending prefetches survive a restart in the job queue.
// Pins are in memory (HotCache): a restart ends them, not the prefetched copies.
//
// Thread-safety: Start/Stop from one controlling thread; Notify, RouteOnce (not concurrently
// with the thread), RunOnce and Counters may be called from any thread. Ownership: borrows
// every service, which must outlive the prefetcher.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "cache/hot_cache.h"
#include "cache/prior_selection.h"
#include "catalog/catalog.h"
#include "core/status.h"
#include "jobs/job_queue.h"

namespace strata::cache {

inline constexpr char kPrefetchConsumer[] = "prefetch";
inline constexpr char kPrefetchJob[] = "cache.prefetch";

struct PrefetcherOptions {
  std::string consumer = kPrefetchConsumer;  // the router's outbox cursor
  PriorPolicy policy;
  std::chrono::milliseconds pin{std::chrono::hours(72)};
  size_t router_batch = 200;  // outbox events per router step
  size_t run_batch = 4;       // jobs leased per runner step
  int max_attempts = 10;      // of a job failing for other reasons than rehydration
  std::chrono::milliseconds lease{30 * 60 * 1000};
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds retry_base{5000};  // doubled per attempt, capped at retry_max
  std::chrono::milliseconds retry_max{10 * 60 * 1000};
  // The job lease owner; unique to this server (one server per job queue), so that at
  // start-up it releases what it held before a crash.
  std::string worker = "prefetch";
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
};

struct PrefetcherCounters {
  uint64_t routed_events = 0;
  uint64_t studies_seen = 0;   // new studies the router selected priors for
  uint64_t jobs_enqueued = 0;  // (new study, prior) jobs created
  uint64_t jobs_completed = 0;
  uint64_t jobs_rescheduled = 0;  // waiting for a rehydration
  uint64_t jobs_failed = 0;       // attempts failed (retried while attempts are left)
  uint64_t objects_prefetched = 0;
};

class Prefetcher {
 public:
  Prefetcher(catalog::Catalog& catalog, HotCache& cache, jobs::JobQueue& jobs,
             PrefetcherOptions options);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts the thread (router and runner steps in turn). Idempotent.
  void Start();
  // Stops it after its current step and joins it. Idempotent.
  void Stop();

  // New outbox events exist (ingest committed): the router runs now rather than at its next
  // poll. Cheap; callable from any thread.
  void Notify();

  // One router step: handles up to router_batch outbox events; returns how many it moved
  // past. Catalog and job queue errors (nothing is skipped: the cursor stays).
  Result<size_t> RouteOnce();
  // One runner step: leases and runs up to run_batch due jobs; returns how many it ran.
  Result<size_t> RunOnce();

  PrefetcherCounters Counters() const;
  // Prefetch jobs per state.
  Result<jobs::JobCounts> JobCounts();
  // Outbox events the router has not handled yet.
  Result<catalog::OutboxBacklog> Backlog();

 private:
  // The priors to prefetch for `study_uid`; empty when the study is gone or has no PatientID.
  Result<std::vector<StudySummary>> PriorsOf(const std::string& study_uid);
  // Runs one leased job and reports its outcome to the queue.
  Status RunJob(const jobs::Job& job);
  int64_t NowMs() const;
  int64_t RetryAt(int attempts) const;
  void Run();

  catalog::Catalog& catalog_;
  HotCache& cache_;
  jobs::JobQueue& jobs_;
  const PrefetcherOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;         // GUARDED_BY(mutex_)
  uint64_t wake_generation_ = 0;  // GUARDED_BY(mutex_)
  PrefetcherCounters counters_;   // GUARDED_BY(mutex_)
  std::mutex start_stop_mutex_;
  std::thread thread_;  // started and joined under start_stop_mutex_
};

}  // namespace strata::cache
