#include "dicomweb/json_model.h"

#include <gtest/gtest.h>

namespace strata::dicomweb {
namespace {

using nlohmann::json;

TEST(JsonModelTest, LooksUpByKeywordAndTag) {
  auto by_keyword = LookupAttribute("PatientID");
  ASSERT_TRUE(by_keyword.ok());
  EXPECT_EQ(by_keyword->tag, dicom::tags::kPatientId);
  EXPECT_STREQ(by_keyword->vr, "LO");
  auto by_tag = LookupAttribute("0020000d");
  ASSERT_TRUE(by_tag.ok());
  EXPECT_STREQ(by_tag->keyword, "StudyInstanceUID");
  EXPECT_EQ(LookupAttribute("0020000D")->tag, dicom::tags::kStudyInstanceUid);
}

TEST(JsonModelTest, UnknownNames) {
  EXPECT_EQ(LookupAttribute("NoSuchKeyword").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LookupAttribute("7FE00010").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LookupAttribute("1234").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LookupAttribute("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LookupAttribute("0010002G").status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonModelTest, TagKeyIsEightUpperHexDigits) {
  EXPECT_EQ(TagKey(dicom::tags::kStudyInstanceUid), "0020000D");
  EXPECT_EQ(TagKey(dicom::tags::kPatientId), "00100020");
}

TEST(JsonModelTest, StringsAndMultipleValues) {
  EXPECT_EQ(ToJsonAttribute("LO", "P1"), json({{"vr", "LO"}, {"Value", {"P1"}}}));
  EXPECT_EQ(ToJsonAttribute("CS", "CT\\MR"), json({{"vr", "CS"}, {"Value", {"CT", "MR"}}}));
  EXPECT_EQ(ToJsonAttribute("CS", "CT\\\\MR"),
            json({{"vr", "CS"}, {"Value", {"CT", nullptr, "MR"}}}));
}

TEST(JsonModelTest, EmptyValueHasNoValueKey) {
  EXPECT_EQ(ToJsonAttribute("DA", ""), json({{"vr", "DA"}}));
}

TEST(JsonModelTest, PersonNames) {
  EXPECT_EQ(ToJsonAttribute("PN", "Doe^John"),
            json({{"vr", "PN"}, {"Value", {{{"Alphabetic", "Doe^John"}}}}}));
  EXPECT_EQ(ToJsonAttribute("PN", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
            json({{"vr", "PN"},
                  {"Value",
                   {{{"Alphabetic", "Yamada^Tarou"},
                     {"Ideographic", "山田^太郎"},
                     {"Phonetic", "やまだ^たろう"}}}}}));
  EXPECT_EQ(ToJsonAttribute("PN", "=Ideo"),
            json({{"vr", "PN"}, {"Value", {{{"Ideographic", "Ideo"}}}}}));
}

TEST(JsonModelTest, NumbersAreJsonNumbers) {
  EXPECT_EQ(ToJsonAttribute("IS", " 12"), json({{"vr", "IS"}, {"Value", {12}}}));
  EXPECT_EQ(ToJsonAttribute("IS", "+3\\-4"), json({{"vr", "IS"}, {"Value", {3, -4}}}));
  EXPECT_EQ(ToJsonAttribute("US", "512"), json({{"vr", "US"}, {"Value", {512}}}));
  EXPECT_EQ(ToJsonAttribute("DS", "1.5"), json({{"vr", "DS"}, {"Value", {1.5}}}));
  // Not a number: kept as text rather than lost.
  EXPECT_EQ(ToJsonAttribute("IS", "abc"), json({{"vr", "IS"}, {"Value", {"abc"}}}));
}

}  // namespace
}  // namespace strata::dicomweb
