// JobQueue: durable background jobs with leases, bounded retries and idempotency keys.
//
// A producer enqueues a JobSpec under an idempotency key (enqueueing the same key again is a
// no-op that returns the existing job), so "enqueue after commit" can be repeated safely after
// a crash. A worker leases due jobs of the kinds it handles for a limited time, then reports
// the outcome (Complete, Fail, Reschedule) under its owner name. A worker that dies simply
// stops renewing its lease: once the lease expires another worker takes the job over, and the
// late owner's report is refused with kFailedPrecondition. Jobs are therefore run at least
// once; handlers must be idempotent.
//
// Job lifecycle:
//   pending --Lease--> running --Complete--> succeeded
//                         |--Fail (attempts left)--> pending (not before retry_at)
//                         |--Fail (no attempts left)--> failed --Retry (admin)--> pending
//                         |--Reschedule--> pending (the attempt is given back)
//                         '--lease expires--> taken over by the next Lease
//
// Times are milliseconds since the Unix epoch, read from the back end's injected clock.
// The payload, error and result texts are opaque to the queue (JSON by convention).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::jobs {

// What to run. `kind` names the handler ("inference", "pacs_notify"); `idempotency_key` is
// unique across the whole queue (callers namespace it, e.g. "inference:<series uid>:<model>").
struct JobSpec {
  std::string kind;
  std::string idempotency_key;
  std::string payload;
  int64_t not_before_ms = 0;  // not leased before this time; 0 means at once
  int max_attempts = 5;       // leases (attempts) before the job fails for good; >= 1
  // When a pending job with this key exists, move its start to not_before_ms if that is later
  // (each new image of a series postpones the series' job until the series is stable).
  bool postpone_existing = false;
};

// Fail()'s retry time for a failure no retry can fix: the job fails for good at once.
inline constexpr int64_t kNoRetry = -1;

enum class JobState { kPending, kRunning, kSucceeded, kFailed };

// "pending", "running", "succeeded", "failed".
std::string_view JobStateName(JobState state);
// The inverse of JobStateName; nullopt for any other text.
std::optional<JobState> ParseJobState(std::string_view text);

// A job as stored. `attempts` counts leases that were not given back by Reschedule.
// `lease_owner` and `lease_until_ms` are meaningful while running (empty and 0 otherwise).
struct Job {
  int64_t id = 0;
  std::string kind;
  std::string idempotency_key;
  std::string payload;
  JobState state = JobState::kPending;
  int attempts = 0;
  int max_attempts = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t not_before_ms = 0;
  int64_t lease_until_ms = 0;
  std::string lease_owner;
  std::string last_error;  // from the last Fail or lost lease; kept after a later success
  std::string result;      // from Complete
};

// The checks every back end applies in Enqueue: kInvalidArgument for an empty kind or key,
// max_attempts < 1 or not_before_ms < 0, naming the offending field.
Status ValidateJobSpec(const JobSpec& spec);

struct EnqueueOutcome {
  int64_t id = 0;
  bool created = false;  // false: the idempotency key existed and nothing changed
};

struct JobFilter {
  std::string kind;               // empty: every kind
  std::optional<JobState> state;  // nullopt: every state
  int64_t after_id = 0;           // pages: pass the last id of the previous page
  size_t limit = 100;
};

struct JobCounts {
  int64_t pending = 0;
  int64_t running = 0;  // includes running jobs whose lease has expired
  int64_t succeeded = 0;
  int64_t failed = 0;
};

// The queue interface. Implementations are durable (a successful call has reached stable
// storage) and safe for concurrent use from many threads without external synchronization;
// the SQLite back end is also safe for several processes sharing one database file.
//
// Errors common to every method: kAborted when the store stayed busy past the back end's
// retries (retryable), kUnavailable / kResourceExhausted for I/O errors and a full disk,
// kDataLoss for a corrupt store. A failed call changes nothing.
class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Adds a pending job, or returns the job already holding `spec.idempotency_key` with
  // created=false and leaves it untouched (whatever its state, kind or payload).
  // kInvalidArgument for an empty kind or key, max_attempts < 1 or not_before_ms < 0.
  virtual Result<EnqueueOutcome> Enqueue(const JobSpec& spec) = 0;

  // Enqueue for each spec in one transaction: all or nothing. Outcomes are in spec order; a
  // key repeated within `specs` yields the first one's id with created=false.
  virtual Result<std::vector<EnqueueOutcome>> EnqueueAll(const std::vector<JobSpec>& specs) = 0;

  // Atomically takes up to `max_jobs` due jobs of the given kinds and returns them running
  // under `owner` until now + `lease`, with `attempts` incremented. Due means pending with
  // not_before_ms <= now, or running with an expired lease (its worker died); oldest
  // not_before_ms first, then lowest id. A due job whose expired lease was its last attempt
  // is not leased again: it becomes failed ("lease expired" in last_error). Returns an empty
  // vector when nothing is due. No two callers, in any process, get the same job at once.
  // kInvalidArgument for no kinds, an empty kind, max_jobs == 0, lease <= 0 or empty owner.
  virtual Result<std::vector<Job>> Lease(const std::vector<std::string>& kinds, size_t max_jobs,
                                         std::chrono::milliseconds lease,
                                         const std::string& owner) = 0;

  // Lease-holder reports. Each REQUIRES the job to be running under `owner`: otherwise
  // kFailedPrecondition (the lease was lost to another worker, or the job already finished),
  // or kNotFound for an unknown id. A lease that expired but was not yet taken over still
  // counts as held.

  // The job succeeded; `result` is stored on it.
  virtual Status Complete(int64_t id, const std::string& owner, const std::string& result) = 0;

  // Complete for several jobs in one transaction (one commit for a batch). Jobs this owner no
  // longer holds are left as they are; returns how many were completed. kNotFound for an
  // unknown id (nothing is completed then).
  virtual Result<size_t> CompleteAll(const std::vector<int64_t>& ids, const std::string& owner,
                                     const std::string& result) = 0;

  // The attempt failed with `error`. With attempts left the job is pending again, due at
  // `retry_at_ms`; otherwise, or with kNoRetry, it is failed for good. kInvalidArgument for
  // any other retry_at_ms < 0.
  virtual Status Fail(int64_t id, const std::string& owner, const std::string& error,
                      int64_t retry_at_ms) = 0;

  // Not ready yet (e.g. a series still receiving images): pending again, due at
  // `not_before_ms`, and the attempt counted by Lease is given back.
  // kInvalidArgument for not_before_ms < 0.
  virtual Status Reschedule(int64_t id, const std::string& owner, int64_t not_before_ms) = 0;

  // Ends every lease `owner` holds, at once rather than at expiry: a worker restarted after a
  // crash releases what its previous life held. Each job is pending again (due now), or failed
  // for good when that was its last attempt. Returns how many jobs were released.
  virtual Result<size_t> ReleaseOwner(const std::string& owner) = 0;

  // Keeps a long job: the lease now ends at now + `lease`. kInvalidArgument for lease <= 0.
  virtual Status ExtendLease(int64_t id, const std::string& owner,
                             std::chrono::milliseconds lease) = 0;

  // Administration: a failed job becomes pending and due now, with attempts reset to 0
  // (last_error is kept). kNotFound for an unknown id, kFailedPrecondition unless failed.
  virtual Status Retry(int64_t id) = 0;

  // nullopt when there is no such job.
  virtual Result<std::optional<Job>> Get(int64_t id) = 0;
  virtual Result<std::optional<Job>> GetByKey(const std::string& idempotency_key) = 0;

  // Jobs matching `filter` with id > filter.after_id, in id order, at most filter.limit.
  virtual Result<std::vector<Job>> List(const JobFilter& filter) = 0;

  // Jobs per state for `kind`; an empty kind counts every kind.
  virtual Result<JobCounts> Counts(const std::string& kind) = 0;

  // When the next job of these kinds becomes due: the earliest not_before_ms of the pending
  // jobs and lease_until_ms of the running ones (possibly in the past, meaning "now").
  // nullopt when no job is pending or running. kInvalidArgument as for Lease's kinds.
  virtual Result<std::optional<int64_t>> NextDueMs(const std::vector<std::string>& kinds) = 0;
};

}  // namespace strata::jobs
