#include "archive/archiver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "archive/archive_key.h"
#include "blob/crypto_util.h"
#include "core/log.h"

namespace strata::archive {
namespace {

constexpr const char* kSha256Metadata = "strata_sha256";

enum class Disposition { kArchived, kAlreadyArchived, kFailed, kSkipped, kRetryLater };

// Codes of a store that is down, overloaded, misconfigured for now, or that refused bytes
// corrupted in flight: trying the same object again later can succeed.
bool IsTransient(StatusCode code) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kAborted:
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kDataLoss:
    case StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Archiver::EventResult {
  Disposition disposition = Disposition::kSkipped;
  Status status;                                 // why, for kFailed and kRetryLater
  std::optional<catalog::ArchiveRecord> record;  // to commit with the cursor
  uint64_t bytes_uploaded = 0;
  size_t protected_copies = 0;
  size_t protect_refused = 0;
};

Result<std::unique_ptr<Archiver>> Archiver::Create(catalog::Catalog& catalog,
                                                   blob::BlobStore& local_store,
                                                   blob::BlobStore& archive_store,
                                                   ArchiverOptions options) {
  if (options.batch_size == 0) return InvalidArgument("archiver batch size must be at least 1");
  if (options.parallel_uploads < 1) {
    return InvalidArgument("archiver parallel uploads must be at least 1");
  }
  if (options.consumer.empty()) return InvalidArgument("archiver consumer name is empty");
  if (options.backoff.initial.count() <= 0 || options.backoff.max < options.backoff.initial) {
    return InvalidArgument("archiver backoff needs 0 < initial <= max");
  }
  STRATA_ASSIGN_OR_RETURN(blob::BlobNamer namer,
                          blob::BlobNamer::Create(options.naming, options.naming_key));
  return std::unique_ptr<Archiver>(
      new Archiver(catalog, local_store, archive_store, std::move(options), std::move(namer)));
}

Archiver::Archiver(catalog::Catalog& catalog, blob::BlobStore& local_store,
                   blob::BlobStore& archive_store, ArchiverOptions options, blob::BlobNamer namer)
    : catalog_(catalog),
      local_store_(local_store),
      archive_store_(archive_store),
      options_(std::move(options)),
      namer_(std::move(namer)),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

Archiver::~Archiver() { Stop(); }

void Archiver::Start() {
  std::lock_guard<std::mutex> guard(start_stop_mutex_);
  if (worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  worker_ = std::thread([this] { Run(); });
  log::Info("archiver_started", {{"consumer", options_.consumer},
                                 {"batch_size", static_cast<int64_t>(options_.batch_size)}});
}

void Archiver::Stop() {
  std::lock_guard<std::mutex> guard(start_stop_mutex_);
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
  log::Info("archiver_stopped", {{"consumer", options_.consumer}});
}

int64_t Archiver::NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

bool Archiver::WaitFor(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_; });
  return !stopping_;
}

void Archiver::Run() {
  auto next_lag_log = std::chrono::steady_clock::now();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    if (std::chrono::steady_clock::now() >= next_lag_log) {
      LogLag();
      next_lag_log = std::chrono::steady_clock::now() + options_.status_log_interval;
    }
    Result<BatchOutcome> batch = RunBatch();
    Status failure = batch.ok() ? batch->retry_later : batch.status();
    if (Stopping()) return;
    if (!failure.ok()) {
      int failures = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        failures = ++consecutive_failures_;
        last_error_ = failure.ToString();
      }
      const auto delay = BackoffDelay(options_.backoff, failures, rng_);
      log::Warn("archive_retry_later", {{"error", failure.ToString()},
                                        {"consecutive_failures", static_cast<int64_t>(failures)},
                                        {"delay_ms", static_cast<int64_t>(delay.count())}});
      if (!WaitFor(delay)) return;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      consecutive_failures_ = 0;
      last_error_.clear();
    }
    // A full batch means more is waiting: go on at once. Otherwise the outbox is drained.
    if (batch->events < options_.batch_size && !WaitFor(options_.poll_interval)) return;
  }
}

void Archiver::LogLag() {
  Result<ArchiveLag> lag = ReadArchiveLag(catalog_, options_.consumer, NowMs());
  if (!lag.ok()) {
    log::Warn("archive_lag_unknown", {{"error", lag.status().ToString()}});
    return;
  }
  log::Info("archive_lag", {{"pending_events", static_cast<int64_t>(lag->pending_events)},
                            {"oldest_pending_age_ms", lag->oldest_pending_age_ms},
                            {"cursor_seq", lag->cursor_seq},
                            {"archived_objects", static_cast<int64_t>(lag->archived_objects)},
                            {"failed_objects", static_cast<int64_t>(lag->failed_objects)}});
}

Result<ArchiverStatus> Archiver::ReadStatus() {
  ArchiverStatus status;
  STRATA_ASSIGN_OR_RETURN(status.lag, ReadArchiveLag(catalog_, options_.consumer, NowMs()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status.consecutive_failures = consecutive_failures_;
    status.last_error = last_error_;
  }
  {
    std::lock_guard<std::mutex> guard(start_stop_mutex_);
    status.running = worker_.joinable();
  }
  return status;
}

Result<BatchOutcome> Archiver::RunBatch() {
  const auto started = std::chrono::steady_clock::now();
  int64_t cursor = 0;
  std::vector<catalog::ChangeEntry> entries;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(cursor, txn.ConsumerCursor(options_.consumer));
    catalog::ChangeQuery query;
    query.after_seq = cursor;
    query.limit = options_.batch_size;
    STRATA_ASSIGN_OR_RETURN(entries, txn.Changes(query));
    return OkStatus();
  }));

  BatchOutcome outcome;
  int64_t last_done = cursor;
  std::vector<catalog::ArchiveRecord> records;
  std::vector<std::optional<EventResult>> results = ArchiveAll(entries);
  // In outbox order, up to the first event to retry (or left out by Stop).
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!results[i]) break;
    EventResult& result = *results[i];
    const catalog::ChangeEntry& entry = entries[i];
    if (result.disposition == Disposition::kRetryLater) {
      outcome.retry_later = result.status;
      break;
    }
    switch (result.disposition) {
      case Disposition::kArchived:
        ++outcome.archived;
        break;
      case Disposition::kAlreadyArchived:
        ++outcome.already_archived;
        break;
      case Disposition::kFailed:
        ++outcome.failed;
        log::Error("archive_object_failed",
                   {{"seq", entry.seq},
                    {"blob_key", result.record ? result.record->blob_key : std::string()},
                    {"error", result.status.ToString()}});
        break;
      default:
        ++outcome.skipped;
        break;
    }
    outcome.bytes_uploaded += result.bytes_uploaded;
    outcome.protected_copies += result.protected_copies;
    outcome.protect_refused += result.protect_refused;
    if (result.record) records.push_back(std::move(*result.record));
    last_done = entry.seq;
    ++outcome.events;
  }
  if (last_done == cursor) return outcome;

  // State and cursor in one transaction: a crash before it repeats the uploads (found
  // already archived), never skips one.
  STRATA_RETURN_IF_ERROR(catalog_.Write([&](catalog::WriteTxn& txn) -> Status {
    for (const auto& record : records) STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(record));
    return txn.AdvanceConsumerCursor(options_.consumer, last_done);
  }));
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
  log::Info("archive_batch", {{"events", static_cast<int64_t>(outcome.events)},
                              {"archived", static_cast<int64_t>(outcome.archived)},
                              {"already_archived", static_cast<int64_t>(outcome.already_archived)},
                              {"failed", static_cast<int64_t>(outcome.failed)},
                              {"protected", static_cast<int64_t>(outcome.protected_copies)},
                              {"bytes", static_cast<int64_t>(outcome.bytes_uploaded)},
                              {"cursor_seq", last_done},
                              {"elapsed_ms", static_cast<int64_t>(elapsed_ms)}});
  return outcome;
}

bool Archiver::Stopping() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

std::vector<std::optional<Archiver::EventResult>> Archiver::ArchiveAll(
    const std::vector<catalog::ChangeEntry>& entries) {
  std::vector<std::optional<EventResult>> results(entries.size());
  std::atomic<size_t> next{0};
  // After a failure to retry, starting more uploads only meets the same outage (each after
  // the store's own retries), so no new event is started.
  std::atomic<bool> halted{false};
  auto work = [&] {
    for (size_t i = next++; i < entries.size(); i = next++) {
      if (halted.load() || Stopping()) return;
      results[i] = ArchiveEvent(entries[i]);
      if (results[i]->disposition == Disposition::kRetryLater) halted = true;
    }
  };
  const size_t threads = std::min(entries.size(), static_cast<size_t>(options_.parallel_uploads));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (auto& helper : helpers) helper.join();
  return results;
}

Archiver::EventResult Archiver::ArchiveEvent(const catalog::ChangeEntry& entry) {
  EventResult result;
  if (entry.kind == catalog::kProtectionChangedEvent) {
    if (!options_.protect_archive_copies) return result;
    try {
      return ProtectStudy(
          nlohmann::json::parse(entry.payload).at("study_instance_uid").get<std::string>());
    } catch (const std::exception& e) {
      log::Error("archive_protect_bad_event",
                 {{"seq", entry.seq}, {"error", std::string(e.what())}});
      return result;
    }
  }
  if (entry.kind != "instance.stored" && entry.kind != "instance.replaced") return result;
  std::string blob_key;
  blob::InstanceUids uids;
  std::string sha256;
  try {
    const nlohmann::json payload = nlohmann::json::parse(entry.payload);
    blob_key = payload.at("blob_key").get<std::string>();
    uids.study = payload.at("study_instance_uid").get<std::string>();
    uids.series = payload.at("series_instance_uid").get<std::string>();
    uids.sop = payload.at("sop_instance_uid").get<std::string>();
    sha256 = payload.at("sha256").get<std::string>();
  } catch (const std::exception& e) {
    result.disposition = Disposition::kFailed;
    result.status = InvalidArgument("outbox event " + std::to_string(entry.seq) +
                                    " has a malformed payload: " + e.what());
    return result;
  }
  result = ArchiveObject(blob_key, uids, sha256);
  if (result.disposition == Disposition::kFailed) {
    catalog::ArchiveRecord failed;
    failed.blob_key = blob_key;
    failed.sop_instance_uid = uids.sop;
    failed.outcome = catalog::ArchiveOutcome::kFailed;
    failed.archived_at_ms = NowMs();
    failed.error = result.status.ToString();
    result.record = std::move(failed);
  }
  return result;
}

Archiver::EventResult Archiver::ArchiveObject(const std::string& blob_key,
                                              const blob::InstanceUids& uids,
                                              const std::string& sha256) {
  EventResult result;
  auto fail = [&](Status status) {
    result.disposition =
        IsTransient(status.code()) ? Disposition::kRetryLater : Disposition::kFailed;
    result.status = std::move(status);
    return std::move(result);
  };
  auto fail_for_good = [&](Status status) {
    result.disposition = Disposition::kFailed;
    result.status = std::move(status);
    return std::move(result);
  };

  // What the catalog knows of this version, and whether it is archived already (a repeated
  // event, e.g. after a restore of the outbox).
  std::optional<catalog::ArchiveRecord> state;
  std::optional<uint64_t> catalog_size;
  Status read = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(state, txn.ArchiveState(blob_key));
    // A soft-deleted study is still archived: it may be restored.
    STRATA_ASSIGN_OR_RETURN(auto versions, txn.VersionsIncludingDeleted(uids.sop));
    catalog_size.reset();
    for (const auto& v : versions) {
      if (v.blob_key == blob_key) catalog_size = v.size_bytes;
    }
    return OkStatus();
  });
  if (!read.ok()) return fail(read.WithContext("catalog"));
  if (state && state->outcome == catalog::ArchiveOutcome::kArchived) {
    result.disposition = Disposition::kAlreadyArchived;
    return result;
  }
  if (!catalog_size) {
    return fail_for_good(NotFound("object " + blob_key + " is not in the catalog"));
  }

  Result<std::unique_ptr<blob::LocalObject>> local = local_store_.Open(blob_key);
  if (!local.ok()) {
    if (local.status().code() == StatusCode::kUnavailable) return fail(local.status());
    return fail_for_good(local.status().WithContext("local object"));
  }
  const std::string& path = (*local)->path();
  std::error_code ec;
  const uint64_t local_size = std::filesystem::file_size(path, ec);
  if (ec) return fail_for_good(NotFound("local object " + blob_key + ": " + ec.message()));
  if (local_size != *catalog_size) {
    return fail_for_good(DataLoss("local object " + blob_key + " has " +
                                  std::to_string(local_size) + " bytes, the catalog says " +
                                  std::to_string(*catalog_size)));
  }

  Result<std::string> archive_key = ArchiveKey(namer_, uids, blob_key);
  if (!archive_key.ok()) return fail_for_good(archive_key.status());

  blob::PutOptions put;
  put.create_only = true;
  put.tier = options_.tier;
  put.metadata = blob::BlobNamer::InstanceMetadata(uids);
  put.metadata[kSha256Metadata] = sha256;
  Result<blob::BlobInfo> info = archive_store_.PutDescribed(*archive_key, path, put);
  const bool existed = info.status().code() == StatusCode::kAlreadyExists;
  if (!info.ok() && !existed) {
    // A missing container (404) is an archive set-up problem, not this object's.
    if (info.status().code() == StatusCode::kNotFound) {
      return fail(Unavailable(info.status().message()));
    }
    return fail(info.status());
  }
  if (existed) {
    info = archive_store_.Stat(*archive_key);
    if (!info.ok()) return fail(info.status().WithContext("stat archived object"));
  }
  bool same = info->size_bytes == local_size;
  // A fresh upload carried its MD5 and the store checked it (see BlobStore::Put); an object
  // that was already there is compared with the local bytes here.
  if (same && existed && !info->content_md5.empty()) {
    Result<std::string> md5 = blob::Md5OfFileRange(path, 0, local_size);
    if (!md5.ok()) return fail(md5.status());
    same = *md5 == info->content_md5;
  }
  auto recorded_sha = info->metadata.find(kSha256Metadata);
  if (same && recorded_sha != info->metadata.end()) same = recorded_sha->second == sha256;
  if (!same) {
    return fail_for_good(
        DataLoss(existed ? "a different object is already archived under " + *archive_key
                         : "archived object " + *archive_key + " does not match the local one"));
  }

  if (options_.protect_archive_copies) {
    // Before the record: a retry after a crash finds the object existing and protects it then.
    Protect(uids.study, {*archive_key}, result);
    if (result.disposition == Disposition::kRetryLater) return result;
  }

  catalog::ArchiveRecord record;
  record.blob_key = blob_key;
  record.sop_instance_uid = uids.sop;
  record.outcome = catalog::ArchiveOutcome::kArchived;
  record.archive_key = *archive_key;
  if (info->tier) {
    record.tier = std::string(blob::StorageTierName(*info->tier));
  } else if (options_.tier) {
    record.tier = std::string(blob::StorageTierName(*options_.tier));
  }
  record.etag = info->etag;
  record.size_bytes = local_size;
  record.archived_at_ms = NowMs();
  result.record = std::move(record);
  result.disposition = existed ? Disposition::kAlreadyArchived : Disposition::kArchived;
  result.bytes_uploaded = existed ? 0 : local_size;
  return result;
}

void Archiver::Protect(const std::string& study_uid, const std::vector<std::string>& archive_keys,
                       EventResult& result) {
  std::optional<catalog::StudyProtection> study;
  Status read = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    Result<catalog::StudyProtection> p = txn.GetStudyProtection(study_uid);
    if (p.status().code() == StatusCode::kNotFound) return OkStatus();  // purged meanwhile
    STRATA_RETURN_IF_ERROR(p.status());
    study = std::move(p).value();
    return OkStatus();
  });
  if (!read.ok()) {
    result.disposition = Disposition::kRetryLater;
    result.status = read.WithContext("catalog");
    return;
  }
  if (!study) return;
  blob::BlobProtection protection;
  protection.retain_until_ms = catalog::RetentionEndMs(study->retention_until);
  protection.legal_hold = study->hold.held;
  for (const std::string& key : archive_keys) {
    Status set = archive_store_.SetProtection(key, protection);
    if (set.ok()) {
      ++result.protected_copies;
    } else if (IsTransient(set.code())) {
      result.disposition = Disposition::kRetryLater;
      result.status = set.WithContext("protect archive copy");
      return;
    } else {
      ++result.protect_refused;
      log::Error("archive_protect_refused", {{"archive_key", key}, {"error", set.ToString()}});
    }
  }
}

Archiver::EventResult Archiver::ProtectStudy(const std::string& study_uid) {
  EventResult result;
  std::vector<std::string> archive_keys;
  Status read = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(auto current, txn.Locate(study_uid, "", ""));
    for (const auto& instance : current) {
      STRATA_ASSIGN_OR_RETURN(auto versions,
                              txn.VersionsIncludingDeleted(instance.sop_instance_uid));
      for (const auto& version : versions) {
        STRATA_ASSIGN_OR_RETURN(auto state, txn.ArchiveState(version.blob_key));
        if (state && state->outcome == catalog::ArchiveOutcome::kArchived) {
          archive_keys.push_back(state->archive_key);
        }
      }
    }
    return OkStatus();
  });
  if (!read.ok()) {
    result.disposition = Disposition::kRetryLater;
    result.status = read.WithContext("catalog");
    return result;
  }
  Protect(study_uid, archive_keys, result);
  if (result.disposition != Disposition::kRetryLater) {
    log::Info("archive_study_protected",
              {{"study_instance_uid", study_uid},
               {"protected", static_cast<int64_t>(result.protected_copies)},
               {"refused", static_cast<int64_t>(result.protect_refused)}});
  }
  return result;
}

}  // namespace strata::archive
