#include "jobs/sqlite_job_queue.h"

#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "core/log.h"
#include "jobs/sqlite_job_schema.h"
#include "sqlite/connection.h"

namespace strata::jobs {
namespace {

using strata::sqlite::Connection;
using strata::sqlite::Statement;

// After the busy timeout, a busy store is retried this many times with jittered back-off.
constexpr int kMaxTries = 8;
constexpr auto kFirstBackoff = std::chrono::milliseconds(2);
constexpr auto kMaxBackoff = std::chrono::milliseconds(200);

constexpr const char* kColumns =
    "id, kind, idempotency_key, payload, state, attempts, max_attempts, created_at_ms, "
    "updated_at_ms, not_before_ms, lease_until_ms, lease_owner, last_error, result";

void Backoff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto ceiling = std::min<std::chrono::milliseconds>(kMaxBackoff, kFirstBackoff * (1 << attempt));
  std::uniform_int_distribution<int64_t> jitter(ceiling.count() * 500, ceiling.count() * 1000);
  std::this_thread::sleep_for(std::chrono::microseconds(jitter(rng)));
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// now + lease without overflowing.
int64_t LeaseEnd(int64_t now, std::chrono::milliseconds lease) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  return lease.count() > max - now ? max : now + lease.count();
}

int64_t ClampToInt64(size_t n) {
  return n > static_cast<size_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(n);
}

// Checks a kinds argument and returns it sorted without duplicates.
Result<std::vector<std::string>> UniqueKinds(const std::vector<std::string>& kinds) {
  if (kinds.empty()) return InvalidArgument("no job kinds given");
  std::vector<std::string> unique = kinds;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  if (unique.front().empty()) return InvalidArgument("empty job kind");
  return unique;
}

Status CheckOwner(const std::string& owner) {
  return owner.empty() ? InvalidArgument("empty lease owner") : OkStatus();
}

Status CheckLease(std::chrono::milliseconds lease) {
  return lease.count() <= 0 ? InvalidArgument("lease must be positive, got " +
                                              std::to_string(lease.count()) + " ms")
                            : OkStatus();
}

// Decodes a row selected with kColumns.
Result<Job> JobFromRow(const Statement& row) {
  Job job;
  job.id = row.Int(0);
  job.kind = row.Text(1);
  job.idempotency_key = row.Text(2);
  job.payload = row.Text(3);
  std::string state = row.Text(4);
  std::optional<JobState> parsed = ParseJobState(state);
  if (!parsed) {
    return DataLoss("job " + std::to_string(job.id) + " has unknown state '" + state + "'");
  }
  job.state = *parsed;
  job.attempts = static_cast<int>(row.Int(5));
  job.max_attempts = static_cast<int>(row.Int(6));
  job.created_at_ms = row.Int(7);
  job.updated_at_ms = row.Int(8);
  job.not_before_ms = row.Int(9);
  job.lease_until_ms = row.Int(10);
  job.lease_owner = row.Text(11);
  job.last_error = row.Text(12);
  job.result = row.Text(13);
  return job;
}

// Rolls back the open transaction, if any, when destroyed (error paths and exceptions).
class RollbackGuard {
 public:
  explicit RollbackGuard(Connection& db) : db_(db) {}
  ~RollbackGuard() {
    if (!db_.AutoCommit()) db_.Exec("ROLLBACK").IgnoreError();
  }
  RollbackGuard(const RollbackGuard&) = delete;
  RollbackGuard& operator=(const RollbackGuard&) = delete;

 private:
  Connection& db_;
};

// What a lease holder's report needs to know about its job.
struct Held {
  int attempts = 0;
  int max_attempts = 0;
};

// One connection behind a mutex: SQLite runs one write transaction at a time per file
// anyway, and the queue's reads are short index lookups.
//
// Thread-safety: safe for concurrent use; every database access holds mu_.
class SqliteJobQueue final : public JobQueue {
 public:
  SqliteJobQueue(std::unique_ptr<Connection> db, std::string path, SqliteJobQueueOptions options)
      : path_(std::move(path)), options_(std::move(options)), db_(std::move(db)) {}

  // Configures the connection and brings the schema up to date.
  Status Init() {
    db_->SetBusyTimeout(static_cast<int>(options_.busy_timeout.count()));
    return WithRetries("open", [&]() -> Status {
      std::lock_guard lock(mu_);
      {
        // The first read of the file header: a file that is not a database fails here.
        STRATA_ASSIGN_OR_RETURN(Statement probe, db_->Prepare("PRAGMA application_id"));
        Status read = probe.Step().status();
        if (read.code() == StatusCode::kDataLoss) {
          return DataLoss("not a SQLite database, or a damaged one (" + read.message() + ")");
        }
        STRATA_RETURN_IF_ERROR(read);
      }
      if (path_ != ":memory:") {
        STRATA_ASSIGN_OR_RETURN(Statement wal, db_->Prepare("PRAGMA journal_mode = WAL"));
        STRATA_ASSIGN_OR_RETURN(bool row, wal.Step());
        const std::string mode = row ? wal.Text(0) : "unknown";
        if (mode != "wal") return Unavailable("cannot use write-ahead logging (mode " + mode + ")");
      }
      STRATA_RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous = FULL"));
      STRATA_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
      RollbackGuard guard(*db_);
      STRATA_RETURN_IF_ERROR(sqlite::MigrateJobSchema(*db_));
      return db_->Exec("COMMIT");
    });
  }

  Result<EnqueueOutcome> Enqueue(const JobSpec& spec) override {
    STRATA_ASSIGN_OR_RETURN(std::vector<EnqueueOutcome> outcomes, EnqueueAll({spec}));
    return outcomes.front();
  }

  Result<std::vector<EnqueueOutcome>> EnqueueAll(const std::vector<JobSpec>& specs) override {
    for (const JobSpec& spec : specs) STRATA_RETURN_IF_ERROR(ValidateJobSpec(spec));
    std::vector<EnqueueOutcome> outcomes;
    if (specs.empty()) return outcomes;
    STRATA_RETURN_IF_ERROR(Write("enqueue", [&](int64_t now) -> Status {
      outcomes.clear();
      for (const JobSpec& spec : specs) {
        STRATA_ASSIGN_OR_RETURN(EnqueueOutcome outcome, InsertJob(spec, now));
        outcomes.push_back(outcome);
      }
      return OkStatus();
    }));
    return outcomes;
  }

  Result<std::vector<Job>> Lease(const std::vector<std::string>& kinds, size_t max_jobs,
                                 std::chrono::milliseconds lease,
                                 const std::string& owner) override {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> unique_kinds, UniqueKinds(kinds));
    if (max_jobs == 0) return InvalidArgument("max_jobs must be at least 1");
    STRATA_RETURN_IF_ERROR(CheckLease(lease));
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    std::vector<Job> leased;
    STRATA_RETURN_IF_ERROR(Write("lease", [&](int64_t now) -> Status {
      leased.clear();
      return LeaseIn(unique_kinds, max_jobs, LeaseEnd(now, lease), owner, now, leased);
    }));
    return leased;
  }

  Status Complete(int64_t id, const std::string& owner, const std::string& result) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    return Write("complete", [&](int64_t now) -> Status {
      STRATA_RETURN_IF_ERROR(CheckHeld(id, owner).status());
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET state = 'succeeded', result = ?2, lease_owner = '', "
                       "lease_until_ms = 0, updated_at_ms = ?3 WHERE id = ?1"));
      return update.Bind(1, id).Bind(2, result).Bind(3, now).Run();
    });
  }

  Result<size_t> CompleteAll(const std::vector<int64_t>& ids, const std::string& owner,
                             const std::string& result) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    size_t completed = 0;
    STRATA_RETURN_IF_ERROR(Write("complete", [&](int64_t now) -> Status {
      completed = 0;
      for (int64_t id : ids) {
        auto held = CheckHeld(id, owner);
        if (!held.ok() && held.status().code() == StatusCode::kFailedPrecondition) continue;
        STRATA_RETURN_IF_ERROR(held.status());
        STRATA_ASSIGN_OR_RETURN(
            Statement update,
            db_->Prepare("UPDATE jobs SET state = 'succeeded', result = ?2, lease_owner = '', "
                         "lease_until_ms = 0, updated_at_ms = ?3 WHERE id = ?1"));
        STRATA_RETURN_IF_ERROR(update.Bind(1, id).Bind(2, result).Bind(3, now).Run());
        ++completed;
      }
      return OkStatus();
    }));
    return completed;
  }

  Status Fail(int64_t id, const std::string& owner, const std::string& error,
              int64_t retry_at_ms) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    if (retry_at_ms < 0 && retry_at_ms != kNoRetry) {
      return InvalidArgument("retry_at_ms is negative");
    }
    bool final = false;
    std::string kind;
    STRATA_RETURN_IF_ERROR(Write("fail", [&](int64_t now) -> Status {
      STRATA_ASSIGN_OR_RETURN(Held held, CheckHeld(id, owner));
      final = retry_at_ms == kNoRetry || held.attempts >= held.max_attempts;
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET state = ?2, not_before_ms = ?3, last_error = ?4, "
                       "lease_owner = '', lease_until_ms = 0, updated_at_ms = ?5 WHERE id = ?1 "
                       "RETURNING kind"));
      update.Bind(1, id)
          .Bind(2, JobStateName(final ? JobState::kFailed : JobState::kPending))
          .Bind(3, std::max<int64_t>(retry_at_ms, 0))
          .Bind(4, error)
          .Bind(5, now);
      STRATA_ASSIGN_OR_RETURN(bool row, update.Step());
      if (row) kind = update.Text(0);
      return update.Run();
    }));
    if (final) log::Warn("job_failed", {{"id", id}, {"kind", kind}, {"owner", owner}});
    return OkStatus();
  }

  Status Reschedule(int64_t id, const std::string& owner, int64_t not_before_ms) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    if (not_before_ms < 0) return InvalidArgument("not_before_ms is negative");
    return Write("reschedule", [&](int64_t now) -> Status {
      STRATA_RETURN_IF_ERROR(CheckHeld(id, owner).status());
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET state = 'pending', not_before_ms = ?2, "
                       "attempts = max(attempts - 1, 0), lease_owner = '', lease_until_ms = 0, "
                       "updated_at_ms = ?3 WHERE id = ?1"));
      return update.Bind(1, id).Bind(2, not_before_ms).Bind(3, now).Run();
    });
  }

  Status ExtendLease(int64_t id, const std::string& owner,
                     std::chrono::milliseconds lease) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    STRATA_RETURN_IF_ERROR(CheckLease(lease));
    return Write("extend_lease", [&](int64_t now) -> Status {
      STRATA_RETURN_IF_ERROR(CheckHeld(id, owner).status());
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET lease_until_ms = ?2, updated_at_ms = ?3 WHERE id = ?1"));
      return update.Bind(1, id).Bind(2, LeaseEnd(now, lease)).Bind(3, now).Run();
    });
  }

  Result<size_t> ReleaseOwner(const std::string& owner) override {
    STRATA_RETURN_IF_ERROR(CheckOwner(owner));
    size_t released = 0;
    STRATA_RETURN_IF_ERROR(Write("release", [&](int64_t now) -> Status {
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' "
                       "ELSE 'pending' END, not_before_ms = ?2, lease_owner = '', "
                       "lease_until_ms = 0, updated_at_ms = ?2, last_error = 'lease of ' || "
                       "lease_owner || ' released on attempt ' || attempts || ' of ' || "
                       "max_attempts || ' (the worker restarted)' "
                       "WHERE state = 'running' AND lease_owner = ?1"));
      STRATA_RETURN_IF_ERROR(update.Bind(1, owner).Bind(2, now).Run());
      released = static_cast<size_t>(db_->Changes());
      return OkStatus();
    }));
    return released;
  }

  Status Retry(int64_t id) override {
    return Write("retry", [&](int64_t now) -> Status {
      STRATA_ASSIGN_OR_RETURN(JobState state, StateOf(id));
      if (state != JobState::kFailed) {
        return FailedPrecondition("job " + std::to_string(id) + " is " +
                                  std::string(JobStateName(state)) + ", not failed");
      }
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE jobs SET state = 'pending', attempts = 0, not_before_ms = ?2, "
                       "updated_at_ms = ?2 WHERE id = ?1"));
      return update.Bind(1, id).Bind(2, now).Run();
    });
  }

  Result<std::optional<Job>> Get(int64_t id) override {
    return GetWhere("id", [id](Statement& s) { s.Bind(1, id); });
  }

  Result<std::optional<Job>> GetByKey(const std::string& idempotency_key) override {
    return GetWhere("idempotency_key",
                    [&idempotency_key](Statement& s) { s.Bind(1, idempotency_key); });
  }

  Result<std::vector<Job>> List(const JobFilter& filter) override {
    std::vector<Job> jobs;
    if (filter.limit == 0) return jobs;
    std::string sql = std::string("SELECT ") + kColumns + " FROM jobs WHERE id > ?1";
    if (!filter.kind.empty()) sql += " AND kind = ?2";
    if (filter.state) sql += " AND state = ?3";
    sql += " ORDER BY id LIMIT ?4";
    STRATA_RETURN_IF_ERROR(Read("list", [&](int64_t) -> Status {
      jobs.clear();
      STRATA_ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
      select.Bind(1, filter.after_id).Bind(4, ClampToInt64(filter.limit));
      if (!filter.kind.empty()) select.Bind(2, filter.kind);
      if (filter.state) select.Bind(3, JobStateName(*filter.state));
      while (true) {
        STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) return OkStatus();
        STRATA_ASSIGN_OR_RETURN(Job job, JobFromRow(select));
        jobs.push_back(std::move(job));
      }
    }));
    return jobs;
  }

  Result<JobCounts> Counts(const std::string& kind) override {
    JobCounts counts;
    STRATA_RETURN_IF_ERROR(Read("counts", [&](int64_t) -> Status {
      counts = {};
      STRATA_ASSIGN_OR_RETURN(
          Statement select,
          db_->Prepare(kind.empty()
                           ? "SELECT state, count(*) FROM jobs GROUP BY state"
                           : "SELECT state, count(*) FROM jobs WHERE kind = ?1 GROUP BY state"));
      if (!kind.empty()) select.Bind(1, kind);
      while (true) {
        STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) return OkStatus();
        std::optional<JobState> state = ParseJobState(select.Text(0));
        if (!state) return DataLoss("unknown job state '" + select.Text(0) + "'");
        int64_t n = select.Int(1);
        switch (*state) {
          case JobState::kPending:
            counts.pending = n;
            break;
          case JobState::kRunning:
            counts.running = n;
            break;
          case JobState::kSucceeded:
            counts.succeeded = n;
            break;
          case JobState::kFailed:
            counts.failed = n;
            break;
        }
      }
    }));
    return counts;
  }

  Result<std::optional<int64_t>> NextDueMs(const std::vector<std::string>& kinds) override {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> unique_kinds, UniqueKinds(kinds));
    std::optional<int64_t> next;
    STRATA_RETURN_IF_ERROR(Read("next_due", [&](int64_t) -> Status {
      next.reset();
      for (const std::string& kind : unique_kinds) {
        for (const char* sql :
             {"SELECT min(not_before_ms) FROM jobs WHERE state = 'pending' AND kind = ?1",
              "SELECT min(lease_until_ms) FROM jobs WHERE state = 'running' AND kind = ?1"}) {
          STRATA_ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
          select.Bind(1, kind);
          STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
          if (row && !select.IsNull(0))
            next = std::min(next.value_or(select.Int(0)), select.Int(0));
        }
      }
      return OkStatus();
    }));
    return next;
  }

 private:
  int64_t Now() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

  // Runs `attempt` until it returns something other than kAborted (or kMaxTries times);
  // exceptions become kInternal. `attempt` takes mu_ itself, so back-off sleeps unlocked.
  template <typename Attempt>
  Status WithRetries(std::string_view what, const Attempt& attempt) {
    for (int n = 1;; ++n) {
      Status status;
      try {
        status = attempt();
      } catch (const std::exception& e) {
        status = Internal(std::string("exception: ") + e.what());
      }
      if (status.ok()) return status;
      status = status.WithContext("job queue " + path_ + ": " + std::string(what));
      if (status.code() != StatusCode::kAborted || n >= kMaxTries) return status;
      log::Warn("job_queue_retry",
                {{"op", what}, {"attempt", static_cast<int64_t>(n)}, {"error", status.message()}});
      Backoff(n);
    }
  }

  // Runs `body(now)` in a write transaction (BEGIN IMMEDIATE: the write lock is taken before
  // anything is read, so no other connection can change what the body decides on) and
  // commits if it returns OK. `body` may run more than once and must reset its outputs.
  template <typename Body>
  Status Write(std::string_view what, const Body& body) {
    return WithRetries(what, [&]() -> Status {
      std::lock_guard lock(mu_);
      STRATA_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
      RollbackGuard guard(*db_);
      STRATA_RETURN_IF_ERROR(body(Now()));
      return db_->Exec("COMMIT");
    });
  }

  // Runs `body(now)` in a read transaction: one consistent snapshot, no lock held on the file.
  template <typename Body>
  Status Read(std::string_view what, const Body& body) {
    return WithRetries(what, [&]() -> Status {
      std::lock_guard lock(mu_);
      STRATA_RETURN_IF_ERROR(db_->Exec("BEGIN"));
      RollbackGuard guard(*db_);
      return body(Now());
    });
  }

  // REQUIRES: mu_ held, inside BEGIN IMMEDIATE.
  Result<EnqueueOutcome> InsertJob(const JobSpec& spec, int64_t now) {
    {
      STRATA_ASSIGN_OR_RETURN(
          Statement insert,
          db_->Prepare("INSERT INTO jobs (kind, idempotency_key, payload, state, attempts, "
                       "max_attempts, created_at_ms, updated_at_ms, not_before_ms, "
                       "lease_until_ms, lease_owner, last_error, result) "
                       "VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?5, ?6, 0, '', '', '') "
                       "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"));
      insert.Bind(1, spec.kind)
          .Bind(2, spec.idempotency_key)
          .Bind(3, spec.payload)
          .Bind(4, static_cast<int64_t>(spec.max_attempts))
          .Bind(5, now)
          .Bind(6, spec.not_before_ms);
      STRATA_ASSIGN_OR_RETURN(bool row, insert.Step());
      if (row) {
        EnqueueOutcome outcome{insert.Int(0), true};
        STRATA_RETURN_IF_ERROR(insert.Run());
        return outcome;
      }
    }
    if (spec.postpone_existing) {
      STRATA_ASSIGN_OR_RETURN(
          Statement postpone,
          db_->Prepare("UPDATE jobs SET not_before_ms = ?2, updated_at_ms = ?3 "
                       "WHERE idempotency_key = ?1 AND state = 'pending' AND not_before_ms < ?2"));
      STRATA_RETURN_IF_ERROR(
          postpone.Bind(1, spec.idempotency_key).Bind(2, spec.not_before_ms).Bind(3, now).Run());
    }
    STRATA_ASSIGN_OR_RETURN(Statement select,
                            db_->Prepare("SELECT id FROM jobs WHERE idempotency_key = ?1"));
    select.Bind(1, spec.idempotency_key);
    STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return Internal("idempotency key conflict without a row: " + spec.idempotency_key);
    return EnqueueOutcome{select.Int(0), false};
  }

  // REQUIRES: mu_ held, inside BEGIN IMMEDIATE.
  Status LeaseIn(const std::vector<std::string>& kinds, size_t max_jobs, int64_t lease_until,
                 const std::string& owner, int64_t now, std::vector<Job>& leased) {
    const int64_t limit = ClampToInt64(max_jobs);
    std::vector<std::pair<int64_t, int64_t>> candidates;  // (not_before_ms, id)
    for (const std::string& kind : kinds) {
      // A dead worker's last attempt fails the job rather than being run once more: a job
      // that crashes its workers must not take them all down in turn.
      STRATA_ASSIGN_OR_RETURN(
          Statement expire,
          db_->Prepare("UPDATE jobs SET state = 'failed', last_error = 'lease of ' || "
                       "lease_owner || ' expired on attempt ' || attempts || ' of ' || "
                       "max_attempts, lease_owner = '', lease_until_ms = 0, updated_at_ms = ?2 "
                       "WHERE state = 'running' AND kind = ?1 AND lease_until_ms <= ?2 AND "
                       "attempts >= max_attempts RETURNING id"));
      expire.Bind(1, kind).Bind(2, now);
      while (true) {
        STRATA_ASSIGN_OR_RETURN(bool row, expire.Step());
        if (!row) break;
        log::Warn(
            "job_failed",
            {{"id", expire.Int(0)}, {"kind", kind}, {"why", std::string_view("lease expired")}});
      }
      for (const char* sql :
           {"SELECT not_before_ms, id FROM jobs WHERE state = 'pending' AND kind = ?1 AND "
            "not_before_ms <= ?2 ORDER BY not_before_ms, id LIMIT ?3",
            "SELECT not_before_ms, id FROM jobs WHERE state = 'running' AND kind = ?1 AND "
            "lease_until_ms <= ?2 ORDER BY not_before_ms, id LIMIT ?3"}) {
        STRATA_ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
        select.Bind(1, kind).Bind(2, now).Bind(3, limit);
        while (true) {
          STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
          if (!row) break;
          candidates.emplace_back(select.Int(0), select.Int(1));
        }
      }
    }
    std::sort(candidates.begin(), candidates.end());
    if (candidates.size() > max_jobs) candidates.resize(max_jobs);
    for (const auto& [not_before, id] : candidates) {
      // Taking over an expired lease records whose it was, for whoever debugs the crash.
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare(std::string("UPDATE jobs SET last_error = CASE WHEN state = 'running' "
                                   "THEN 'lease of ' || lease_owner || ' expired on attempt ' "
                                   "|| attempts ELSE last_error END, state = 'running', "
                                   "attempts = attempts + 1, lease_owner = ?2, "
                                   "lease_until_ms = ?3, updated_at_ms = ?4 WHERE id = ?1 "
                                   "RETURNING ") +
                       kColumns));
      update.Bind(1, id).Bind(2, owner).Bind(3, lease_until).Bind(4, now);
      STRATA_ASSIGN_OR_RETURN(bool row, update.Step());
      if (!row) return Internal("leased job " + std::to_string(id) + " vanished");
      STRATA_ASSIGN_OR_RETURN(Job job, JobFromRow(update));
      STRATA_RETURN_IF_ERROR(update.Run());
      leased.push_back(std::move(job));
    }
    return OkStatus();
  }

  // REQUIRES: mu_ held, inside a transaction. kNotFound for an unknown id.
  Result<JobState> StateOf(int64_t id) {
    STRATA_ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT state FROM jobs WHERE id = ?1"));
    select.Bind(1, id);
    STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return NotFound("job " + std::to_string(id) + " not found");
    std::optional<JobState> state = ParseJobState(select.Text(0));
    if (!state) return DataLoss("job " + std::to_string(id) + " has an unknown state");
    return *state;
  }

  // Checks that job `id` is running under `owner`. REQUIRES: mu_ held, inside BEGIN IMMEDIATE.
  Result<Held> CheckHeld(int64_t id, const std::string& owner) {
    STRATA_ASSIGN_OR_RETURN(
        Statement select,
        db_->Prepare("SELECT state, lease_owner, attempts, max_attempts FROM jobs WHERE id = ?1"));
    select.Bind(1, id);
    STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
    const std::string name = "job " + std::to_string(id);
    if (!row) return NotFound(name + " not found");
    const std::string state = select.Text(0);
    if (state != JobStateName(JobState::kRunning)) {
      return FailedPrecondition(name + " is " + state + ", not running under '" + owner + "'");
    }
    const std::string holder = select.Text(1);
    if (holder != owner) {
      return FailedPrecondition(name + " is leased by '" + holder + "', not '" + owner + "'");
    }
    return Held{static_cast<int>(select.Int(2)), static_cast<int>(select.Int(3))};
  }

  template <typename BindFn>
  Result<std::optional<Job>> GetWhere(const char* column, const BindFn& bind) {
    std::optional<Job> job;
    const std::string sql =
        std::string("SELECT ") + kColumns + " FROM jobs WHERE " + column + " = ?1";
    STRATA_RETURN_IF_ERROR(Read("get", [&](int64_t) -> Status {
      job.reset();
      STRATA_ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
      bind(select);
      STRATA_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) return OkStatus();
      STRATA_ASSIGN_OR_RETURN(job, JobFromRow(select));
      return OkStatus();
    }));
    return job;
  }

  const std::string path_;
  const SqliteJobQueueOptions options_;
  std::mutex mu_;
  std::unique_ptr<Connection> db_;  // GUARDED_BY(mu_)
};

}  // namespace

Result<std::unique_ptr<JobQueue>> OpenSqliteJobQueue(const std::string& path,
                                                     SqliteJobQueueOptions options) {
  Result<std::unique_ptr<Connection>> db =
      Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) return db.status().WithContext("job queue");
  auto queue = std::make_unique<SqliteJobQueue>(std::move(db).value(), path, std::move(options));
  STRATA_RETURN_IF_ERROR(queue->Init());
  log::Info("job_queue_opened", {{"backend", std::string_view("sqlite")}, {"path", path}});
  return std::unique_ptr<JobQueue>(std::move(queue));
}

}  // namespace strata::jobs
