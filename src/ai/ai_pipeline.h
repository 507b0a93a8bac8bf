// AiPipeline: event-triggered inference, findings reports and PACS notification.
//
//   outbox --router--> "ai.infer" jobs --workers--> result (AiRecords, unique per instance and
//   model version) --> "ai.report" job per study and model version --reporter--> Comprehensive
//   SR written and stored through IngestService like any instance --> "ai.notify" jobs
//   --notifier--> C-STORE or STOW-RS to each configured PACS
//
// The router is an outbox consumer with its own durable cursor ("ai-router"): every stored
// instance is matched against the active models (routing.h) and each match becomes a job
// whose idempotency key names the instance and model version, so replaying the outbox after a
// crash enqueues nothing twice. Workers lease jobs (a crashed worker's lease expires and
// another takes the job), group leased jobs of one model into batches, and record each result.
// A per-series job runs on a stable series only: the router postpones it with each new
// instance, and the worker checks the catalog's SeriesActivity before running it (a series that
// received an instance less than the rule's stable time ago puts the job back until then).
//
// One SR per study and model version, listing every image's findings. After recording results
// a worker enqueues the study's report job, due report_settle later; each further image of the
// study postpones it, so the images that arrive together share one SR. Reports are numbered
// per study (the generation, part of the job's key, since keys are permanent): an image
// recorded after the study's report was made yields a revised report, a new SR with every
// result so far that names the earlier ones as predecessors. A report job first claims its
// generation in AiRecords with the set of results it covers, then writes the SR; its UIDs and
// content derive from that claim and those results alone, so a retry writes a byte-identical
// SR, which ingest answers as a duplicate. Every path that finds a result without a report
// (a retried inference job, a report job finishing) enqueues the next report job, so exactly
// one result per (instance, model version) and one SR per (study, model version, generation)
// survive any crash and retry.
//
// Thread-safety: Start/Stop from one controlling thread; every other method may be called
// concurrently. Ownership: borrows every service, which must outlive the pipeline.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ai/ai_records.h"
#include "ai/routing.h"
#include "ai/stow_delivery.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "core/status.h"
#include "dicom/findings_sr.h"
#include "inference/inference_engine.h"
#include "ingest/ingest_service.h"
#include "jobs/job_queue.h"

namespace strata::ai {

inline constexpr char kRouterConsumer[] = "ai-router";
inline constexpr char kInferJob[] = "ai.infer";
inline constexpr char kNotifyJob[] = "ai.notify";
inline constexpr char kReportJob[] = "ai.report";

struct AiPipelineOptions {
  std::string consumer = kRouterConsumer;  // the router's outbox cursor
  std::vector<RoutingRule> rules;
  int workers = 2;               // inference threads
  size_t max_batch = 8;          // images per inference call
  size_t router_batch = 200;     // outbox events per router step
  int max_attempts = 5;          // of an inference job
  int notify_max_attempts = 20;  // of a delivery to a PACS
  std::chrono::milliseconds lease{5 * 60 * 1000};
  std::chrono::milliseconds poll_interval{500};
  // A study's report is written once no result of it was recorded for this long.
  std::chrono::milliseconds report_settle{2000};
  std::chrono::milliseconds retry_base{2000};  // doubled per attempt, capped at retry_max
  std::chrono::milliseconds retry_max{5 * 60 * 1000};
  // PACS destinations that receive every findings report by C-STORE...
  std::vector<DicomPeer> notify;
  // ...and by STOW-RS (DICOMweb).
  std::vector<StowDestination> notify_stow;
  std::string calling_ae = "STRATA";
  // Lease owner names are <prefix>worker-<n>, <prefix>reporter and <prefix>notifier; unique to
  // this server (one server per job queue), so that at start-up it releases what it held
  // before a crash.
  std::string worker_prefix;
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// One label's outcome.
struct Finding {
  std::string label;
  double probability = 0;
  double threshold = 0;
  bool positive = false;
};

// A synchronous inference (the online endpoint): nothing is recorded or stored.
struct InferOutcome {
  std::string model_name;
  std::string model_version;
  std::string engine;
  std::vector<Finding> findings;
  double latency_ms = 0;
};

struct PipelineCounters {
  uint64_t routed_events = 0;
  uint64_t jobs_enqueued = 0;
  uint64_t inferences = 0;
  uint64_t reports_stored = 0;
  uint64_t notifications_sent = 0;
  uint64_t failures = 0;
};

class AiPipeline {
 public:
  AiPipeline(catalog::Catalog& catalog, blob::BlobStore& blobs, ingest::IngestService& ingest,
             jobs::JobQueue& jobs, AiRecords& records, inference::InferenceEngine& engine,
             AiPipelineOptions options);
  ~AiPipeline();
  AiPipeline(const AiPipeline&) = delete;
  AiPipeline& operator=(const AiPipeline&) = delete;

  // Starts the router, the inference workers and the notifier. Idempotent.
  void Start();
  // Stops them after their current step and joins them. Idempotent.
  void Stop();

  // New outbox events exist (ingest committed): the router runs now rather than at its next
  // poll. Cheap; callable from any thread.
  void Notify();

  // One router step: routes up to router_batch outbox events. Returns how many events it moved
  // past. For tests and the router thread (must not run concurrently with it).
  Result<size_t> RouteOnce();
  // One worker step: leases and runs up to max_batch inference jobs. Returns how many it ran.
  Result<size_t> InferOnce(const std::string& worker);
  // One reporter step: leases due report jobs, writes and stores their SRs (concurrently, so
  // they share a group commit) and enqueues their deliveries. Returns how many jobs it ran.
  Result<size_t> ReportOnce(const std::string& worker);
  // One notifier step: leases and delivers pending reports. Returns how many it handled.
  Result<size_t> NotifyOnce(const std::string& worker);

  // Runs the active version of `model_name` on the Part 10 file at `path`. kNotFound for an
  // unknown or inactive model; preprocessing errors as inference/preprocess.h says.
  Result<InferOutcome> InferFile(const std::string& model_name, const std::string& path);
  // Scores prepared tensors with a registered model version ("" = the active one); the
  // KServe v2 endpoint's path. Also returns the model's card.
  Result<std::vector<inference::Scores>> InferTensors(const std::string& model_name,
                                                      const std::string& version,
                                                      std::span<const inference::Tensor> batch,
                                                      inference::ModelCard* card);
  // The card of a registered version ("" = the active one).
  Result<inference::ModelCard> Card(const std::string& model_name, const std::string& version);
  // The SOP Instance UID of the heat-map Secondary Capture of `result` (heatmap_capture.h)
  // when it is stored, else "".
  std::string HeatmapUid(const InferenceResult& result);

  AiRecords& records() { return records_; }
  jobs::JobQueue& jobs() { return jobs_; }
  PipelineCounters Counters();

 private:
  struct Loaded;
  struct PendingImage;

  Result<std::shared_ptr<Loaded>> Load(const std::string& name, const std::string& version);
  // For a leased per-series job whose series received an instance less than its rule's
  // series_stable_after ago (the catalog's SeriesActivity against NowMs()): reschedules it to
  // the series' last receipt plus that time and returns true. False: the job may run now.
  bool DeferUnstableSeries(const std::string& worker, const jobs::Job& job);
  Status RunJobs(const std::string& worker, const std::shared_ptr<Loaded>& model,
                 std::vector<jobs::Job>& batch);
  // Enqueues the report jobs of the batch's studies; a failure fails the images' jobs.
  void RequestReports(const RegisteredModel& model, const std::vector<PendingImage>& images,
                      std::vector<Status>& job_status);
  // For a card that asks for heat maps: stores the heat-map Secondary Capture of each image
  // with a result that has none stored yet (see the definition for what a failure does).
  void StoreHeatmaps(const Loaded& model, std::vector<PendingImage>& images,
                     std::vector<Status>& job_status);
  Status StoreHeatmap(const Loaded& model, PendingImage& image);
  // For each study (to the SOP UIDs of its results) where one of those results is in no
  // claimed report: the job of the study's next report generation, due report_settle from now
  // (a pending one is postponed to then).
  Status EnqueueReports(const std::string& model, const std::string& version,
                        const std::map<std::string, std::vector<std::string>>& studies);
  // Runs one report job: claims its generation (or finds the claim), stores the SR, records
  // it on the results, enqueues the deliveries and, for results recorded meanwhile, the next
  // report.
  Status MakeReport(const jobs::Job& job);
  // Writes the claimed report and stores it through ingest. True when it was stored already.
  Result<bool> StoreReport(const RegisteredModel& model, const ReportRecord& claim,
                           const std::vector<ReportRecord>& earlier,
                           const std::vector<InferenceResult>& results);
  Result<std::vector<InferenceResult>> StudyResults(const std::string& model,
                                                    const std::string& version,
                                                    const std::string& study);
  Status EnqueueDeliveries(const ReportRecord& report);
  Status Deliver(const jobs::Job& job);
  int64_t RetryAt(int attempts) const;
  std::string WorkerName(int index) const;
  int64_t NowMs() const;
  // The threads of a role sleep on their own condition variable, so waking one role does not
  // wake the others.
  enum class Role : size_t { kRouter, kWorker, kReporter, kNotifier, kCount };
  struct RoleSignal {
    uint64_t generation = 0;  // guarded by mutex_
    std::condition_variable cv;
  };
  void Wake(Role role);
  // How long the reporter sleeps when nothing is due: until the next report job is due (a
  // study's settle time), at most poll_interval.
  std::chrono::milliseconds ReporterIdle();
  // Waits up to `delay`, until `role` is woken, or until stopping; false when stopping.
  bool Wait(std::chrono::milliseconds delay, Role role);
  void Count(uint64_t PipelineCounters::*field, uint64_t n = 1);

  catalog::Catalog& catalog_;
  blob::BlobStore& blobs_;
  ingest::IngestService& ingest_;
  jobs::JobQueue& jobs_;
  AiRecords& records_;
  inference::InferenceEngine& engine_;
  const AiPipelineOptions options_;
  // For STOW-RS deliveries; null without notify_stow.
  std::unique_ptr<blob::HttpClient> http_;

  // The router's position beyond its durable cursor, and when it last wrote that cursor
  // (RouteOnce only).
  int64_t routed_through_ = 0;
  int64_t cursor_written_ms_ = 0;

  std::mutex models_mutex_;
  std::map<std::string, std::shared_ptr<Loaded>> models_;  // by "name\nversion"

  std::mutex mutex_;
  bool stopping_ = false;
  std::array<RoleSignal, static_cast<size_t>(Role::kCount)> signals_;
  PipelineCounters counters_;
  std::vector<std::thread> threads_;
};

}  // namespace strata::ai
