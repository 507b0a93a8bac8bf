#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ai/sqlite_ai_records.h"

namespace strata::ai {
namespace {

namespace fs = std::filesystem;

class AiRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("strata_ai_records_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "ai.sqlite").string();
    auto records = OpenSqliteAiRecords(path_);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    records_ = std::move(*records);
  }
  void TearDown() override {
    records_.reset();
    fs::remove_all(dir_);
  }

  static RegisteredModel Model(const std::string& version, const std::string& sha) {
    return {"chest", version, sha, "models/chest/" + version, "{}", false, 0, "tester"};
  }
  static InferenceResult Result(const std::string& sop, const std::string& version, bool positive) {
    InferenceResult r;
    r.model_name = "chest";
    r.model_version = version;
    r.study_uid = "1.2.3";
    r.series_uid = "1.2.3.4";
    r.sop_uid = sop;
    r.engine = "onnxruntime";
    r.findings_json = "[]";
    r.any_positive = positive;
    return r;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<AiRecords> records_;
};

TEST_F(AiRecordsTest, RegistryKeepsVersionsAndOneActive) {
  ASSERT_TRUE(records_->RegisterModel(Model("1", "aa")).ok());
  ASSERT_TRUE(records_->RegisterModel(Model("1", "aa")).ok());  // same file again: no-op
  EXPECT_EQ(records_->RegisterModel(Model("1", "bb")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(records_->RegisterModel(Model("2", "bb")).ok());
  ASSERT_EQ(records_->ListModels()->size(), 2u);
  auto active = records_->ActiveModels();
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->front().version, "1");  // the first version became active
  ASSERT_TRUE(records_->Activate("chest", "2").ok());
  EXPECT_EQ(records_->ActiveModels()->front().version, "2");
  EXPECT_FALSE(records_->GetModel("chest", "1").value()->active);
  EXPECT_EQ(records_->Activate("chest", "9").code(), StatusCode::kNotFound);
  ASSERT_TRUE(records_->Deactivate("chest").ok());
  EXPECT_TRUE(records_->ActiveModels()->empty());
  EXPECT_EQ(records_->Deactivate("unknown").code(), StatusCode::kNotFound);
  EXPECT_EQ(records_->RegisterModel(Model("", "aa")).code(), StatusCode::kInvalidArgument);
}

TEST_F(AiRecordsTest, OneResultPerInstanceAndModelVersion) {
  auto first = records_->RecordResult(Result("1.1", "1", true));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  auto again = records_->RecordResult(Result("1.1", "1", false));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->id, first->id);
  EXPECT_TRUE(records_->GetResult(first->id).value()->any_positive);  // the first one stays
  EXPECT_TRUE(records_->RecordResult(Result("1.1", "2", false))->created);
  EXPECT_TRUE(records_->RecordResult(Result("1.2", "1", false))->created);
  ResultFilter filter;
  filter.study_uid = "1.2.3";
  EXPECT_EQ(records_->ListResults(filter)->size(), 3u);
  filter.sop_uid = "1.1";
  EXPECT_EQ(records_->ListResults(filter)->size(), 2u);
  ASSERT_TRUE(records_->SetReportUid(first->id, "9.9").ok());
  EXPECT_EQ(records_->FindResult("1.1", "chest", "1").value()->report_sop_uid, "9.9");
  EXPECT_EQ(records_->SetReportUid(999, "9.9").code(), StatusCode::kNotFound);
}

TEST_F(AiRecordsTest, ReportsAreClaimedOncePerGenerationAndNeverHideALaterOne) {
  for (const char* sop : {"1.1", "1.2", "1.3"}) {
    ASSERT_TRUE(records_->RecordResult(Result(sop, "1", false)).ok());
  }
  ReportRecord first{"chest", "1", "1.2.3", 0, "9.1", {"1.1", "1.2"}};
  ASSERT_EQ(records_->ClaimReport(first)->sop_uid, "9.1");
  // A second claim of the generation (a racing or retried job) gets the first one.
  ReportRecord racing{"chest", "1", "1.2.3", 0, "9.9", {"1.1"}};
  auto claimed = records_->ClaimReport(racing);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_EQ(claimed->sop_uid, "9.1");
  EXPECT_EQ(claimed->source_sop_uids, (std::vector<std::string>{"1.1", "1.2"}));
  ReportRecord revised{"chest", "1", "1.2.3", 1, "9.2", {"1.1", "1.2", "1.3"}};
  ASSERT_TRUE(records_->ClaimReport(revised).ok());
  auto reports = records_->Reports("chest", "1", "1.2.3");
  ASSERT_EQ(reports->size(), 2u);
  EXPECT_EQ((*reports)[1].sop_uid, "9.2");
  EXPECT_TRUE(records_->Reports("chest", "2", "1.2.3")->empty());

  ASSERT_TRUE(records_->MarkReportStored(revised).ok());
  ASSERT_TRUE(records_->MarkReportStored(first).ok());  // retried after the revision
  for (const char* sop : {"1.1", "1.2", "1.3"}) {
    EXPECT_EQ(records_->FindResult(sop, "chest", "1").value()->report_sop_uid, "9.2") << sop;
  }
  ReportRecord unclaimed{"chest", "1", "1.2.3", 5, "9.5", {"1.1"}};
  EXPECT_EQ(records_->MarkReportStored(unclaimed).code(), StatusCode::kNotFound);
  EXPECT_EQ(records_->ClaimReport({"chest", "1", "1.2.3", 2, "9.3", {}}).status().code(),
            StatusCode::kInvalidArgument);
  ResultFilter filter;
  filter.model_version = "1";
  EXPECT_EQ(records_->ListResults(filter)->size(), 3u);
  filter.model_version = "2";
  EXPECT_TRUE(records_->ListResults(filter)->empty());
}

TEST_F(AiRecordsTest, AgreementCountsTheLatestReviewOfEachResult) {
  int64_t a = records_->RecordResult(Result("1.1", "1", true))->id;
  int64_t b = records_->RecordResult(Result("1.2", "1", false))->id;
  records_->RecordResult(Result("1.3", "1", false)).status().IgnoreError();
  ASSERT_TRUE(records_->AddReview({a, "dr.a", false, "missed", 0}).ok());
  ASSERT_TRUE(records_->AddReview({a, "dr.a", true, "on second look", 0}).ok());
  ASSERT_TRUE(records_->AddReview({b, "dr.b", false, "", 0}).ok());
  EXPECT_EQ(records_->AddReview({999, "dr.b", true, "", 0}).code(), StatusCode::kNotFound);
  EXPECT_EQ(records_->AddReview({a, "", true, "", 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(records_->Reviews(a)->size(), 2u);
  auto stats = records_->Agreement();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].results, 3u);
  EXPECT_EQ((*stats)[0].positive, 1u);
  EXPECT_EQ((*stats)[0].reviewed, 2u);
  EXPECT_EQ((*stats)[0].agreed, 1u);
}

TEST_F(AiRecordsTest, SurvivesReopenAndRefusesForeignFiles) {
  ASSERT_TRUE(records_->RegisterModel(Model("1", "aa")).ok());
  records_.reset();
  auto reopened = OpenSqliteAiRecords(path_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->ListModels()->size(), 1u);
  const std::string junk = (dir_ / "junk.sqlite").string();
  std::ofstream(junk) << "this is not a database, just some text that is long enough to matter";
  auto bad = OpenSqliteAiRecords(junk);
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace strata::ai
