#include "ai/routing.h"

#include <gtest/gtest.h>

namespace strata::ai {
namespace {

inference::ModelCard ChestCard() {
  inference::ModelCard card;
  card.name = "chest";
  card.applies_to.modalities = {"CR", "DX"};
  card.applies_to.body_parts = {"CHEST"};
  return card;
}

StoredInstance Instance(std::string modality, std::string body_part, std::string ae = "") {
  StoredInstance i;
  i.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1";
  i.modality = std::move(modality);
  i.body_part = std::move(body_part);
  i.source_ae = std::move(ae);
  return i;
}

TEST(RoutingTest, CardDecidesWhenNoRuleNamesTheModel) {
  const auto card = ChestCard();
  EXPECT_NE(SelectRule({}, card, Instance("CR", "CHEST")), nullptr);
  EXPECT_NE(SelectRule({}, card, Instance("dx", "chest")), nullptr);  // case-insensitive
  EXPECT_EQ(SelectRule({}, card, Instance("CT", "CHEST")), nullptr);
  EXPECT_EQ(SelectRule({}, card, Instance("CR", "HAND")), nullptr);
  EXPECT_EQ(SelectRule({}, card, Instance("SR", "")), nullptr);
  RoutingRule other;
  other.model = "another-model";
  other.calling_aes = {"NOWHERE"};
  EXPECT_NE(SelectRule({other}, card, Instance("CR", "CHEST")), nullptr);
}

TEST(RoutingTest, RulesNarrowButNeverWidenTheCard) {
  const auto card = ChestCard();
  RoutingRule rule;
  rule.model = "chest";
  rule.calling_aes = {"MODALITY1"};
  std::vector<RoutingRule> rules{rule};
  EXPECT_NE(SelectRule(rules, card, Instance("CR", "CHEST", "modality1")), nullptr);
  EXPECT_EQ(SelectRule(rules, card, Instance("CR", "CHEST", "OTHER")), nullptr);
  EXPECT_EQ(SelectRule(rules, card, Instance("CR", "CHEST")), nullptr);
  // A rule admitting CT does not make the chest model run on CT.
  rules[0].calling_aes.clear();
  rules[0].modalities = {"CT"};
  EXPECT_EQ(SelectRule(rules, card, Instance("CT", "CHEST")), nullptr);
}

TEST(RoutingTest, TheFirstMatchingRuleGivesTheMode) {
  const auto card = ChestCard();
  RoutingRule series;
  series.model = "chest";
  series.modalities = {"DX"};
  series.mode = RunMode::kPerSeries;
  RoutingRule instance;
  instance.model = "chest";
  std::vector<RoutingRule> rules{series, instance};
  EXPECT_EQ(SelectRule(rules, card, Instance("DX", "CHEST"))->mode, RunMode::kPerSeries);
  EXPECT_EQ(SelectRule(rules, card, Instance("CR", "CHEST"))->mode, RunMode::kPerInstance);
}

}  // namespace
}  // namespace strata::ai
