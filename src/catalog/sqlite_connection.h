// Internal to the SQLite catalog: a thin RAII layer over one sqlite3 connection, its cached
// prepared statements and the mapping of SQLite result codes to Status.
//
// Thread-safety: a Connection is used by one thread at a time (the catalog's pool or writer
// mutex guarantees it); connections are opened with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace strata::catalog::sqlite {

// Maps a SQLite result code to a Status: BUSY/LOCKED → kAborted (retryable), FULL →
// kResourceExhausted, IOERR/CANTOPEN → kUnavailable, CORRUPT/NOTADB → kDataLoss, CONSTRAINT →
// kFailedPrecondition, anything else → kInternal. `db` may be null.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// A prepared statement borrowed from a Connection's cache (or owned, when the cached one is
// already in use). Reset and unbound when destroyed. Bind indexes are 1-based, columns
// 0-based. Bind errors are remembered and reported by the next Step/Run.
class Stmt {
 public:
  Stmt(sqlite3_stmt* stmt, bool* busy_flag, bool owned);
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int index, std::string_view value);
  Stmt& Bind(int index, int64_t value);

  // True when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();

  std::string Text(int column) const;
  int64_t Int(int column) const;

 private:
  sqlite3_stmt* stmt_;
  bool* busy_flag_;  // the cache entry's in-use flag, or null when owned_
  bool owned_;
  int bind_rc_ = 0;
};

// One sqlite3 connection and its prepared-statement cache; closes both when destroyed. Used by
// one thread at a time.
class Connection {
 public:
  // `flags` are sqlite3_open_v2 flags; SQLITE_OPEN_NOMUTEX and SQLITE_OPEN_URI are added.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepares `sql`, reusing the cached statement for the same text when it is free.
  Result<Stmt> Prepare(const std::string& sql);
  // Runs one or more statements that return no rows needed by the caller.
  Status Exec(const std::string& sql);

  // The rowid of the last row inserted on this connection.
  int64_t LastInsertRowId() const;

  sqlite3* db() const { return db_; }

 private:
  struct CachedStmt {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, CachedStmt> cache_;
};

}  // namespace strata::catalog::sqlite
