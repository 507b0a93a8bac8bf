#include "blob/http_retry.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

#include "core/log.h"

namespace strata::blob {

bool IsRetryableHttpStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty() || value.size() > 9) return std::nullopt;
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::milliseconds(seconds * 1000);
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int retry,
                                       std::optional<std::chrono::milliseconds> retry_after,
                                       double random01) {
  // Doubling stops once past the cap, so the shift cannot overflow.
  int64_t cap = policy.initial_backoff.count();
  for (int i = 1; i < retry && cap < policy.max_backoff.count(); ++i) cap *= 2;
  cap = std::min<int64_t>(cap, policy.max_backoff.count());
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(random01 * static_cast<double>(cap)));
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return delay;
}

RetryEnvironment RetryEnvironment::Real() {
  RetryEnvironment env;
  env.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  env.now = [] { return std::chrono::steady_clock::now(); };
  env.random01 = [] {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
  return env;
}

Result<HttpResponse> SendWithRetries(HttpClient& client, const RetryPolicy& policy,
                                     const std::function<Result<HttpRequest>()>& build,
                                     const RetryEnvironment& environment) {
  const auto start = environment.now();
  const int max_attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1;; ++attempt) {
    STRATA_ASSIGN_OR_RETURN(HttpRequest request, build());
    Result<HttpResponse> response = client.Send(request);
    std::optional<std::chrono::milliseconds> retry_after;
    if (response.ok()) {
      response->attempts = attempt;
      if (!IsRetryableHttpStatus(response->status)) return response;
      if (auto header = response->Header("retry-after")) retry_after = ParseRetryAfter(*header);
    } else if (response.status().code() != StatusCode::kUnavailable) {
      return response;
    }
    if (attempt >= max_attempts) return response;
    const auto delay = BackoffDelay(policy, attempt, retry_after, environment.random01());
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(environment.now() - start);
    if (elapsed + delay > policy.max_total) return response;
    log::Warn("http_retry",
              {{"method", request.method},
               {"attempt", static_cast<int64_t>(attempt)},
               {"http_status", static_cast<int64_t>(response.ok() ? response->status : 0)},
               {"error", response.ok() ? std::string() : response.status().message()},
               {"delay_ms", static_cast<int64_t>(delay.count())}});
    environment.sleep(delay);
  }
}

}  // namespace strata::blob
