#include "archive/lifecycle_scheduler.h"

#include "core/log.h"

namespace strata::archive {

LifecycleScheduler::LifecycleScheduler(catalog::Catalog& catalog, blob::BlobStore& archive_store,
                                       LocalCopies* local, LifecycleScheduleOptions options)
    : catalog_(catalog), archive_(archive_store), local_(local), options_(std::move(options)) {
  options_.lifecycle.dry_run = false;
}

LifecycleScheduler::~LifecycleScheduler() { Stop(); }

void LifecycleScheduler::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void LifecycleScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

uint64_t LifecycleScheduler::Runs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runs_;
}

void LifecycleScheduler::Loop() {
  auto wait = options_.first_run_delay;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (wake_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    const auto started = std::chrono::steady_clock::now();
    Result<LifecycleReport> report = RunLifecycle(catalog_, archive_, local_, options_.lifecycle);
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    if (report.ok()) {
      uint64_t moved = 0;
      for (const TierMove& move : report->moves) moved += move.count.objects;
      log::Info("lifecycle_scheduled_run",
                {{"examined", static_cast<int64_t>(report->examined)},
                 {"tier_moves", static_cast<int64_t>(moved)},
                 {"evicted_local", static_cast<int64_t>(report->evict_local.objects)},
                 {"evict_kept", static_cast<int64_t>(report->evict_kept)},
                 {"failed", static_cast<int64_t>(report->failed)},
                 {"took_ms", static_cast<int64_t>(took_ms)}});
    } else {
      log::Warn("lifecycle_scheduled_run_failed", {{"error", report.status().ToString()}});
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++runs_;
    wait = options_.interval;
  }
}

}  // namespace strata::archive
