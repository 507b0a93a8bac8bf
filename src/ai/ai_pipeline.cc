#include "ai/ai_pipeline.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "ai/derived_uid.h"
#include "core/log.h"
#include "dicom/findings_sr.h"
#include "dimse/store_scu.h"
#include "inference/preprocess.h"

namespace strata::ai {

struct AiPipeline::Loaded {
  RegisteredModel registration;
  inference::ModelCard card;
  std::unique_ptr<inference::LoadedModel> model;
};

// One image of a leased job, prepared for the model.
struct AiPipeline::PendingImage {
  size_t job = 0;  // index into the batch of jobs
  catalog::InstanceLocation location;
  std::unique_ptr<blob::LocalObject> file;
  inference::Tensor tensor;
  std::optional<InferenceResult> existing;  // recorded by an earlier attempt
};

namespace {

using Clock = std::chrono::steady_clock;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string Text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<Finding> MakeFindings(const inference::ModelCard& card,
                                  const inference::Scores& scores) {
  std::vector<bool> decisions = inference::Decide(card, scores);
  std::vector<Finding> findings;
  for (size_t i = 0; i < card.labels.size(); ++i) {
    findings.push_back({card.labels[i].name, scores[i], card.labels[i].threshold, decisions[i]});
  }
  return findings;
}

std::string FindingsJson(const std::vector<Finding>& findings) {
  nlohmann::json out = nlohmann::json::array();
  for (const Finding& f : findings) {
    out.push_back({{"label", f.label},
                   {"probability", f.probability},
                   {"threshold", f.threshold},
                   {"positive", f.positive}});
  }
  return out.dump();
}

Result<std::vector<Finding>> ParseFindings(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return Internal("stored findings are not a JSON array");
  std::vector<Finding> out;
  for (const auto& f : j) {
    if (!f.is_object() || !f.value("probability", nlohmann::json()).is_number()) {
      return Internal("stored finding is malformed");
    }
    out.push_back({f.value("label", ""), f.value("probability", 0.0), f.value("threshold", 0.0),
                   f.value("positive", false)});
  }
  return out;
}

// A job's failure that no retry can fix (the image or the model is unusable).
bool Permanent(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kUnimplemented ||
         s.code() == StatusCode::kNotFound || s.code() == StatusCode::kFailedPrecondition;
}

}  // namespace

AiPipeline::AiPipeline(catalog::Catalog& catalog, blob::BlobStore& blobs,
                       ingest::IngestService& ingest, jobs::JobQueue& jobs, AiRecords& records,
                       inference::InferenceEngine& engine, AiPipelineOptions options)
    : catalog_(catalog),
      blobs_(blobs),
      ingest_(ingest),
      jobs_(jobs),
      records_(records),
      engine_(engine),
      options_(std::move(options)) {}

AiPipeline::~AiPipeline() { Stop(); }

int64_t AiPipeline::NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

void AiPipeline::Count(uint64_t PipelineCounters::*field, uint64_t n) {
  std::lock_guard lock(mutex_);
  counters_.*field += n;
}

PipelineCounters AiPipeline::Counters() {
  std::lock_guard lock(mutex_);
  return counters_;
}

void AiPipeline::Wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  wake_.notify_all();
}

bool AiPipeline::Wait(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  uint64_t generation = wake_generation_;
  wake_.wait_for(lock, delay, [&] { return stopping_ || wake_generation_ != generation; });
  return !stopping_;
}

void AiPipeline::Start() {
  std::lock_guard start_lock(mutex_);
  if (!threads_.empty()) return;
  stopping_ = false;
  auto loop = [this](const char* role, std::function<Result<size_t>()> step) {
    return [this, role, step = std::move(step)] {
      while (true) {
        Result<size_t> done = step();
        if (!done.ok()) {
          log::Warn("ai_step_failed",
                    {{"role", std::string_view(role)}, {"error", done.status().ToString()}});
          Count(&PipelineCounters::failures);
        }
        if (done.ok() && *done > 0) {
          if (std::string_view(role) != "worker") Wake();
          std::lock_guard lock(mutex_);
          if (stopping_) return;
          continue;
        }
        if (!Wait(options_.poll_interval)) return;
      }
    };
  };
  threads_.emplace_back(loop("router", [this] { return RouteOnce(); }));
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    std::string name = "worker-" + std::to_string(i);
    threads_.emplace_back(loop("worker", [this, name] { return InferOnce(name); }));
  }
  if (!options_.notify.empty()) {
    threads_.emplace_back(loop("notifier", [this] { return NotifyOnce("notifier"); }));
  }
  log::Info("ai_pipeline_started",
            {{"workers", static_cast<int64_t>(options_.workers)},
             {"engine", std::string(engine_.name())},
             {"destinations", static_cast<int64_t>(options_.notify.size())}});
}

void AiPipeline::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& t : threads) t.join();
  if (!threads.empty()) log::Info("ai_pipeline_stopped");
}

int64_t AiPipeline::RetryAt(int attempts) const {
  auto delay = options_.retry_base;
  for (int i = 1; i < attempts && delay < options_.retry_max; ++i) delay *= 2;
  return NowMs() + std::min(delay, options_.retry_max).count();
}

Result<std::shared_ptr<AiPipeline::Loaded>> AiPipeline::Load(const std::string& name,
                                                             const std::string& version) {
  std::optional<RegisteredModel> registration;
  if (version.empty()) {
    STRATA_ASSIGN_OR_RETURN(auto active, records_.ActiveModels());
    for (auto& m : active) {
      if (m.name == name) registration = std::move(m);
    }
    if (!registration) return NotFound("no active version of model " + name);
  } else {
    STRATA_ASSIGN_OR_RETURN(registration, records_.GetModel(name, version));
    if (!registration)
      return NotFound("model " + name + " version " + version + " is not registered");
  }
  const std::string key = registration->name + "\n" + registration->version;
  std::lock_guard lock(models_mutex_);
  auto it = models_.find(key);
  if (it != models_.end() && it->second->registration.sha256_hex == registration->sha256_hex) {
    return it->second;
  }
  auto loaded = std::make_shared<Loaded>();
  STRATA_ASSIGN_OR_RETURN(loaded->card, inference::ParseModelCard(registration->card_json));
  STRATA_ASSIGN_OR_RETURN(auto file, blobs_.Open(registration->onnx_key));
  STRATA_ASSIGN_OR_RETURN(loaded->model, engine_.Load(file->path(), loaded->card));
  loaded->registration = std::move(*registration);
  models_[key] = loaded;
  log::Info("ai_model_loaded", {{"model", loaded->registration.name},
                                {"version", loaded->registration.version},
                                {"engine", std::string(engine_.name())}});
  return loaded;
}

Result<size_t> AiPipeline::RouteOnce() {
  int64_t cursor = 0;
  std::vector<catalog::ChangeEntry> entries;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(cursor, txn.ConsumerCursor(options_.consumer));
    STRATA_ASSIGN_OR_RETURN(entries, txn.Changes({cursor, options_.router_batch, {}, {}}));
    return OkStatus();
  }));
  if (entries.empty()) return size_t{0};

  STRATA_ASSIGN_OR_RETURN(auto active, records_.ActiveModels());
  std::vector<std::pair<RegisteredModel, inference::ModelCard>> models;
  for (auto& m : active) {
    auto card = inference::ParseModelCard(m.card_json);
    if (!card.ok()) {
      log::Error("ai_model_card_invalid", {{"model", m.name}, {"error", card.status().ToString()}});
      continue;
    }
    models.emplace_back(std::move(m), std::move(*card));
  }

  std::vector<jobs::JobSpec> specs;
  for (const auto& entry : entries) {
    if (entry.kind != "instance.stored" && entry.kind != "instance.replaced") continue;
    nlohmann::json p = nlohmann::json::parse(entry.payload, nullptr, false);
    if (!p.is_object()) continue;
    StoredInstance instance{Text(p, "study_instance_uid"), Text(p, "series_instance_uid"),
                            Text(p, "sop_instance_uid"),   Text(p, "sop_class_uid"),
                            Text(p, "modality"),           Text(p, "body_part_examined"),
                            Text(p, "source_ae")};
    for (const auto& [model, card] : models) {
      const RoutingRule* rule = SelectRule(options_.rules, card, instance);
      if (!rule) continue;
      const bool per_series = rule->mode == RunMode::kPerSeries;
      nlohmann::json payload = {{"model", model.name},
                                {"version", model.version},
                                {"study_instance_uid", instance.study_uid},
                                {"series_instance_uid", instance.series_uid},
                                {"sop_instance_uid", per_series ? "" : instance.sop_uid}};
      jobs::JobSpec spec;
      spec.kind = kInferJob;
      spec.idempotency_key = std::string(kInferJob) + "/" + model.name + "/" + model.version + "/" +
                             (per_series ? "series/" + instance.series_uid : instance.sop_uid);
      spec.payload = payload.dump();
      spec.max_attempts = options_.max_attempts;
      if (per_series) {
        // Each new instance of the series moves the start later: the job runs once no
        // instance arrived for series_stable_after.
        spec.not_before_ms = NowMs() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                           rule->series_stable_after)
                                           .count();
        spec.postpone_existing = true;
      }
      specs.push_back(std::move(spec));
    }
  }
  if (!specs.empty()) {
    STRATA_ASSIGN_OR_RETURN(auto outcomes, jobs_.EnqueueAll(specs));
    uint64_t created = 0;
    for (const auto& o : outcomes) created += o.created ? 1 : 0;
    Count(&PipelineCounters::jobs_enqueued, created);
  }
  // Jobs first, then the cursor: a crash in between re-enqueues, which the keys make harmless.
  const int64_t last = entries.back().seq;
  STRATA_RETURN_IF_ERROR(catalog_.Write(
      [&](catalog::WriteTxn& txn) { return txn.AdvanceConsumerCursor(options_.consumer, last); }));
  Count(&PipelineCounters::routed_events, entries.size());
  return entries.size();
}

Result<size_t> AiPipeline::InferOnce(const std::string& worker) {
  STRATA_ASSIGN_OR_RETURN(auto leased,
                          jobs_.Lease({kInferJob}, options_.max_batch, options_.lease, worker));
  if (leased.empty()) return size_t{0};
  // Group by model version, in lease order.
  std::map<std::pair<std::string, std::string>, std::vector<jobs::Job>> groups;
  for (auto& job : leased) {
    nlohmann::json p = nlohmann::json::parse(job.payload, nullptr, false);
    groups[{p.is_object() ? Text(p, "model") : "", p.is_object() ? Text(p, "version") : ""}]
        .push_back(std::move(job));
  }
  for (auto& [model_key, batch] : groups) {
    auto model = Load(model_key.first, model_key.second);
    if (!model.ok()) {
      for (const auto& job : batch) {
        jobs_
            .Fail(job.id, worker, model.status().ToString(),
                  Permanent(model.status()) ? jobs::kNoRetry : RetryAt(job.attempts))
            .IgnoreError();
      }
      Count(&PipelineCounters::failures, batch.size());
      continue;
    }
    Status run = RunJobs(worker, *model, batch);
    if (!run.ok()) {
      log::Warn("ai_batch_failed", {{"model", model_key.first}, {"error", run.ToString()}});
    }
  }
  return leased.size();
}

Status AiPipeline::RunJobs(const std::string& worker, const std::shared_ptr<Loaded>& model,
                           std::vector<jobs::Job>& batch) {
  const auto& reg = model->registration;
  std::vector<PendingImage> images;
  std::vector<Status> job_status(batch.size());
  // Prepare every image of every job; images already scored by an earlier attempt skip the
  // model.
  for (size_t j = 0; j < batch.size(); ++j) {
    nlohmann::json p = nlohmann::json::parse(batch[j].payload, nullptr, false);
    std::vector<catalog::InstanceLocation> locations;
    Status located = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(
          locations, txn.Locate(Text(p, "study_instance_uid"), Text(p, "series_instance_uid"),
                                Text(p, "sop_instance_uid")));
      return OkStatus();
    });
    if (located.ok() && locations.empty()) located = NotFound("the instance is no longer stored");
    if (!located.ok()) {
      job_status[j] = located;
      continue;
    }
    for (auto& location : locations) {
      PendingImage image;
      image.job = j;
      auto existing = records_.FindResult(location.sop_instance_uid, reg.name, reg.version);
      if (!existing.ok()) {
        job_status[j] = existing.status();
        break;
      }
      image.existing = std::move(*existing);
      auto file = blobs_.Open(location.blob_key);
      if (!file.ok()) {
        job_status[j] = file.status();
        break;
      }
      image.file = std::move(*file);
      image.location = std::move(location);
      images.push_back(std::move(image));
    }
  }

  // Preprocess and score the new ones in one call.
  std::vector<inference::Tensor> tensors;
  std::vector<size_t> scored;  // index into images, per tensor
  auto start = Clock::now();
  for (size_t i = 0; i < images.size(); ++i) {
    auto& image = images[i];
    if (image.existing || !job_status[image.job].ok()) continue;
    auto tensor = inference::PreprocessDicomFile(image.file->path(), model->card);
    if (!tensor.ok()) {
      job_status[image.job] = tensor.status();
      continue;
    }
    tensors.push_back(std::move(*tensor));
    scored.push_back(i);
  }
  std::vector<inference::Scores> scores;
  if (!tensors.empty()) {
    auto run = model->model->Run(tensors);
    if (!run.ok()) {
      for (size_t i : scored) job_status[images[i].job] = run.status();
      scored.clear();
    } else {
      scores = std::move(*run);
    }
  }
  const double latency_ms = tensors.empty() ? 0 : MsSince(start) / tensors.size();
  Count(&PipelineCounters::inferences, scored.size());
  for (size_t t = 0; t < scored.size(); ++t) {
    auto& image = images[scored[t]];
    if (!job_status[image.job].ok()) continue;
    InferenceResult result;
    result.model_name = reg.name;
    result.model_version = reg.version;
    result.study_uid = image.location.study_instance_uid;
    result.series_uid = image.location.series_instance_uid;
    result.sop_uid = image.location.sop_instance_uid;
    result.engine = std::string(engine_.name());
    auto findings = MakeFindings(model->card, scores[t]);
    result.findings_json = FindingsJson(findings);
    result.any_positive =
        std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.positive; });
    result.latency_ms = latency_ms;
    result.created_at_ms = NowMs();
    auto recorded = records_.RecordResult(result);
    if (!recorded.ok()) {
      job_status[image.job] = recorded.status();
      continue;
    }
    // Another worker may have recorded it first: that one counts.
    auto stored = records_.GetResult(recorded->id);
    if (!stored.ok() || !*stored) {
      job_status[image.job] = stored.ok() ? Internal("result vanished") : stored.status();
      continue;
    }
    image.existing = std::move(**stored);
  }

  // Reports, then the jobs' outcomes.
  for (auto& image : images) {
    if (!job_status[image.job].ok() || !image.existing) continue;
    job_status[image.job] = FinishResult(model, *image.existing, image.file->path());
  }
  for (size_t j = 0; j < batch.size(); ++j) {
    const Status& s = job_status[j];
    if (s.ok()) {
      jobs_.Complete(batch[j].id, worker, "{}").IgnoreError();
      continue;
    }
    Count(&PipelineCounters::failures);
    log::Warn("ai_job_failed", {{"job", batch[j].id},
                                {"model", reg.name},
                                {"attempt", static_cast<int64_t>(batch[j].attempts)},
                                {"error", s.ToString()}});
    jobs_
        .Fail(batch[j].id, worker, s.ToString(),
              Permanent(s) ? jobs::kNoRetry : RetryAt(batch[j].attempts))
        .IgnoreError();
  }
  return OkStatus();
}

Status AiPipeline::FinishResult(const std::shared_ptr<Loaded>& model, const InferenceResult& result,
                                const std::string& source_path) {
  const auto& reg = model->registration;
  dicom::FindingsReport report;
  report.source_path = source_path;
  const std::string seed = reg.name + "/" + reg.version + "/" + result.sop_uid;
  report.sop_instance_uid = DerivedUid("strata-ai-report/" + seed);
  report.series_instance_uid =
      DerivedUid("strata-ai-series/" + reg.name + "/" + reg.version + "/" + result.study_uid);
  report.model_name = reg.name;
  report.model_version = reg.version;
  report.model_sha256 = reg.sha256_hex;
  report.engine = result.engine;
  report.content_time_ms = result.created_at_ms;
  STRATA_ASSIGN_OR_RETURN(auto findings, ParseFindings(result.findings_json));
  dicom::SrImageFindings image;
  image.image = {"", result.sop_uid, result.series_uid};
  catalog::InstanceLocation source;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(auto found,
                            txn.Locate(result.study_uid, result.series_uid, result.sop_uid));
    if (found.empty()) return NotFound("source instance no longer stored");
    source = found.front();
    return OkStatus();
  }));
  image.image.sop_class_uid = source.sop_class_uid;
  for (const auto& f : findings) {
    image.findings.push_back({f.label, f.probability, f.threshold, f.positive});
  }
  report.images.push_back(std::move(image));

  if (result.report_sop_uid.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string staged, ingest_.StagingPath());
    Status written = dicom::WriteFindingsSr(report, staged);
    if (!written.ok()) {
      ::unlink(staged.c_str());
      return written;
    }
    ingest::IngestRequest request;
    request.staged_path = staged;
    STRATA_ASSIGN_OR_RETURN(auto stored, ingest_.Ingest(request));
    if (stored.outcome != catalog::PutOutcome::kDuplicate) {
      Count(&PipelineCounters::reports_stored);
    }
    STRATA_RETURN_IF_ERROR(records_.SetReportUid(result.id, report.sop_instance_uid));
    log::Info("ai_report_stored", {{"model", reg.name},
                                   {"version", reg.version},
                                   {"sop_instance_uid", result.sop_uid},
                                   {"report_sop_instance_uid", report.sop_instance_uid}});
  }
  if (options_.notify.empty()) return OkStatus();
  std::vector<jobs::JobSpec> deliveries;
  for (const auto& peer : options_.notify) {
    jobs::JobSpec spec;
    spec.kind = kNotifyJob;
    spec.idempotency_key =
        std::string(kNotifyJob) + "/" + peer.ae_title + "/" + report.sop_instance_uid;
    spec.payload = nlohmann::json{{"destination", peer.ae_title},
                                  {"study_instance_uid", result.study_uid},
                                  {"series_instance_uid", report.series_instance_uid},
                                  {"sop_instance_uid", report.sop_instance_uid}}
                       .dump();
    spec.max_attempts = options_.notify_max_attempts;
    deliveries.push_back(std::move(spec));
  }
  STRATA_RETURN_IF_ERROR(jobs_.EnqueueAll(deliveries).status());
  Wake();
  return OkStatus();
}

Result<size_t> AiPipeline::NotifyOnce(const std::string& worker) {
  STRATA_ASSIGN_OR_RETURN(auto leased, jobs_.Lease({kNotifyJob}, 16, options_.lease, worker));
  for (const auto& job : leased) {
    Status delivered = Deliver(job);
    if (delivered.ok()) {
      jobs_.Complete(job.id, worker, "{}").IgnoreError();
      Count(&PipelineCounters::notifications_sent);
      continue;
    }
    Count(&PipelineCounters::failures);
    log::Warn("ai_notify_failed", {{"job", job.id},
                                   {"attempt", static_cast<int64_t>(job.attempts)},
                                   {"error", delivered.ToString()}});
    jobs_.Fail(job.id, worker, delivered.ToString(), RetryAt(job.attempts)).IgnoreError();
  }
  return leased.size();
}

Status AiPipeline::Deliver(const jobs::Job& job) {
  nlohmann::json p = nlohmann::json::parse(job.payload, nullptr, false);
  if (!p.is_object()) return InvalidArgument("malformed delivery job");
  const std::string destination = Text(p, "destination");
  auto peer = std::find_if(options_.notify.begin(), options_.notify.end(),
                           [&](const DicomPeer& d) { return d.ae_title == destination; });
  if (peer == options_.notify.end()) {
    return FailedPrecondition("destination " + destination + " is no longer configured");
  }
  std::vector<catalog::InstanceLocation> found;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(
        found, txn.Locate(Text(p, "study_instance_uid"), Text(p, "series_instance_uid"),
                          Text(p, "sop_instance_uid")));
    return OkStatus();
  }));
  if (found.empty()) return NotFound("report no longer stored");
  STRATA_ASSIGN_OR_RETURN(auto file, blobs_.Open(found.front().blob_key));
  dimse::StoreScuOptions scu;
  scu.calling_ae = options_.calling_ae;
  STRATA_ASSIGN_OR_RETURN(auto sent, dimse::StoreFiles(*peer, {file->path()}, scu));
  log::Info("ai_report_delivered", {{"destination", destination},
                                    {"report_sop_instance_uid", Text(p, "sop_instance_uid")},
                                    {"warnings", static_cast<int64_t>(sent.warnings)}});
  return OkStatus();
}

Result<InferOutcome> AiPipeline::InferFile(const std::string& model_name, const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(auto model, Load(model_name, ""));
  auto start = Clock::now();
  STRATA_ASSIGN_OR_RETURN(auto tensor, inference::PreprocessDicomFile(path, model->card));
  std::vector<inference::Tensor> batch;
  batch.push_back(std::move(tensor));
  STRATA_ASSIGN_OR_RETURN(auto scores, model->model->Run(batch));
  InferOutcome out;
  out.model_name = model->registration.name;
  out.model_version = model->registration.version;
  out.engine = std::string(engine_.name());
  out.findings = MakeFindings(model->card, scores.front());
  out.latency_ms = MsSince(start);
  return out;
}

Result<std::vector<inference::Scores>> AiPipeline::InferTensors(
    const std::string& model_name, const std::string& version,
    std::span<const inference::Tensor> batch, inference::ModelCard* card) {
  STRATA_ASSIGN_OR_RETURN(auto model, Load(model_name, version));
  if (card) *card = model->card;
  return model->model->Run(batch);
}

Result<inference::ModelCard> AiPipeline::Card(const std::string& model_name,
                                              const std::string& version) {
  STRATA_ASSIGN_OR_RETURN(auto model, Load(model_name, version));
  return model->card;
}

}  // namespace strata::ai
