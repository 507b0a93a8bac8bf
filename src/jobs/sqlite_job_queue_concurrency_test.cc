// SqliteJobQueue under contention: threads sharing one queue, several queues (connections) on
// one file, and several processes on one file. No job may be leased twice.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "jobs/job_queue_test_util.h"

namespace strata::jobs {
namespace {

using std::chrono::milliseconds;

// A lease long enough that no job expires during a test, so a job seen twice is a bug.
constexpr milliseconds kLongLease(10 * 60 * 1000);

// Leases batches of up to `batch` jobs of kind "work" until none is left, completing each one.
// Returns the leased ids; counts refused reports in `errors`.
std::vector<int64_t> Drain(JobQueue& queue, const std::string& owner, size_t batch, int* errors) {
  std::vector<int64_t> ids;
  while (true) {
    auto leased = queue.Lease({"work"}, batch, kLongLease, owner);
    if (!leased.ok()) {
      ADD_FAILURE() << owner << ": " << leased.status().ToString();
      ++*errors;
      return ids;
    }
    if (leased->empty()) return ids;
    for (const Job& job : *leased) {
      ids.push_back(job.id);
      if (job.attempts != 1 || job.lease_owner != owner) ++*errors;
      if (!queue.Complete(job.id, owner, owner).ok()) ++*errors;
    }
  }
}

std::vector<JobSpec> WorkSpecs(int n) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < n; ++i) {
    JobSpec spec;
    spec.kind = "work";
    spec.idempotency_key = "work-" + std::to_string(i);
    spec.payload = R"({"i":)" + std::to_string(i) + "}";
    specs.push_back(std::move(spec));
  }
  return specs;
}

// Every one of `n` jobs succeeded after exactly one lease.
void ExpectEachRunOnce(JobQueue& queue, int n) {
  JobFilter filter;
  filter.limit = static_cast<size_t>(n) + 1;
  auto jobs = queue.List(filter);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), static_cast<size_t>(n));
  for (const Job& job : *jobs) {
    EXPECT_EQ(job.state, JobState::kSucceeded) << job.id;
    EXPECT_EQ(job.attempts, 1) << job.id;
  }
}

TEST_F(JobQueueTest, ConcurrentLeasersNeverGetTheSameJob) {
  constexpr int kJobs = 500;
  constexpr int kQueues = 2;
  constexpr int kThreadsPerQueue = 4;
  std::vector<std::unique_ptr<JobQueue>> queues;
  for (int q = 0; q < kQueues; ++q) {
    queues.push_back(Open());
    ASSERT_NE(queues.back(), nullptr);
  }
  ASSERT_TRUE(queues[0]->EnqueueAll(WorkSpecs(kJobs)).ok());

  std::mutex mu;
  std::map<int64_t, int> times_leased;  // GUARDED_BY(mu)
  int errors = 0;                       // GUARDED_BY(mu)
  std::vector<std::thread> threads;
  for (int q = 0; q < kQueues; ++q) {
    for (int t = 0; t < kThreadsPerQueue; ++t) {
      threads.emplace_back([&, q, t] {
        const std::string owner = "q" + std::to_string(q) + "-t" + std::to_string(t);
        int thread_errors = 0;
        std::vector<int64_t> ids = Drain(*queues[q], owner, 1 + t * 3, &thread_errors);
        std::lock_guard lock(mu);
        errors += thread_errors;
        for (int64_t id : ids) ++times_leased[id];
      });
    }
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(errors, 0);
  EXPECT_EQ(times_leased.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, times] : times_leased) EXPECT_EQ(times, 1) << "job " << id;
  ExpectEachRunOnce(*queues[1], kJobs);
  auto counts = queues[1]->Counts("work").value();
  EXPECT_EQ(counts.succeeded, kJobs);
  EXPECT_EQ(counts.pending + counts.running + counts.failed, 0);
}

TEST_F(JobQueueTest, ConcurrentEnqueuesOfTheSameKeysCreateEachOnce) {
  constexpr int kJobs = 200;
  std::vector<std::unique_ptr<JobQueue>> queues;
  for (int q = 0; q < 2; ++q) {
    queues.push_back(Open());
    ASSERT_NE(queues.back(), nullptr);
  }
  std::mutex mu;
  std::map<std::string, std::set<int64_t>> ids_by_key;  // GUARDED_BY(mu)
  int created = 0;                                      // GUARDED_BY(mu)
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      JobQueue& queue = *queues[t % 2];
      const std::vector<JobSpec> specs = WorkSpecs(kJobs);
      for (size_t i = 0; i < specs.size(); ++i) {
        // Half the threads enqueue one at a time, half in batches of 10.
        std::vector<JobSpec> batch;
        if (t < 2) {
          batch = {specs[i]};
        } else if (i % 10 == 0) {
          batch.assign(specs.begin() + static_cast<long>(i),
                       specs.begin() + static_cast<long>(i + 10));
        } else {
          continue;
        }
        auto outcomes = queue.EnqueueAll(batch);
        ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
        std::lock_guard lock(mu);
        for (size_t b = 0; b < batch.size(); ++b) {
          ids_by_key[batch[b].idempotency_key].insert((*outcomes)[b].id);
          created += (*outcomes)[b].created ? 1 : 0;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(created, kJobs);
  ASSERT_EQ(ids_by_key.size(), static_cast<size_t>(kJobs));
  for (const auto& [key, ids] : ids_by_key) EXPECT_EQ(ids.size(), 1u) << key;
  EXPECT_EQ(queues[0]->Counts("").value().pending, kJobs);
}

// Several processes on one file: SQLite's file locks, not the in-process mutex, keep leases
// exclusive. Children use the system clock and report failures through their exit code.
TEST_F(JobQueueTest, ProcessesSharingTheFileNeverGetTheSameJob) {
  constexpr int kJobs = 300;
  constexpr int kProcesses = 3;
  {
    auto queue = OpenSqliteJobQueue(path_);
    ASSERT_TRUE(queue.ok()) << queue.status().ToString();
    ASSERT_TRUE((*queue)->EnqueueAll(WorkSpecs(kJobs)).ok());
  }  // closed before fork: a SQLite connection must not cross fork()

  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int errors = 0;
      {
        auto queue = OpenSqliteJobQueue(path_);
        if (!queue.ok()) ::_exit(2);
        std::vector<std::thread> threads;
        std::vector<int> thread_errors(2, 0);
        for (int t = 0; t < 2; ++t) {
          threads.emplace_back([&, t] {
            const std::string owner = "p" + std::to_string(p) + "-t" + std::to_string(t);
            Drain(**queue, owner, 5, &thread_errors[t]);
          });
        }
        for (std::thread& thread : threads) thread.join();
        for (int e : thread_errors) errors += e;
      }
      ::_exit(errors == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid;
  }
  auto queue = OpenSqliteJobQueue(path_);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  ExpectEachRunOnce(**queue, kJobs);
}

}  // namespace
}  // namespace strata::jobs
