// The pipeline end to end in one process: real catalog, object store, ingest, job queue, AI
// records and the demo model on the default engine.
#include "ai/ai_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "ai/derived_uid.h"
#include "ai/heatmap_capture.h"
#include "ai/model_registry.h"
#include "ai/sqlite_ai_records.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "dicom/dicom_json.h"
#include "inference/engine_factory.h"
#include "jobs/sqlite_job_queue.h"
#include "synth/synth.h"

namespace strata::ai {
namespace {

namespace fs = std::filesystem;

const std::string kModelDir = STRATA_DEMO_MODEL_DIR;

class AiPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strata_ai_pipeline_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    catalog_ = catalog::OpenSqliteCatalog((dir_ / "catalog.sqlite").string()).value();
    blobs_ = blob::OpenFileBlobStore((dir_ / "objects").string()).value();
    ingest_ = ingest::CreateIngestService(*catalog_, *blobs_, {});
    jobs_ = jobs::OpenSqliteJobQueue((dir_ / "jobs.sqlite").string(), {}).value();
    records_ = OpenSqliteAiRecords((dir_ / "ai.sqlite").string()).value();
    engine_ = inference::CreateInferenceEngine({}).value();
    auto model =
        RegisterModelFiles(*records_, *blobs_, *engine_,
                           {kModelDir + "/model.onnx", kModelDir + "/model_card.json", "test"});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = *model;
  }
  void TearDown() override {
    pipeline_.reset();
    ingest_.reset();
    fs::remove_all(dir_);
  }

  // Reports are due at once unless a test sets a settle time.
  static AiPipelineOptions Options() {
    AiPipelineOptions options;
    options.report_settle = std::chrono::milliseconds(0);
    return options;
  }

  AiPipeline& Pipeline(AiPipelineOptions options = Options()) {
    options.retry_base = std::chrono::milliseconds(1);
    pipeline_ = std::make_unique<AiPipeline>(*catalog_, *blobs_, *ingest_, *jobs_, *records_,
                                             *engine_, options);
    return *pipeline_;
  }

  // The demo preset (one CR study of chest views) with lesions; `series` views (0: the
  // preset's two).
  static std::vector<synth::GeneratedFile> DemoStudy(uint64_t seed = 7, int series = 0) {
    synth::Options options;
    options.seed = seed;
    options.lesion_fraction = 1.0;
    options.series_per_study = series;
    std::vector<synth::GeneratedFile> files;
    auto summary = synth::ForEachFile(options, [&](synth::GeneratedFile& f) -> Status {
      files.push_back(f);
      return OkStatus();
    });
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return files;
  }

  void Store(const synth::GeneratedFile& f) {
    std::string staged = ingest_->StagingPath().value();
    std::ofstream(staged, std::ios::binary) << f.bytes;
    ingest::IngestRequest request;
    request.staged_path = staged;
    auto stored = ingest_->Ingest(request);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    study_uid_ = stored->study_instance_uid;
  }

  // Stores the demo study; returns the SOP UIDs.
  std::vector<std::string> StoreDemoStudy(uint64_t seed = 7) {
    std::vector<std::string> uids;
    for (const auto& f : DemoStudy(seed)) {
      Store(f);
      uids.push_back(f.sop_instance_uid);
    }
    return uids;
  }

  // Runs router, workers and reporter until there is nothing left to do.
  void Drain(AiPipeline& pipeline) {
    for (int i = 0; i < 20; ++i) {
      size_t routed = pipeline.RouteOnce().value();
      size_t ran = pipeline.InferOnce("worker").value();
      size_t reported = pipeline.ReportOnce("reporter").value();
      if (routed == 0 && ran == 0 && reported == 0) return;
    }
    FAIL() << "pipeline did not settle";
  }

  // The stored SR as DICOM JSON.
  std::string ReportJson(const std::string& report_uid) {
    auto found = Locate(report_uid);
    if (found.size() != 1) return "";
    auto file = blobs_->Open(found[0].blob_key);
    if (!file.ok()) return "";
    auto json = dicom::InstanceToJson((*file)->path(), "");
    return json.ok() ? *json : "";
  }

  std::vector<ReportRecord> Reports() {
    return records_->Reports(model_.name, model_.version, study_uid_).value();
  }

  std::vector<catalog::InstanceLocation> Locate(const std::string& sop_uid) {
    std::vector<catalog::InstanceLocation> found;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(found, txn.Versions(sop_uid));
                      return OkStatus();
                    })
                    .ok());
    return found;
  }

  fs::path dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<blob::BlobStore> blobs_;
  std::unique_ptr<ingest::IngestService> ingest_;
  std::unique_ptr<jobs::JobQueue> jobs_;
  std::unique_ptr<AiRecords> records_;
  std::unique_ptr<inference::InferenceEngine> engine_;
  std::unique_ptr<AiPipeline> pipeline_;
  RegisteredModel model_;
  std::string study_uid_;
};

TEST_F(AiPipelineTest, TheRadiographsOfAStudyGetOneResultEachAndOneReport) {
  auto uids = StoreDemoStudy();
  ASSERT_EQ(uids.size(), 2u);
  auto& pipeline = Pipeline();
  Drain(pipeline);
  auto reports = Reports();
  ASSERT_EQ(reports.size(), 1u);
  const ReportRecord& report = reports[0];
  EXPECT_EQ(report.generation, 0);
  std::vector<std::string> sorted = uids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(report.source_sop_uids, sorted);
  for (const auto& uid : uids) {
    auto result = records_->FindResult(uid, model_.name, model_.version);
    ASSERT_TRUE(result.ok());
    ASSERT_TRUE(result->has_value()) << uid;
    const auto& r = **result;
    EXPECT_EQ(r.study_uid, study_uid_);
    EXPECT_TRUE(r.any_positive) << r.findings_json;  // every image has a lesion
    auto findings = nlohmann::json::parse(r.findings_json);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0]["label"], "synthetic_lesion");
    EXPECT_GT(findings[0]["probability"].get<double>(), 0.5);
    EXPECT_EQ(r.report_sop_uid, report.sop_uid);
  }
  auto stored = Locate(report.sop_uid);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].sop_class_uid, "1.2.840.10008.5.1.4.1.1.88.33");
  EXPECT_EQ(stored[0].study_instance_uid, study_uid_);
  // Both images are in the SR (as evidence and as image references); no predecessor.
  const std::string json = ReportJson(report.sop_uid);
  for (const auto& uid : uids) EXPECT_NE(json.find(uid), std::string::npos) << uid;
  EXPECT_EQ(json.find("\"0040A360\""), std::string::npos);
  EXPECT_EQ(pipeline.Counters().inferences, 2u);
  EXPECT_EQ(pipeline.Counters().reports_stored, 1u);
  // The report's own outbox event was routed and matched nothing.
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, 2u);
  EXPECT_EQ(jobs_->Counts(kInferJob)->pending, 0u);
  EXPECT_EQ(jobs_->Counts(kReportJob)->succeeded, 1u);
}

TEST_F(AiPipelineTest, ImagesWithinTheSettleTimeShareOneReport) {
  auto files = DemoStudy();
  ASSERT_EQ(files.size(), 2u);
  AiPipelineOptions options = Options();
  options.report_settle = std::chrono::milliseconds(400);
  auto& pipeline = Pipeline(options);
  // The images arrive and are scored one after the other: the second postpones the report.
  Store(files[0]);
  ASSERT_GT(pipeline.RouteOnce().value(), 0u);
  ASSERT_EQ(pipeline.InferOnce("worker").value(), 1u);
  Store(files[1]);
  ASSERT_GT(pipeline.RouteOnce().value(), 0u);
  ASSERT_EQ(pipeline.InferOnce("worker").value(), 1u);
  EXPECT_EQ(pipeline.ReportOnce("reporter").value(), 0u);  // settling
  EXPECT_EQ(jobs_->Counts(kReportJob)->pending, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  Drain(pipeline);
  auto reports = Reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].source_sop_uids.size(), 2u);
  EXPECT_EQ(pipeline.Counters().reports_stored, 1u);
}

TEST_F(AiPipelineTest, ALateImageYieldsARevisedReport) {
  auto files = DemoStudy(7, 3);
  ASSERT_EQ(files.size(), 3u);
  AiPipelineOptions options = Options();
  options.notify = {DicomPeer{"PACS", "127.0.0.1", 1}};
  auto& pipeline = Pipeline(options);
  Store(files[0]);
  Store(files[1]);
  Drain(pipeline);
  ASSERT_EQ(Reports().size(), 1u);
  const ReportRecord first = Reports()[0];
  EXPECT_EQ(first.source_sop_uids.size(), 2u);

  Store(files[2]);
  Drain(pipeline);
  auto reports = Reports();
  ASSERT_EQ(reports.size(), 2u);
  const ReportRecord& revised = reports[1];
  EXPECT_EQ(revised.generation, 1);
  EXPECT_NE(revised.sop_uid, first.sop_uid);
  EXPECT_EQ(revised.source_sop_uids.size(), 3u);
  // Both SRs are stored; the revision carries all three images and names the first report.
  EXPECT_EQ(Locate(first.sop_uid).size(), 1u);
  const std::string json = ReportJson(revised.sop_uid);
  for (const auto& f : files) EXPECT_NE(json.find(f.sop_instance_uid), std::string::npos);
  EXPECT_NE(json.find("\"0040A360\""), std::string::npos);
  EXPECT_NE(json.find(first.sop_uid), std::string::npos);
  // Every result names the latest report carrying it.
  auto results = records_->ListResults({}).value();
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_EQ(r.report_sop_uid, revised.sop_uid);
  EXPECT_EQ(pipeline.Counters().inferences, 3u);
  EXPECT_EQ(pipeline.Counters().reports_stored, 2u);
  // Each report is delivered.
  jobs::JobFilter filter;
  filter.kind = kNotifyJob;
  EXPECT_EQ(jobs_->List(filter)->size(), 2u);

  // A report job run again (its lease expired after the SR was stored): the same SR again,
  // which ingest answers as a duplicate, and the results keep naming the revision.
  jobs::JobSpec again;
  again.kind = kReportJob;
  again.idempotency_key = "first-report-again";
  again.payload = nlohmann::json{
      {"model", model_.name},
      {"version", model_.version},
      {"study_instance_uid", study_uid_},
      {"generation",
       0}}.dump();
  ASSERT_TRUE(jobs_->Enqueue(again).ok());
  Drain(pipeline);
  EXPECT_EQ(pipeline.Counters().reports_stored, 2u);
  EXPECT_EQ(Locate(first.sop_uid).size(), 1u);
  EXPECT_EQ(Reports().size(), 2u);
  results = records_->ListResults({}).value();
  for (const auto& r : results) EXPECT_EQ(r.report_sop_uid, revised.sop_uid);
  EXPECT_EQ(jobs_->List(filter)->size(), 2u);
}

TEST_F(AiPipelineTest, AResultRecordedBeforeACrashStillGetsItsReport) {
  auto uids = StoreDemoStudy();
  // An earlier attempt recorded the results and crashed before it enqueued the report.
  std::vector<InferenceResult> recorded;
  for (const auto& uid : uids) {
    auto location = Locate(uid).at(0);
    InferenceResult r;
    r.model_name = model_.name;
    r.model_version = model_.version;
    r.study_uid = location.study_instance_uid;
    r.series_uid = location.series_instance_uid;
    r.sop_uid = uid;
    r.engine = "test";
    r.findings_json =
        R"([{"label":"synthetic_lesion","probability":0.25,"threshold":0.5,"positive":false}])";
    r.created_at_ms = 1767225600000;
    recorded.push_back(r);
  }
  ASSERT_TRUE(records_->RecordResults(recorded).ok());
  auto& pipeline = Pipeline();
  Drain(pipeline);
  EXPECT_EQ(pipeline.Counters().inferences, 0u);  // the recorded results were reused
  auto reports = Reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].source_sop_uids.size(), 2u);
  EXPECT_NE(ReportJson(reports[0].sop_uid).find("0.25"), std::string::npos);
}

TEST_F(AiPipelineTest, ReplayingTheOutboxAndRepeatingJobsChangesNothing) {
  auto uids = StoreDemoStudy();
  auto& pipeline = Pipeline();
  Drain(pipeline);
  // Replay: a router that lost its cursor (a crash before the cursor commit) sees every event
  // again and enqueues nothing new.
  auto before = jobs_->Counts("");
  AiPipelineOptions replay = Options();
  replay.consumer = "ai-router-replay";
  Drain(Pipeline(replay));
  EXPECT_GT(pipeline_->Counters().routed_events, 2u);
  EXPECT_EQ(pipeline_->Counters().jobs_enqueued, 0u);
  // An inference job repeated after a crash before its completion: the same result, and no
  // second report, since the study's report covers it.
  auto result = records_->FindResult(uids[0], model_.name, model_.version).value().value();
  jobs::JobSpec repeat;
  repeat.kind = kInferJob;
  repeat.idempotency_key = "repeat-after-crash";
  repeat.payload = nlohmann::json{
      {"model", model_.name},
      {"version", model_.version},
      {"study_instance_uid", result.study_uid},
      {"series_instance_uid", result.series_uid},
      {"sop_instance_uid",
       result.sop_uid}}.dump();
  ASSERT_TRUE(jobs_->Enqueue(repeat).ok());
  Drain(*pipeline_);
  EXPECT_EQ(pipeline_->Counters().inferences, 0u);  // the recorded result was reused
  EXPECT_EQ(pipeline_->Counters().reports_stored, 0u);
  EXPECT_EQ(Locate(result.report_sop_uid).size(), 1u);
  EXPECT_EQ(Reports().size(), 1u);
  EXPECT_EQ(records_->ListResults({})->size(), 2u);
  EXPECT_EQ(jobs_->Counts("")->succeeded, before.value().succeeded + 1);
}

TEST_F(AiPipelineTest, AJobAbandonedByACrashedWorkerIsFinishedByAnother) {
  auto uids = StoreDemoStudy();
  auto& pipeline = Pipeline();
  ASSERT_EQ(pipeline.RouteOnce().value(), 2u);
  // A worker leases both jobs and dies: its lease runs out.
  auto abandoned = jobs_->Lease({kInferJob}, 10, std::chrono::milliseconds(1), "crashed");
  ASSERT_TRUE(abandoned.ok());
  ASSERT_EQ(abandoned->size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Drain(pipeline);
  for (const auto& uid : uids) {
    ResultFilter filter;
    filter.sop_uid = uid;
    EXPECT_EQ(records_->ListResults(filter)->size(), 1u);
  }
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, 2u);
}

TEST_F(AiPipelineTest, PerSeriesRulesWaitUntilTheSeriesIsStable) {
  AiPipelineOptions options = Options();
  RoutingRule rule;
  rule.model = model_.name;
  rule.mode = RunMode::kPerSeries;
  rule.series_stable_after = std::chrono::seconds(1);
  options.rules = {rule};
  auto& pipeline = Pipeline(options);
  auto uids = StoreDemoStudy();
  ASSERT_GT(pipeline.RouteOnce().value(), 0u);
  // Not yet stable: nothing runs.
  EXPECT_EQ(pipeline.InferOnce("worker").value(), 0u);
  auto jobs = jobs_->List({}).value();
  ASSERT_FALSE(jobs.empty());
  for (const auto& job : jobs) EXPECT_NE(job.idempotency_key.find("/series/"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Drain(pipeline);
  for (const auto& uid : uids) {
    ResultFilter filter;
    filter.sop_uid = uid;
    EXPECT_EQ(records_->ListResults(filter)->size(), 1u) << uid;
  }
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, jobs.size());
}

TEST_F(AiPipelineTest, InactiveModelsAndOtherModalitiesAreNotRun) {
  ASSERT_TRUE(records_->Deactivate(model_.name).ok());
  StoreDemoStudy();
  auto& pipeline = Pipeline();
  Drain(pipeline);
  EXPECT_TRUE(records_->ListResults({})->empty());
  EXPECT_EQ(jobs_->Counts("")->pending + jobs_->Counts("")->succeeded, 0u);
}

TEST_F(AiPipelineTest, TheDurableCursorMovesAtMostOnceASecond) {
  int64_t now = 1'000'000;
  AiPipelineOptions options = Options();
  options.now_ms = [&] { return now; };
  auto durable_cursor = [&] {
    int64_t cursor = -1;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(cursor, txn.ConsumerCursor(options.consumer));
                      return OkStatus();
                    })
                    .ok());
    return cursor;
  };
  auto files = DemoStudy();
  ASSERT_GE(files.size(), 2u);
  {
    auto& pipeline = Pipeline(options);
    Store(files[0]);
    ASSERT_EQ(pipeline.RouteOnce().value(), 1u);  // the first write of this router
    const int64_t first = durable_cursor();
    EXPECT_GT(first, 0);
    Store(files[1]);
    now += 500;
    ASSERT_EQ(pipeline.RouteOnce().value(), 1u);  // enqueues a job...
    EXPECT_EQ(durable_cursor(), first);           // ...but does not record the cursor yet
    EXPECT_EQ(pipeline.RouteOnce().value(), 0u);  // and does not route twice
    EXPECT_EQ(jobs_->Counts("")->pending, 2u);
  }
  // A restart (or crash) within the second routes the second event again: its job exists
  // under the same idempotency key, so nothing is added.
  auto& restarted = Pipeline(options);
  ASSERT_EQ(restarted.RouteOnce().value(), 1u);
  EXPECT_EQ(jobs_->Counts("")->pending, 2u);
  const int64_t second = durable_cursor();
  // Events that enqueue nothing (no active model) follow the same rule.
  ASSERT_TRUE(records_->Deactivate(model_.name).ok());
  Store(DemoStudy(8)[0]);
  now += 500;
  ASSERT_EQ(restarted.RouteOnce().value(), 1u);
  EXPECT_EQ(durable_cursor(), second);
  now += 600;
  Store(DemoStudy(9)[0]);
  ASSERT_EQ(restarted.RouteOnce().value(), 1u);
  EXPECT_GT(durable_cursor(), second);  // a second later the cursor is written again
  EXPECT_EQ(jobs_->Counts("")->pending, 2u);
}

TEST_F(AiPipelineTest, UndeliverableReportsStayQueuedWithTheReason) {
  StoreDemoStudy();
  AiPipelineOptions options = Options();
  options.notify = {DicomPeer{"PACS", "127.0.0.1", 1}};  // nothing listens on port 1
  auto& pipeline = Pipeline(options);
  Drain(pipeline);
  ASSERT_EQ(pipeline.NotifyOnce("notifier").value(), 1u);  // one report for the study
  jobs::JobFilter filter;
  filter.kind = kNotifyJob;
  auto deliveries = jobs_->List(filter);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 1u);
  for (const auto& job : *deliveries) {
    EXPECT_EQ(job.state, jobs::JobState::kPending);
    EXPECT_EQ(job.attempts, 1);
    EXPECT_NE(job.last_error.find("UNAVAILABLE"), std::string::npos) << job.last_error;
  }
}

TEST_F(AiPipelineTest, OnlineInferenceRecordsNothing) {
  synth::Options options;
  options.lesion_fraction = 1.0;
  std::string path = (dir_ / "one.dcm").string();
  bool written = false;
  ASSERT_TRUE(synth::ForEachFile(options, [&](synth::GeneratedFile& f) -> Status {
                if (!written) std::ofstream(path, std::ios::binary) << f.bytes;
                written = true;
                return OkStatus();
              }).ok());
  auto& pipeline = Pipeline();
  auto outcome = pipeline.InferFile(model_.name, path);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->model_version, model_.version);
  ASSERT_EQ(outcome->findings.size(), 1u);
  EXPECT_TRUE(outcome->findings[0].positive);
  EXPECT_TRUE(records_->ListResults({})->empty());
  EXPECT_EQ(pipeline.InferFile("no-such-model", path).status().code(), StatusCode::kNotFound);
  std::ofstream(dir_ / "junk.dcm") << "not dicom";
  EXPECT_EQ(pipeline.InferFile(model_.name, (dir_ / "junk.dcm").string()).status().code(),
            StatusCode::kInvalidArgument);
}

// The demo card asks for heat maps: one Secondary Capture per scored image, in its study. A
// result recorded by an attempt that crashed before its heat map gets one from the retried
// job, and a job repeated after its heat map was stored stores no second version.
TEST_F(AiPipelineTest, EachScoredImageGetsOneHeatMapInItsStudy) {
  auto files = DemoStudy();
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) Store(f);
  auto location = Locate(files[1].sop_instance_uid).at(0);
  InferenceResult crashed;
  crashed.model_name = model_.name;
  crashed.model_version = model_.version;
  crashed.study_uid = location.study_instance_uid;
  crashed.series_uid = location.series_instance_uid;
  crashed.sop_uid = files[1].sop_instance_uid;
  crashed.engine = "test";
  crashed.findings_json =
      R"([{"label":"synthetic_lesion","probability":0.75,"threshold":0.5,"positive":true}])";
  crashed.created_at_ms = 1767225600000;
  ASSERT_TRUE(records_->RecordResults({crashed}).ok());
  auto& pipeline = Pipeline();
  Drain(pipeline);
  EXPECT_EQ(pipeline.Counters().inferences, 1u);  // heat-map inferences are not counted
  for (const auto& f : files) {
    auto result = records_->FindResult(f.sop_instance_uid, model_.name, model_.version).value();
    ASSERT_TRUE(result.has_value());
    const std::string uid = HeatmapSopUid(model_.name, model_.version, f.sop_instance_uid);
    EXPECT_EQ(pipeline.HeatmapUid(*result), uid);
    auto stored = Locate(uid);
    ASSERT_EQ(stored.size(), 1u) << f.sop_instance_uid;
    EXPECT_EQ(stored[0].study_instance_uid, study_uid_);
    EXPECT_EQ(stored[0].series_instance_uid,
              HeatmapSeriesUid(model_.name, model_.version, study_uid_));
    EXPECT_EQ(stored[0].sop_class_uid, dicom::kSecondaryCaptureImageStorage);
  }
  jobs::JobSpec repeat;
  repeat.kind = kInferJob;
  repeat.idempotency_key = "repeat-after-crash";
  repeat.payload = nlohmann::json{{"model", model_.name},
                                  {"version", model_.version},
                                  {"study_instance_uid", location.study_instance_uid},
                                  {"series_instance_uid", location.series_instance_uid},
                                  {"sop_instance_uid", files[1].sop_instance_uid}}
                       .dump();
  ASSERT_TRUE(jobs_->Enqueue(repeat).ok());
  Drain(pipeline);
  EXPECT_EQ(Locate(HeatmapSopUid(model_.name, model_.version, files[1].sop_instance_uid)).size(),
            1u);
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, 3u);
}

// The catalog's series state decides, not only the router's postponements: a per-series job
// that comes due while its series is still receiving (here the router never saw the later
// images, as when a postponement is lost) is put back to the series' last receipt plus the
// rule's stable time, without using up an attempt, and runs then on the whole series.
TEST_F(AiPipelineTest, APerSeriesJobDueBeforeTheSeriesIsStableWaitsForTheCatalog) {
  constexpr int64_t kT = 1718452800000;
  auto now = std::make_shared<std::atomic<int64_t>>(kT);
  auto clock = [now] { return now->load(); };
  ingest::IngestOptions ingest_options;
  ingest_options.now_ms = clock;
  ingest_ = ingest::CreateIngestService(*catalog_, *blobs_, ingest_options);
  jobs::SqliteJobQueueOptions queue_options;
  queue_options.now_ms = clock;
  jobs_ = jobs::OpenSqliteJobQueue((dir_ / "jobs-clocked.sqlite").string(), queue_options).value();
  AiPipelineOptions options = Options();
  options.now_ms = clock;
  RoutingRule rule;
  rule.model = model_.name;
  rule.mode = RunMode::kPerSeries;
  rule.series_stable_after = std::chrono::seconds(60);
  options.rules = {rule};
  auto& pipeline = Pipeline(options);

  synth::Options synth_options;
  synth_options.seed = 11;
  synth_options.lesion_fraction = 1.0;
  synth_options.patients = 1;
  synth_options.studies_per_patient = 1;
  synth_options.series_per_study = 1;
  synth_options.instances_per_series = 3;
  std::vector<synth::GeneratedFile> files;
  ASSERT_TRUE(synth::ForEachFile(synth_options, [&](synth::GeneratedFile& f) -> Status {
                files.push_back(f);
                return OkStatus();
              }).ok());
  ASSERT_EQ(files.size(), 3u);

  Store(files[0]);
  ASSERT_GT(pipeline.RouteOnce().value(), 0u);  // the series' job, due at kT + 60 s
  now->store(kT + 30000);
  Store(files[1]);
  Store(files[2]);  // not routed: the job is not postponed
  now->store(kT + 60000);
  EXPECT_EQ(pipeline.InferOnce("worker").value(), 1u);  // leased, then put back
  auto jobs = jobs_->List({}).value();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, jobs::JobState::kPending);
  EXPECT_EQ(jobs[0].not_before_ms, kT + 30000 + 60000);
  EXPECT_EQ(jobs[0].attempts, 0);
  EXPECT_TRUE(records_->ListResults({})->empty());
  EXPECT_EQ(pipeline.InferOnce("worker").value(), 0u);  // not due again yet

  now->store(kT + 90000);
  EXPECT_EQ(pipeline.InferOnce("worker").value(), 1u);
  for (const auto& f : files) {
    ResultFilter filter;
    filter.sop_uid = f.sop_instance_uid;
    EXPECT_EQ(records_->ListResults(filter)->size(), 1u) << f.sop_instance_uid;
  }
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, 1u);
}

}  // namespace
}  // namespace strata::ai
