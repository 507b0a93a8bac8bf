#include "blob/http_retry.h"

#include <gtest/gtest.h>

#include <deque>

namespace strata::blob {
namespace {

using std::chrono::milliseconds;

TEST(HttpRetryTest, RetryableStatuses) {
  for (int s : {429, 500, 502, 503, 504}) EXPECT_TRUE(IsRetryableHttpStatus(s)) << s;
  for (int s : {200, 201, 400, 403, 404, 409, 412, 501}) EXPECT_FALSE(IsRetryableHttpStatus(s));
}

TEST(HttpRetryTest, ParseRetryAfterSeconds) {
  EXPECT_EQ(ParseRetryAfter("3"), milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter(""), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999999999"), std::nullopt);
}

TEST(HttpRetryTest, FullJitterDoublesUpToTheCap) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = milliseconds(1000);
  EXPECT_EQ(BackoffDelay(policy, 1, std::nullopt, 0.0), milliseconds(0));
  EXPECT_EQ(BackoffDelay(policy, 1, std::nullopt, 0.5), milliseconds(50));
  EXPECT_EQ(BackoffDelay(policy, 2, std::nullopt, 0.5), milliseconds(100));
  EXPECT_EQ(BackoffDelay(policy, 3, std::nullopt, 0.5), milliseconds(200));
  EXPECT_EQ(BackoffDelay(policy, 5, std::nullopt, 0.5), milliseconds(500));
  EXPECT_EQ(BackoffDelay(policy, 60, std::nullopt, 0.999), milliseconds(999));
  EXPECT_EQ(BackoffDelay(policy, 1000000, std::nullopt, 0.5), milliseconds(500));
}

TEST(HttpRetryTest, RetryAfterIsAFloor) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(100);
  EXPECT_EQ(BackoffDelay(policy, 1, milliseconds(2000), 0.5), milliseconds(2000));
  // 100 ms doubled 7 times is past the 10 s default cap: 0.5 * 10 s.
  EXPECT_EQ(BackoffDelay(policy, 8, milliseconds(1), 0.5), milliseconds(5000));
}

// Answers from a script; records requests.
class ScriptedClient final : public HttpClient {
 public:
  std::deque<Result<HttpResponse>> answers;
  int sends = 0;
  Result<HttpResponse> Send(const HttpRequest&) override {
    ++sends;
    Result<HttpResponse> next = answers.front();
    answers.pop_front();
    return next;
  }
};

HttpResponse Answer(int status, const char* retry_after = nullptr) {
  HttpResponse r;
  r.status = status;
  if (retry_after) r.headers.emplace_back("retry-after", retry_after);
  return r;
}

struct FakeTime {
  std::chrono::steady_clock::time_point now{};
  std::vector<milliseconds> sleeps;
  RetryEnvironment Environment() {
    RetryEnvironment env;
    env.sleep = [this](milliseconds d) {
      sleeps.push_back(d);
      now += d;
    };
    env.now = [this] { return now; };
    env.random01 = [] { return 0.5; };
    return env;
  }
};

Result<HttpRequest> Build() { return HttpRequest{}; }

TEST(HttpRetryTest, RetriesThenSucceedsHonouringRetryAfter) {
  ScriptedClient client;
  client.answers = {Answer(503, "2"), Unavailable("connection reset"), Answer(201)};
  FakeTime time;
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(100);
  auto response = SendWithRetries(client, policy, Build, time.Environment());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->attempts, 3);
  ASSERT_EQ(time.sleeps.size(), 2u);
  EXPECT_EQ(time.sleeps[0], milliseconds(2000));
  EXPECT_EQ(time.sleeps[1], milliseconds(100));
}

TEST(HttpRetryTest, StopsAfterMaxAttemptsAndReturnsLastAnswer) {
  ScriptedClient client;
  client.answers = {Answer(500), Answer(500), Answer(503)};
  FakeTime time;
  RetryPolicy policy;
  policy.max_attempts = 3;
  auto response = SendWithRetries(client, policy, Build, time.Environment());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(client.sends, 3);
}

TEST(HttpRetryTest, StopsWhenTotalTimeWouldBeExceeded) {
  ScriptedClient client;
  client.answers = {Answer(503, "30"), Answer(201)};
  FakeTime time;
  RetryPolicy policy;
  policy.max_total = milliseconds(10'000);
  auto response = SendWithRetries(client, policy, Build, time.Environment());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(client.sends, 1);
  EXPECT_TRUE(time.sleeps.empty());
}

TEST(HttpRetryTest, DoesNotRetryAnswersOrNonTransientErrors) {
  ScriptedClient client;
  client.answers = {Answer(404)};
  FakeTime time;
  EXPECT_EQ(SendWithRetries(client, RetryPolicy{}, Build, time.Environment())->status, 404);
  client.answers = {InvalidArgument("bad method")};
  EXPECT_EQ(SendWithRetries(client, RetryPolicy{}, Build, time.Environment()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client.sends, 2);
  client.answers = {Unavailable("refused"), Unavailable("refused")};
  RetryPolicy two;
  two.max_attempts = 2;
  EXPECT_EQ(SendWithRetries(client, two, Build, time.Environment()).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strata::blob
