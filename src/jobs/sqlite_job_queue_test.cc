// SqliteJobQueue: enqueueing, queries, durability, bad input and bad files.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "jobs/job_queue_test_util.h"

namespace strata::jobs {
namespace {

using std::chrono::milliseconds;

TEST(JobStateTest, NamesRoundTrip) {
  for (JobState state :
       {JobState::kPending, JobState::kRunning, JobState::kSucceeded, JobState::kFailed}) {
    EXPECT_EQ(ParseJobState(JobStateName(state)), state);
  }
  EXPECT_EQ(JobStateName(JobState::kSucceeded), "succeeded");
  EXPECT_EQ(ParseJobState("done"), std::nullopt);
  EXPECT_EQ(ParseJobState(""), std::nullopt);
}

TEST_F(JobQueueTest, EnqueueIsIdempotent) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  auto first = queue->Enqueue(Spec("inference", "inference:1.2.3:lung", R"({"v":1})"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created);
  EXPECT_GT(first->id, 0);

  Advance(1000);
  auto again = queue->Enqueue(Spec("inference", "inference:1.2.3:lung", R"({"v":2})", 5, 9));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->id, first->id);

  auto job = queue->Get(first->id);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_TRUE(job->has_value());
  const Job& stored = **job;
  EXPECT_EQ(stored.kind, "inference");
  EXPECT_EQ(stored.idempotency_key, "inference:1.2.3:lung");
  EXPECT_EQ(stored.payload, R"({"v":1})");
  EXPECT_EQ(stored.state, JobState::kPending);
  EXPECT_EQ(stored.attempts, 0);
  EXPECT_EQ(stored.max_attempts, 5);
  EXPECT_EQ(stored.not_before_ms, 0);
  EXPECT_EQ(stored.created_at_ms, kStartMs);
  EXPECT_EQ(stored.updated_at_ms, kStartMs);
  EXPECT_EQ(stored.lease_owner, "");
  EXPECT_EQ(stored.lease_until_ms, 0);

  // Even a finished job keeps its key: enqueueing it again does not run it again.
  auto leased = queue->Lease({"inference"}, 1, milliseconds(1000), "w1");
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  ASSERT_TRUE(queue->Complete(first->id, "w1", "{}").ok());
  auto after_done = queue->Enqueue(Spec("inference", "inference:1.2.3:lung"));
  ASSERT_TRUE(after_done.ok());
  EXPECT_FALSE(after_done->created);
  EXPECT_EQ(after_done->id, first->id);
  EXPECT_EQ(queue->Get(first->id).value()->state, JobState::kSucceeded);
  EXPECT_EQ(queue->Counts("").value().pending, 0);
}

TEST_F(JobQueueTest, EnqueueAllReturnsOutcomesInOrder) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  ASSERT_TRUE(queue->Enqueue(Spec("notify", "k2")).ok());
  auto outcomes = queue->EnqueueAll(
      {Spec("notify", "k1"), Spec("notify", "k2"), Spec("notify", "k3"), Spec("notify", "k1")});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  ASSERT_EQ(outcomes->size(), 4u);
  EXPECT_TRUE((*outcomes)[0].created);
  EXPECT_FALSE((*outcomes)[1].created);
  EXPECT_TRUE((*outcomes)[2].created);
  EXPECT_FALSE((*outcomes)[3].created);
  EXPECT_EQ((*outcomes)[3].id, (*outcomes)[0].id);
  EXPECT_EQ(queue->GetByKey("k2").value()->id, (*outcomes)[1].id);
  EXPECT_EQ(queue->Counts("notify").value().pending, 3);

  auto empty = queue->EnqueueAll({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(JobQueueTest, InvalidArgumentsChangeNothing) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const auto invalid = [](const Status& status) {
    return status.code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid(queue->Enqueue(Spec("", "k")).status()));
  EXPECT_TRUE(invalid(queue->Enqueue(Spec("kind", "")).status()));
  EXPECT_TRUE(invalid(queue->Enqueue(Spec("kind", "k", "{}", 0, 0)).status()));
  EXPECT_TRUE(invalid(queue->Enqueue(Spec("kind", "k", "{}", 0, -3)).status()));
  EXPECT_TRUE(invalid(queue->Enqueue(Spec("kind", "k", "{}", -1)).status()));
  // One bad spec rejects the whole batch.
  EXPECT_TRUE(invalid(queue->EnqueueAll({Spec("kind", "ok"), Spec("", "bad")}).status()));
  EXPECT_EQ(queue->List({}).value().size(), 0u);

  ASSERT_TRUE(queue->Enqueue(Spec("kind", "k")).ok());
  EXPECT_TRUE(invalid(queue->Lease({}, 1, milliseconds(1000), "w").status()));
  EXPECT_TRUE(invalid(queue->Lease({"kind", ""}, 1, milliseconds(1000), "w").status()));
  EXPECT_TRUE(invalid(queue->Lease({"kind"}, 0, milliseconds(1000), "w").status()));
  EXPECT_TRUE(invalid(queue->Lease({"kind"}, 1, milliseconds(0), "w").status()));
  EXPECT_TRUE(invalid(queue->Lease({"kind"}, 1, milliseconds(-5), "w").status()));
  EXPECT_TRUE(invalid(queue->Lease({"kind"}, 1, milliseconds(1000), "").status()));
  EXPECT_TRUE(invalid(queue->NextDueMs({}).status()));
  EXPECT_TRUE(invalid(queue->NextDueMs({""}).status()));
  EXPECT_EQ(queue->Counts("kind").value().pending, 1);

  auto leased = queue->Lease({"kind"}, 1, milliseconds(1000), "w");
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  const int64_t id = (*leased)[0].id;
  EXPECT_TRUE(invalid(queue->Complete(id, "", "")));
  EXPECT_TRUE(invalid(queue->Fail(id, "w", "boom", -5)));
  EXPECT_TRUE(invalid(queue->Reschedule(id, "w", -1)));
  EXPECT_TRUE(invalid(queue->ExtendLease(id, "w", milliseconds(0))));
  auto job = queue->Get(id).value().value();
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.lease_until_ms, Now() + 1000);
}

TEST_F(JobQueueTest, ReportsOnUnknownOrFinishedJobs) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->Complete(42, "w", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(queue->Fail(42, "w", "e", 0).code(), StatusCode::kNotFound);
  EXPECT_EQ(queue->Reschedule(42, "w", 0).code(), StatusCode::kNotFound);
  EXPECT_EQ(queue->ExtendLease(42, "w", milliseconds(5)).code(), StatusCode::kNotFound);
  EXPECT_EQ(queue->Retry(42).code(), StatusCode::kNotFound);
  EXPECT_FALSE(queue->Get(42).value().has_value());
  EXPECT_FALSE(queue->GetByKey("nope").value().has_value());

  const int64_t id = queue->Enqueue(Spec("k", "a")).value().id;
  // Not leased yet.
  EXPECT_EQ(queue->Complete(id, "w", "").code(), StatusCode::kFailedPrecondition);
  ASSERT_EQ(queue->Lease({"k"}, 1, milliseconds(100), "w").value().size(), 1u);
  ASSERT_TRUE(queue->Complete(id, "w", "r").ok());
  // Already finished: a second report is refused and changes nothing.
  Status twice = queue->Complete(id, "w", "other");
  EXPECT_EQ(twice.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.message().find("succeeded"), std::string::npos) << twice.ToString();
  EXPECT_EQ(queue->Fail(id, "w", "e", 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue->Get(id).value()->result, "r");
}

TEST_F(JobQueueTest, DurableAcrossReopen) {
  int64_t done_id = 0;
  int64_t retry_id = 0;
  int64_t running_id = 0;
  {
    auto queue = Open();
    ASSERT_NE(queue, nullptr);
    done_id = queue->Enqueue(Spec("k", "done", "p1")).value().id;
    retry_id = queue->Enqueue(Spec("k", "retry", "p2")).value().id;
    running_id = queue->Enqueue(Spec("k", "running", "p3")).value().id;
    ASSERT_EQ(queue->Lease({"k"}, 3, milliseconds(60'000), "w").value().size(), 3u);
    ASSERT_TRUE(queue->Complete(done_id, "w", "ok").ok());
    ASSERT_TRUE(queue->Fail(retry_id, "w", "transient", Now() + 500).ok());
  }
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  auto done = queue->Get(done_id).value().value();
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.result, "ok");
  auto retry = queue->GetByKey("retry").value().value();
  EXPECT_EQ(retry.id, retry_id);
  EXPECT_EQ(retry.state, JobState::kPending);
  EXPECT_EQ(retry.last_error, "transient");
  EXPECT_EQ(retry.not_before_ms, Now() + 500);
  EXPECT_EQ(retry.payload, "p2");
  auto running = queue->Get(running_id).value().value();
  EXPECT_EQ(running.state, JobState::kRunning);
  EXPECT_EQ(running.lease_owner, "w");
  // The lease survives the restart: the same owner can still complete.
  EXPECT_TRUE(queue->Complete(running_id, "w", "late").ok());
  EXPECT_FALSE(queue->Enqueue(Spec("k", "done")).value().created);
  // New ids continue after the old ones.
  EXPECT_GT(queue->Enqueue(Spec("k", "new")).value().id, running_id);

  // The file is in WAL mode (journal_mode is persistent in the file).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(JobQueueTest, ListFiltersAndPages) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  std::vector<int64_t> ids;
  for (int n = 0; n < 6; ++n) {
    ids.push_back(
        queue->Enqueue(Spec(n % 2 == 0 ? "even" : "odd", "k" + std::to_string(n))).value().id);
  }
  ASSERT_EQ(queue->Lease({"even"}, 1, milliseconds(100), "w").value().size(), 1u);  // ids[0]

  auto all = queue->List({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 6u);
  for (size_t n = 0; n < ids.size(); ++n) EXPECT_EQ((*all)[n].id, ids[n]);

  JobFilter even;
  even.kind = "even";
  auto evens = queue->List(even).value();
  ASSERT_EQ(evens.size(), 3u);
  EXPECT_EQ(evens[1].id, ids[2]);

  JobFilter pending_even = even;
  pending_even.state = JobState::kPending;
  auto pending = queue->List(pending_even).value();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, ids[2]);

  JobFilter running;
  running.state = JobState::kRunning;
  auto runs = queue->List(running).value();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, ids[0]);

  JobFilter page;
  page.limit = 4;
  auto first_page = queue->List(page).value();
  ASSERT_EQ(first_page.size(), 4u);
  page.after_id = first_page.back().id;
  auto second_page = queue->List(page).value();
  ASSERT_EQ(second_page.size(), 2u);
  EXPECT_EQ(second_page[0].id, ids[4]);

  page.limit = 0;
  EXPECT_TRUE(queue->List(page).value().empty());
  JobFilter unknown;
  unknown.kind = "nothing";
  EXPECT_TRUE(queue->List(unknown).value().empty());
}

TEST_F(JobQueueTest, CountsAndNextDueMs) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->NextDueMs({"a"}).value(), std::nullopt);
  auto zero = queue->Counts("").value();
  EXPECT_EQ(zero.pending + zero.running + zero.succeeded + zero.failed, 0);

  ASSERT_TRUE(queue->Enqueue(Spec("a", "a1", "{}", Now() + 5000)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("a", "a2", "{}", Now() + 3000)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("b", "b1", "{}", Now() + 1000)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("c", "c1")).ok());
  EXPECT_EQ(queue->NextDueMs({"a"}).value(), Now() + 3000);
  EXPECT_EQ(queue->NextDueMs({"a", "b"}).value(), Now() + 1000);
  EXPECT_EQ(queue->NextDueMs({"c"}).value(), 0);  // due already
  EXPECT_EQ(queue->NextDueMs({"zzz"}).value(), std::nullopt);

  // A running job is due again when its lease ends.
  auto leased = queue->Lease({"c"}, 5, milliseconds(2000), "w").value();
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(queue->NextDueMs({"c"}).value(), Now() + 2000);
  EXPECT_EQ(queue->NextDueMs({"a", "c"}).value(), Now() + 2000);
  ASSERT_TRUE(queue->Complete(leased[0].id, "w", "").ok());
  EXPECT_EQ(queue->NextDueMs({"c"}).value(), std::nullopt);

  auto all = queue->Counts("").value();
  EXPECT_EQ(all.pending, 3);
  EXPECT_EQ(all.running, 0);
  EXPECT_EQ(all.succeeded, 1);
  EXPECT_EQ(all.failed, 0);
  auto a = queue->Counts("a").value();
  EXPECT_EQ(a.pending, 2);
  EXPECT_EQ(a.succeeded, 0);
  EXPECT_EQ(queue->Counts("c").value().succeeded, 1);
}

TEST_F(JobQueueTest, InMemoryQueueWorks) {
  auto queue = OpenSqliteJobQueue(":memory:");
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  ASSERT_TRUE((*queue)->Enqueue(Spec("k", "a")).ok());
  EXPECT_EQ((*queue)->Lease({"k"}, 5, milliseconds(100), "w").value().size(), 1u);
}

TEST_F(JobQueueTest, FileThatIsNotSqliteIsDataLoss) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int n = 0; n < 64; ++n) out << "this is not a database, just some text\n";
  }
  auto queue = OpenSqliteJobQueue(path_);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.status().code(), StatusCode::kDataLoss) << queue.status().ToString();
  EXPECT_NE(queue.status().message().find(path_), std::string::npos);
  EXPECT_NE(queue.status().message().find("not a database"), std::string::npos)
      << queue.status().ToString();
}

TEST_F(JobQueueTest, OtherSqliteDatabaseIsRejected) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE patients (id INTEGER PRIMARY KEY)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto queue = OpenSqliteJobQueue(path_);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.status().code(), StatusCode::kFailedPrecondition) << queue.status().ToString();
  EXPECT_NE(queue.status().message().find("not a Strata job queue"), std::string::npos);
}

TEST_F(JobQueueTest, NewerSchemaVersionIsRejected) {
  { ASSERT_NE(Open(), nullptr); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto queue = OpenSqliteJobQueue(path_);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.status().code(), StatusCode::kFailedPrecondition) << queue.status().ToString();
  EXPECT_NE(queue.status().message().find("newer"), std::string::npos);
}

TEST_F(JobQueueTest, MissingDirectoryIsUnavailable) {
  auto queue = OpenSqliteJobQueue((dir_ / "no" / "such" / "dir" / "jobs.sqlite").string());
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.status().code(), StatusCode::kUnavailable) << queue.status().ToString();
}

}  // namespace
}  // namespace strata::jobs
