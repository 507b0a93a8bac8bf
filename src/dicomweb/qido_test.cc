#include "dicomweb/qido.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace strata::dicomweb {
namespace {

namespace t = dicom::tags;
using catalog::QueryLevel;
using Params = std::vector<std::pair<std::string, std::string>>;

std::string ValueOf(const QidoQuery& q, dicom::Tag tag) {
  for (const auto& k : q.query.keys) {
    if (k.tag == tag) return k.value;
  }
  return "<absent>";
}

bool Returns(const QidoQuery& q, dicom::Tag tag) {
  return std::find(q.return_tags.begin(), q.return_tags.end(), tag) != q.return_tags.end();
}

TEST(QidoParamsTest, KeywordsTagsAndPaging) {
  auto q = ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"PatientID", "P*"},
                                                         {"00080020", "20200101-20201231"},
                                                         {"limit", "10"},
                                                         {"offset", "5"},
                                                         {"fuzzymatching", "false"}});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->query.level, QueryLevel::kStudy);
  EXPECT_EQ(ValueOf(*q, t::kPatientId), "P*");
  EXPECT_EQ(ValueOf(*q, t::kStudyDate), "20200101-20201231");
  EXPECT_EQ(q->query.limit, 10u);
  EXPECT_EQ(q->query.offset, 5u);
  EXPECT_FALSE(q->query.fuzzy_matching);
  EXPECT_TRUE(Returns(*q, t::kStudyInstanceUid));
  EXPECT_TRUE(Returns(*q, t::kNumberOfStudyRelatedInstances));
}

TEST(QidoParamsTest, UidListsWithCommasOrBackslashes) {
  auto q = ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"StudyInstanceUID", "1.2.3,1.2.4"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ValueOf(*q, t::kStudyInstanceUid), "1.2.3\\1.2.4");
  auto b = ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"0020000D", "1.2.3\\1.2.4"}});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ValueOf(*b, t::kStudyInstanceUid), "1.2.3\\1.2.4");
}

TEST(QidoParamsTest, ScopeBecomesMatchKeysAndDefaultsFollowLevel) {
  auto q = ParseQidoQuery({QueryLevel::kInstance, "1.2.3", "1.2.3.4"}, {});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ValueOf(*q, t::kStudyInstanceUid), "1.2.3");
  EXPECT_EQ(ValueOf(*q, t::kSeriesInstanceUid), "1.2.3.4");
  EXPECT_TRUE(Returns(*q, t::kSopInstanceUid));
  EXPECT_FALSE(Returns(*q, t::kPatientName));  // study fixed by the path
  EXPECT_FALSE(Returns(*q, t::kModality));     // series fixed by the path

  auto all = ParseQidoQuery({QueryLevel::kInstance, "", ""}, {});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(Returns(*all, t::kPatientName));
  EXPECT_TRUE(Returns(*all, t::kModality));
}

TEST(QidoParamsTest, IncludeField) {
  auto q =
      ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"includefield", "StudyDescription,00081030"},
                                                    {"includefield", "7FE00010"},
                                                    {"includefield", "all"}});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_TRUE(Returns(*q, t::kStudyDescription));
  EXPECT_EQ(std::count(q->return_tags.begin(), q->return_tags.end(), t::kStudyDescription), 1);
  EXPECT_TRUE(q->include_all);
  EXPECT_EQ(
      ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"includefield", "Nonsense"}}).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(QidoParamsTest, BadParametersAreInvalidArgumentWithReason) {
  const std::pair<Params, std::string> cases[] = {
      {{{"limit", "-1"}}, "limit"},
      {{{"limit", "ten"}}, "limit"},
      {{{"offset", ""}}, "offset"},
      {{{"fuzzymatching", "maybe"}}, "fuzzymatching"},
      {{{"NoSuchAttribute", "x"}}, "NoSuchAttribute"},
      {{{"PatientID", "a"}, {"00100020", "b"}}, "more than once"},
      {{{"StudyDate", "2020-01-01"}}, "StudyDate"},
      {{{"StudyInstanceUID", "1.2.x"}}, "StudyInstanceUID"},
      {{{"SOPInstanceUID", "1.2.3"}}, "cannot be matched at the study level"},
  };
  for (const auto& [params, needle] : cases) {
    auto q = ParseQidoQuery({QueryLevel::kStudy, "", ""}, params);
    ASSERT_FALSE(q.ok()) << needle;
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(q.status().message().find(needle), std::string::npos) << q.status().message();
  }
  EXPECT_EQ(ParseQidoQuery({QueryLevel::kSeries, "not-a-uid", ""}, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQidoQuery({QueryLevel::kSeries, "1.2.3", ""}, {{"StudyInstanceUID", "1.2.3"}})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(QidoResponseTest, RowsBecomeDicomJson) {
  auto q = ParseQidoQuery({QueryLevel::kStudy, "", ""}, {{"PatientID", "P1"}});
  ASSERT_TRUE(q.ok());
  catalog::QueryRow row;
  row.attributes[t::kPatientId] = "P1";
  row.attributes[t::kPatientName] = "Doe^Jane";
  row.attributes[t::kStudyInstanceUid] = "1.2.3";
  row.attributes[t::kModalitiesInStudy] = "CT\\MR";
  row.attributes[t::kNumberOfStudyRelatedInstances] = "7";
  row.attributes[t::kStudyDescription] = "not asked for";
  auto json = nlohmann::json::parse(QidoResponseJson(*q, {row}));
  ASSERT_EQ(json.size(), 1u);
  const auto& study = json[0];
  EXPECT_EQ(study["00100020"]["Value"][0], "P1");
  EXPECT_EQ(study["00100010"]["Value"][0]["Alphabetic"], "Doe^Jane");
  EXPECT_EQ(study["0020000D"]["vr"], "UI");
  EXPECT_EQ(study["00080061"]["Value"], nlohmann::json({"CT", "MR"}));
  EXPECT_EQ(study["00201208"]["Value"][0], 7);
  EXPECT_EQ(study["00080056"]["Value"][0], "ONLINE");
  EXPECT_EQ(study["00080020"], nlohmann::json({{"vr", "DA"}}));  // default key, no value
  EXPECT_FALSE(study.contains("00081030"));
  EXPECT_FALSE(study.contains("00080005"));  // empty character set left out

  q->include_all = true;
  auto all = nlohmann::json::parse(QidoResponseJson(*q, {row}));
  EXPECT_EQ(all[0]["00081030"]["Value"][0], "not asked for");
  EXPECT_EQ(nlohmann::json::parse(QidoResponseJson(*q, {})), nlohmann::json::array());
}

}  // namespace
}  // namespace strata::dicomweb
