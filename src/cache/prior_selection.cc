#include "cache/prior_selection.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace strata::cache {
namespace {

bool IsDate(const std::string& date) {
  return date.size() == 8 &&
         std::all_of(date.begin(), date.end(), [](unsigned char c) { return std::isdigit(c); });
}

// `date` (YYYYMMDD) moved back by `years`; lexicographic order of such strings is date order
// (a 29 February simply compares between 28 February and 1 March).
std::string YearsBefore(const std::string& date, int years) {
  const int year = std::stoi(date.substr(0, 4)) - years;
  if (year < 0) return "00000000";
  std::string out = std::to_string(year);
  out.insert(0, 4 - std::min<size_t>(4, out.size()), '0');
  return out + date.substr(4);
}

template <typename T>
bool Intersects(const std::set<T>& a, const std::set<T>& b) {
  return std::any_of(a.begin(), a.end(), [&](const T& x) { return b.count(x) > 0; });
}

std::set<std::string> ImagingOnly(const std::set<std::string>& modalities) {
  std::set<std::string> out;
  for (const auto& m : modalities) {
    if (IsImagingModality(m)) out.insert(m);
  }
  return out;
}

}  // namespace

bool IsImagingModality(const std::string& modality) {
  static const std::set<std::string> kNonImaging = {"SR",  "KO", "PR",  "DOC", "REG",  "SEG",
                                                    "RWV", "AU", "ECG", "HD",  "PLAN", "RTRECORD"};
  return !modality.empty() && kNonImaging.count(modality) == 0;
}

std::vector<StudySummary> SelectPriors(const StudySummary& current,
                                       std::vector<StudySummary> candidates,
                                       const PriorPolicy& policy, const std::string& today) {
  std::vector<StudySummary> out;
  if (policy.max_priors == 0) return out;
  // Priors are what came before: a study dated after the new one is not a prior of it (an
  // old study imported later has no "priors" among the patient's newer studies).
  const std::string latest =
      IsDate(current.study_date) && current.study_date < today ? current.study_date : today;
  const std::string earliest =
      policy.max_age_years > 0 && IsDate(today) ? YearsBefore(today, policy.max_age_years) : "";
  const std::set<std::string> modalities = ImagingOnly(current.modalities);

  struct Ranked {
    bool same_modality;
    bool same_body_part;
    std::string date;  // "" when unknown: ranks as the oldest
    StudySummary study;
  };
  std::vector<Ranked> ranked;
  for (auto& candidate : candidates) {
    if (candidate.study_uid == current.study_uid || candidate.study_uid.empty()) continue;
    const bool dated = IsDate(candidate.study_date);
    if (!dated && !earliest.empty()) continue;
    if (dated && (candidate.study_date > latest || candidate.study_date < earliest)) continue;
    const bool same_modality = Intersects(modalities, ImagingOnly(candidate.modalities));
    if (policy.same_modality_only && !same_modality) continue;
    const bool same_body_part = Intersects(current.body_parts, candidate.body_parts);
    std::string date = dated ? candidate.study_date : "";
    ranked.push_back({same_modality, same_body_part, std::move(date), std::move(candidate)});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    // Best first: same modality, same body part, then newest; the UID makes it deterministic.
    return std::tie(a.same_modality, a.same_body_part, a.date, a.study.study_time,
                    a.study.study_uid) > std::tie(b.same_modality, b.same_body_part, b.date,
                                                  b.study.study_time, b.study.study_uid);
  });
  for (auto& r : ranked) {
    if (out.size() >= policy.max_priors) break;
    out.push_back(std::move(r.study));
  }
  return out;
}

}  // namespace strata::cache
