// Retry policy for HTTP calls to a cloud service: exponential backoff with full jitter,
// honouring Retry-After, bounded by attempts and by total time. The delay computation is a pure
// function (unit-tested); SendWithRetries runs the loop with injected sleep, clock and
// randomness.
//
// Thread-safety: reentrant; RetryEnvironment functions must be safe to call concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "blob/http_client.h"
#include "core/status.h"

namespace strata::blob {

struct RetryPolicy {
  int max_attempts = 4;  // total attempts, including the first; 1 disables retries
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  // No new attempt starts after this much time since the first one (nor would its wait end
  // after it).
  std::chrono::milliseconds max_total{60'000};
};

// 429, 500, 502, 503 and 504 are worth retrying; everything else is an answer.
bool IsRetryableHttpStatus(int status);

// Parses a Retry-After value in delta-seconds ("5"). An HTTP-date or garbage gives nullopt.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

// Wait before retry number `retry` (1 for the first retry): full jitter,
// random01 * min(max_backoff, initial_backoff * 2^(retry-1)), but at least Retry-After if the
// server gave one. REQUIRES: retry >= 1, 0 <= random01 < 1.
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int retry,
                                       std::optional<std::chrono::milliseconds> retry_after,
                                       double random01);

struct RetryEnvironment {
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<double()> random01;  // uniform in [0, 1)

  // Real sleep, steady clock and a thread-local PRNG.
  static RetryEnvironment Real();
};

// Calls build() for a fresh request (re-signed, since signatures carry a date) and sends it,
// retrying retryable statuses and kUnavailable network errors. Returns the last response (a
// retryable status is returned as a response once attempts or time run out) or the last
// network error. HttpResponse::attempts says how many attempts were made.
Result<HttpResponse> SendWithRetries(HttpClient& client, const RetryPolicy& policy,
                                     const std::function<Result<HttpRequest>()>& build,
                                     const RetryEnvironment& environment);

}  // namespace strata::blob
