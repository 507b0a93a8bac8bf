// Routing rules: which active models run on which stored instances.
//
// A stored instance is offered to every active model. A model no rule names runs
// where its card's applies_to matches (modality, SOP class, body part). A model named by rules
// runs only where one of its rules matches as well: rules narrow what the card allows (for
// example to one sending AE), they never widen it, so a model is never run on images it was
// not made for. Matching is exact and case-insensitive for modalities, body parts and AE
// titles; an empty list matches anything.
//
// Thread-safety: values and pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "inference/model_card.h"

namespace strata::ai {

// What the router knows of a stored instance (from its outbox event).
struct StoredInstance {
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string sop_class_uid;
  std::string modality;
  std::string body_part;
  std::string source_ae;  // "" when not received over DIMSE
};

enum class RunMode {
  kPerInstance,  // one job per instance, as soon as it is stored (radiographs)
  kPerSeries,    // one job per series once no instance arrived for `series_stable_after`
};

struct RoutingRule {
  std::string model;  // model name
  std::vector<std::string> modalities;
  std::vector<std::string> sop_classes;
  std::vector<std::string> body_parts;
  std::vector<std::string> calling_aes;
  RunMode mode = RunMode::kPerInstance;
  std::chrono::seconds series_stable_after{30};
};

// True when the card's applies_to admits the instance.
bool CardApplies(const inference::ModelCard& card, const StoredInstance& instance);

// True when the rule's filters admit the instance (the model name is not compared).
bool RuleMatches(const RoutingRule& rule, const StoredInstance& instance);

// The rule under which `card`'s model runs on `instance`, or nullptr. When no rule names the
// model, a per-instance default rule wherever the card applies.
const RoutingRule* SelectRule(const std::vector<RoutingRule>& rules,
                              const inference::ModelCard& card, const StoredInstance& instance);

}  // namespace strata::ai
