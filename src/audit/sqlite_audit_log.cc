#include "audit/sqlite_audit_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/log.h"

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

Status SqliteError(sqlite3* db, const std::string& what) {
  return Internal("audit log: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string Column(sqlite3_stmt* s, int i) {
  const unsigned char* text = sqlite3_column_text(s, i);
  return text ? reinterpret_cast<const char*>(text) : "";
}

class SqliteAuditLog : public AuditLog {
 public:
  SqliteAuditLog(sqlite3* db, SqliteAuditLogOptions options, bool read_only)
      : db_(db), options_(options), read_only_(read_only) {}

  ~SqliteAuditLog() override {
    if (writer_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      wake_writer_.notify_all();
      writer_.join();
    }
    sqlite3_close(db_);
  }

  Status Init() {
    sqlite3_busy_timeout(db_, 5000);
    if (read_only_) return OkStatus();
    const char* pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
    if (sqlite3_exec(db_, pragmas, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "creating the schema");
    }
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
    std::string sql =
        "SELECT seq, time_ms, actor, role, source, protocol, action, study_uid, series_uid, "
        "instance_uid, outcome, detail, hash FROM audit WHERE seq > ?1";
    if (f.since_ms) sql += " AND time_ms >= ?2";
    if (f.until_ms) sql += " AND time_ms < ?3";
    if (!f.actor.empty()) sql += " AND actor = ?4";
    if (!f.action.empty()) sql += " AND action = ?5";
    if (!f.study_uid.empty()) sql += " AND study_uid = ?6";
    sql += " ORDER BY seq LIMIT ?7";
    std::lock_guard lock(db_mu_);
    Statement s(db_, sql.c_str());
    if (!s.get()) return SqliteError(db_, "reading");
    sqlite3_bind_int64(s.get(), 1, f.after_seq);
    if (f.since_ms) sqlite3_bind_int64(s.get(), 2, *f.since_ms);
    if (f.until_ms) sqlite3_bind_int64(s.get(), 3, *f.until_ms);
    sqlite3_bind_text(s.get(), 4, f.actor.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 5, f.action.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 6, f.study_uid.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s.get(), 7, static_cast<int64_t>(f.limit));
    std::vector<AuditRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(FromRow(s.get()));
    if (rc != SQLITE_DONE) return SqliteError(db_, "reading");
    return out;
  }

  Result<AuditVerification> Verify() override {
    std::lock_guard lock(db_mu_);
    Statement s(db_,
                "SELECT seq, time_ms, actor, role, source, protocol, action, study_uid, "
                "series_uid, instance_uid, outcome, detail, hash FROM audit ORDER BY seq");
    if (!s.get()) return SqliteError(db_, "verifying");
    AuditVerification v;
    std::string previous;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      AuditRecord r = FromRow(s.get());
      ++v.records;
      if (v.first_broken_seq == 0 && ChainHash(previous, CanonicalJson(r.seq, r.event)) != r.hash) {
        v.first_broken_seq = r.seq;
      }
      previous = r.hash;
    }
    if (rc != SQLITE_DONE) return SqliteError(db_, "verifying");
    return v;
  }

 private:
  static AuditRecord FromRow(sqlite3_stmt* s) {
    AuditRecord r;
    r.seq = sqlite3_column_int64(s, 0);
    r.event.time_ms = sqlite3_column_int64(s, 1);
    r.event.actor = Column(s, 2);
    r.event.role = Column(s, 3);
    r.event.source = Column(s, 4);
    r.event.protocol = Column(s, 5);
    r.event.action = Column(s, 6);
    r.event.study_uid = Column(s, 7);
    r.event.series_uid = Column(s, 8);
    r.event.instance_uid = Column(s, 9);
    r.event.outcome = Column(s, 10);
    r.event.detail = Column(s, 11);
    r.hash = Column(s, 12);
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

  Status Commit(const std::vector<AuditEvent>& batch) {
    std::lock_guard db_lock(db_mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "begin");
    }
    Statement insert(db_,
                     "INSERT INTO audit(seq, time_ms, actor, role, source, protocol, action, "
                     "study_uid, series_uid, instance_uid, outcome, detail, hash) "
                     "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    // The chain continues from the last committed record, read inside the write lock: another
    // process (the CLI beside `strata serve`) may have appended since.
    int64_t seq = 0;
    std::string hash;
    {
      Statement last(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
      int rc = last.get() ? sqlite3_step(last.get()) : SQLITE_ERROR;
      if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(last.get(), 0);
        hash = Column(last.get(), 1);
      } else if (rc != SQLITE_DONE) {
        Status st = SqliteError(db_, "reading the last record");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return st;
      }
    }
    for (const auto& e : batch) {
      ++seq;
      hash = ChainHash(hash, CanonicalJson(seq, e));
      sqlite3_stmt* s = insert.get();
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, seq);
      sqlite3_bind_int64(s, 2, e.time_ms);
      const std::string* texts[] = {&e.actor,   &e.role,      &e.source,     &e.protocol,
                                    &e.action,  &e.study_uid, &e.series_uid, &e.instance_uid,
                                    &e.outcome, &e.detail,    &hash};
      for (int i = 0; i < 11; ++i) {
        sqlite3_bind_text(s, i + 3, texts[i]->c_str(), -1, SQLITE_TRANSIENT);
      }
      if (sqlite3_step(s) != SQLITE_DONE) {
        Status st = SqliteError(db_, "insert");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return st;
      }
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      Status st = SqliteError(db_, "commit");
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return st;
    }
    return OkStatus();
  }

  sqlite3* db_;
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
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status st = Unavailable("audit log '" + path +
                            "' cannot be opened: " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return st;
  }
  auto log = std::make_unique<SqliteAuditLog>(db, options, read_only);
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
