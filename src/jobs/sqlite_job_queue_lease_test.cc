// SqliteJobQueue: leases, lease expiry, and the Complete / Fail / Reschedule / Retry cycle.
#include <gtest/gtest.h>

#include "jobs/job_queue_test_util.h"

namespace strata::jobs {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> Keys(const std::vector<Job>& jobs) {
  std::vector<std::string> keys;
  for (const Job& job : jobs) keys.push_back(job.idempotency_key);
  return keys;
}

TEST_F(JobQueueTest, LeaseRespectsNotBeforeKindsAndMax) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  ASSERT_TRUE(queue->Enqueue(Spec("infer", "later", "{}", Now() + 1000)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("infer", "first", "{}", 0)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("notify", "other-kind", "{}", 0)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("infer", "past", "{}", Now() - 10)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("infer", "second", "{}", 0)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("infer", "now", "{}", Now())).ok());

  // Oldest not_before first, then id; never more than max_jobs; only the asked kinds.
  auto two = queue->Lease({"infer"}, 2, milliseconds(30'000), "w1");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(Keys(*two), (std::vector<std::string>{"first", "second"}));
  for (const Job& job : *two) {
    EXPECT_EQ(job.state, JobState::kRunning);
    EXPECT_EQ(job.lease_owner, "w1");
    EXPECT_EQ(job.lease_until_ms, Now() + 30'000);
    EXPECT_EQ(job.attempts, 1);
    EXPECT_EQ(job.updated_at_ms, Now());
  }
  auto rest = queue->Lease({"infer"}, 10, milliseconds(30'000), "w1").value();
  EXPECT_EQ(Keys(rest), (std::vector<std::string>{"past", "now"}));
  EXPECT_TRUE(queue->Lease({"infer"}, 10, milliseconds(30'000), "w1").value().empty());

  Advance(999);
  EXPECT_TRUE(queue->Lease({"infer"}, 10, milliseconds(30'000), "w1").value().empty());
  Advance(1);
  EXPECT_EQ(Keys(queue->Lease({"infer"}, 10, milliseconds(30'000), "w1").value()),
            (std::vector<std::string>{"later"}));

  // Several kinds at once are merged in the same order.
  ASSERT_TRUE(queue->Enqueue(Spec("a", "a-late", "{}", Now() - 5)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("b", "b-early", "{}", Now() - 50)).ok());
  ASSERT_TRUE(queue->Enqueue(Spec("a", "a-early", "{}", Now() - 100)).ok());
  EXPECT_EQ(Keys(queue->Lease({"a", "b", "notify", "a"}, 3, milliseconds(10), "w2").value()),
            (std::vector<std::string>{"other-kind", "a-early", "b-early"}));
  EXPECT_EQ(Keys(queue->Lease({"b", "a"}, 3, milliseconds(10), "w2").value()),
            (std::vector<std::string>{"a-late"}));
}

TEST_F(JobQueueTest, ExpiredLeaseIsTakenOverAndOldOwnerIsRefused) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "k", "{}", 0, 3)).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(30'000), "w1").value().size(), 1u);

  Advance(29'999);
  EXPECT_TRUE(queue->Lease({"infer"}, 1, milliseconds(30'000), "w2").value().empty());
  Advance(1);
  auto taken = queue->Lease({"infer"}, 1, milliseconds(30'000), "w2").value();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].id, id);
  EXPECT_EQ(taken[0].lease_owner, "w2");
  EXPECT_EQ(taken[0].attempts, 2);
  EXPECT_NE(taken[0].last_error.find("lease of w1 expired"), std::string::npos)
      << taken[0].last_error;

  Status late = queue->Complete(id, "w1", "stale");
  EXPECT_EQ(late.code(), StatusCode::kFailedPrecondition) << late.ToString();
  EXPECT_NE(late.message().find("w2"), std::string::npos) << late.ToString();
  EXPECT_EQ(queue->Fail(id, "w1", "e", 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue->Reschedule(id, "w1", 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue->ExtendLease(id, "w1", milliseconds(5)).code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(queue->Complete(id, "w2", R"({"ok":true})").ok());
  auto job = queue->Get(id).value().value();
  EXPECT_EQ(job.state, JobState::kSucceeded);
  EXPECT_EQ(job.result, R"({"ok":true})");
  EXPECT_EQ(job.lease_owner, "");
  EXPECT_EQ(job.lease_until_ms, 0);
}

TEST_F(JobQueueTest, ExpiredLeaseNotYetTakenOverStillCounts) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "k")).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(100), "w1").value().size(), 1u);
  Advance(10'000);
  EXPECT_TRUE(queue->Complete(id, "w1", "done anyway").ok());
  EXPECT_EQ(queue->Get(id).value()->state, JobState::kSucceeded);
}

TEST_F(JobQueueTest, LeaseExpiryOnTheLastAttemptFailsTheJob) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "poison", "{}", 0, 2)).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(100), "w1").value().size(), 1u);
  Advance(100);
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(100), "w2").value().size(), 1u);
  Advance(100);
  EXPECT_TRUE(queue->Lease({"infer"}, 1, milliseconds(100), "w3").value().empty());
  auto job = queue->Get(id).value().value();
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.attempts, 2);
  EXPECT_NE(job.last_error.find("lease of w2 expired on attempt 2 of 2"), std::string::npos)
      << job.last_error;
  EXPECT_EQ(queue->Complete(id, "w2", "").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue->NextDueMs({"infer"}).value(), std::nullopt);
}

TEST_F(JobQueueTest, FailRetriesUntilMaxAttemptsThenFailsForGood) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("notify", "k", "{}", 0, 3)).value().id;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto leased = queue->Lease({"notify"}, 1, milliseconds(1000), "w").value();
    ASSERT_EQ(leased.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(leased[0].attempts, attempt);
    const std::string error = "peer refused " + std::to_string(attempt);
    ASSERT_TRUE(queue->Fail(id, "w", error, Now() + 500).ok());
    auto job = queue->Get(id).value().value();
    EXPECT_EQ(job.last_error, error);
    EXPECT_EQ(job.lease_owner, "");
    if (attempt < 3) {
      EXPECT_EQ(job.state, JobState::kPending);
      EXPECT_EQ(job.not_before_ms, Now() + 500);
      // Not before the retry time.
      Advance(499);
      EXPECT_TRUE(queue->Lease({"notify"}, 1, milliseconds(1000), "w").value().empty());
      Advance(1);
    } else {
      EXPECT_EQ(job.state, JobState::kFailed);
    }
  }
  Advance(10'000);
  EXPECT_TRUE(queue->Lease({"notify"}, 1, milliseconds(1000), "w").value().empty());
  auto counts = queue->Counts("notify").value();
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.pending, 0);
}

TEST_F(JobQueueTest, CompleteAllCompletesWhatTheOwnerHolds) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  std::vector<int64_t> ids;
  for (const char* key : {"a", "b", "c"}) {
    ids.push_back(queue->Enqueue(Spec("infer", key, "{}", 0)).value().id);
  }
  ASSERT_EQ(queue->Lease({"infer"}, 2, milliseconds(1000), "w1").value().size(), 2u);
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(1000), "w2").value().size(), 1u);
  auto completed = queue->CompleteAll(ids, "w1", "ok");
  ASSERT_TRUE(completed.ok()) << completed.status().ToString();
  EXPECT_EQ(*completed, 2u);
  EXPECT_EQ(queue->Get(ids[0]).value().value().state, JobState::kSucceeded);
  EXPECT_EQ(queue->Get(ids[1]).value().value().state, JobState::kSucceeded);
  EXPECT_EQ(queue->Get(ids[2]).value().value().state, JobState::kRunning);  // w2's
  EXPECT_EQ(queue->CompleteAll({ids[2], 999}, "w2", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(queue->Get(ids[2]).value().value().state, JobState::kRunning);  // rolled back
}

TEST_F(JobQueueTest, ReleaseOwnerEndsItsLeasesAtOnce) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t a = queue->Enqueue(Spec("infer", "a", "{}", 0, 3)).value().id;
  const int64_t last = queue->Enqueue(Spec("infer", "last", "{}", 0, 1)).value().id;
  const int64_t other = queue->Enqueue(Spec("infer", "other", "{}", 0, 3)).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 2, milliseconds(60'000), "w1").value().size(), 2u);
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(60'000), "w2").value().size(), 1u);
  EXPECT_EQ(queue->ReleaseOwner("w1").value(), 2u);
  auto job = queue->Get(a).value().value();
  EXPECT_EQ(job.state, JobState::kPending);
  EXPECT_EQ(job.lease_owner, "");
  EXPECT_NE(job.last_error.find("released"), std::string::npos) << job.last_error;
  EXPECT_EQ(queue->Get(last).value().value().state, JobState::kFailed);  // its only attempt
  EXPECT_EQ(queue->Get(other).value().value().state, JobState::kRunning);
  // Due at once, long before the lease would have expired.
  EXPECT_EQ(queue->Lease({"infer"}, 10, milliseconds(60'000), "w1").value().size(), 1u);
  EXPECT_EQ(queue->ReleaseOwner("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(JobQueueTest, NoRetryFailsForGoodWithAttemptsLeft) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "k", "{}", 0, 5)).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(1000), "w").value().size(), 1u);
  ASSERT_TRUE(queue->Fail(id, "w", "not an image", kNoRetry).ok());
  EXPECT_EQ(queue->Get(id).value().value().state, JobState::kFailed);
  EXPECT_EQ(queue->Fail(id, "w", "x", -2).code(), StatusCode::kInvalidArgument);
}

TEST_F(JobQueueTest, PostponeExistingMovesAPendingJobLaterOnly) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  JobSpec spec = Spec("infer", "series", "{}", Now() + 1000);
  spec.postpone_existing = true;
  const int64_t id = queue->Enqueue(spec).value().id;
  spec.not_before_ms = Now() + 3000;  // a later image of the series
  EXPECT_FALSE(queue->Enqueue(spec).value().created);
  EXPECT_EQ(queue->Get(id).value().value().not_before_ms, Now() + 3000);
  spec.not_before_ms = Now() + 2000;  // never earlier
  ASSERT_TRUE(queue->Enqueue(spec).ok());
  EXPECT_EQ(queue->Get(id).value().value().not_before_ms, Now() + 3000);
  JobSpec plain = Spec("infer", "series", "{}", Now() + 9000);  // without the flag: unchanged
  ASSERT_TRUE(queue->Enqueue(plain).ok());
  EXPECT_EQ(queue->Get(id).value().value().not_before_ms, Now() + 3000);
  Advance(3000);
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(1000), "w").value().size(), 1u);
  spec.not_before_ms = Now() + 5000;  // a running job is not touched
  ASSERT_TRUE(queue->Enqueue(spec).ok());
  EXPECT_EQ(queue->Get(id).value().value().state, JobState::kRunning);
  EXPECT_TRUE(queue->Complete(id, "w", "").ok());
}

TEST_F(JobQueueTest, RescheduleDoesNotConsumeAnAttempt) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "series", "{}", 0, 1)).value().id;
  for (int n = 0; n < 5; ++n) {
    auto leased = queue->Lease({"infer"}, 1, milliseconds(1000), "w").value();
    ASSERT_EQ(leased.size(), 1u);
    EXPECT_EQ(leased[0].attempts, 1);
    ASSERT_TRUE(queue->Reschedule(id, "w", Now() + 2000).ok());
    auto job = queue->Get(id).value().value();
    EXPECT_EQ(job.state, JobState::kPending);
    EXPECT_EQ(job.attempts, 0);
    EXPECT_EQ(job.not_before_ms, Now() + 2000);
    EXPECT_TRUE(queue->Lease({"infer"}, 1, milliseconds(1000), "w").value().empty());
    Advance(2000);
  }
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(1000), "w").value().size(), 1u);
  EXPECT_TRUE(queue->Complete(id, "w", "").ok());
}

TEST_F(JobQueueTest, ExtendLeaseKeepsTheJob) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("infer", "k")).value().id;
  ASSERT_EQ(queue->Lease({"infer"}, 1, milliseconds(1000), "w1").value().size(), 1u);
  Advance(800);
  ASSERT_TRUE(queue->ExtendLease(id, "w1", milliseconds(1000)).ok());
  EXPECT_EQ(queue->Get(id).value()->lease_until_ms, Now() + 1000);
  EXPECT_EQ(queue->ExtendLease(id, "w2", milliseconds(1000)).code(),
            StatusCode::kFailedPrecondition);
  Advance(500);  // past the original lease
  EXPECT_TRUE(queue->Lease({"infer"}, 1, milliseconds(1000), "w2").value().empty());
  EXPECT_TRUE(queue->Complete(id, "w1", "").ok());
}

TEST_F(JobQueueTest, RetryBringsAFailedJobBack) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const int64_t id = queue->Enqueue(Spec("notify", "k", "{}", 0, 1)).value().id;
  EXPECT_EQ(queue->Retry(id).code(), StatusCode::kFailedPrecondition);  // pending
  ASSERT_EQ(queue->Lease({"notify"}, 1, milliseconds(1000), "w").value().size(), 1u);
  EXPECT_EQ(queue->Retry(id).code(), StatusCode::kFailedPrecondition);  // running
  ASSERT_TRUE(queue->Fail(id, "w", "peer down", Now() + 1'000'000).ok());
  ASSERT_EQ(queue->Get(id).value()->state, JobState::kFailed);

  Advance(10);
  ASSERT_TRUE(queue->Retry(id).ok());
  auto job = queue->Get(id).value().value();
  EXPECT_EQ(job.state, JobState::kPending);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.not_before_ms, Now());
  EXPECT_EQ(job.last_error, "peer down");
  auto leased = queue->Lease({"notify"}, 1, milliseconds(1000), "w").value();
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].attempts, 1);
  ASSERT_TRUE(queue->Complete(id, "w", "").ok());
  EXPECT_EQ(queue->Retry(id).code(), StatusCode::kFailedPrecondition);  // succeeded
}

}  // namespace
}  // namespace strata::jobs
