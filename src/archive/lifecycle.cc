#include "archive/lifecycle.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "core/log.h"

namespace strata::archive {
namespace {

constexpr int64_t kMsPerDay = 24LL * 3600 * 1000;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The coldest tier whose rule `age_ms` has reached; nullopt when none has.
std::optional<blob::StorageTier> TargetTier(const LifecycleRules& rules, int64_t age_ms) {
  auto reached = [&](int days) { return days > 0 && age_ms >= days * kMsPerDay; };
  if (reached(rules.archive_after_days)) return blob::StorageTier::kArchive;
  if (reached(rules.cold_after_days)) return blob::StorageTier::kCold;
  if (reached(rules.cool_after_days)) return blob::StorageTier::kCool;
  return std::nullopt;
}

class LifecycleRun {
 public:
  LifecycleRun(catalog::Catalog& catalog, blob::BlobStore& archive, LocalCopies* local,
               const LifecycleOptions& options)
      : catalog_(catalog), archive_(archive), local_(local), options_(options) {
    report_.dry_run = options.dry_run;
  }

  Result<LifecycleReport> Run() {
    const int64_t now = options_.now_ms ? options_.now_ms() : SystemNowMs();
    std::string after;
    while (true) {
      std::vector<catalog::ArchiveRecord> page;
      STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
        STRATA_ASSIGN_OR_RETURN(page, txn.ListArchiveStates(after, options_.page_size));
        return OkStatus();
      }));
      if (page.empty()) break;
      after = page.back().blob_key;
      std::vector<catalog::ArchiveRecord> moved;
      for (const auto& record : page) {
        if (record.outcome != catalog::ArchiveOutcome::kArchived) continue;
        ++report_.examined;
        const int64_t age = now - std::max(record.archived_at_ms, record.last_access_ms);
        if (std::optional<catalog::ArchiveRecord> updated = MaybeMove(record, age)) {
          moved.push_back(std::move(*updated));
        }
        MaybeEvict(record, age);
      }
      if (!moved.empty()) {
        STRATA_RETURN_IF_ERROR(catalog_.Write([&](catalog::WriteTxn& txn) -> Status {
          for (const auto& record : moved) STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(record));
          return OkStatus();
        }));
      }
      if (page.size() < options_.page_size) break;
    }
    log::Info("lifecycle_run", {{"dry_run", options_.dry_run},
                                {"examined", static_cast<int64_t>(report_.examined)},
                                {"evict_local", static_cast<int64_t>(report_.evict_local.objects)},
                                {"failed", static_cast<int64_t>(report_.failed)}});
    return std::move(report_);
  }

 private:
  // Plans or applies a tier move; returns the record to store when one was applied.
  std::optional<catalog::ArchiveRecord> MaybeMove(const catalog::ArchiveRecord& record,
                                                  int64_t age_ms) {
    if (record.tier.empty()) {
      ++report_.untiered;
      return std::nullopt;
    }
    std::optional<blob::StorageTier> from = blob::ParseStorageTier(record.tier);
    std::optional<blob::StorageTier> to = TargetTier(options_.rules, age_ms);
    if (!from || !to || *to <= *from) return std::nullopt;
    if (!options_.dry_run) {
      Status set = archive_.SetTier(record.archive_key, *to);
      if (!set.ok()) {
        Fail(record.archive_key, set);
        return std::nullopt;
      }
    }
    Count(*from, *to, record.size_bytes);
    if (options_.dry_run) return std::nullopt;
    catalog::ArchiveRecord updated = record;
    updated.tier = std::string(blob::StorageTierName(*to));
    return updated;
  }

  void MaybeEvict(const catalog::ArchiveRecord& record, int64_t age_ms) {
    const int days = options_.rules.evict_after_days;
    if (local_ == nullptr || days <= 0 || age_ms < days * kMsPerDay) return;
    Result<std::optional<uint64_t>> local_size = local_->LocalSize(record.blob_key);
    if (!local_size.ok()) {
      Fail(record.blob_key, local_size.status());
      return;
    }
    if (!*local_size) return;  // no local copy (already evicted, or a rebuilt catalog)
    if (!options_.dry_run) {
      // The archive copy must be there before the local one goes.
      Result<blob::BlobInfo> archived = archive_.Stat(record.archive_key);
      if (!archived.ok()) {
        Fail(record.blob_key, archived.status().WithContext("archive copy " + record.archive_key));
        return;
      }
      if (archived->size_bytes != record.size_bytes) {
        Fail(record.blob_key,
             DataLoss("archive copy " + record.archive_key + " has " +
                      std::to_string(archived->size_bytes) + " bytes, the catalog records " +
                      std::to_string(record.size_bytes)));
        return;
      }
      Result<bool> evicted = local_->EvictLocal(record.blob_key);
      if (!evicted.ok()) {
        Fail(record.blob_key, evicted.status());
        return;
      }
      if (!*evicted) {
        ++report_.evict_kept;
        return;
      }
    }
    ++report_.evict_local.objects;
    report_.evict_local.bytes += **local_size;
  }

  void Count(blob::StorageTier from, blob::StorageTier to, uint64_t bytes) {
    for (auto& move : report_.moves) {
      if (move.from == from && move.to == to) {
        ++move.count.objects;
        move.count.bytes += bytes;
        return;
      }
    }
    report_.moves.push_back({from, to, {1, bytes}});
  }

  void Fail(const std::string& key, const Status& status) {
    log::Warn("lifecycle_failed", {{"key", key}, {"error", status.ToString()}});
    ++report_.failed;
    if (report_.failures.size() < options_.max_listed_failures) {
      report_.failures.push_back(key + ": " + status.ToString());
    }
  }

  catalog::Catalog& catalog_;
  blob::BlobStore& archive_;
  LocalCopies* const local_;
  const LifecycleOptions& options_;
  LifecycleReport report_;
};

class StoreCopies final : public LocalCopies {
 public:
  explicit StoreCopies(blob::BlobStore& local) : local_(local) {}
  Result<std::optional<uint64_t>> LocalSize(const std::string& key) override {
    Result<blob::BlobInfo> info = local_.Stat(key);
    if (info.status().code() == StatusCode::kNotFound) return std::optional<uint64_t>();
    if (!info.ok()) return info.status();
    return std::optional<uint64_t>(info->size_bytes);
  }
  Result<bool> EvictLocal(const std::string& key) override {
    STRATA_RETURN_IF_ERROR(local_.Delete(key));
    return true;
  }

 private:
  blob::BlobStore& local_;
};

}  // namespace

std::unique_ptr<LocalCopies> LocalStoreCopies(blob::BlobStore& local) {
  return std::make_unique<StoreCopies>(local);
}

Result<LifecycleReport> RunLifecycle(catalog::Catalog& catalog, blob::BlobStore& archive_store,
                                     LocalCopies* local, const LifecycleOptions& options) {
  const LifecycleRules& r = options.rules;
  if (r.cool_after_days < 0 || r.cold_after_days < 0 || r.archive_after_days < 0 ||
      r.evict_after_days < 0) {
    return InvalidArgument("lifecycle rule days must not be negative");
  }
  if (options.page_size == 0) return InvalidArgument("lifecycle page size must be at least 1");
  LifecycleRun run(catalog, archive_store, local, options);
  return run.Run();
}

std::string LifecycleReportJson(const LifecycleReport& report) {
  nlohmann::json moves = nlohmann::json::array();
  for (const auto& m : report.moves) {
    moves.push_back({{"from", std::string(blob::StorageTierName(m.from))},
                     {"to", std::string(blob::StorageTierName(m.to))},
                     {"objects", m.count.objects},
                     {"bytes", m.count.bytes}});
  }
  nlohmann::json out = {
      {"dry_run", report.dry_run},
      {"examined", report.examined},
      {"untiered", report.untiered},
      {"moves", moves},
      {"evict_local",
       {{"objects", report.evict_local.objects}, {"bytes", report.evict_local.bytes}}},
      {"evict_kept", report.evict_kept},
      {"failed", report.failed},
      {"failures", report.failures},
  };
  return out.dump();
}

}  // namespace strata::archive
