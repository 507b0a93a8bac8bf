#include "ai/routing.h"

#include <algorithm>
#include <cctype>

namespace strata::ai {
namespace {

bool SameText(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// An empty list admits anything; otherwise `value` must be in it.
bool Admits(const std::vector<std::string>& allowed, const std::string& value, bool fold_case) {
  if (allowed.empty()) return true;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    return fold_case ? SameText(a, value) : a == value;
  });
}

}  // namespace

bool CardApplies(const inference::ModelCard& card, const StoredInstance& instance) {
  const auto& applies = card.applies_to;
  return Admits(applies.modalities, instance.modality, true) &&
         Admits(applies.sop_classes, instance.sop_class_uid, false) &&
         Admits(applies.body_parts, instance.body_part, true);
}

bool RuleMatches(const RoutingRule& rule, const StoredInstance& instance) {
  return Admits(rule.modalities, instance.modality, true) &&
         Admits(rule.sop_classes, instance.sop_class_uid, false) &&
         Admits(rule.body_parts, instance.body_part, true) &&
         Admits(rule.calling_aes, instance.source_ae, true);
}

const RoutingRule* SelectRule(const std::vector<RoutingRule>& rules,
                              const inference::ModelCard& card, const StoredInstance& instance) {
  static const RoutingRule kDefault;
  if (!CardApplies(card, instance)) return nullptr;
  bool named = false;
  for (const RoutingRule& rule : rules) {
    if (rule.model != card.name) continue;
    named = true;
    if (RuleMatches(rule, instance)) return &rule;
  }
  return named ? nullptr : &kDefault;
}

}  // namespace strata::ai
