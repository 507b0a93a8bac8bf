#include "cache/prior_selection.h"

#include <gtest/gtest.h>

namespace strata::cache {
namespace {

constexpr const char* kToday = "20260115";

StudySummary Study(const std::string& uid, const std::string& date,
                   std::set<std::string> modalities, std::set<std::string> body_parts = {},
                   const std::string& time = "") {
  return {uid, date, time, std::move(modalities), std::move(body_parts)};
}

std::vector<std::string> Uids(const std::vector<StudySummary>& studies) {
  std::vector<std::string> uids;
  for (const auto& s : studies) uids.push_back(s.study_uid);
  return uids;
}

const StudySummary kNewCtChest = Study("new", "20260115", {"CT"}, {"CHEST"});

TEST(PrefetchPriorSelectionTest, SameModalityFirstThenNewest) {
  PriorPolicy policy;
  policy.max_priors = 3;
  auto chosen =
      SelectPriors(kNewCtChest,
                   {Study("mr-new", "20251201", {"MR"}), Study("ct-old", "20230101", {"CT"}),
                    Study("ct-mid", "20240601", {"CT"}), Study("cr", "20250101", {"CR"})},
                   policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"ct-mid", "ct-old", "mr-new"}));
}

TEST(PrefetchPriorSelectionTest, SameBodyPartRanksAboveNewerWithinTheModality) {
  PriorPolicy policy;
  policy.max_priors = 2;
  auto chosen = SelectPriors(kNewCtChest,
                             {Study("ct-head", "20251201", {"CT"}, {"HEAD"}),
                              Study("ct-chest", "20240101", {"CT"}, {"CHEST"}),
                              Study("mr-chest", "20251220", {"MR"}, {"CHEST"})},
                             policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"ct-chest", "ct-head"}));
}

TEST(PrefetchPriorSelectionTest, KeepsAtMostMaxPriorsWithinTheAgeLimit) {
  PriorPolicy policy;
  policy.max_priors = 2;
  policy.max_age_years = 5;
  auto chosen = SelectPriors(kNewCtChest,
                             {Study("a", "20250101", {"CT"}), Study("b", "20240101", {"CT"}),
                              Study("c", "20230101", {"CT"}), Study("too-old", "20210114", {"CT"}),
                              Study("just-in", "20210115", {"CT"})},
                             policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"a", "b"}));
  policy.max_priors = 10;
  chosen = SelectPriors(
      kNewCtChest, {Study("too-old", "20210114", {"CT"}), Study("just-in", "20210115", {"CT"})},
      policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"just-in"}));
  policy.max_priors = 0;
  EXPECT_TRUE(SelectPriors(kNewCtChest, {Study("a", "20250101", {"CT"})}, policy, kToday).empty());
}

TEST(PrefetchPriorSelectionTest, UndatedPriorsOnlyWithoutAnAgeLimit) {
  PriorPolicy policy;
  policy.max_priors = 5;
  std::vector<StudySummary> candidates = {Study("undated", "", {"CT"}),
                                          Study("bad-date", "2024", {"CT"}),
                                          Study("dated", "20200101", {"CT"})};
  EXPECT_TRUE(SelectPriors(kNewCtChest, candidates, policy, kToday).empty());
  policy.max_age_years = 0;
  EXPECT_EQ(Uids(SelectPriors(kNewCtChest, candidates, policy, kToday)).front(), "dated");
  EXPECT_EQ(SelectPriors(kNewCtChest, candidates, policy, kToday).size(), 3u);
}

TEST(PrefetchPriorSelectionTest, LeavesOutTheStudyItselfAndLaterStudies) {
  PriorPolicy policy;
  policy.max_priors = 5;
  StudySummary imported_old = Study("imported", "20240301", {"CT"});
  auto chosen =
      SelectPriors(imported_old,
                   {imported_old, Study("later", "20250101", {"CT"}),
                    Study("same-day", "20240301", {"CT"}), Study("earlier", "20240101", {"CT"})},
                   policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"same-day", "earlier"}));
}

TEST(PrefetchPriorSelectionTest, SameModalityOnlyAndReportsDoNotCount) {
  PriorPolicy policy;
  policy.max_priors = 5;
  policy.same_modality_only = true;
  // The new study already holds an AI findings SR; a prior with only an SR in common is not
  // alike.
  StudySummary current = Study("new", "20260115", {"CT", "SR"});
  auto chosen = SelectPriors(current,
                             {Study("mr-with-sr", "20251201", {"MR", "SR"}),
                              Study("ct-with-sr", "20240101", {"CT", "SR"})},
                             policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"ct-with-sr"}));
  EXPECT_FALSE(IsImagingModality("SR"));
  EXPECT_FALSE(IsImagingModality(""));
  EXPECT_TRUE(IsImagingModality("MG"));
}

TEST(PrefetchPriorSelectionTest, TimeBreaksTiesWithinADate) {
  PriorPolicy policy;
  policy.max_priors = 1;
  auto chosen = SelectPriors(kNewCtChest,
                             {Study("morning", "20250101", {"CT"}, {}, "080000"),
                              Study("evening", "20250101", {"CT"}, {}, "200000")},
                             policy, kToday);
  EXPECT_EQ(Uids(chosen), (std::vector<std::string>{"evening"}));
}

}  // namespace
}  // namespace strata::cache
