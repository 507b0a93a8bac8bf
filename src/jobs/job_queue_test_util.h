// Test helpers for the job queue: a per-test temporary directory and a settable clock.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "jobs/sqlite_job_queue.h"

namespace strata::jobs {

// A fresh directory per test (tests may run in parallel processes), removed afterwards, and a
// fake clock that the queues opened by Open() read.
class JobQueueTest : public ::testing::Test {
 protected:
  static constexpr int64_t kStartMs = 1'700'000'000'000;

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-jobs-test-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" +
            info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "jobs.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens the queue at path_ on the fake clock; fails the test on error.
  std::unique_ptr<JobQueue> Open() {
    SqliteJobQueueOptions options;
    options.now_ms = [this] { return now_.load(); };
    auto queue = OpenSqliteJobQueue(path_, std::move(options));
    EXPECT_TRUE(queue.ok()) << queue.status().ToString();
    return queue.ok() ? std::move(queue).value() : nullptr;
  }

  void Advance(int64_t ms) { now_ += ms; }
  int64_t Now() const { return now_.load(); }

  static JobSpec Spec(std::string kind, std::string key, std::string payload = "{}",
                      int64_t not_before_ms = 0, int max_attempts = 5) {
    JobSpec spec;
    spec.kind = std::move(kind);
    spec.idempotency_key = std::move(key);
    spec.payload = std::move(payload);
    spec.not_before_ms = not_before_ms;
    spec.max_attempts = max_attempts;
    return spec;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::atomic<int64_t> now_{kStartMs};
};

}  // namespace strata::jobs
