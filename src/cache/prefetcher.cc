#include "cache/prefetcher.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "core/log.h"
#include "dicom/tags.h"

namespace strata::cache {
namespace {

namespace t = dicom::tags;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Attribute(const catalog::QueryRow& row, dicom::Tag tag) {
  auto it = row.attributes.find(tag);
  return it == row.attributes.end() ? std::string() : it->second;
}

std::string Text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// Series-level rows (one per series) folded into one summary per study, in first-seen order.
std::vector<StudySummary> Summarize(const std::vector<catalog::QueryRow>& rows) {
  std::vector<StudySummary> studies;
  std::map<std::string, size_t> index;
  for (const auto& row : rows) {
    const std::string uid = Attribute(row, t::kStudyInstanceUid);
    auto [it, added] = index.emplace(uid, studies.size());
    if (added) {
      StudySummary& s = studies.emplace_back();
      s.study_uid = uid;
      s.study_date = Attribute(row, t::kStudyDate);
      s.study_time = Attribute(row, t::kStudyTime);
    }
    StudySummary& s = studies[it->second];
    const std::string modality = Attribute(row, t::kModality);
    if (!modality.empty()) s.modalities.insert(modality);
    const std::string body_part = Upper(Attribute(row, t::kBodyPartExamined));
    if (!body_part.empty()) s.body_parts.insert(body_part);
  }
  return studies;
}

catalog::Query SeriesWhere(dicom::Tag tag, const std::string& value) {
  catalog::Query query;
  query.level = catalog::QueryLevel::kSeries;
  query.keys = {{tag, value}};
  return query;
}

// A failure another attempt may get past (an outage, a busy store, a full disk).
bool Transient(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kAborted ||
         s.code() == StatusCode::kResourceExhausted || s.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace

Prefetcher::Prefetcher(catalog::Catalog& catalog, HotCache& cache, jobs::JobQueue& jobs,
                       PrefetcherOptions options)
    : catalog_(catalog), cache_(cache), jobs_(jobs), options_(std::move(options)) {}

Prefetcher::~Prefetcher() { Stop(); }

int64_t Prefetcher::NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

int64_t Prefetcher::RetryAt(int attempts) const {
  auto delay = options_.retry_base;
  for (int i = 1; i < attempts && delay < options_.retry_max; ++i) delay *= 2;
  return NowMs() + std::min(delay, options_.retry_max).count();
}

void Prefetcher::Notify() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  wake_.notify_all();
}

PrefetcherCounters Prefetcher::Counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

Result<jobs::JobCounts> Prefetcher::JobCounts() { return jobs_.Counts(kPrefetchJob); }

Result<catalog::OutboxBacklog> Prefetcher::Backlog() {
  catalog::OutboxBacklog backlog;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(int64_t cursor, txn.ConsumerCursor(options_.consumer));
    STRATA_ASSIGN_OR_RETURN(backlog, txn.Backlog(cursor));
    return OkStatus();
  }));
  return backlog;
}

Result<std::vector<StudySummary>> Prefetcher::PriorsOf(const std::string& study_uid) {
  std::vector<catalog::QueryRow> current_rows;
  std::vector<catalog::QueryRow> patient_rows;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    patient_rows.clear();
    STRATA_ASSIGN_OR_RETURN(current_rows, txn.Find(SeriesWhere(t::kStudyInstanceUid, study_uid)));
    if (current_rows.empty()) return OkStatus();
    const std::string patient_id = Attribute(current_rows.front(), t::kPatientId);
    // Without a PatientID there is no telling whose the other studies are.
    if (patient_id.empty()) return OkStatus();
    STRATA_ASSIGN_OR_RETURN(patient_rows, txn.Find(SeriesWhere(t::kPatientId, patient_id)));
    return OkStatus();
  }));
  if (current_rows.empty() || patient_rows.empty()) return std::vector<StudySummary>{};
  // The match is by value (a '*' in a PatientID would be a wildcard), and the same PatientID
  // from another issuer is another patient: keep exact matches of both only.
  const std::string patient_id = Attribute(current_rows.front(), t::kPatientId);
  const std::string issuer = Attribute(current_rows.front(), t::kIssuerOfPatientId);
  std::erase_if(patient_rows, [&](const catalog::QueryRow& row) {
    return Attribute(row, t::kPatientId) != patient_id ||
           Attribute(row, t::kIssuerOfPatientId) != issuer;
  });
  std::vector<StudySummary> current = Summarize(current_rows);
  return SelectPriors(current.front(), Summarize(patient_rows), options_.policy,
                      catalog::UtcDate(NowMs()));
}

Result<size_t> Prefetcher::RouteOnce() {
  std::vector<catalog::ChangeEntry> entries;
  STRATA_RETURN_IF_ERROR(catalog_.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(int64_t cursor, txn.ConsumerCursor(options_.consumer));
    STRATA_ASSIGN_OR_RETURN(entries, txn.Changes({cursor, options_.router_batch, {}, {}}));
    return OkStatus();
  }));
  if (entries.empty()) return size_t{0};

  // Each study once per batch, in arrival order.
  std::vector<std::string> studies;
  std::set<std::string> seen;
  for (const auto& entry : entries) {
    if (entry.kind != "instance.stored") continue;
    nlohmann::json p = nlohmann::json::parse(entry.payload, nullptr, false);
    if (!p.is_object()) continue;
    // A report or presentation state added to a study does not call for its priors.
    const std::string modality = Text(p, "modality");
    if (!modality.empty() && !IsImagingModality(modality)) continue;
    std::string study = Text(p, "study_instance_uid");
    if (!study.empty() && seen.insert(study).second) studies.push_back(std::move(study));
  }

  std::vector<jobs::JobSpec> specs;
  for (const auto& study : studies) {
    STRATA_ASSIGN_OR_RETURN(std::vector<StudySummary> priors, PriorsOf(study));
    for (const auto& prior : priors) {
      jobs::JobSpec spec;
      spec.kind = kPrefetchJob;
      spec.idempotency_key = std::string(kPrefetchJob) + "/" + study + "/" + prior.study_uid;
      spec.payload = nlohmann::json{
          {"study_instance_uid", prior.study_uid},
          {"for_study_instance_uid",
           study}}.dump();
      spec.max_attempts = options_.max_attempts;
      specs.push_back(std::move(spec));
    }
    if (!priors.empty()) {
      log::Info("prefetch_priors_selected",
                {{"study_instance_uid", study}, {"priors", static_cast<int64_t>(priors.size())}});
    }
  }
  uint64_t created = 0;
  if (!specs.empty()) {
    STRATA_ASSIGN_OR_RETURN(auto outcomes, jobs_.EnqueueAll(specs));
    for (const auto& o : outcomes) created += o.created ? 1 : 0;
  }
  // Jobs first, then the cursor: a crash in between re-enqueues, which the keys make harmless.
  const int64_t last = entries.back().seq;
  STRATA_RETURN_IF_ERROR(catalog_.Write(
      [&](catalog::WriteTxn& txn) { return txn.AdvanceConsumerCursor(options_.consumer, last); }));
  {
    std::lock_guard lock(mutex_);
    counters_.routed_events += entries.size();
    counters_.studies_seen += studies.size();
    counters_.jobs_enqueued += created;
  }
  if (created > 0) Notify();  // the runner starts on them at once
  return entries.size();
}

Result<size_t> Prefetcher::RunOnce() {
  STRATA_ASSIGN_OR_RETURN(auto leased, jobs_.Lease({kPrefetchJob}, options_.run_batch,
                                                   options_.lease, options_.worker));
  for (const auto& job : leased) {
    Status reported = RunJob(job);
    if (!reported.ok()) {
      log::Warn("prefetch_job_report_failed", {{"job", job.id}, {"error", reported.ToString()}});
    }
  }
  return leased.size();
}

Status Prefetcher::RunJob(const jobs::Job& job) {
  nlohmann::json p = nlohmann::json::parse(job.payload, nullptr, false);
  const std::string prior = p.is_object() ? Text(p, "study_instance_uid") : "";
  const std::string for_study = p.is_object() ? Text(p, "for_study_instance_uid") : "";
  if (prior.empty()) {
    return jobs_.Fail(job.id, options_.worker, "payload names no study", jobs::kNoRetry);
  }
  Result<std::vector<std::string>> keys = cache_.PinStudy(prior, options_.pin);
  if (!keys.ok()) {
    std::lock_guard lock(mutex_);
    ++counters_.jobs_failed;
    return jobs_.Fail(job.id, options_.worker, keys.status().ToString(), RetryAt(job.attempts));
  }

  uint64_t local = 0;
  uint64_t gone = 0;
  std::optional<int64_t> rehydrated_in_s;  // the soonest retry hint
  Status transient;
  Status permanent;
  for (const auto& key : *keys) {
    Status made_local = cache_.Prefetch(key);
    if (made_local.ok()) {
      ++local;
    } else if (made_local.code() == StatusCode::kNotFound) {
      ++gone;  // deleted since the pin listed it
    } else if (made_local.retry_after_seconds()) {
      // Keep going: every Archive-tier object of the study gets its rehydration requested now.
      rehydrated_in_s =
          std::min(rehydrated_in_s.value_or(INT64_MAX), *made_local.retry_after_seconds());
    } else if (Transient(made_local)) {
      if (transient.ok()) transient = made_local;
    } else if (permanent.ok()) {
      permanent = made_local;
    }
  }
  {
    std::lock_guard lock(mutex_);
    counters_.objects_prefetched += local;
  }

  auto count = [this](uint64_t PrefetcherCounters::*field) {
    std::lock_guard lock(mutex_);
    ++(counters_.*field);
  };
  if (!transient.ok()) {
    count(&PrefetcherCounters::jobs_failed);
    log::Warn("prefetch_failed", {{"study_instance_uid", prior},
                                  {"for_study_instance_uid", for_study},
                                  {"error", transient.ToString()}});
    return jobs_.Fail(job.id, options_.worker, transient.ToString(), RetryAt(job.attempts));
  }
  if (rehydrated_in_s) {
    // Not a failure: the attempt is given back, so a long rehydration uses none up.
    count(&PrefetcherCounters::jobs_rescheduled);
    const int64_t delay_ms = std::max<int64_t>(1, *rehydrated_in_s) * 1000;
    log::Info("prefetch_waiting_for_rehydration", {{"study_instance_uid", prior},
                                                   {"for_study_instance_uid", for_study},
                                                   {"local_objects", static_cast<int64_t>(local)},
                                                   {"retry_after_seconds", delay_ms / 1000}});
    return jobs_.Reschedule(job.id, options_.worker, NowMs() + delay_ms);
  }
  if (!permanent.ok()) {
    count(&PrefetcherCounters::jobs_failed);
    log::Error("prefetch_failed", {{"study_instance_uid", prior},
                                   {"for_study_instance_uid", for_study},
                                   {"error", permanent.ToString()}});
    return jobs_.Fail(job.id, options_.worker, permanent.ToString(), jobs::kNoRetry);
  }
  count(&PrefetcherCounters::jobs_completed);
  log::Info("prefetch_done", {{"study_instance_uid", prior},
                              {"for_study_instance_uid", for_study},
                              {"objects", static_cast<int64_t>(local)},
                              {"gone", static_cast<int64_t>(gone)}});
  return jobs_.Complete(job.id, options_.worker,
                        nlohmann::json{{"objects", local}, {"gone", gone}}.dump());
}

void Prefetcher::Start() {
  std::lock_guard guard(start_stop_mutex_);
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  // Whatever this worker held when the process last stopped (a crash) is due again now
  // instead of when its lease runs out.
  auto released = jobs_.ReleaseOwner(options_.worker);
  if (released.ok() && *released > 0) {
    log::Info("prefetch_jobs_released", {{"jobs", static_cast<int64_t>(*released)}});
  }
  thread_ = std::thread([this] { Run(); });
  log::Info("prefetch_started",
            {{"max_priors", static_cast<int64_t>(options_.policy.max_priors)},
             {"max_age_years", static_cast<int64_t>(options_.policy.max_age_years)}});
}

void Prefetcher::Stop() {
  std::lock_guard guard(start_stop_mutex_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  log::Info("prefetch_stopped");
}

void Prefetcher::Run() {
  while (true) {
    uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      generation = wake_generation_;
    }
    bool busy = false;
    Result<size_t> routed = RouteOnce();
    if (!routed.ok()) {
      log::Warn("prefetch_route_failed", {{"error", routed.status().ToString()}});
    } else {
      busy = *routed > 0;
    }
    Result<size_t> ran = RunOnce();
    if (!ran.ok()) {
      log::Warn("prefetch_run_failed", {{"error", ran.status().ToString()}});
    } else {
      busy = busy || *ran > 0;
    }
    if (busy) continue;
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.poll_interval,
                   [&] { return stopping_ || wake_generation_ != generation; });
  }
}

}  // namespace strata::cache
