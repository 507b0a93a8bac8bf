// The pipeline end to end in one process: real catalog, object store, ingest, job queue, AI
// records and the demo model on the default engine.
#include "ai/ai_pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ai/derived_uid.h"
#include "ai/model_registry.h"
#include "ai/sqlite_ai_records.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
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

  AiPipeline& Pipeline(AiPipelineOptions options = {}) {
    options.retry_base = std::chrono::milliseconds(1);
    pipeline_ = std::make_unique<AiPipeline>(*catalog_, *blobs_, *ingest_, *jobs_, *records_,
                                             *engine_, options);
    return *pipeline_;
  }

  // Stores the demo preset (one CR study, two chest views) with lesions; returns the SOP UIDs.
  std::vector<std::string> StoreDemoStudy(uint64_t seed = 7) {
    synth::Options options;
    options.seed = seed;
    options.lesion_fraction = 1.0;
    std::vector<std::string> uids;
    auto summary = synth::ForEachFile(options, [&](synth::GeneratedFile& f) -> Status {
      STRATA_ASSIGN_OR_RETURN(std::string staged, ingest_->StagingPath());
      std::ofstream(staged, std::ios::binary) << f.bytes;
      ingest::IngestRequest request;
      request.staged_path = staged;
      STRATA_ASSIGN_OR_RETURN(auto stored, ingest_->Ingest(request));
      study_uid_ = stored.study_instance_uid;
      uids.push_back(f.sop_instance_uid);
      return OkStatus();
    });
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return uids;
  }

  // Runs router and workers until there is nothing left to do.
  void Drain(AiPipeline& pipeline) {
    for (int i = 0; i < 20; ++i) {
      size_t routed = pipeline.RouteOnce().value();
      size_t ran = pipeline.InferOnce("worker").value();
      if (routed == 0 && ran == 0) return;
    }
    FAIL() << "pipeline did not settle";
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

TEST_F(AiPipelineTest, StoredRadiographsGetOneResultAndOneReportEach) {
  auto uids = StoreDemoStudy();
  ASSERT_EQ(uids.size(), 2u);
  auto& pipeline = Pipeline();
  Drain(pipeline);
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
    ASSERT_EQ(r.report_sop_uid,
              DerivedUid("strata-ai-report/" + model_.name + "/" + model_.version + "/" + uid));
    auto report = Locate(r.report_sop_uid);
    ASSERT_EQ(report.size(), 1u);
    EXPECT_EQ(report[0].sop_class_uid, "1.2.840.10008.5.1.4.1.1.88.33");
    EXPECT_EQ(report[0].study_instance_uid, study_uid_);
  }
  EXPECT_EQ(pipeline.Counters().inferences, 2u);
  EXPECT_EQ(pipeline.Counters().reports_stored, 2u);
  // The reports' own outbox events were routed and matched nothing.
  EXPECT_EQ(jobs_->Counts(kInferJob)->succeeded, 2u);
  EXPECT_EQ(jobs_->Counts(kInferJob)->pending, 0u);
}

TEST_F(AiPipelineTest, ReplayingTheOutboxAndRepeatingJobsChangesNothing) {
  auto uids = StoreDemoStudy();
  auto& pipeline = Pipeline();
  Drain(pipeline);
  // Replay: a router that lost its cursor (a crash before the cursor commit) sees every event
  // again and enqueues nothing new.
  auto before = jobs_->Counts("");
  AiPipelineOptions replay;
  replay.consumer = "ai-router-replay";
  Drain(Pipeline(replay));
  EXPECT_GT(pipeline_->Counters().routed_events, 2u);
  EXPECT_EQ(pipeline_->Counters().jobs_enqueued, 0u);
  // A job repeated after a crash between the report and the job's completion: same result,
  // byte-identical report, so the catalog keeps one version.
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
  ASSERT_TRUE(records_->SetReportUid(result.id, "").ok());  // as if the crash hit before it
  Drain(*pipeline_);
  EXPECT_EQ(pipeline_->Counters().inferences, 0u);  // the recorded result was reused
  EXPECT_EQ(Locate(result.report_sop_uid).size(), 1u);
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
  AiPipelineOptions options;
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

TEST_F(AiPipelineTest, UndeliverableReportsStayQueuedWithTheReason) {
  StoreDemoStudy();
  AiPipelineOptions options;
  options.notify = {DicomPeer{"PACS", "127.0.0.1", 1}};  // nothing listens on port 1
  auto& pipeline = Pipeline(options);
  Drain(pipeline);
  ASSERT_EQ(pipeline.NotifyOnce("notifier").value(), 2u);
  jobs::JobFilter filter;
  filter.kind = kNotifyJob;
  auto deliveries = jobs_->List(filter);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 2u);
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

}  // namespace
}  // namespace strata::ai
