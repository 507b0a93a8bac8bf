// Exponential backoff with jitter for the archiver's retries of an unreachable archive store.
//
// After n consecutive failures the wait is uniform in [ceiling / 2, ceiling] with
// ceiling = min(max, initial * 2^(n-1)): doubling spreads retries out during a long outage,
// the cap bounds how late a returning store is noticed, and the jitter keeps several
// servers from retrying in step. Thread-safety: plain values and a function.
#pragma once

#include <chrono>
#include <random>

namespace strata::archive {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{5 * 60 * 1000};
};

// REQUIRES: failures >= 1, 0 < policy.initial <= policy.max.
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int failures,
                                       std::minstd_rand& rng);

}  // namespace strata::archive
