#include "catalog/query.h"

#include <gtest/gtest.h>

namespace strata::catalog {
namespace {

namespace t = dicom::tags;
using Kind = MatchRule::Kind;

MatchRule Parse(const std::string& raw, MatchVr vr) {
  Result<MatchRule> rule = ParseMatchRule(raw, vr);
  EXPECT_TRUE(rule.ok()) << raw << ": " << rule.status().ToString();
  return rule.ok() ? *rule : MatchRule{};
}

void ExpectInvalid(const std::string& raw, MatchVr vr) {
  Result<MatchRule> rule = ParseMatchRule(raw, vr);
  ASSERT_FALSE(rule.ok()) << "accepted '" << raw << "'";
  EXPECT_EQ(rule.status().code(), StatusCode::kInvalidArgument);
}

TEST(ParseQueryLevelTest, KnownLevels) {
  EXPECT_EQ(*ParseQueryLevel("PATIENT"), QueryLevel::kPatient);
  EXPECT_EQ(*ParseQueryLevel("STUDY"), QueryLevel::kStudy);
  EXPECT_EQ(*ParseQueryLevel("SERIES"), QueryLevel::kSeries);
  EXPECT_EQ(*ParseQueryLevel("IMAGE"), QueryLevel::kInstance);
  EXPECT_EQ(*ParseQueryLevel("INSTANCE"), QueryLevel::kInstance);
  EXPECT_EQ(*ParseQueryLevel("STUDY "), QueryLevel::kStudy);  // even-length padding
}

TEST(ParseQueryLevelTest, UnknownLevelIsInvalid) {
  for (const char* text : {"", "study", "FRAME", "STUDIES"}) {
    Result<QueryLevel> level = ParseQueryLevel(text);
    ASSERT_FALSE(level.ok()) << text;
    EXPECT_EQ(level.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ParseMatchRuleTest, EmptyAndStarAreUniversal) {
  for (MatchVr vr : {MatchVr::kText, MatchVr::kPersonName, MatchVr::kUid, MatchVr::kDate,
                     MatchVr::kTime, MatchVr::kDateTime, MatchVr::kCodeString}) {
    EXPECT_EQ(Parse("", vr).kind, Kind::kUniversal);
    EXPECT_EQ(Parse("*", vr).kind, Kind::kUniversal);
    EXPECT_EQ(Parse("  ", vr).kind, Kind::kUniversal);
  }
}

TEST(ParseMatchRuleTest, SingleValueDropsPadding) {
  MatchRule rule = Parse("ABC123 ", MatchVr::kText);
  EXPECT_EQ(rule.kind, Kind::kSingle);
  EXPECT_EQ(rule.value, "ABC123");
  rule = Parse(std::string("1.2.840.10008.1.2\0", 18), MatchVr::kUid);
  EXPECT_EQ(rule.kind, Kind::kSingle);
  EXPECT_EQ(rule.value, "1.2.840.10008.1.2");
  rule = Parse("20240131", MatchVr::kDate);
  EXPECT_EQ(rule.kind, Kind::kSingle);
  EXPECT_EQ(rule.value, "20240131");
  rule = Parse("101500.25", MatchVr::kTime);
  EXPECT_EQ(rule.kind, Kind::kSingle);
}

TEST(ParseMatchRuleTest, WildcardsForTextNamesAndCodeStrings) {
  MatchRule rule = Parse("Doe^J*", MatchVr::kPersonName);
  EXPECT_EQ(rule.kind, Kind::kWildcard);
  EXPECT_EQ(rule.value, "Doe^J*");
  EXPECT_EQ(Parse("AB?D", MatchVr::kText).kind, Kind::kWildcard);
  EXPECT_EQ(Parse("C*", MatchVr::kCodeString).kind, Kind::kWildcard);
}

TEST(ParseMatchRuleTest, WildcardsAreInvalidInUidsDatesAndTimes) {
  ExpectInvalid("1.2.*", MatchVr::kUid);
  ExpectInvalid("2024*", MatchVr::kDate);
  ExpectInvalid("10?000", MatchVr::kTime);
}

TEST(ParseMatchRuleTest, DateRanges) {
  MatchRule rule = Parse("20240101-20240131", MatchVr::kDate);
  EXPECT_EQ(rule.kind, Kind::kRange);
  EXPECT_EQ(rule.range_low, "20240101");
  EXPECT_EQ(rule.range_high, "20240131");
  rule = Parse("20240101-", MatchVr::kDate);
  EXPECT_EQ(rule.range_low, "20240101");
  EXPECT_EQ(rule.range_high, "");
  rule = Parse("-20240101", MatchVr::kDate);
  EXPECT_EQ(rule.range_low, "");
  EXPECT_EQ(rule.range_high, "20240101");
}

TEST(ParseMatchRuleTest, TimeAndDateTimeRanges) {
  MatchRule rule = Parse("0800-1230", MatchVr::kTime);
  EXPECT_EQ(rule.kind, Kind::kRange);
  EXPECT_EQ(rule.range_low, "0800");
  EXPECT_EQ(rule.range_high, "1230");
  rule = Parse("20240101120000-0500-20240102", MatchVr::kDateTime);
  EXPECT_EQ(rule.kind, Kind::kRange);
  EXPECT_EQ(rule.range_low, "20240101120000-0500");
  EXPECT_EQ(rule.range_high, "20240102");
  // A negative UTC offset alone is not a range.
  rule = Parse("20240101120000-0500", MatchVr::kDateTime);
  EXPECT_EQ(rule.kind, Kind::kSingle);
}

TEST(ParseMatchRuleTest, BadRangesAreInvalid) {
  ExpectInvalid("-", MatchVr::kDate);
  ExpectInvalid("2024-20240131", MatchVr::kDate);
  ExpectInvalid("20241301-", MatchVr::kDate);          // month 13
  ExpectInvalid("20240131-20240101", MatchVr::kDate);  // reversed
  ExpectInvalid("2500-", MatchVr::kTime);              // hour 25
  ExpectInvalid("0800-12:30", MatchVr::kTime);
  ExpectInvalid("2024013", MatchVr::kDate);  // single value, wrong length
  ExpectInvalid("1015001", MatchVr::kTime);
}

TEST(ParseMatchRuleTest, UidLists) {
  MatchRule rule = Parse("1.2.3\\1.2.4\\1.2.840.5", MatchVr::kUid);
  EXPECT_EQ(rule.kind, Kind::kList);
  EXPECT_EQ(rule.list, (std::vector<std::string>{"1.2.3", "1.2.4", "1.2.840.5"}));
}

TEST(ParseMatchRuleTest, BadUidsAreInvalid) {
  ExpectInvalid("1.2.3\\1.2.x", MatchVr::kUid);
  ExpectInvalid("1.2.3\\\\1.2.4", MatchVr::kUid);  // empty element
  EXPECT_EQ(Parse("1.02.3", MatchVr::kUid).kind,
            Kind::kSingle);  // leading zero: stored, so queryable
  ExpectInvalid("1..3", MatchVr::kUid);
  ExpectInvalid(std::string(65, '1'), MatchVr::kUid);
  ExpectInvalid("1.2.3.", MatchVr::kUid);
}

TEST(ParseMatchRuleTest, ListsForOtherVrs) {
  MatchRule rule = Parse("CT\\MR", MatchVr::kCodeString);
  EXPECT_EQ(rule.kind, Kind::kList);
  EXPECT_EQ(rule.list, (std::vector<std::string>{"CT", "MR"}));
  rule = Parse("20240101\\20240105", MatchVr::kDate);
  EXPECT_EQ(rule.kind, Kind::kList);
  ExpectInvalid("20240101\\2024", MatchVr::kDate);
}

TEST(SupportedKeysTest, LevelsIncludeTheLevelsAbove) {
  const auto& patient = SupportedKeys(QueryLevel::kPatient);
  const auto& study = SupportedKeys(QueryLevel::kStudy);
  const auto& series = SupportedKeys(QueryLevel::kSeries);
  const auto& instance = SupportedKeys(QueryLevel::kInstance);
  EXPECT_EQ(patient.at(t::kPatientName), MatchVr::kPersonName);
  EXPECT_EQ(patient.count(t::kStudyInstanceUid), 0u);
  EXPECT_EQ(study.at(t::kStudyDate), MatchVr::kDate);
  EXPECT_EQ(study.at(t::kPatientId), MatchVr::kText);
  EXPECT_EQ(study.at(t::kModalitiesInStudy), MatchVr::kCodeString);
  EXPECT_EQ(study.count(t::kSeriesInstanceUid), 0u);
  EXPECT_EQ(series.at(t::kSeriesInstanceUid), MatchVr::kUid);
  EXPECT_EQ(series.at(t::kStudyInstanceUid), MatchVr::kUid);
  EXPECT_EQ(series.count(t::kSopInstanceUid), 0u);
  EXPECT_EQ(instance.at(t::kSopInstanceUid), MatchVr::kUid);
  EXPECT_EQ(instance.at(t::kAvailableTransferSyntaxUid), MatchVr::kUid);
  EXPECT_EQ(instance.at(t::kContentTime), MatchVr::kTime);
  EXPECT_EQ(instance.count(t::kTransferSyntaxUid), 0u);
  for (const auto& [tag, vr] : patient) EXPECT_EQ(study.count(tag), 1u);
  for (const auto& [tag, vr] : study) EXPECT_EQ(series.count(tag), 1u);
  for (const auto& [tag, vr] : series) EXPECT_EQ(instance.count(tag), 1u);
}

}  // namespace
}  // namespace strata::catalog
