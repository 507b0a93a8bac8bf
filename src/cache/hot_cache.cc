#include "cache/hot_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/log.h"

namespace strata::cache {
namespace {

namespace fs = std::filesystem;

// Eviction candidates whose archive state is read in one catalog transaction.
constexpr size_t kCandidatesPerRead = 128;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

// Sets the modification time of `path` to `ms` (Unix ms).
Status SetMtime(const std::string& path, int64_t ms) {
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;  // access time unchanged
  times[1].tv_sec = static_cast<time_t>(ms / 1000);
  times[1].tv_nsec = static_cast<long>((ms % 1000) * 1'000'000);
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    return Unavailable("set modification time of " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace

struct HotCache::Fetch {
  bool done = false;  // GUARDED_BY(HotCache::mutex_)
  Status status;      // GUARDED_BY(HotCache::mutex_)
  std::condition_variable finished;
};

Result<std::unique_ptr<HotCache>> HotCache::Create(catalog::Catalog& catalog,
                                                   blob::BlobStore& local, blob::BlobStore* archive,
                                                   HotCacheOptions options) {
  if (options.max_bytes == 0) return InvalidArgument("hot cache max_bytes must be above 0");
  if (!(options.low_watermark > 0.0 && options.low_watermark <= 1.0)) {
    return InvalidArgument("hot cache low_watermark must be in (0, 1]");
  }
  if (options.pin_recent.count() < 0 || options.min_idle.count() < 0 ||
      options.eviction_interval.count() <= 0 || options.rehydration_retry_after.count() < 0) {
    return InvalidArgument("hot cache durations must not be negative (eviction interval > 0)");
  }
  std::unique_ptr<HotCache> cache(new HotCache(catalog, local, archive, std::move(options)));
  STRATA_RETURN_IF_ERROR(cache->Scan());
  return cache;
}

HotCache::HotCache(catalog::Catalog& catalog, blob::BlobStore& local, blob::BlobStore* archive,
                   HotCacheOptions options)
    : catalog_(catalog), local_(local), archive_(archive), options_(std::move(options)) {}

HotCache::~HotCache() { Stop(); }

int64_t HotCache::NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

Status HotCache::Scan() {
  std::vector<std::string> keys;
  STRATA_RETURN_IF_ERROR(local_.List("", [&](const std::string& key) { keys.push_back(key); }));
  struct Found {
    std::string key;
    uint64_t size;
    int64_t mtime_ms;
  };
  std::vector<Found> found;
  found.reserve(keys.size());
  for (auto& key : keys) {
    Result<std::unique_ptr<blob::LocalObject>> object = local_.Open(key);
    if (!object.ok()) continue;  // deleted meanwhile, or not an object
    struct stat st {};
    if (::stat((*object)->path().c_str(), &st) != 0) continue;
    found.push_back({std::move(key), static_cast<uint64_t>(st.st_size), MtimeMs(st)});
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ms < b.mtime_ms; });
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Found& f : found) Insert(f.key, f.size, f.mtime_ms, f.mtime_ms);
  log::Info("cache_opened", {{"objects", static_cast<int64_t>(entries_.size())},
                             {"bytes", static_cast<int64_t>(bytes_)},
                             {"max_bytes", static_cast<int64_t>(options_.max_bytes)}});
  return OkStatus();
}

void HotCache::Insert(const std::string& key, uint64_t size, int64_t stored_ms,
                      int64_t last_access_ms) {
  Erase(key);
  lru_.push_front(key);
  entries_[key] = Entry{size, stored_ms, last_access_ms, lru_.begin()};
  bytes_ += size;
}

void HotCache::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  bytes_ -= it->second.size;
  lru_.erase(it->second.lru_position);
  entries_.erase(it);
}

bool HotCache::Touch(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  it->second.last_access_ms = NowMs();
  return true;
}

void HotCache::Account(const std::string& key, int64_t stored_ms) {
  Result<blob::BlobInfo> info = local_.Stat(key);
  if (!info.ok()) {
    log::Warn("cache_account_failed", {{"key", key}, {"error", info.status().ToString()}});
    return;
  }
  bool crossed = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was_over = bytes_ > options_.max_bytes;
    Insert(key, info->size_bytes, stored_ms, NowMs());
    crossed = !was_over && bytes_ > options_.max_bytes;
    if (crossed) evict_now_ = true;
  }
  if (crossed) wake_.notify_all();
}

Status HotCache::PutFile(const std::string& key, const std::string& source_path, bool create_only) {
  STRATA_RETURN_IF_ERROR(local_.PutFile(key, source_path, create_only));
  Account(key, NowMs());
  return OkStatus();
}

Status HotCache::PutFileUnsyncedName(const std::string& key, const std::string& source_path,
                                     bool create_only) {
  STRATA_RETURN_IF_ERROR(local_.PutFileUnsyncedName(key, source_path, create_only));
  Account(key, NowMs());
  return OkStatus();
}

Status HotCache::SyncNames(const std::vector<std::string>& keys) { return local_.SyncNames(keys); }

Status HotCache::Put(const std::string& key, const std::string& source_path,
                     const blob::PutOptions& options) {
  STRATA_RETURN_IF_ERROR(local_.Put(key, source_path, options));
  Account(key, NowMs());
  return OkStatus();
}

Status HotCache::SetTier(const std::string& key, blob::StorageTier tier) {
  return local_.SetTier(key, tier);
}

Result<std::string> HotCache::StagingPath() { return local_.StagingPath(); }

std::vector<std::string> HotCache::StagedLeftovers() { return local_.StagedLeftovers(); }

double HotCacheStats::HitRatio() const {
  const uint64_t opens = hits + misses;
  return opens == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(opens);
}

double HotCacheStats::PrefetchHitRatio() const {
  const uint64_t decided = prefetch_hits + prefetch_evicted_unread;
  return decided == 0 ? 0.0 : static_cast<double>(prefetch_hits) / static_cast<double>(decided);
}

Result<std::unique_ptr<blob::LocalObject>> HotCache::Open(const std::string& key) {
  return OpenFor(key, Opener::kReader);
}

Status HotCache::Prefetch(const std::string& key) {
  return OpenFor(key, Opener::kPrefetch).status();
}

void HotCache::MarkPrefetched(const std::string& key, bool fetched_back) {
  if (!prefetched_unread_.insert(key).second) return;  // prefetched again before any read
  ++counters_.prefetched;
  if (fetched_back) ++counters_.prefetch_fetch_backs;
}

void HotCache::ForgetPrefetched(const std::string& key, bool evicted) {
  if (prefetched_unread_.erase(key) > 0 && evicted) ++counters_.prefetch_evicted_unread;
}

Result<std::unique_ptr<blob::LocalObject>> HotCache::OpenFor(const std::string& key,
                                                             Opener opener) {
  const bool reader = opener == Opener::kReader;
  // Touch before opening: an eviction pass skips an object touched since it looked.
  const bool counted = Touch(key);
  Result<std::unique_ptr<blob::LocalObject>> local = local_.Open(key);
  if (local.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (reader) {
      ++counters_.hits;
      if (prefetched_unread_.erase(key) > 0) ++counters_.prefetch_hits;
      read_since_flush_.insert(key);
    } else {
      MarkPrefetched(key, /*fetched_back=*/false);
    }
    if (!counted) {
      // Placed in the local store by someone else than this cache: count it from now on.
      struct stat st {};
      if (::stat((*local)->path().c_str(), &st) == 0) {
        Insert(key, static_cast<uint64_t>(st.st_size), MtimeMs(st), NowMs());
      }
    }
    return local;
  }
  if (local.status().code() != StatusCode::kNotFound) return local;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (reader) ++counters_.misses;
    // A counted object that vanished from the local store (deleted behind the cache's back).
    if (counted) Erase(key);
    ForgetPrefetched(key, /*evicted=*/false);
  }
  if (archive_ == nullptr) return local;
  Status fetched = FetchBack(key);
  if (!fetched.ok()) {
    return fetched.code() == StatusCode::kNotFound ? local.status() : fetched;
  }
  Touch(key);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (reader) {
      read_since_flush_.insert(key);
    } else {
      MarkPrefetched(key, /*fetched_back=*/true);
    }
  }
  return local_.Open(key);
}

Status HotCache::FetchBack(const std::string& key) {
  std::shared_ptr<Fetch> fetch;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = fetches_.find(key);
    if (it != fetches_.end()) {
      // Another thread is fetching it: wait for its outcome.
      fetch = it->second;
      fetch->finished.wait(lock, [&] { return fetch->done; });
      return fetch->status;
    }
    fetch = std::make_shared<Fetch>();
    fetches_.emplace(key, fetch);
  }
  Status status = FetchBackOnce(key);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fetch->done = true;
    fetch->status = status;
    fetches_.erase(key);
  }
  fetch->finished.notify_all();
  return status;
}

Status HotCache::FetchBackOnce(const std::string& key) {
  std::optional<catalog::ArchiveRecord> record;
  std::optional<uint64_t> catalog_size;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(record, txn.ArchiveState(key));
    catalog_size.reset();
    if (!record) return OkStatus();
    STRATA_ASSIGN_OR_RETURN(auto versions, txn.Versions(record->sop_instance_uid));
    for (const auto& v : versions) {
      if (v.blob_key == key) catalog_size = v.size_bytes;
    }
    return OkStatus();
  }));
  if (!record || record->outcome != catalog::ArchiveOutcome::kArchived ||
      record->archive_key.empty()) {
    return NotFound("object " + key + " is neither in the local store nor archived");
  }
  const std::string& archive_key = record->archive_key;
  Result<std::unique_ptr<blob::LocalObject>> object = archive_->Open(archive_key);
  if (!object.ok()) return ExplainArchiveError(key, archive_key, object.status());

  std::error_code ec;
  const uint64_t size = fs::file_size((*object)->path(), ec);
  if (ec) return Unavailable("archive copy of " + key + ": " + ec.message());
  const uint64_t expected = catalog_size.value_or(record->size_bytes);
  if (size != expected || size != record->size_bytes) {
    log::Error("cache_fetch_back_mismatch", {{"key", key},
                                             {"archive_key", archive_key},
                                             {"bytes", static_cast<int64_t>(size)},
                                             {"expected", static_cast<int64_t>(expected)}});
    return DataLoss("archive copy " + archive_key + " of " + key + " has " + std::to_string(size) +
                    " bytes, the catalog says " + std::to_string(expected));
  }

  STRATA_ASSIGN_OR_RETURN(std::string staged, local_.StagingPath());
  fs::copy_file((*object)->path(), staged, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    ::unlink(staged.c_str());
    std::string message = "copy archive copy of " + key + " into the local store: " + ec.message();
    if (ec == std::errc::no_space_on_device) return ResourceExhausted(message);
    return Unavailable(message);
  }
  object->reset();  // a remote store's downloaded file is no longer needed
  // Its archive time as modification time: after a restart the copy is not taken for a
  // newly received object (see pin_recent).
  Status dated = SetMtime(staged, record->archived_at_ms);
  if (!dated.ok()) log::Warn("cache_fetch_back_mtime", {{"error", dated.ToString()}});
  Status placed = local_.PutFile(key, staged, /*create_only=*/true);
  ::unlink(staged.c_str());
  // Already there: a writer outside this cache placed it meanwhile; it is the same object.
  if (!placed.ok() && placed.code() != StatusCode::kAlreadyExists) {
    return placed.WithContext("place fetched-back copy of " + key);
  }
  bool over = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was_over = bytes_ > options_.max_bytes;
    Insert(key, size, record->archived_at_ms, NowMs());
    if (placed.ok()) ++counters_.fetch_backs;
    over = !was_over && bytes_ > options_.max_bytes;
    if (over) evict_now_ = true;
  }
  if (over) wake_.notify_all();
  log::Info("cache_fetch_back",
            {{"key", key}, {"archive_key", archive_key}, {"bytes", static_cast<int64_t>(size)}});
  return OkStatus();
}

Status HotCache::ExplainArchiveError(const std::string& key, const std::string& archive_key,
                                     const Status& error) {
  const std::string context = "archive copy of " + key;
  if (error.code() == StatusCode::kNotFound) {
    log::Error("cache_archive_copy_missing", {{"key", key}, {"archive_key", archive_key}});
    return DataLoss("the catalog records " + key + " as archived under " + archive_key +
                    ", but the archive store has no such object (" + error.message() + ")");
  }
  // The store knows when it will be readable (e.g. the emulating FileBlobStore).
  if (error.retry_after_seconds()) return error.WithContext(context);
  // Azure refuses to read an archived blob (kFailedPrecondition) and reports one being
  // rehydrated as kUnavailable; the tier tells which, and whether to ask for rehydration.
  if (error.code() != StatusCode::kFailedPrecondition && error.code() != StatusCode::kUnavailable) {
    return error.WithContext(context);
  }
  Result<blob::BlobInfo> info = archive_->Stat(archive_key);
  if (!info.ok() || info->tier != blob::StorageTier::kArchive) return error.WithContext(context);
  std::string state = info->archive_status;
  if (state.empty()) {
    Status requested = archive_->SetTier(archive_key, blob::StorageTier::kHot);
    if (!requested.ok()) return requested.WithContext("rehydrate " + context);
    log::Info("cache_rehydration_requested", {{"key", key}, {"archive_key", archive_key}});
    state = "rehydration to Hot requested";
  }
  return Unavailable("object " + key + " is in the Archive tier of the archive store (" + state +
                     "); try again later")
      .WithRetryAfter(options_.rehydration_retry_after);
}

Result<blob::BlobInfo> HotCache::Stat(const std::string& key) {
  Result<blob::BlobInfo> local = local_.Stat(key);
  if (local.ok() || local.status().code() != StatusCode::kNotFound || archive_ == nullptr) {
    return local;
  }
  std::optional<catalog::ArchiveRecord> record;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(record, txn.ArchiveState(key));
    return OkStatus();
  }));
  if (!record || record->outcome != catalog::ArchiveOutcome::kArchived) return local;
  return archive_->Stat(record->archive_key);
}

Status HotCache::Delete(const std::string& key) {
  STRATA_RETURN_IF_ERROR(local_.Delete(key));
  std::lock_guard<std::mutex> lock(mutex_);
  Erase(key);
  ForgetPrefetched(key, /*evicted=*/false);
  return OkStatus();
}

Status HotCache::List(const std::string& prefix,
                      const std::function<void(const std::string& key)>& fn) {
  return local_.List(prefix, fn);
}

Result<uint64_t> HotCache::FreeBytes() { return local_.FreeBytes(); }

void HotCache::Pin(const std::vector<std::string>& keys, std::chrono::milliseconds duration) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t until = NowMs() + duration.count();
  for (const auto& key : keys) {
    int64_t& pinned = pins_[key];
    pinned = std::max(pinned, until);
  }
}

void HotCache::Unpin(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& key : keys) pins_.erase(key);
}

namespace {

Result<std::vector<std::string>> StudyKeys(catalog::Catalog& catalog,
                                           const std::string& study_uid) {
  std::vector<catalog::InstanceLocation> located;
  STRATA_RETURN_IF_ERROR(catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(located, txn.Locate(study_uid, "", ""));
    return OkStatus();
  }));
  std::vector<std::string> keys;
  keys.reserve(located.size());
  for (const auto& loc : located) keys.push_back(loc.blob_key);
  return keys;
}

}  // namespace

Result<std::vector<std::string>> HotCache::PinStudy(const std::string& study_uid,
                                                    std::chrono::milliseconds duration) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, StudyKeys(catalog_, study_uid));
  Pin(keys, duration);
  return keys;
}

Status HotCache::UnpinStudy(const std::string& study_uid) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, StudyKeys(catalog_, study_uid));
  Unpin(keys);
  return OkStatus();
}

Result<EvictionReport> HotCache::EvictToFit() {
  std::lock_guard<std::mutex> pass(evict_mutex_);
  EvictionReport report;
  struct Candidate {
    std::string key;
    int64_t last_access_ms;
  };
  std::vector<Candidate> candidates;
  const int64_t now = NowMs();
  const auto target =
      static_cast<uint64_t>(static_cast<double>(options_.max_bytes) * options_.low_watermark);
  auto evictable = [&](const std::string& key, const Entry& entry) {
    return Evictable(key, entry, now);
  };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    report.bytes_before = report.bytes_after = bytes_;
    report.over_limit = bytes_ > options_.max_bytes;
    if (!report.over_limit || archive_ == nullptr) return report;
    std::erase_if(pins_, [&](const auto& pin) { return pin.second <= now; });
    // Least recently used first.
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
      const Entry& entry = entries_.at(*it);
      if (evictable(*it, entry)) candidates.push_back({*it, entry.last_access_ms});
    }
  }

  Status failure;
  for (size_t begin = 0; begin < candidates.size() && failure.ok(); begin += kCandidatesPerRead) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes_ <= target) break;
    }
    const size_t end = std::min(candidates.size(), begin + kCandidatesPerRead);
    std::vector<bool> archived(end - begin, false);
    STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
      for (size_t i = begin; i < end; ++i) {
        STRATA_ASSIGN_OR_RETURN(auto state, txn.ArchiveState(candidates[i].key));
        archived[i - begin] = state && state->outcome == catalog::ArchiveOutcome::kArchived;
      }
      return OkStatus();
    }));
    for (size_t i = begin; i < end; ++i) {
      const Candidate& candidate = candidates[i];
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes_ <= target) break;
      if (!archived[i - begin]) {
        ++report.refused_unarchived;
        ++counters_.refused_unarchived;
        continue;
      }
      // Under the lock, so no open touches it between this check and the delete.
      auto it = entries_.find(candidate.key);
      if (it == entries_.end() || it->second.last_access_ms != candidate.last_access_ms ||
          !evictable(candidate.key, it->second)) {
        continue;
      }
      Result<uint64_t> freed = EvictLocked(candidate.key);
      if (!freed.ok()) {
        failure = freed.status().WithContext("evict " + candidate.key);
        break;
      }
      ++report.evicted_objects;
      report.evicted_bytes += *freed;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    report.bytes_after = bytes_;
    report.over_limit = bytes_ > options_.max_bytes;
  }
  if (!failure.ok()) return failure;
  return report;
}

bool HotCache::Evictable(const std::string& key, const Entry& entry, int64_t now_ms) const {
  if (now_ms - entry.stored_ms < options_.pin_recent.count()) return false;
  if (now_ms - entry.last_access_ms < options_.min_idle.count()) return false;
  auto pin = pins_.find(key);
  return pin == pins_.end() || pin->second <= now_ms;
}

Result<std::optional<uint64_t>> HotCache::EvictIfIdle(const std::string& key) {
  std::lock_guard<std::mutex> pass(evict_mutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::optional<uint64_t>(0);
  if (!Evictable(key, it->second, NowMs())) return std::optional<uint64_t>();
  // Under the lock, so no open touches it between the check and the delete.
  STRATA_ASSIGN_OR_RETURN(uint64_t freed, EvictLocked(key));
  return std::optional<uint64_t>(freed);
}

Result<uint64_t> HotCache::EvictLocked(const std::string& key) {
  const uint64_t size = entries_.at(key).size;
  STRATA_RETURN_IF_ERROR(local_.Delete(key));
  Erase(key);
  ForgetPrefetched(key, /*evicted=*/true);
  ++counters_.evictions;
  counters_.bytes_evicted += size;
  return size;
}

HotCacheStats HotCache::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  HotCacheStats stats = counters_;
  stats.max_bytes = options_.max_bytes;
  stats.bytes = bytes_;
  stats.objects = entries_.size();
  stats.prefetch_unread = prefetched_unread_.size();
  const int64_t now = NowMs();
  stats.pins = static_cast<uint64_t>(
      std::count_if(pins_.begin(), pins_.end(), [&](const auto& pin) { return pin.second > now; }));
  return stats;
}

void HotCache::Start() {
  std::lock_guard<std::mutex> guard(start_stop_mutex_);
  if (worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  worker_ = std::thread([this] { Run(); });
}

void HotCache::Stop() {
  std::lock_guard<std::mutex> guard(start_stop_mutex_);
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
  Status flushed = FlushAccessTimes();
  if (!flushed.ok()) log::Warn("cache_access_flush_failed", {{"error", flushed.ToString()}});
}

Status HotCache::FlushAccessTimes() {
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    keys.assign(read_since_flush_.begin(), read_since_flush_.end());
    read_since_flush_.clear();
  }
  if (keys.empty()) return OkStatus();
  const int64_t now = NowMs();
  return catalog_.Write(
      [&](catalog::WriteTxn& txn) -> Status { return txn.RecordAccess(keys, now); });
}

void HotCache::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, options_.eviction_interval, [this] { return stopping_ || evict_now_; });
      if (stopping_) return;
      evict_now_ = false;
    }
    Status flushed = FlushAccessTimes();
    if (!flushed.ok()) log::Warn("cache_access_flush_failed", {{"error", flushed.ToString()}});
    Result<EvictionReport> report = EvictToFit();
    if (!report.ok()) {
      log::Warn("cache_eviction_failed", {{"error", report.status().ToString()}});
      continue;
    }
    if (report->evicted_objects > 0 || report->over_limit) {
      log::Write(report->over_limit ? log::Level::kWarn : log::Level::kInfo, "cache_eviction",
                 {{"evicted_objects", static_cast<int64_t>(report->evicted_objects)},
                  {"evicted_bytes", static_cast<int64_t>(report->evicted_bytes)},
                  {"refused_unarchived", static_cast<int64_t>(report->refused_unarchived)},
                  {"bytes", static_cast<int64_t>(report->bytes_after)},
                  {"max_bytes", static_cast<int64_t>(options_.max_bytes)},
                  {"over_limit", report->over_limit}});
    }
  }
}

}  // namespace strata::cache
