// SqliteAuditLog: the AuditLog in its own SQLite database (WAL, synchronous=FULL), so audit
// writes never wait behind the catalog's ingest transactions. Triggers refuse UPDATE and
// DELETE on the table; the hash chain detects edits made around them.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "audit/audit_log.h"

namespace strata::audit {

struct SqliteAuditLogOptions {
  size_t max_queued = 10000;  // Record() waits beyond this
  size_t max_batch = 1000;    // events per transaction
  // How long a transaction waits for more events before it commits (Flush() cuts it short);
  // events are recorded asynchronously either way.
  std::chrono::milliseconds linger{10};
};

// Opens (creating if needed) the audit database at `path` and starts its writer.
Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path,
                                                     const SqliteAuditLogOptions& options = {});

// Read-only access for `strata audit` while a server may be writing.
Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLogReadOnly(const std::string& path);

}  // namespace strata::audit
