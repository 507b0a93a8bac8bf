#include "audit/sqlite_audit_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "sqlite/connection.h"

namespace strata::audit {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
  source TEXT NOT NULL, protocol TEXT NOT NULL, action TEXT NOT NULL, study_uid TEXT NOT NULL,
  series_uid TEXT NOT NULL, instance_uid TEXT NOT NULL, outcome TEXT NOT NULL,
  detail TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(time_ms);
CREATE INDEX IF NOT EXISTS audit_by_study ON audit(study_uid);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kColumns =
    "seq, time_ms, actor, role, source, protocol, action, study_uid, series_uid, instance_uid, "
    "outcome, detail, hash";

class SqliteAuditLog : public AuditLog {
 public:
  SqliteAuditLog(std::unique_ptr<sqlite::Connection> db, SqliteAuditLogOptions options,
                 bool read_only)
      : db_(std::move(db)), options_(options), read_only_(read_only) {}

  ~SqliteAuditLog() override {
    if (writer_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      wake_writer_.notify_all();
      writer_.join();
    }
  }

  Status Init() {
    db_->SetBusyTimeout(5000);
    if (read_only_) return OkStatus();
    STRATA_RETURN_IF_ERROR(db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
                               .WithContext("audit log: creating the schema"));
    STRATA_RETURN_IF_ERROR(db_->Exec(kSchema).WithContext("audit log: creating the schema"));
    writer_ = std::thread([this] { WriterLoop(); });
    return OkStatus();
  }

  void Record(AuditEvent event) override {
    if (read_only_) return;
    if (event.time_ms == 0) event.time_ms = NowMs();
    std::unique_lock lock(mu_);
    queue_space_.wait(lock, [&] { return queue_.size() < options_.max_queued || stopping_; });
    queue_.push_back(std::move(event));
    ++recorded_;
    wake_writer_.notify_one();
  }

  Status Flush() override {
    std::unique_lock lock(mu_);
    const uint64_t target = recorded_;
    flush_target_ = std::max(flush_target_, target);
    wake_writer_.notify_one();
    committed_cv_.wait(lock, [&] { return committed_ >= target || stopping_; });
    return committed_ >= target ? OkStatus() : Unavailable("audit log is stopping");
  }

  Result<std::vector<AuditRecord>> Read(const AuditFilter& f) override {
    // Parameters 1 to 7 all exist (LIMIT ?7), so those a filter leaves out may be bound too.
    std::string sql = std::string("SELECT ") + kColumns + " FROM audit WHERE seq > ?1";
    if (f.since_ms) sql += " AND time_ms >= ?2";
    if (f.until_ms) sql += " AND time_ms < ?3";
    if (!f.actor.empty()) sql += " AND actor = ?4";
    if (!f.action.empty()) sql += " AND action = ?5";
    if (!f.study_uid.empty()) sql += " AND study_uid = ?6";
    sql += " ORDER BY seq LIMIT ?7";
    std::lock_guard lock(db_mu_);
    STRATA_ASSIGN_OR_RETURN(sqlite::Statement s, db_->Prepare(sql));
    s.Bind(1, f.after_seq)
        .Bind(2, f.since_ms.value_or(0))
        .Bind(3, f.until_ms.value_or(0))
        .Bind(4, f.actor)
        .Bind(5, f.action)
        .Bind(6, f.study_uid)
        .Bind(7, static_cast<int64_t>(f.limit));
    std::vector<AuditRecord> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(FromRow(s));
    }
  }

  Result<AuditVerification> Verify() override {
    std::lock_guard lock(db_mu_);
    STRATA_ASSIGN_OR_RETURN(sqlite::Statement s, db_->Prepare(std::string("SELECT ") + kColumns +
                                                              " FROM audit ORDER BY seq"));
    AuditVerification v;
    std::string previous;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return v;
      AuditRecord r = FromRow(s);
      ++v.records;
      if (v.first_broken_seq == 0 && ChainHash(previous, CanonicalJson(r.seq, r.event)) != r.hash) {
        v.first_broken_seq = r.seq;
      }
      previous = r.hash;
    }
  }

 private:
  static AuditRecord FromRow(const sqlite::Statement& s) {
    AuditRecord r;
    r.seq = s.Int(0);
    r.event.time_ms = s.Int(1);
    r.event.actor = s.Text(2);
    r.event.role = s.Text(3);
    r.event.source = s.Text(4);
    r.event.protocol = s.Text(5);
    r.event.action = s.Text(6);
    r.event.study_uid = s.Text(7);
    r.event.series_uid = s.Text(8);
    r.event.instance_uid = s.Text(9);
    r.event.outcome = s.Text(10);
    r.event.detail = s.Text(11);
    r.hash = s.Text(12);
    return r;
  }

  void WriterLoop() {
    std::unique_lock lock(mu_);
    while (true) {
      wake_writer_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) break;
      // A small batch waits a little for company: under a steady stream of stores the log
      // then costs one commit (and one fsync) per linger instead of one per event.
      wake_writer_.wait_for(lock, options_.linger, [&] {
        return queue_.size() >= std::min(options_.max_batch, options_.max_queued) || stopping_ ||
               flush_target_ > committed_;
      });
      std::vector<AuditEvent> batch;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      queue_space_.notify_all();
      Status status = Commit(batch);
      while (!status.ok()) {
        // Never drop an audit record: keep retrying (the disk may come back).
        log::Error("audit_commit_failed", {{"error", status.ToString()}});
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        status = Commit(batch);
      }
      lock.lock();
      committed_ += batch.size();
      committed_cv_.notify_all();
    }
  }

  // Appends `batch` in one transaction; nothing of it on failure.
  Status Commit(const std::vector<AuditEvent>& batch) {
    std::lock_guard db_lock(db_mu_);
    STRATA_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE").WithContext("audit log"));
    Status status = Append(batch);
    if (status.ok()) status = db_->Exec("COMMIT");
    if (!status.ok()) db_->Exec("ROLLBACK").IgnoreError();
    return status.WithContext("audit log");
  }

  // REQUIRES: db_mu_ held, inside a write transaction.
  Status Append(const std::vector<AuditEvent>& batch) {
    // The chain continues from the last committed record, read inside the write lock: another
    // process (the CLI beside `strata serve`) may have appended since.
    int64_t seq = 0;
    std::string hash;
    {
      STRATA_ASSIGN_OR_RETURN(
          sqlite::Statement last,
          db_->Prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
      STRATA_ASSIGN_OR_RETURN(bool row, last.Step());
      if (row) {
        seq = last.Int(0);
        hash = last.Text(1);
      }
    }
    static const std::string kInsert = std::string("INSERT INTO audit(") + kColumns +
                                       ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                                       "?12, ?13)";
    for (const auto& e : batch) {
      ++seq;
      hash = ChainHash(hash, CanonicalJson(seq, e));
      STRATA_ASSIGN_OR_RETURN(sqlite::Statement insert, db_->Prepare(kInsert));
      insert.Bind(1, seq).Bind(2, e.time_ms);
      const std::string* texts[] = {&e.actor,   &e.role,      &e.source,     &e.protocol,
                                    &e.action,  &e.study_uid, &e.series_uid, &e.instance_uid,
                                    &e.outcome, &e.detail,    &hash};
      for (int i = 0; i < 11; ++i) insert.Bind(i + 3, *texts[i]);
      STRATA_RETURN_IF_ERROR(insert.Run());
    }
    return OkStatus();
  }

  std::unique_ptr<sqlite::Connection> db_;
  SqliteAuditLogOptions options_;
  bool read_only_;
  std::mutex db_mu_;  // one statement sequence at a time on the shared connection
  std::mutex mu_;
  std::condition_variable wake_writer_, queue_space_, committed_cv_;
  std::deque<AuditEvent> queue_;
  uint64_t recorded_ = 0, committed_ = 0;
  uint64_t flush_target_ = 0;  // a Flush() waits for events up to here: no lingering
  bool stopping_ = false;
  std::thread writer_;
};

Result<std::unique_ptr<AuditLog>> Open(const std::string& path, SqliteAuditLogOptions options,
                                       bool read_only) {
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  auto db = sqlite::Connection::Open(path, flags);
  if (!db.ok()) {
    return Unavailable("audit log '" + path + "' cannot be opened: " + db.status().message());
  }
  auto log = std::make_unique<SqliteAuditLog>(std::move(db).value(), options, read_only);
  STRATA_RETURN_IF_ERROR(log->Init());
  return std::unique_ptr<AuditLog>(std::move(log));
}

}  // namespace

Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path,
                                                     const SqliteAuditLogOptions& options) {
  return Open(path, options, false);
}

Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLogReadOnly(const std::string& path) {
  return Open(path, {}, true);
}

}  // namespace strata::audit
