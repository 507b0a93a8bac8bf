#include "archive/backoff.h"

#include <algorithm>

namespace strata::archive {

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int failures,
                                       std::minstd_rand& rng) {
  // 2^30 ms exceeds any sensible cap, so larger exponents only risk overflow.
  const int exponent = std::clamp(failures - 1, 0, 30);
  const int64_t uncapped = policy.initial.count() * (int64_t{1} << exponent);
  const int64_t ceiling = std::min<int64_t>(policy.max.count(), uncapped);
  std::uniform_int_distribution<int64_t> jitter(ceiling / 2, ceiling);
  return std::chrono::milliseconds(jitter(rng));
}

}  // namespace strata::archive
