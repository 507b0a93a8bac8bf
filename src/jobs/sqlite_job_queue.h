// SqliteJobQueue: the JobQueue in its own SQLite database file (e.g. <data_dir>/jobs.sqlite),
// separate from the catalog so that workers polling for jobs never wait behind ingest
// transactions.
//
// The file uses write-ahead logging and synchronous=FULL, so an acknowledged call survives a
// power cut. Every write is one BEGIN IMMEDIATE transaction, which is what makes Lease atomic
// across threads and across processes sharing the file; SQLITE_BUSY is waited out (busy
// timeout) and then retried with back-off before kAborted is returned. The schema version is
// kept in the file header (user_version, with an application_id marking a job queue).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "jobs/job_queue.h"

namespace strata::jobs {

struct SqliteJobQueueOptions {
  // Milliseconds since the Unix epoch; empty: the system clock. Called with the database
  // locked, so it must be cheap and must not call into the queue.
  std::function<int64_t()> now_ms;
  // How long one statement waits for another connection's lock before backing off.
  std::chrono::milliseconds busy_timeout{5000};
};

// Opens the job queue at `path`, creating the file and its schema if needed (":memory:" gives
// a private in-memory queue, for tests). The returned queue is safe for concurrent use; any
// number of queues, in this or other processes, may open the same file.
// kDataLoss when the file is not a SQLite database; kFailedPrecondition when it is another
// SQLite database, or a job queue written by a newer Strata (schema version too high);
// kUnavailable when it cannot be opened (permissions, missing directory) or cannot use WAL.
Result<std::unique_ptr<JobQueue>> OpenSqliteJobQueue(const std::string& path,
                                                     SqliteJobQueueOptions options = {});

}  // namespace strata::jobs
