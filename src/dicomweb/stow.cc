// STOW-RS (PS3.18 10.5): multipart/related; type="application/dicom" parsed as a stream.
//
// Every part is written straight to a staged file and prepared for ingest (checked, made
// durable in the object store) while the rest of the body still arrives. Only when the whole
// body has parsed are the prepared objects committed to the catalog, so a malformed or
// oversized body stores nothing. The response lists each instance in ReferencedSOPSequence or
// FailedSOPSequence (with a FailureReason).
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/log.h"
#include "dicom/dicom_file.h"
#include "dicomweb/handlers.h"
#include "dicomweb/json_model.h"
#include "dicomweb/multipart.h"

namespace strata::dicomweb {
namespace {

constexpr size_t kPrepareThreads = 4;  // parts made durable while the body arrives

// PS3.18 Table I.2-1 / PS3.4 B.2.3 failure reasons.
constexpr int kProcessingFailure = 0x0110;
constexpr int kDuplicate = 0x0111;
constexpr int kOutOfResources = 0xA700;
constexpr int kDoesNotMatch = 0xA900;
constexpr int kCannotUnderstand = 0xC000;

int FailureReasonFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return kCannotUnderstand;
    case StatusCode::kFailedPrecondition:
      return kDoesNotMatch;
    case StatusCode::kAlreadyExists:
      return kDuplicate;
    case StatusCode::kResourceExhausted:
      return kOutOfResources;
    default:
      return kProcessingFailure;
  }
}

struct StagedPart {
  std::string path;                             // empty when the part was refused before staging
  Status refused = OkStatus();                  // why, when refused
  std::optional<ingest::DatasetDigest> digest;  // of the staged file, once complete
};

// Writes each part to a staged file and hands each complete part to `on_part`, which then owns
// its staged file. Owns only the part being written.
class StagingListener : public MultipartListener {
 public:
  StagingListener(ingest::IngestService& ingest, std::function<void(StagedPart)> on_part)
      : ingest_(ingest), on_part_(std::move(on_part)) {}
  ~StagingListener() override {
    if (file_) std::fclose(file_);
    if (part_) Remove(part_->path);
  }

  Status OnPartBegin(const std::map<std::string, std::string>& headers) override {
    StagedPart& part = part_.emplace();
    ++count_;
    auto type = headers.find("content-type");
    if (type != headers.end()) {
      auto media = ParseMediaType(type->second);
      if (!media.ok() || media->type != "application/dicom") {
        part.refused = InvalidArgument("part " + std::to_string(count_) + " has Content-Type '" +
                                       type->second + "', not application/dicom");
        return OkStatus();
      }
    }
    STRATA_ASSIGN_OR_RETURN(part.path, ingest_.StagingPath());
    file_ = std::fopen(part.path.c_str(), "wb");
    if (!file_) return Unavailable("cannot create a staged file");
    hasher_.emplace();
    return OkStatus();
  }

  Status OnPartData(std::string_view data) override {
    if (!file_) return OkStatus();  // a refused part's data is dropped
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
      return Unavailable("writing a staged file failed");
    }
    hasher_->Update(data.data(), data.size());
    return OkStatus();
  }

  Status OnPartEnd() override {
    if (file_) {
      const bool ok = std::fclose(file_) == 0;
      file_ = nullptr;
      if (!ok) return Unavailable("writing a staged file failed");
      part_->digest = hasher_->Finish();
    }
    on_part_(std::move(*part_));
    part_.reset();
    return OkStatus();
  }

  size_t count() const { return count_; }

  static void Remove(const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }

 private:
  ingest::IngestService& ingest_;
  std::function<void(StagedPart)> on_part_;
  std::optional<StagedPart> part_;  // being written
  size_t count_ = 0;
  std::FILE* file_ = nullptr;
  std::optional<ingest::DatasetHasher> hasher_;  // of the part being written
};

nlohmann::json Uid(const std::string& uid) { return ToJsonAttribute("UI", uid); }

struct PartOutcome {
  Status status = OkStatus();
  std::string sop_class;
  std::string sop_instance;
  std::string study;
  std::string series;
};

struct PreparedPart {
  PartOutcome outcome;
  std::optional<ingest::PreparedIngest> prepared;  // when outcome.status is OK
};

// Checks one staged part and prepares its ingest; the staged file belongs to the prepared
// ingest afterwards, or is gone.
PreparedPart PreparePart(ingest::IngestService& ingest, const Request& request,
                         const std::string& study_uid, StagedPart& part) {
  PreparedPart result;
  PartOutcome& outcome = result.outcome;
  outcome.status = part.refused;
  std::optional<dicom::ParsedInstance> parsed_instance;
  if (outcome.status.ok()) {
    auto parsed = dicom::ReadInstance(part.path);
    if (!parsed.ok()) {
      outcome.status = parsed.status();
    } else {
      outcome.sop_class = parsed->metadata.sop_class_uid;
      outcome.sop_instance = parsed->metadata.sop_instance_uid;
      outcome.study = parsed->metadata.study_instance_uid;
      outcome.series = parsed->metadata.series_instance_uid;
      if (!study_uid.empty() && parsed->metadata.study_instance_uid != study_uid) {
        outcome.status =
            FailedPrecondition("instance " + outcome.sop_instance + " belongs to study " +
                               parsed->metadata.study_instance_uid + ", not " + study_uid);
      }
      parsed_instance = std::move(parsed).value();
    }
  }
  if (!outcome.status.ok()) {
    StagingListener::Remove(part.path);
    part.path.clear();
    return result;
  }
  ingest::IngestRequest ingest_request;
  ingest_request.staged_path = part.path;
  ingest_request.source_address = request.remote_address;
  ingest_request.parsed = std::move(parsed_instance);
  ingest_request.digest = part.digest;
  auto prepared = ingest.Prepare(ingest_request);
  part.path.clear();  // placed in the object store, or removed by Prepare on failure
  if (!prepared.ok()) {
    outcome.status = prepared.status();
  } else {
    outcome.sop_class = prepared->result.sop_class_uid;
    outcome.sop_instance = prepared->result.sop_instance_uid;
    result.prepared = std::move(prepared).value();
  }
  return result;
}

// Prepares the parts of one request on a few threads while the body is still being read, so
// that the objects' flushes overlap the transfer. Whatever is not taken by Finish (a body that
// failed to parse) is abandoned when it goes: the catalog never hears of it.
class PartPreparer {
 public:
  PartPreparer(ingest::IngestService& ingest, const Request& request, std::string study_uid)
      : ingest_(ingest), request_(request), study_uid_(std::move(study_uid)) {}

  ~PartPreparer() {
    Join();
    for (PreparedPart& part : done_) {
      if (part.prepared) ingest_.Abandon(std::move(*part.prepared));
    }
  }

  // Takes the part (and its staged file) in body order.
  void Add(StagedPart part) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back({done_.size(), std::move(part)});
      done_.emplace_back();
    }
    if (threads_.size() < kPrepareThreads) {
      threads_.emplace_back([this] { Work(); });
    } else {
      wake_.notify_one();
    }
  }

  // Waits for every part; the outcomes in body order.
  std::vector<PreparedPart> Finish() {
    Join();
    std::vector<PreparedPart> done = std::move(done_);
    done_.clear();
    return done;
  }

 private:
  struct Queued {
    size_t index;
    StagedPart part;
  };

  void Work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Queued item = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      PreparedPart prepared;
      try {
        prepared = PreparePart(ingest_, request_, study_uid_, item.part);
      } catch (const std::exception& e) {
        StagingListener::Remove(item.part.path);
        prepared.outcome.status = Internal(std::string("storing a part failed: ") + e.what());
      }
      lock.lock();
      done_[item.index] = std::move(prepared);
    }
  }

  void Join() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

  ingest::IngestService& ingest_;
  const Request& request_;
  const std::string study_uid_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;        // guarded by mutex_
  std::vector<PreparedPart> done_;  // guarded by mutex_; one per part added
  bool closing_ = false;            // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace

Response HandleStow(Services& services, Request& request) {
  const std::string content_type = request.Header("content-type");
  auto media = ParseMediaType(content_type);
  if (!media.ok() && !content_type.empty()) {
    return Response::Error(400, "Content-Type: " + media.status().message());
  }
  if (!media.ok() || media->type != "multipart/related") {
    return Response::Error(
        415,
        "STOW-RS takes multipart/related; type=\"application/dicom\", not '" + content_type + "'");
  }
  const std::string type = media->Param("type");
  if (!type.empty() && type != "application/dicom") {
    return Response::Error(
        415, "multipart/related type '" + type + "' is not supported; use application/dicom");
  }
  std::string study_uid;
  if (auto it = request.path_params.find("study"); it != request.path_params.end()) {
    study_uid = it->second;
    if (!dicom::IsValidUid(study_uid)) {
      return Response::Error(400, "invalid study UID '" + study_uid + "'");
    }
  }
  const std::string boundary = media->Param("boundary");
  if (boundary.empty()) return Response::Error(400, "multipart/related without a boundary");

  PartPreparer preparer(services.ingest, request, study_uid);
  StagingListener listener(services.ingest,
                           [&](StagedPart part) { preparer.Add(std::move(part)); });
  auto parser = MultipartParser::Create(boundary, listener);
  if (!parser.ok()) return Response::Error(parser.status());
  std::vector<char> chunk(kBodyReadChunk);
  while (true) {
    Result<size_t> n = request.body->Read(chunk.data(), chunk.size());
    if (!n.ok()) return Response::Error(n.status());
    if (*n == 0) break;
    Status fed = parser->Feed(std::string_view(chunk.data(), *n));
    if (!fed.ok()) return Response::Error(fed);
  }
  Status finished = parser->Finish();
  if (!finished.ok()) return Response::Error(finished);
  if (listener.count() == 0) return Response::Error(400, "multipart body has no parts");

  // The body is whole: commit the prepared parts, in one group commit.
  std::vector<PreparedPart> parts = preparer.Finish();
  std::vector<ingest::PreparedIngest> prepared;
  std::vector<PartOutcome> outcomes;
  std::vector<size_t> prepared_parts;  // outcome index of each prepared ingest
  for (PreparedPart& part : parts) {
    if (part.prepared) {
      prepared_parts.push_back(outcomes.size());
      prepared.push_back(std::move(*part.prepared));
    }
    outcomes.push_back(std::move(part.outcome));
  }
  std::vector<Result<ingest::IngestResult>> stored = services.ingest.Commit(std::move(prepared));
  for (size_t i = 0; i < stored.size(); ++i) {
    if (!stored[i].ok()) outcomes[prepared_parts[i]].status = stored[i].status();
  }

  nlohmann::json referenced = nlohmann::json::array();
  nlohmann::json failed = nlohmann::json::array();
  std::vector<std::string> reasons;
  for (const PartOutcome& outcome : outcomes) {
    AuditObject(services.access, request, "stow.store", outcome.study, outcome.series,
                outcome.sop_instance, outcome.status);
    if (outcome.status.ok()) {
      referenced.push_back(
          {{"00081150", Uid(outcome.sop_class)}, {"00081155", Uid(outcome.sop_instance)}});
      continue;
    }
    nlohmann::json item = {
        {"00081197", ToJsonAttribute("US", std::to_string(FailureReasonFor(outcome.status)))}};
    if (!outcome.sop_class.empty()) item["00081150"] = Uid(outcome.sop_class);
    if (!outcome.sop_instance.empty()) item["00081155"] = Uid(outcome.sop_instance);
    failed.push_back(std::move(item));
    reasons.push_back(outcome.status.message());
    log::Warn("stow_instance_failed", {{"sop_instance_uid", outcome.sop_instance},
                                       {"peer", request.remote_address},
                                       {"reason", outcome.status.ToString()}});
  }
  nlohmann::json body = nlohmann::json::object();
  if (!referenced.empty()) body["00081199"] = {{"vr", "SQ"}, {"Value", referenced}};
  if (!failed.empty()) body["00081198"] = {{"vr", "SQ"}, {"Value", failed}};
  const int status = failed.empty() ? 200 : referenced.empty() ? 409 : 202;
  Response response =
      Response::Json(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                     "application/dicom+json");
  for (const std::string& reason : reasons) {
    std::string text = reason.substr(0, 200);
    for (char& c : text) {
      if (c == '"' || c < 0x20) c = '\'';
    }
    response.headers.emplace_back("Warning", "299 strata \"" + text + "\"");
  }
  return response;
}

}  // namespace strata::dicomweb
