#include "archive/catalog_rebuild.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>

#include "archive/archive_key.h"
#include "blob/crypto_util.h"
#include "core/log.h"
#include "dicom/dicom_file.h"

namespace strata::archive {
namespace {

constexpr const char* kSha256Metadata = "strata_sha256";
constexpr size_t kVersionPrefixChars = 16;  // ingest's version suffix: sha256 hex prefix
constexpr uint64_t kProgressEvery = 1000;
// Starts the message of an object that cannot be read before rehydration.
constexpr std::string_view kInArchiveTier = "in the Archive tier";

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One archive object, checked and ready to record.
struct Item {
  catalog::InstanceRecord instance;
  catalog::ArchiveRecord archive;
  blob::BlobProtection protection;  // the archive copy's own, where the store keeps one
  bool later_version = false;
};

// A bounded queue of archive keys from the lister to the workers.
class KeyQueue {
 public:
  explicit KeyQueue(size_t capacity) : capacity_(capacity) {}

  void Push(std::string key) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    queue_.push_back(std::move(key));
    not_empty_.notify_one();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }
  // nullopt once closed and drained.
  std::optional<std::string> Pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return key;
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<std::string> queue_;  // GUARDED_BY(mutex_)
  bool closed_ = false;            // GUARDED_BY(mutex_)
};

class Rebuilder {
 public:
  Rebuilder(catalog::Catalog& catalog, blob::BlobStore& archive, const RebuildOptions& options,
            blob::BlobNamer namer)
      : catalog_(catalog), archive_(archive), options_(options), namer_(std::move(namer)) {}

  Result<RebuildReport> Run() {
    const auto started = std::chrono::steady_clock::now();
    const std::string prefix =
        options_.naming == blob::BlobNaming::kOpaque ? "dicom-opaque/" : "dicom/";
    KeyQueue keys(static_cast<size_t>(options_.parallel_downloads) * 4);
    std::vector<std::thread> workers;
    for (int i = 0; i < options_.parallel_downloads; ++i) {
      workers.emplace_back([&] { Work(keys); });
    }
    Status listed = archive_.List(prefix, [&](const std::string& key) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++report_.listed;
      }
      keys.Push(key);
    });
    keys.Close();
    for (auto& worker : workers) worker.join();
    if (!listed.ok()) return listed.WithContext("list archive objects under " + prefix);
    STRATA_RETURN_IF_ERROR(fatal_);

    // Later versions after every first version, in key order per instance.
    std::sort(deferred_.begin(), deferred_.end(), [](const Item& a, const Item& b) {
      return std::tie(a.instance.metadata.sop_instance_uid, a.instance.blob_key) <
             std::tie(b.instance.metadata.sop_instance_uid, b.instance.blob_key);
    });
    for (size_t i = 1; i < deferred_.size(); ++i) {
      if (deferred_[i].instance.metadata.sop_instance_uid ==
          deferred_[i - 1].instance.metadata.sop_instance_uid) {
        ++report_.ambiguous_versions;
      }
    }
    for (size_t i = 0; i < deferred_.size(); i += options_.commit_batch) {
      const size_t end = std::min(deferred_.size(), i + options_.commit_batch);
      std::vector<Item> batch(std::make_move_iterator(deferred_.begin() + i),
                              std::make_move_iterator(deferred_.begin() + end));
      STRATA_RETURN_IF_ERROR(Commit(batch));
    }
    STRATA_RETURN_IF_ERROR(RecordRetention());
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(report_);
  }

 private:
  int64_t NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

  void Work(KeyQueue& keys) {
    std::vector<Item> batch;
    while (std::optional<std::string> key = keys.Pop()) {
      if (!FatalOk()) continue;  // drain the queue so the lister never blocks
      Result<Item> item = Fetch(*key);
      if (!item.ok()) {
        Fail(*key, item.status());
        continue;
      }
      if (item->later_version) {
        std::lock_guard<std::mutex> lock(mutex_);
        deferred_.push_back(std::move(*item));
        continue;
      }
      batch.push_back(std::move(*item));
      if (batch.size() >= options_.commit_batch) {
        SetFatal(Commit(batch));
        batch.clear();
      }
    }
    if (!batch.empty() && FatalOk()) SetFatal(Commit(batch));
  }

  // Downloads, parses and checks one object.
  Result<Item> Fetch(const std::string& key) {
    STRATA_ASSIGN_OR_RETURN(blob::BlobInfo info, archive_.Stat(key));
    if (info.tier == blob::StorageTier::kArchive) {
      return FailedPrecondition(
          std::string(kInArchiveTier) +
          (info.archive_status.empty() ? std::string() : " (" + info.archive_status + ")") +
          ": rehydrate it to Hot or Cool, then rebuild again");
    }
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<blob::LocalObject> local, archive_.Open(key));
    const std::string& path = local->path();
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) return Internal("downloaded copy: " + ec.message());
    if (size != info.size_bytes) {
      return DataLoss("downloaded " + std::to_string(size) + " bytes, the store reports " +
                      std::to_string(info.size_bytes));
    }
    STRATA_ASSIGN_OR_RETURN(dicom::ParsedInstance parsed, dicom::ReadInstance(path));
    STRATA_ASSIGN_OR_RETURN(std::string sha, blob::Sha256HexOfFile(path, parsed.dataset_offset));
    const dicom::InstanceMetadata& m = parsed.metadata;

    auto recorded_sha = info.metadata.find(kSha256Metadata);
    if (recorded_sha != info.metadata.end() && recorded_sha->second != sha) {
      return DataLoss("data set sha256 " + sha + " differs from the archived metadata's " +
                      recorded_sha->second);
    }
    const blob::InstanceUids uids{m.study_instance_uid, m.series_instance_uid, m.sop_instance_uid};
    Result<blob::InstanceUids> meta_uids = blob::BlobNamer::UidsFromMetadata(info.metadata);
    if (meta_uids.ok() && (meta_uids->study != uids.study || meta_uids->series != uids.series ||
                           meta_uids->sop != uids.sop)) {
      return DataLoss("the UIDs in the object's metadata differ from its data set's");
    }

    // The local key ingest gave this version: the one whose archive name is `key`.
    const std::string base = "dicom/" + uids.study + "/" + uids.series + "/" + uids.sop;
    const std::string first = base + ".dcm";
    const std::string later = base + "." + sha.substr(0, kVersionPrefixChars) + ".dcm";
    std::optional<std::string> local_key;
    bool later_version = false;
    for (const std::string& candidate : {first, later}) {
      Result<std::string> name = ArchiveKey(namer_, uids, candidate);
      if (name.ok() && *name == key) {
        local_key = candidate;
        later_version = candidate == later;
        break;
      }
    }
    if (!local_key) {
      return FailedPrecondition("the object's name is not the archive name of its content (SOP " +
                                uids.sop + "); wrong naming setting or a renamed object");
    }

    const int64_t now = NowMs();
    Item item;
    item.later_version = later_version;
    item.instance.metadata = m;
    item.instance.blob_key = *local_key;
    item.instance.size_bytes = size;
    item.instance.sha256_hex = sha;
    item.instance.received_at_ms = now;
    item.archive.blob_key = *local_key;
    item.archive.sop_instance_uid = uids.sop;
    item.archive.outcome = catalog::ArchiveOutcome::kArchived;
    item.archive.archive_key = key;
    if (info.tier) item.archive.tier = std::string(blob::StorageTierName(*info.tier));
    item.archive.etag = info.etag;
    item.archive.size_bytes = size;
    item.archive.archived_at_ms = now;
    item.protection.retain_until_ms = info.retain_until_ms.value_or(0);
    item.protection.legal_hold = info.legal_hold;
    return item;
  }

  // Retention dates and holds go in last: a later version cannot be recorded in a study under
  // retention (contract 2), but the archive holds versions made before it applied. A study's
  // retention is the later of the policy's date and the end its archive copies carry (a date
  // an admin extended survives that way); a hold on any copy holds the study.
  Status RecordRetention() {
    const int64_t now = NowMs();
    struct Protection {
      std::string study;
      std::string until;
      bool held = false;
    };
    std::vector<Protection> protections;
    for (const auto& [study, facts] : studies_) {
      std::string until =
          catalog::DefaultRetentionUntil(options_.retention, facts.study_date, facts.modality, now);
      if (facts.archive_retain_until_ms > 0) {
        std::string archived = catalog::UtcDate(facts.archive_retain_until_ms - 1);
        if (archived > until) {
          until = std::move(archived);
          ++report_.retention_from_archive;
        }
      }
      if (facts.archive_held) ++report_.holds_restored;
      if (!until.empty() || facts.archive_held) {
        protections.push_back({study, std::move(until), facts.archive_held});
      }
    }
    for (size_t i = 0; i < protections.size(); i += options_.commit_batch) {
      const size_t end = std::min(protections.size(), i + options_.commit_batch);
      STRATA_RETURN_IF_ERROR(catalog_.Write([&](catalog::WriteTxn& txn) -> Status {
        for (size_t j = i; j < end; ++j) {
          const Protection& p = protections[j];
          if (!p.until.empty()) STRATA_RETURN_IF_ERROR(txn.SetRetention(p.study, p.until));
          if (p.held) {
            STRATA_RETURN_IF_ERROR(txn.SetLegalHold(
                p.study, "legal hold found on the archive copies by rebuild-catalog",
                "rebuild-catalog", now));
          }
        }
        return OkStatus();
      }));
    }
    return OkStatus();
  }

  // Records a batch in one transaction. A refused instance (e.g. its series is already
  // recorded under another study) is a failure of that object only.
  Status Commit(const std::vector<Item>& batch) {
    std::vector<std::pair<std::string, Status>> refused;
    uint64_t recorded = 0;
    uint64_t duplicates = 0;
    uint64_t bytes = 0;
    STRATA_RETURN_IF_ERROR(catalog_.Write([&](catalog::WriteTxn& txn) -> Status {
      refused.clear();
      recorded = duplicates = bytes = 0;
      for (const Item& item : batch) {
        Result<catalog::PutOutcome> outcome =
            txn.PutInstance(item.instance, catalog::DuplicatePolicy::kKeepVersions);
        if (!outcome.ok()) {
          if (outcome.status().code() == StatusCode::kUnavailable ||
              outcome.status().code() == StatusCode::kInternal) {
            return outcome.status();
          }
          refused.emplace_back(item.archive.archive_key, outcome.status());
          continue;
        }
        if (*outcome == catalog::PutOutcome::kDuplicate) {
          ++duplicates;
          continue;
        }
        STRATA_RETURN_IF_ERROR(txn.RecordArchiveState(item.archive));
        ++recorded;
        bytes += item.instance.size_bytes;
      }
      return OkStatus();
    }));
    for (const auto& [key, status] : refused) Fail(key, status);
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Item& item : batch) {
      const dicom::InstanceMetadata& m = item.instance.metadata;
      StudyFacts& study =
          studies_.emplace(m.study_instance_uid, StudyFacts{m.study_date, m.modality})
              .first->second;
      study.archive_retain_until_ms =
          std::max(study.archive_retain_until_ms, item.protection.retain_until_ms);
      study.archive_held = study.archive_held || item.protection.legal_hold;
    }
    const uint64_t before = report_.recorded;
    report_.recorded += recorded;
    report_.duplicates += duplicates;
    report_.bytes += bytes;
    if (report_.recorded / kProgressEvery != before / kProgressEvery) {
      log::Info("rebuild_progress", {{"listed", static_cast<int64_t>(report_.listed)},
                                     {"recorded", static_cast<int64_t>(report_.recorded)},
                                     {"failed", static_cast<int64_t>(report_.failed)}});
    }
    return OkStatus();
  }

  void Fail(const std::string& key, const Status& status) {
    log::Warn("rebuild_object_failed", {{"archive_key", key}, {"error", status.ToString()}});
    std::lock_guard<std::mutex> lock(mutex_);
    ++report_.failed;
    if (status.code() == StatusCode::kFailedPrecondition &&
        status.message().rfind(kInArchiveTier, 0) == 0) {
      ++report_.needs_rehydration;
    }
    if (report_.failures.size() < options_.max_listed_failures) {
      report_.failures.push_back({key, status.ToString()});
    }
  }

  bool FatalOk() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fatal_.ok();
  }
  void SetFatal(Status status) {
    if (status.ok()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (fatal_.ok()) fatal_ = std::move(status);
  }

  catalog::Catalog& catalog_;
  blob::BlobStore& archive_;
  const RebuildOptions& options_;
  const blob::BlobNamer namer_;

  std::mutex mutex_;
  RebuildReport report_;        // GUARDED_BY(mutex_)
  std::vector<Item> deferred_;  // GUARDED_BY(mutex_); later versions
  struct StudyFacts {
    std::string study_date;  // of its first recorded instance
    std::string modality;    // of its first recorded instance
    // The archive copies' own protection (Archiver with protect_archive_copies): the latest
    // retention end and whether any copy is held.
    int64_t archive_retain_until_ms = 0;
    bool archive_held = false;
  };
  // Per study, for its retention date and legal hold.
  std::map<std::string, StudyFacts> studies_;  // GUARDED_BY(mutex_)
  Status fatal_;  // GUARDED_BY(mutex_); a catalog failure stops the rebuild
};

}  // namespace

Result<RebuildReport> RebuildCatalog(catalog::Catalog& catalog, blob::BlobStore& archive_store,
                                     const RebuildOptions& options) {
  if (options.parallel_downloads < 1) {
    return InvalidArgument("rebuild needs at least one parallel download");
  }
  if (options.commit_batch == 0) return InvalidArgument("rebuild commit batch must be at least 1");
  STRATA_ASSIGN_OR_RETURN(blob::BlobNamer namer,
                          blob::BlobNamer::Create(options.naming, options.naming_key));
  catalog::CatalogCounts counts;
  STRATA_RETURN_IF_ERROR(catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(counts, txn.Counts());
    return OkStatus();
  }));
  if (counts.instances > 0) {
    return FailedPrecondition("the catalog already has " + std::to_string(counts.instances) +
                              " instances; rebuild-catalog only fills an empty data directory");
  }
  Rebuilder rebuilder(catalog, archive_store, options, std::move(namer));
  return rebuilder.Run();
}

std::string RebuildReportJson(const RebuildReport& report) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : report.failures) {
    failures.push_back({{"archive_key", f.archive_key}, {"error", f.error}});
  }
  const double mb = static_cast<double>(report.bytes) / (1024.0 * 1024.0);
  nlohmann::json out = {
      {"listed", report.listed},
      {"recorded", report.recorded},
      {"duplicates", report.duplicates},
      {"failed", report.failed},
      {"needs_rehydration", report.needs_rehydration},
      {"ambiguous_versions", report.ambiguous_versions},
      {"retention_from_archive", report.retention_from_archive},
      {"holds_restored", report.holds_restored},
      {"bytes", report.bytes},
      {"seconds", report.seconds},
      {"objects_per_second",
       report.seconds > 0 ? static_cast<double>(report.recorded) / report.seconds : 0.0},
      {"mib_per_second", report.seconds > 0 ? mb / report.seconds : 0.0},
      {"failures", failures},
  };
  return out.dump();
}

}  // namespace strata::archive
