// The SQLite adapter shared by Strata's SQLite back ends (catalog, job queue): one sqlite3
// connection with a bounded cache of prepared statements, RAII statements, and the one mapping
// of SQLite result codes to Status. SQLite's own types stay behind this header.
//
// Thread-safety: a Connection and its statements are used by one thread at a time (each back
// end's mutex or pool guarantees it); connections are opened with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace strata::sqlite {

// BUSY/LOCKED → kAborted (retryable), FULL/NOMEM → kResourceExhausted, IOERR/CANTOPEN/
// PROTOCOL/READONLY → kUnavailable, CORRUPT/NOTADB → kDataLoss, CONSTRAINT →
// kFailedPrecondition, anything else → kInternal. The message is "<what>: <SQLite's message>".
// `db` may be null.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// A prepared statement borrowed from a Connection's cache, reset and unbound when destroyed (or
// owned and finalized, when the cached one was already in use). Bind indexes are 1-based,
// columns 0-based; a failed bind is reported by the next Step or Run.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, bool* in_use);  // in_use null: owned
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);
  // A separate name, so that an int argument is never ambiguous between int64_t and double.
  Statement& BindReal(int index, double value);

  // True when a row is available, false when the statement is done.
  Result<bool> Step();
  // Steps to the end, ignoring rows.
  Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  double Real(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3_stmt* stmt_;
  bool* in_use_;  // the cache entry's flag, or null when owned
  int bind_rc_ = 0;
};

// One sqlite3 connection and its prepared-statement cache; closes both when destroyed.
class Connection {
 public:
  // `flags` are sqlite3_open_v2 flags (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or
  // SQLITE_OPEN_READONLY); SQLITE_OPEN_NOMUTEX and SQLITE_OPEN_URI are added. A file that
  // cannot be opened (permissions, a missing directory) is kUnavailable.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepares `sql`, reusing the cached statement for the same text when it is free.
  Result<Statement> Prepare(const std::string& sql);
  // Runs one or more statements whose rows are not needed.
  Status Exec(const std::string& sql);
  // How long a statement waits for another connection's lock before it fails with kAborted.
  void SetBusyTimeout(int milliseconds);

  // The rowid of the last row inserted on this connection.
  int64_t LastInsertRowId() const;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // False while a transaction is open.
  bool AutoCommit() const;

 private:
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace strata::sqlite
