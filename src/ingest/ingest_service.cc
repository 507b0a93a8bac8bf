#include "ingest/ingest_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "blob/crypto_util.h"
#include "core/log.h"
#include "dicom/dicom_file.h"

namespace strata::ingest {
namespace {

using catalog::PutOutcome;

std::string BaseKey(const dicom::InstanceMetadata& m) {
  return "dicom/" + m.study_instance_uid + "/" + m.series_instance_uid + "/" + m.sop_instance_uid;
}

// Starts writing the staged file to disk while it is parsed and hashed, so that the fsync
// before the acknowledgement has less left to wait for. Only a hint: the fsync reports errors.
void BeginWriteback(const std::string& path) {
#ifdef __linux__
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  ::close(fd);
#endif
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One instance waiting for the group commit.
struct PendingCommit {
  catalog::InstanceRecord record;
  std::promise<Result<PutOutcome>> done;
};

class IngestServiceImpl final : public IngestService {
 public:
  IngestServiceImpl(catalog::Catalog& catalog, blob::BlobStore& blobs, IngestOptions options)
      : catalog_(catalog), blobs_(blobs), options_(std::move(options)) {
    if (!options_.now_ms) options_.now_ms = SystemNowMs;
    committer_ = std::thread([this] { CommitLoop(); });
  }

  ~IngestServiceImpl() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    committer_.join();
  }

  Result<std::string> StagingPath() override {
    if (options_.min_free_bytes > 0) {
      auto free_bytes = blobs_.FreeBytes();
      if (free_bytes.ok() && *free_bytes < options_.min_free_bytes) {
        return ResourceExhausted("object store has " + std::to_string(*free_bytes) +
                                 " bytes free, below the configured minimum of " +
                                 std::to_string(options_.min_free_bytes));
      }
    }
    return blobs_.StagingPath();
  }

  Result<PreparedIngest> Prepare(const IngestRequest& request) override {
    auto prepared = PrepareStaged(request);
    // The staged file stays only while a placed object waits for its commit: a crash then
    // leaves it for Recover, which removes the uncommitted object.
    if (!prepared.ok() || prepared->result.outcome == PutOutcome::kDuplicate) {
      ::unlink(request.staged_path.c_str());
    } else {
      prepared->staged_path = request.staged_path;
    }
    return prepared;
  }

  std::vector<Result<IngestResult>> Commit(std::vector<PreparedIngest> prepared) override {
    // Prepare flushed each object's bytes; their names are flushed here, one fsync per
    // directory for all of them (the parts of a STOW-RS request mostly share one series).
    std::vector<std::string> keys;
    for (const auto& p : prepared) {
      if (p.result.outcome != PutOutcome::kDuplicate) keys.push_back(p.result.blob_key);
    }
    if (Status named = blobs_.SyncNames(keys); !named.ok()) {
      std::vector<Result<IngestResult>> failed;
      for (auto& p : prepared) {
        if (p.result.outcome == PutOutcome::kDuplicate) {
          failed.emplace_back(std::move(p.result));
          continue;
        }
        Abandon(std::move(p));
        failed.emplace_back(named);
      }
      return failed;
    }
    // Queued together, so that they share a group commit.
    std::vector<std::future<Result<PutOutcome>>> outcomes(prepared.size());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < prepared.size(); ++i) {
        if (prepared[i].result.outcome == PutOutcome::kDuplicate) continue;
        auto pending = std::make_shared<PendingCommit>();
        pending->record = std::move(prepared[i].record);
        outcomes[i] = pending->done.get_future();
        queue_.push_back(std::move(pending));
      }
    }
    wake_.notify_one();
    std::vector<Result<IngestResult>> results;
    results.reserve(prepared.size());
    for (size_t i = 0; i < prepared.size(); ++i) {
      IngestResult& result = prepared[i].result;
      if (result.outcome == PutOutcome::kDuplicate) {
        results.emplace_back(std::move(result));
        continue;
      }
      auto outcome = outcomes[i].get();
      if (!outcome.ok() && prepared[i].created) blobs_.Delete(result.blob_key).IgnoreError();
      // Committed or removed: only a crash before this line leaves the staged file.
      ::unlink(prepared[i].staged_path.c_str());
      if (!outcome.ok()) {
        results.emplace_back(outcome.status());
        continue;
      }
      result.outcome = *outcome;
      results.emplace_back(std::move(result));
    }
    return results;
  }

  void Abandon(PreparedIngest prepared) override {
    if (prepared.result.outcome == PutOutcome::kDuplicate) return;
    if (prepared.created) blobs_.Delete(prepared.result.blob_key).IgnoreError();
    ::unlink(prepared.staged_path.c_str());
  }

  Status Recover() override {
    int staged_files = 0;
    int removed_objects = 0;
    for (const auto& staged : blobs_.StagedLeftovers()) {
      ++staged_files;
      auto parsed = dicom::ReadInstance(staged);
      auto sha = parsed.ok() ? blob::Sha256HexOfFile(staged, parsed->dataset_offset)
                             : Result<std::string>(parsed.status());
      if (sha.ok()) {
        STRATA_RETURN_IF_ERROR(RemoveUncommitted(parsed->metadata, *sha, &removed_objects));
      }
      ::unlink(staged.c_str());
    }
    if (staged_files > 0) {
      log::Info("ingest_recovered",
                {{"staged_files", static_cast<int64_t>(staged_files)},
                 {"uncommitted_objects_removed", static_cast<int64_t>(removed_objects)}});
    }
    return OkStatus();
  }

 private:
  // A data set cut short because the file system filled while it was received reads as
  // truncated; the sender must hear "out of resources", not "malformed".
  Status ExplainUnreadable(const Status& status) {
    constexpr uint64_t kFullBelowBytes = 1 << 20;
    auto free_bytes = blobs_.FreeBytes();
    if (free_bytes.ok() && *free_bytes < kFullBelowBytes) {
      return ResourceExhausted(
          "the object store's file system is full (" + std::to_string(*free_bytes) +
          " bytes free): the data set could not be written completely (" + status.message() + ")");
    }
    return status;
  }

  Result<PreparedIngest> PrepareStaged(const IngestRequest& request) {
    BeginWriteback(request.staged_path);
    dicom::ParsedInstance parsed;
    if (request.parsed) {
      parsed = *request.parsed;
    } else {
      auto read = dicom::ReadInstance(request.staged_path);
      if (!read.ok()) return ExplainUnreadable(read.status());
      parsed = std::move(read).value();
    }
    const dicom::InstanceMetadata& m = parsed.metadata;
    if (request.expected_sop_class_uid && *request.expected_sop_class_uid != m.sop_class_uid) {
      return FailedPrecondition("data set SOPClassUID " + m.sop_class_uid +
                                " does not match the request's " + *request.expected_sop_class_uid);
    }
    if (request.expected_sop_instance_uid &&
        *request.expected_sop_instance_uid != m.sop_instance_uid) {
      return FailedPrecondition("data set SOPInstanceUID " + m.sop_instance_uid +
                                " does not match the request's " +
                                *request.expected_sop_instance_uid);
    }
    struct stat staged_stat {};
    if (::stat(request.staged_path.c_str(), &staged_stat) != 0) {
      return Internal("staged file vanished: " + request.staged_path);
    }
    std::string sha;
    if (request.digest && request.digest->dataset_offset == parsed.dataset_offset &&
        request.digest->file_size == static_cast<uint64_t>(staged_stat.st_size)) {
      sha = request.digest->sha256_hex;
    } else {
      STRATA_ASSIGN_OR_RETURN(sha,
                              blob::Sha256HexOfFile(request.staged_path, parsed.dataset_offset));
    }

    PreparedIngest prepared;
    IngestResult& result = prepared.result;
    result.study_instance_uid = m.study_instance_uid;
    result.series_instance_uid = m.series_instance_uid;
    result.sop_instance_uid = m.sop_instance_uid;
    result.sop_class_uid = m.sop_class_uid;

    // A resend of what is already stored changes nothing and needs no commit.
    std::vector<catalog::InstanceLocation> versions;
    STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(versions, txn.Versions(m.sop_instance_uid));
      return OkStatus();
    }));
    for (const auto& v : versions) {
      if (v.current && v.sha256_hex == sha) {
        result.outcome = PutOutcome::kDuplicate;
        result.blob_key = v.blob_key;
        return prepared;
      }
      if (v.current && options_.duplicates == catalog::DuplicatePolicy::kReject) {
        return AlreadyExists("a different object is already stored under SOPInstanceUID " +
                             m.sop_instance_uid);
      }
    }

    STRATA_ASSIGN_OR_RETURN(result.blob_key, PlaceObject(request.staged_path, BaseKey(m), sha,
                                                         versions.empty(), &prepared.created));

    catalog::InstanceRecord& record = prepared.record;
    record.metadata = m;
    record.blob_key = result.blob_key;
    record.size_bytes = static_cast<uint64_t>(staged_stat.st_size);
    record.sha256_hex = sha;
    record.received_at_ms = options_.now_ms();
    record.source_ae = request.source_ae;
    record.retention_until = catalog::DefaultRetentionUntil(options_.retention, m.study_date,
                                                            m.modality, record.received_at_ms);
    return prepared;
  }

  // Stores the staged file at its object key: "<base>.dcm" for the first version, else
  // "<base>.<hash prefix>.dcm", so concurrent writers of different content never collide.
  // A file already at the key (left by a crash before its commit, or a concurrent identical
  // ingest) is reused when its content is the same.
  Result<std::string> PlaceObject(const std::string& staged, const std::string& base,
                                  const std::string& sha, bool first_version, bool* created) {
    for (const auto& key : CandidateKeys(base, sha, first_version)) {
      Status put = blobs_.PutFileUnsyncedName(key, staged, /*create_only=*/true);
      if (put.ok()) {
        *created = true;
        return key;
      }
      if (put.code() != StatusCode::kAlreadyExists) return put;
      auto existing_sha = StoredContentSha(key);
      if (existing_sha.ok() && *existing_sha == sha) return key;
    }
    return Internal("no free object key for " + base);
  }

  static std::vector<std::string> CandidateKeys(const std::string& base, const std::string& sha,
                                                bool first_version) {
    std::vector<std::string> keys;
    if (first_version) keys.push_back(base + ".dcm");
    keys.push_back(base + "." + sha.substr(0, 16) + ".dcm");
    return keys;
  }

  // SHA-256 of the data set of a stored object or a staged file.
  static Result<std::string> ContentSha(const std::string& path) {
    STRATA_ASSIGN_OR_RETURN(dicom::ParsedInstance parsed, dicom::ReadInstance(path));
    return blob::Sha256HexOfFile(path, parsed.dataset_offset);
  }
  Result<std::string> StoredContentSha(const std::string& key) {
    STRATA_ASSIGN_OR_RETURN(auto object, blobs_.Open(key));
    return ContentSha(object->path());
  }

  // Removes an object an interrupted ingest of (m, sha) placed, unless the catalog has it.
  Status RemoveUncommitted(const dicom::InstanceMetadata& m, const std::string& sha, int* removed) {
    // Objects of soft-deleted studies are committed too (a restore brings them back).
    std::vector<catalog::InstanceLocation> versions;
    STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(versions, txn.VersionsIncludingDeleted(m.sop_instance_uid));
      return OkStatus();
    }));
    for (const auto& key : CandidateKeys(BaseKey(m), sha, /*first_version=*/true)) {
      bool committed = std::any_of(versions.begin(), versions.end(),
                                   [&](const auto& v) { return v.blob_key == key; });
      if (committed) continue;
      auto stored_sha = StoredContentSha(key);
      if (stored_sha.ok() && *stored_sha == sha) {
        STRATA_RETURN_IF_ERROR(blobs_.Delete(key));
        ++*removed;
      }
    }
    return OkStatus();
  }

  // Group commit: everything queued while the previous transaction was committing goes into
  // the next one, so many concurrent stores share one fsync.
  void CommitLoop() {
    for (;;) {
      std::vector<std::shared_ptr<PendingCommit>> batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && batch.size() < static_cast<size_t>(options_.max_batch)) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<Result<PutOutcome>> outcomes;
      Status commit = catalog_.Write([&](catalog::WriteTxn& txn) -> Status {
        outcomes.clear();
        for (const auto& item : batch) {
          auto outcome = txn.PutInstance(item->record, options_.duplicates);
          if (outcome.ok() && *outcome != PutOutcome::kDuplicate) {
            STRATA_RETURN_IF_ERROR(txn.AppendOutbox(StoredEvent(item->record, *outcome)));
          }
          outcomes.push_back(std::move(outcome));
        }
        return OkStatus();
      });
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i]->done.set_value(commit.ok() ? std::move(outcomes[i]) : Result<PutOutcome>(commit));
      }
      if (commit.ok() && options_.on_committed) options_.on_committed();
    }
  }

  static catalog::OutboxEvent StoredEvent(const catalog::InstanceRecord& r, PutOutcome outcome) {
    nlohmann::json payload = {
        {"study_instance_uid", r.metadata.study_instance_uid},
        {"series_instance_uid", r.metadata.series_instance_uid},
        {"sop_instance_uid", r.metadata.sop_instance_uid},
        {"sop_class_uid", r.metadata.sop_class_uid},
        {"modality", r.metadata.modality},
        {"body_part_examined", r.metadata.body_part_examined},
        {"source_ae", r.source_ae},
        {"blob_key", r.blob_key},
        {"sha256", r.sha256_hex},
    };
    return {outcome == PutOutcome::kNewVersion ? "instance.replaced" : "instance.stored",
            payload.dump()};
  }

  catalog::Catalog& catalog_;
  blob::BlobStore& blobs_;
  IngestOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<PendingCommit>> queue_;  // guarded by mutex_
  bool stopping_ = false;                             // guarded by mutex_
  std::thread committer_;
};

}  // namespace

Result<IngestResult> IngestService::Ingest(const IngestRequest& request) {
  STRATA_ASSIGN_OR_RETURN(PreparedIngest prepared, Prepare(request));
  std::vector<PreparedIngest> one;
  one.push_back(std::move(prepared));
  return std::move(Commit(std::move(one)).front());
}

std::unique_ptr<IngestService> CreateIngestService(catalog::Catalog& catalog,
                                                   blob::BlobStore& blobs,
                                                   const IngestOptions& options) {
  return std::make_unique<IngestServiceImpl>(catalog, blobs, options);
}

}  // namespace strata::ingest
