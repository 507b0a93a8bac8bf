// Prior selection: which earlier studies of a patient a reader of a new study will want.
//
// A pure function over study summaries the prefetcher reads from the catalog. A prior ranks
// higher when it shares an imaging modality with the new study, then when it shares a body
// part (BodyPartExamined of any series), then when it is newer (StudyDate, StudyTime). Only
// priors dated on or before the new study and within max_age_years of today qualify.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace strata::cache {

// One study as the selection sees it: attributes gathered from its series.
struct StudySummary {
  std::string study_uid;
  std::string study_date;  // DICOM DA (YYYYMMDD); "" or malformed: unknown
  std::string study_time;  // DICOM TM; only orders studies of one date
  std::set<std::string> modalities;
  std::set<std::string> body_parts;  // upper case, as BodyPartExamined is a code string
};

struct PriorPolicy {
  size_t max_priors = 2;
  // Priors dated more than this many years before today are left out; 0: any age. A prior
  // without a (well-formed) StudyDate is left out unless the age is unlimited.
  int max_age_years = 5;
  // true: only priors sharing an imaging modality with the new study; false: those rank first.
  bool same_modality_only = false;
};

// Modalities that say something about the images, i.e. not reports or presentation objects
// (SR, KO, PR, DOC...): an AI findings SR in every study must not make every study "alike".
bool IsImagingModality(const std::string& modality);

// The priors to prefetch for `current`, best first, at most policy.max_priors. `today` is
// today's UTC date as YYYYMMDD. `candidates` may contain `current` itself (left out).
std::vector<StudySummary> SelectPriors(const StudySummary& current,
                                       std::vector<StudySummary> candidates,
                                       const PriorPolicy& policy, const std::string& today);

}  // namespace strata::cache
