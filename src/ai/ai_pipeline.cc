#include "ai/ai_pipeline.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "ai/derived_uid.h"
#include "ai/heatmap_capture.h"
#include "blob/curl_http_client.h"
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

// The name of a STOW-RS destination in delivery jobs and logs: its URL (no token).
std::string StowName(const StowDestination& destination) { return "stow:" + destination.base_url; }

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

constexpr char kComprehensiveSrClass[] = "1.2.840.10008.5.1.4.1.1.88.33";

// The report of a set of results: its UIDs name the model version, the study and the sorted
// source instances, so the same claim always gives the same SR.
std::string ReportUid(const std::string& model, const std::string& version,
                      const std::string& study, const std::vector<std::string>& sources) {
  std::string seed = "strata-ai-report/" + model + "/" + version + "/" + study;
  for (const auto& uid : sources) seed += "/" + uid;
  return DerivedUid(seed);
}

std::string ReportSeriesUid(const std::string& model, const std::string& version,
                            const std::string& study) {
  return DerivedUid("strata-ai-series/" + model + "/" + version + "/" + study);
}

// Job keys are permanent, so each generation of a study's report has its own.
std::string ReportJobKey(const std::string& model, const std::string& version,
                         const std::string& study, size_t generation) {
  return std::string(kReportJob) + "/" + model + "/" + version + "/" + study + "/" +
         std::to_string(generation);
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
      options_(std::move(options)),
      http_(options_.notify_stow.empty() ? nullptr : blob::MakeCurlHttpClient({})) {}

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

void AiPipeline::Wake(Role role) {
  RoleSignal& signal = signals_[static_cast<size_t>(role)];
  {
    std::lock_guard lock(mutex_);
    ++signal.generation;
  }
  signal.cv.notify_all();
}

void AiPipeline::Notify() { Wake(Role::kRouter); }

bool AiPipeline::Wait(std::chrono::milliseconds delay, Role role) {
  RoleSignal& signal = signals_[static_cast<size_t>(role)];
  std::unique_lock lock(mutex_);
  const uint64_t generation = signal.generation;
  signal.cv.wait_for(lock, delay, [&] { return stopping_ || signal.generation != generation; });
  return !stopping_;
}

void AiPipeline::Start() {
  std::lock_guard start_lock(mutex_);
  if (!threads_.empty()) return;
  stopping_ = false;
  // Each step that creates work for other threads wakes only their role (Wake); ingest wakes
  // the router (Notify). A thread sleeps when its step found nothing to do.
  auto loop = [this](Role role, const char* name, std::function<Result<size_t>()> step,
                     std::function<std::chrono::milliseconds()> idle = nullptr) {
    return [this, role, name, step = std::move(step), idle = std::move(idle)] {
      while (true) {
        Result<size_t> done = step();
        if (!done.ok()) {
          log::Warn("ai_step_failed",
                    {{"role", std::string_view(name)}, {"error", done.status().ToString()}});
          Count(&PipelineCounters::failures);
        }
        if (done.ok() && *done > 0) {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
          continue;
        }
        if (!Wait(idle ? idle() : options_.poll_interval, role)) return;
      }
    };
  };
  // Whatever these workers held when this process last stopped (a crash) is released now
  // instead of when its lease runs out.
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    auto released = jobs_.ReleaseOwner(WorkerName(i));
    if (released.ok() && *released > 0) {
      log::Info("ai_jobs_released",
                {{"worker", WorkerName(i)}, {"jobs", static_cast<int64_t>(*released)}});
    }
  }
  jobs_.ReleaseOwner(options_.worker_prefix + "reporter").status().IgnoreError();
  jobs_.ReleaseOwner(options_.worker_prefix + "notifier").status().IgnoreError();
  threads_.emplace_back(loop(Role::kRouter, "router", [this] { return RouteOnce(); }));
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    std::string name = WorkerName(i);
    threads_.emplace_back(loop(Role::kWorker, "worker", [this, name] { return InferOnce(name); }));
  }
  threads_.emplace_back(loop(
      Role::kReporter, "reporter",
      [this] { return ReportOnce(options_.worker_prefix + "reporter"); },
      [this] { return ReporterIdle(); }));
  if (!options_.notify.empty() || !options_.notify_stow.empty()) {
    threads_.emplace_back(loop(Role::kNotifier, "notifier",
                               [this] { return NotifyOnce(options_.worker_prefix + "notifier"); }));
  }
  log::Info("ai_pipeline_started",
            {{"workers", static_cast<int64_t>(options_.workers)},
             {"engine", std::string(engine_.name())},
             {"destinations",
              static_cast<int64_t>(options_.notify.size() + options_.notify_stow.size())}});
}

void AiPipeline::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (auto& signal : signals_) signal.cv.notify_all();
  for (auto& t : threads) t.join();
  if (!threads.empty()) log::Info("ai_pipeline_stopped");
}

std::string AiPipeline::WorkerName(int index) const {
  return options_.worker_prefix + "worker-" + std::to_string(index);
}

std::chrono::milliseconds AiPipeline::ReporterIdle() {
  auto due = jobs_.NextDueMs({kReportJob});
  if (!due.ok() || !due->has_value()) return options_.poll_interval;
  // Not less than a few ms: a due job another process holds must not make this spin.
  const int64_t wait_ms =
      std::max<int64_t>(5, std::min<int64_t>(**due - NowMs(), options_.poll_interval.count()));
  return std::chrono::milliseconds(wait_ms);
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
    cursor = std::max(cursor, routed_through_);
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
      spec.max_attempts = options_.max_attempts;
      if (per_series) {
        // Each new instance of the series moves the start later: the job runs once no
        // instance arrived for series_stable_after. The worker checks the catalog again
        // (DeferUnstableSeries), with the stable time the job carries.
        const int64_t stable_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(rule->series_stable_after)
                .count();
        payload["series_stable_ms"] = stable_ms;
        spec.not_before_ms = NowMs() + stable_ms;
        spec.postpone_existing = true;
      }
      spec.payload = payload.dump();
      specs.push_back(std::move(spec));
    }
  }
  if (!specs.empty()) {
    STRATA_ASSIGN_OR_RETURN(auto outcomes, jobs_.EnqueueAll(specs));
    uint64_t created = 0;
    for (const auto& o : outcomes) created += o.created ? 1 : 0;
    Count(&PipelineCounters::jobs_enqueued, created);
    if (created > 0) Wake(Role::kWorker);
  }
  // Jobs first, then the cursor: a crash in between routes those events again, which the jobs'
  // idempotency keys make harmless (and a result is recorded once per instance and model
  // version). For the same reason the durable cursor is written at most once a second rather
  // than in a catalog commit per step, which would cost an fsync per stored image.
  const int64_t last = entries.back().seq;
  routed_through_ = last;
  if (NowMs() - cursor_written_ms_ >= 1000) {
    STRATA_RETURN_IF_ERROR(catalog_.Write([&](catalog::WriteTxn& txn) {
      return txn.AdvanceConsumerCursor(options_.consumer, last);
    }));
    cursor_written_ms_ = NowMs();
  }
  Count(&PipelineCounters::routed_events, entries.size());
  return entries.size();
}

Result<size_t> AiPipeline::InferOnce(const std::string& worker) {
  STRATA_ASSIGN_OR_RETURN(auto leased,
                          jobs_.Lease({kInferJob}, options_.max_batch, options_.lease, worker));
  if (leased.empty()) return size_t{0};
  const size_t leased_count = leased.size();
  std::erase_if(leased, [&](const jobs::Job& job) { return DeferUnstableSeries(worker, job); });
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
  return leased_count;
}

bool AiPipeline::DeferUnstableSeries(const std::string& worker, const jobs::Job& job) {
  nlohmann::json p = nlohmann::json::parse(job.payload, nullptr, false);
  if (!p.is_object() || !Text(p, "sop_instance_uid").empty()) return false;  // per instance
  const std::string series_uid = Text(p, "series_instance_uid");
  int64_t stable_ms = 0;
  if (auto it = p.find("series_stable_ms"); it != p.end() && it->is_number_integer()) {
    stable_ms = it->get<int64_t>();
  } else {
    // A job routed before jobs carried the time: the model's per-series rules decide.
    for (const auto& rule : options_.rules) {
      if (rule.model == Text(p, "model") && rule.mode == RunMode::kPerSeries) {
        stable_ms = std::max<int64_t>(
            stable_ms,
            std::chrono::duration_cast<std::chrono::milliseconds>(rule.series_stable_after)
                .count());
      }
    }
  }
  if (stable_ms <= 0 || series_uid.empty()) return false;
  std::optional<catalog::SeriesActivity> activity;
  Status read = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(activity, txn.SeriesActivityOf(series_uid));
    return OkStatus();
  });
  if (!read.ok()) {
    Count(&PipelineCounters::failures);
    jobs_.Fail(job.id, worker, read.ToString(), RetryAt(job.attempts)).IgnoreError();
    return true;
  }
  // An unknown series runs now and fails there ("no longer stored").
  if (!activity) return false;
  // Both times as this server sees them: the catalog's receipt time was stamped by ingest.
  const int64_t stable_at_ms = activity->last_received_ms + stable_ms;
  const int64_t now_ms = NowMs();
  if (stable_at_ms <= now_ms) return false;
  log::Info("ai_series_not_stable", {{"job", job.id},
                                     {"series_instance_uid", series_uid},
                                     {"last_received_ms", activity->last_received_ms},
                                     {"due_in_ms", stable_at_ms - now_ms}});
  Status rescheduled = jobs_.Reschedule(job.id, worker, stable_at_ms);
  if (!rescheduled.ok()) {
    // The lease was lost: whoever holds the job now checks again.
    log::Warn("ai_series_reschedule_failed", {{"job", job.id}, {"error", rescheduled.ToString()}});
  }
  return true;
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
    if (model->card.heatmap) image.tensor = *tensor;  // the heat map starts from it
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

  // The new results in one transaction; where an earlier attempt recorded one, that one counts.
  std::vector<InferenceResult> fresh;
  std::vector<size_t> fresh_images;
  for (size_t t = 0; t < scored.size(); ++t) {
    const auto& image = images[scored[t]];
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
    fresh.push_back(std::move(result));
    fresh_images.push_back(scored[t]);
  }
  if (!fresh.empty()) {
    auto stored = records_.RecordResults(fresh);
    for (size_t k = 0; k < fresh_images.size(); ++k) {
      auto& image = images[fresh_images[k]];
      if (stored.ok()) {
        image.existing = (*stored)[k];
      } else {
        job_status[image.job] = stored.status();
      }
    }
  }

  RequestReports(reg, images, job_status);
  StoreHeatmaps(*model, images, job_status);

  std::vector<int64_t> succeeded;
  for (size_t j = 0; j < batch.size(); ++j) {
    const Status& s = job_status[j];
    if (s.ok()) {
      succeeded.push_back(batch[j].id);
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
  // A lease lost meanwhile leaves that job to the worker that took it over; it will find the
  // result and the report already there.
  return jobs_.CompleteAll(succeeded, worker, "{}").status();
}

void AiPipeline::RequestReports(const RegisteredModel& model,
                                const std::vector<PendingImage>& images,
                                std::vector<Status>& job_status) {
  // Every image with a result counts, also one recorded by an earlier attempt of its job: that
  // attempt may have crashed before it enqueued the report.
  std::map<std::string, std::vector<std::string>> studies;
  for (const auto& image : images) {
    if (!job_status[image.job].ok() || !image.existing) continue;
    studies[image.existing->study_uid].push_back(image.existing->sop_uid);
  }
  if (studies.empty()) return;
  Status enqueued = EnqueueReports(model.name, model.version, studies);
  if (enqueued.ok()) return;
  for (const auto& image : images) {
    if (job_status[image.job].ok() && image.existing) job_status[image.job] = enqueued;
  }
}

Status AiPipeline::EnqueueReports(const std::string& model, const std::string& version,
                                  const std::map<std::string, std::vector<std::string>>& studies) {
  std::vector<jobs::JobSpec> specs;
  for (const auto& [study, sop_uids] : studies) {
    // One read gives both the generation and what the claimed reports cover: a result outside
    // them can only be covered by this generation's claim, which only this job makes.
    STRATA_ASSIGN_OR_RETURN(auto reports, records_.Reports(model, version, study));
    std::set<std::string> covered;
    for (const auto& r : reports) {
      covered.insert(r.source_sop_uids.begin(), r.source_sop_uids.end());
    }
    if (std::all_of(sop_uids.begin(), sop_uids.end(),
                    [&](const std::string& uid) { return covered.count(uid) > 0; })) {
      continue;
    }
    jobs::JobSpec spec;
    spec.kind = kReportJob;
    spec.idempotency_key = ReportJobKey(model, version, study, reports.size());
    spec.payload = nlohmann::json{{"model", model},
                                  {"version", version},
                                  {"study_instance_uid", study},
                                  {"generation", reports.size()}}
                       .dump();
    spec.max_attempts = options_.max_attempts;
    spec.not_before_ms = NowMs() + options_.report_settle.count();
    spec.postpone_existing = true;
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) return OkStatus();
  STRATA_RETURN_IF_ERROR(jobs_.EnqueueAll(specs).status());
  Wake(Role::kReporter);
  return OkStatus();
}

Result<size_t> AiPipeline::ReportOnce(const std::string& worker) {
  STRATA_ASSIGN_OR_RETURN(auto leased,
                          jobs_.Lease({kReportJob}, options_.max_batch, options_.lease, worker));
  if (leased.empty()) return size_t{0};
  // Concurrently: the SRs' catalog rows share a group commit and their fsyncs overlap.
  std::vector<Status> outcomes(leased.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < leased.size(); ++i) {
    threads.emplace_back([this, &leased, &outcomes, i] { outcomes[i] = MakeReport(leased[i]); });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> succeeded;
  for (size_t i = 0; i < leased.size(); ++i) {
    const Status& s = outcomes[i];
    if (s.ok()) {
      succeeded.push_back(leased[i].id);
      continue;
    }
    Count(&PipelineCounters::failures);
    log::Warn("ai_report_failed", {{"job", leased[i].id},
                                   {"attempt", static_cast<int64_t>(leased[i].attempts)},
                                   {"error", s.ToString()}});
    jobs_
        .Fail(leased[i].id, worker, s.ToString(),
              Permanent(s) ? jobs::kNoRetry : RetryAt(leased[i].attempts))
        .IgnoreError();
  }
  STRATA_RETURN_IF_ERROR(jobs_.CompleteAll(succeeded, worker, "{}").status());
  return leased.size();
}

Result<std::vector<InferenceResult>> AiPipeline::StudyResults(const std::string& model,
                                                              const std::string& version,
                                                              const std::string& study) {
  std::vector<InferenceResult> out;
  ResultFilter filter;
  filter.study_uid = study;
  filter.model_name = model;
  filter.model_version = version;
  filter.limit = 1000;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(auto page, records_.ListResults(filter));
    if (page.empty()) return out;
    filter.after_id = page.back().id;
    for (auto& r : page) out.push_back(std::move(r));
  }
}

Status AiPipeline::MakeReport(const jobs::Job& job) {
  nlohmann::json p = nlohmann::json::parse(job.payload, nullptr, false);
  if (!p.is_object() || !p.value("generation", nlohmann::json()).is_number_unsigned()) {
    return InvalidArgument("malformed report job");
  }
  const std::string model = Text(p, "model");
  const std::string version = Text(p, "version");
  const std::string study = Text(p, "study_instance_uid");
  const size_t generation = p["generation"].get<size_t>();
  STRATA_ASSIGN_OR_RETURN(auto registration, records_.GetModel(model, version));
  if (!registration) return NotFound("model " + model + " version " + version + " is gone");
  STRATA_ASSIGN_OR_RETURN(auto results, StudyResults(model, version, study));
  STRATA_ASSIGN_OR_RETURN(auto reports, records_.Reports(model, version, study));
  if (generation > reports.size()) {
    return Internal("report generation " + std::to_string(generation) + " before generation " +
                    std::to_string(reports.size()));
  }
  ReportRecord claim;
  if (generation < reports.size()) {
    claim = reports[generation];  // an earlier attempt claimed it: the same SR again
  } else {
    std::set<std::string> covered;
    for (const auto& r : reports) {
      covered.insert(r.source_sop_uids.begin(), r.source_sop_uids.end());
    }
    claim = {model, version, study, static_cast<int>(generation), "", {}};
    bool anything_new = false;
    for (const auto& r : results) {
      claim.source_sop_uids.push_back(r.sop_uid);
      anything_new = anything_new || covered.count(r.sop_uid) == 0;
    }
    if (!anything_new) return OkStatus();  // not enqueued that way; nothing to report
    std::sort(claim.source_sop_uids.begin(), claim.source_sop_uids.end());
    claim.sop_uid = ReportUid(model, version, study, claim.source_sop_uids);
    STRATA_ASSIGN_OR_RETURN(claim, records_.ClaimReport(claim));
  }
  reports.resize(generation);  // the earlier ones: this report's predecessors
  STRATA_ASSIGN_OR_RETURN(bool duplicate, StoreReport(*registration, claim, reports, results));
  STRATA_RETURN_IF_ERROR(records_.MarkReportStored(claim));
  if (!duplicate) Count(&PipelineCounters::reports_stored);
  log::Info("ai_report_stored", {{"model", model},
                                 {"version", version},
                                 {"study_instance_uid", study},
                                 {"report_sop_instance_uid", claim.sop_uid},
                                 {"generation", static_cast<int64_t>(generation)},
                                 {"instances", static_cast<int64_t>(claim.source_sop_uids.size())},
                                 {"duplicate", duplicate}});
  STRATA_RETURN_IF_ERROR(EnqueueDeliveries(claim));
  // Results recorded after the claim are not in this report: they get the next generation.
  STRATA_ASSIGN_OR_RETURN(results, StudyResults(model, version, study));
  std::map<std::string, std::vector<std::string>> all{{study, {}}};
  for (const auto& r : results) all[study].push_back(r.sop_uid);
  return EnqueueReports(model, version, all);
}

Result<bool> AiPipeline::StoreReport(const RegisteredModel& model, const ReportRecord& claim,
                                     const std::vector<ReportRecord>& earlier,
                                     const std::vector<InferenceResult>& results) {
  std::map<std::string, const InferenceResult*> by_sop;
  for (const auto& r : results) by_sop[r.sop_uid] = &r;
  dicom::FindingsReport report;
  report.sop_instance_uid = claim.sop_uid;
  report.series_instance_uid = ReportSeriesUid(model.name, model.version, claim.study_uid);
  report.instance_number = claim.generation + 1;
  report.model_name = model.name;
  report.model_version = model.version;
  report.model_sha256 = model.sha256_hex;
  std::unique_ptr<blob::LocalObject> source;
  for (const auto& sop_uid : claim.source_sop_uids) {
    auto it = by_sop.find(sop_uid);
    if (it == by_sop.end()) return Internal("claimed report names an unknown result " + sop_uid);
    const InferenceResult& result = *it->second;
    std::vector<catalog::InstanceLocation> found;
    STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(found, txn.Locate(claim.study_uid, result.series_uid, sop_uid));
      return OkStatus();
    }));
    if (found.empty()) return NotFound("source instance " + sop_uid + " is no longer stored");
    // The first source (in UID order) gives the patient and study attributes.
    if (!source) {
      STRATA_ASSIGN_OR_RETURN(source, blobs_.Open(found.front().blob_key));
    }
    if (report.engine.empty()) report.engine = result.engine;
    report.content_time_ms = std::max(report.content_time_ms, result.created_at_ms);
    dicom::SrImageFindings image;
    image.image = {found.front().sop_class_uid, sop_uid, result.series_uid};
    STRATA_ASSIGN_OR_RETURN(auto findings, ParseFindings(result.findings_json));
    for (const auto& f : findings) {
      image.findings.push_back({f.label, f.probability, f.threshold, f.positive});
    }
    report.images.push_back(std::move(image));
  }
  for (const auto& e : earlier) {
    report.predecessors.push_back({kComprehensiveSrClass, e.sop_uid, report.series_instance_uid});
  }
  report.source_path = source->path();
  STRATA_ASSIGN_OR_RETURN(std::string staged, ingest_.StagingPath());
  Status written = dicom::WriteFindingsSr(report, staged);
  if (!written.ok()) {
    ::unlink(staged.c_str());
    return written;
  }
  ingest::IngestRequest request;
  request.staged_path = staged;
  STRATA_ASSIGN_OR_RETURN(auto stored, ingest_.Ingest(request));
  return stored.outcome == catalog::PutOutcome::kDuplicate;
}

Status AiPipeline::EnqueueDeliveries(const ReportRecord& report) {
  std::vector<std::string> destinations;
  for (const auto& peer : options_.notify) destinations.push_back(peer.ae_title);
  for (const auto& stow : options_.notify_stow) destinations.push_back(StowName(stow));
  std::vector<jobs::JobSpec> deliveries;
  for (const std::string& destination : destinations) {
    jobs::JobSpec spec;
    spec.kind = kNotifyJob;
    spec.idempotency_key = std::string(kNotifyJob) + "/" + destination + "/" + report.sop_uid;
    spec.payload =
        nlohmann::json{{"destination", destination},
                       {"study_instance_uid", report.study_uid},
                       {"series_instance_uid",
                        ReportSeriesUid(report.model_name, report.model_version, report.study_uid)},
                       {"sop_instance_uid", report.sop_uid}}
            .dump();
    spec.max_attempts = options_.notify_max_attempts;
    deliveries.push_back(std::move(spec));
  }
  if (deliveries.empty()) return OkStatus();
  STRATA_RETURN_IF_ERROR(jobs_.EnqueueAll(deliveries).status());
  Wake(Role::kNotifier);
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
  auto stow = std::find_if(options_.notify_stow.begin(), options_.notify_stow.end(),
                           [&](const StowDestination& d) { return StowName(d) == destination; });
  if (peer == options_.notify.end() && stow == options_.notify_stow.end()) {
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
  int64_t warnings = 0;
  if (peer != options_.notify.end()) {
    dimse::StoreScuOptions scu;
    scu.calling_ae = options_.calling_ae;
    STRATA_ASSIGN_OR_RETURN(auto sent, dimse::StoreFiles(*peer, {file->path()}, scu));
    warnings = static_cast<int64_t>(sent.warnings);
  } else {
    STRATA_RETURN_IF_ERROR(StowFile(*http_, *stow, file->path()));
  }
  log::Info("ai_report_delivered", {{"destination", destination},
                                    {"report_sop_instance_uid", Text(p, "sop_instance_uid")},
                                    {"warnings", warnings}});
  return OkStatus();
}

// After the results are recorded and their report requested: a heat map never delays or
// loses a finding. One that a retry may make (the engine or the store was unavailable) fails
// the job, which is retried by the usual rules and then finds the result recorded and makes
// only the heat map; one that cannot be made from this image (kInvalidArgument and the other
// permanent codes) is logged and left out.
void AiPipeline::StoreHeatmaps(const Loaded& model, std::vector<PendingImage>& images,
                               std::vector<Status>& job_status) {
  if (!model.card.heatmap) return;
  for (auto& image : images) {
    if (!job_status[image.job].ok() || !image.existing) continue;
    const Status made = StoreHeatmap(model, image);
    if (made.ok()) continue;
    Count(&PipelineCounters::failures);
    log::Warn("ai_heatmap_failed", {{"model", model.registration.name},
                                    {"version", model.registration.version},
                                    {"sop_instance_uid", image.existing->sop_uid},
                                    {"retried", !Permanent(made)},
                                    {"error", made.ToString()}});
    if (!Permanent(made)) job_status[image.job] = made;
  }
}

Status AiPipeline::StoreHeatmap(const Loaded& model, PendingImage& image) {
  const InferenceResult& result = *image.existing;
  const std::string uid = HeatmapSopUid(result.model_name, result.model_version, result.sop_uid);
  const std::string series =
      HeatmapSeriesUid(result.model_name, result.model_version, result.study_uid);
  // Stored by an earlier attempt of the job?
  std::vector<catalog::InstanceLocation> stored;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(stored, txn.Locate(result.study_uid, series, uid));
    return OkStatus();
  }));
  if (!stored.empty()) return OkStatus();
  // An image scored by an earlier attempt was not prepared by this one.
  if (image.tensor.values.empty()) {
    STRATA_ASSIGN_OR_RETURN(image.tensor,
                            inference::PreprocessDicomFile(image.file->path(), model.card));
  }
  const auto start = Clock::now();
  STRATA_ASSIGN_OR_RETURN(auto capture,
                          MakeHeatmapCapture(model.card, *model.model, image.tensor, result,
                                             image.file->path(), options_.max_batch));
  const double occlusion_ms = MsSince(start);
  STRATA_ASSIGN_OR_RETURN(std::string staged, ingest_.StagingPath());
  Status written = dicom::WriteHeatmapSc(capture, staged);
  if (!written.ok()) {
    ::unlink(staged.c_str());
    return written;
  }
  ingest::IngestRequest request;
  request.staged_path = staged;
  STRATA_ASSIGN_OR_RETURN(auto ingested, ingest_.Ingest(request));
  log::Info("ai_heatmap_stored",
            {{"model", result.model_name},
             {"version", result.model_version},
             {"sop_instance_uid", result.sop_uid},
             {"heatmap_sop_instance_uid", uid},
             {"duplicate", ingested.outcome == catalog::PutOutcome::kDuplicate},
             {"occlusion_ms", occlusion_ms},
             {"ms", MsSince(start)}});
  return OkStatus();
}

std::string AiPipeline::HeatmapUid(const InferenceResult& result) {
  const std::string uid = HeatmapSopUid(result.model_name, result.model_version, result.sop_uid);
  const std::string series =
      HeatmapSeriesUid(result.model_name, result.model_version, result.study_uid);
  std::vector<catalog::InstanceLocation> stored;
  Status read = catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(stored, txn.Locate(result.study_uid, series, uid));
    return OkStatus();
  });
  return read.ok() && !stored.empty() ? uid : std::string();
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
