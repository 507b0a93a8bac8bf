#include "catalog/sqlite_catalog.h"

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "catalog/sqlite_ops.h"
#include "catalog/sqlite_schema.h"
#include "core/log.h"
#include "sqlite/connection.h"

namespace strata::catalog {
namespace {

using sqlite::Connection;

constexpr int kReaderConnections = 4;
constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxAttempts = 8;
constexpr std::chrono::milliseconds kFirstBackoff{2};
constexpr std::chrono::milliseconds kMaxBackoff{250};

// The read operations, shared by both transaction types (Base is ReadTxn or WriteTxn).
template <typename Base>
class SqliteReads : public Base {
 public:
  explicit SqliteReads(Connection& conn) : conn_(conn) {}
  Result<std::vector<QueryRow>> Find(const Query& query) override {
    return sqlite::FindRows(conn_, query);
  }
  Result<std::vector<InstanceLocation>> Locate(const std::string& study_uid,
                                               const std::string& series_uid,
                                               const std::string& sop_uid) override {
    return sqlite::LocateInstances(conn_, study_uid, series_uid, sop_uid);
  }
  Result<std::vector<InstanceLocation>> Versions(const std::string& sop_uid) override {
    return sqlite::InstanceVersions(conn_, sop_uid, /*include_deleted=*/false);
  }
  Result<std::vector<InstanceLocation>> VersionsIncludingDeleted(
      const std::string& sop_uid) override {
    return sqlite::InstanceVersions(conn_, sop_uid, /*include_deleted=*/true);
  }
  Result<StudyProtection> GetStudyProtection(const std::string& study_uid) override {
    return sqlite::ReadStudyProtection(conn_, study_uid);
  }
  Result<std::vector<DeletedStudy>> ListDeleted() override {
    return sqlite::ReadDeletedStudies(conn_, std::nullopt, 0);
  }
  Result<std::vector<DeletedStudy>> PurgeCandidates(int64_t now_ms, int64_t min_age_ms) override {
    return sqlite::ReadDeletedStudies(conn_, now_ms, min_age_ms);
  }
  Result<std::optional<SeriesActivity>> SeriesActivityOf(const std::string& series_uid) override {
    return sqlite::ReadSeriesActivity(conn_, series_uid);
  }
  Result<std::vector<SeriesActivity>> StableSeries(int64_t received_before_ms,
                                                   const std::optional<SeriesActivityCursor>& after,
                                                   size_t limit) override {
    return sqlite::ReadStableSeries(conn_, received_before_ms, after, limit);
  }
  Result<CatalogCounts> Counts() override { return sqlite::ReadCounts(conn_); }
  Result<std::vector<ChangeEntry>> Changes(const ChangeQuery& query) override {
    return sqlite::ReadChanges(conn_, query);
  }
  Result<int64_t> ConsumerCursor(const std::string& consumer) override {
    return sqlite::ReadConsumerCursor(conn_, consumer);
  }
  Result<OutboxBacklog> Backlog(int64_t after_seq) override {
    return sqlite::ReadBacklog(conn_, after_seq);
  }
  Result<std::optional<ArchiveRecord>> ArchiveState(const std::string& blob_key) override {
    return sqlite::ReadArchiveState(conn_, blob_key);
  }
  Result<ArchiveCounts> CountArchiveStates() override { return sqlite::ReadArchiveCounts(conn_); }
  Result<std::vector<ArchiveRecord>> ListArchiveStates(const std::string& after_blob_key,
                                                       size_t limit) override {
    return sqlite::ReadArchiveStates(conn_, after_blob_key, limit);
  }

 protected:
  Connection& conn_;
};

// A read transaction on a borrowed connection. Lives only while Read's fn runs, on its thread.
using SqliteReadTxn = SqliteReads<ReadTxn>;

// The write transaction on the writer connection. Lives only while Write's fn runs, on its
// thread, with the writer mutex held.
class SqliteWriteTxn final : public SqliteReads<WriteTxn> {
 public:
  using SqliteReads<WriteTxn>::SqliteReads;
  Result<PutOutcome> PutInstance(const InstanceRecord& record, DuplicatePolicy policy) override {
    return sqlite::PutInstanceRecord(conn_, record, policy);
  }
  Status AppendOutbox(const OutboxEvent& event) override {
    return sqlite::AppendOutboxEvent(conn_, event);
  }
  Status AdvanceConsumerCursor(const std::string& consumer, int64_t seq) override {
    return sqlite::WriteConsumerCursor(conn_, consumer, seq);
  }
  Status RecordAccess(const std::vector<std::string>& blob_keys, int64_t at_ms) override {
    return sqlite::WriteAccess(conn_, blob_keys, at_ms);
  }
  Status RecordArchiveState(const ArchiveRecord& record) override {
    return sqlite::WriteArchiveState(conn_, record);
  }
  Status SetRetention(const std::string& study_uid, const std::string& until) override {
    return sqlite::WriteRetention(conn_, study_uid, until);
  }
  Status SetLegalHold(const std::string& study_uid, const std::string& reason,
                      const std::string& by, int64_t now_ms) override {
    return sqlite::WriteLegalHold(conn_, study_uid, reason, by, now_ms);
  }
  Status ClearLegalHold(const std::string& study_uid) override {
    return sqlite::EraseLegalHold(conn_, study_uid);
  }
  Status SoftDeleteStudy(const std::string& study_uid, const std::string& by,
                         int64_t now_ms) override {
    return sqlite::SoftDelete(conn_, study_uid, by, now_ms);
  }
  Status RestoreStudy(const std::string& study_uid, const std::string& by) override {
    return sqlite::Restore(conn_, study_uid, by);
  }
  Result<std::vector<std::string>> PurgeStudy(const std::string& study_uid, const std::string& by,
                                              int64_t now_ms) override {
    return sqlite::Purge(conn_, study_uid, by, now_ms);
  }
};

// Runs the caller's function; exceptions stop here.
template <typename Txn>
Status RunGuarded(const std::function<Status(Txn&)>& fn, Txn& txn) {
  try {
    return fn(txn);
  } catch (const std::exception& e) {
    log::Error("catalog_txn_exception", {{"what", std::string_view(e.what())}});
    return Internal(std::string("exception in catalog transaction: ") + e.what());
  } catch (...) {
    log::Error("catalog_txn_exception", {{"what", std::string_view("unknown")}});
    return Internal("unknown exception in catalog transaction");
  }
}

// Jittered exponential back-off before retry `attempt` (1-based).
void Backoff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto ceiling = std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(attempt, 16)));
  std::uniform_int_distribution<int64_t> jitter(ceiling.count() * 500, ceiling.count() * 1000);
  std::this_thread::sleep_for(std::chrono::microseconds(jitter(rng)));
}

// SQLite catalog: one writer connection behind writer_mu_, and a pool of read-only
// connections (WAL lets them read a consistent snapshot while the writer commits). An
// in-memory database exists per connection, so there reads share the writer connection.
//
// Thread-safety: safe for concurrent use. Callers guarantee that a transaction function does
// not start another transaction on the same catalog (the writer mutex is not re-entrant) and
// that it may run more than once (kAborted is retried).
class SqliteCatalog final : public Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path) {
    std::unique_ptr<SqliteCatalog> catalog(new SqliteCatalog());
    const bool in_memory = path == ":memory:";
    STRATA_ASSIGN_OR_RETURN(catalog->writer_,
                            Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
    Connection& writer = *catalog->writer_;
    STRATA_RETURN_IF_ERROR(ConfigureConnection(writer).WithContext("configure catalog " + path));
    if (!in_memory) {
      STRATA_ASSIGN_OR_RETURN(sqlite::Statement wal, writer.Prepare("PRAGMA journal_mode = WAL"));
      STRATA_ASSIGN_OR_RETURN(bool row, wal.Step());
      if (!row || wal.Text(0) != "wal") {
        return Unavailable("catalog " + path + " cannot use write-ahead logging");
      }
    }
    // A larger page cache keeps the UID indexes' hot pages in memory during ingest; the
    // per-PutInstance savepoint journal stays in memory instead of a temporary file.
    STRATA_RETURN_IF_ERROR(
        writer.Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                    " PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY"));
    STRATA_RETURN_IF_ERROR(sqlite::Migrate(writer).WithContext("migrate catalog " + path));
    if (!in_memory) {
      for (int n = 0; n < kReaderConnections; ++n) {
        STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                                Connection::Open(path, SQLITE_OPEN_READONLY));
        STRATA_RETURN_IF_ERROR(ConfigureConnection(*reader));
        STRATA_RETURN_IF_ERROR(reader->Exec("PRAGMA cache_size = -16384"));
        catalog->idle_readers_.push_back(std::move(reader));
      }
    }
    catalog->readers_share_writer_ = in_memory;
    log::Info("catalog_opened", {{"backend", std::string_view("sqlite")},
                                 {"readers", static_cast<int64_t>(catalog->idle_readers_.size())}});
    return std::unique_ptr<Catalog>(std::move(catalog));
  }

  Status Read(const std::function<Status(ReadTxn&)>& fn) override {
    return WithRetries("read", [&]() -> Status {
      if (readers_share_writer_) {
        std::lock_guard<std::mutex> lock(writer_mu_);
        return ReadOn(*writer_, fn);
      }
      ReaderLease lease(*this);
      return ReadOn(lease.conn(), fn);
    });
  }

  Status Write(const std::function<Status(WriteTxn&)>& fn) override {
    return WithRetries("write", [&]() -> Status {
      std::lock_guard<std::mutex> lock(writer_mu_);
      Connection& conn = *writer_;
      STRATA_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE"));
      SqliteWriteTxn txn(conn);
      Status status = RunGuarded<WriteTxn>(fn, txn);
      if (status.ok()) status = conn.Exec("COMMIT");
      // A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY).
      if (!conn.AutoCommit()) conn.Exec("ROLLBACK").IgnoreError();
      return status;
    });
  }

 private:
  SqliteCatalog() = default;

  static Status ConfigureConnection(Connection& conn) {
    conn.SetBusyTimeout(kBusyTimeoutMs);
    // The first statement reads the header: a file that is not a database fails here.
    STRATA_ASSIGN_OR_RETURN(sqlite::Statement probe, conn.Prepare("PRAGMA schema_version"));
    return probe.Step().status();
  }

  static Status ReadOn(Connection& conn, const std::function<Status(ReadTxn&)>& fn) {
    STRATA_RETURN_IF_ERROR(conn.Exec("BEGIN"));
    SqliteReadTxn txn(conn);
    Status status = RunGuarded<ReadTxn>(fn, txn);
    conn.Exec("ROLLBACK").IgnoreError();  // nothing to keep; ends the snapshot
    return status;
  }

  template <typename Attempt>
  static Status WithRetries(std::string_view what, const Attempt& attempt) {
    for (int n = 1;; ++n) {
      Status status;
      try {
        status = attempt();
      } catch (const std::exception& e) {
        status = Internal(std::string("catalog ") + std::string(what) + ": " + e.what());
      }
      if (status.code() != StatusCode::kAborted || n >= kMaxAttempts) return status;
      log::Warn("catalog_retry",
                {{"op", what}, {"attempt", static_cast<int64_t>(n)}, {"error", status.message()}});
      Backoff(n);
    }
  }

  // Borrows an idle reader connection (waiting for one) and gives it back when destroyed.
  class ReaderLease {
   public:
    explicit ReaderLease(SqliteCatalog& catalog) : catalog_(catalog) {
      std::unique_lock<std::mutex> lock(catalog_.pool_mu_);
      catalog_.pool_cv_.wait(lock, [&] { return !catalog_.idle_readers_.empty(); });
      conn_ = std::move(catalog_.idle_readers_.back());
      catalog_.idle_readers_.pop_back();
    }
    ~ReaderLease() {
      {
        std::lock_guard<std::mutex> lock(catalog_.pool_mu_);
        catalog_.idle_readers_.push_back(std::move(conn_));
      }
      catalog_.pool_cv_.notify_one();
    }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    Connection& conn() { return *conn_; }

   private:
    SqliteCatalog& catalog_;
    std::unique_ptr<Connection> conn_;
  };

  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;  // guarded by writer_mu_ after Open
  bool readers_share_writer_ = false;   // set once in Open

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by pool_mu_
};

}  // namespace

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path) {
  try {
    return SqliteCatalog::Open(path);
  } catch (const std::exception& e) {
    return Internal(std::string("open catalog: ") + e.what());
  }
}

}  // namespace strata::catalog
