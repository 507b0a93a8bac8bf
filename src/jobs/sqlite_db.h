// Internal to the SQLite job queue: one sqlite3 connection with a cache of prepared
// statements, and the mapping of SQLite result codes to Status.
//
// Thread-safety: a Db and its statements are used by one thread at a time (SqliteJobQueue's
// mutex guarantees it); the connection is opened with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace strata::jobs::sqlite {

// BUSY/LOCKED → kAborted (retryable), FULL/NOMEM → kResourceExhausted, IOERR/CANTOPEN →
// kUnavailable, CORRUPT/NOTADB → kDataLoss, CONSTRAINT → kFailedPrecondition, anything else
// → kInternal. The message is "<what>: <SQLite's message>". `db` may be null.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// A prepared statement borrowed from Db's cache, reset and unbound when destroyed (or owned
// and finalized, when the cached one was already in use). Binds are 1-based, columns 0-based;
// a failed bind is reported by the next Step.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, bool* in_use);  // in_use null: owned
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);

  // True when a row is available, false when the statement is done.
  Result<bool> Step();
  // Steps to the end, ignoring rows.
  Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3_stmt* stmt_;
  bool* in_use_;
  int bind_rc_ = 0;
};

// One connection; closes it and its cached statements when destroyed.
class Db {
 public:
  // Opens (creating if needed) the database at `path` read-write.
  static Result<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Result<Statement> Prepare(const std::string& sql);
  // Runs one or more statements whose rows are not needed.
  Status Exec(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // False while a transaction is open.
  bool AutoCommit() const;

  sqlite3* raw() const { return db_; }

 private:
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  explicit Db(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::map<std::string, Cached, std::less<>> cache_;  // a fixed set of SQL texts
};

}  // namespace strata::jobs::sqlite
