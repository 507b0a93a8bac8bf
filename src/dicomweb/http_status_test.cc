#include "dicomweb/http_status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dicomweb/http_server.h"

namespace strata::dicomweb {
namespace {

TEST(HttpStatusTest, EveryStatusCodeMapsToItsHttpStatus) {
  const std::pair<StatusCode, int> expected[] = {
      {StatusCode::kOk, 200},
      {StatusCode::kCancelled, 400},
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kDeadlineExceeded, 504},
      {StatusCode::kNotFound, 404},
      {StatusCode::kAlreadyExists, 409},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kResourceExhausted, 503},
      {StatusCode::kFailedPrecondition, 409},
      {StatusCode::kAborted, 409},
      {StatusCode::kUnimplemented, 501},
      {StatusCode::kInternal, 500},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kDataLoss, 500},
      {StatusCode::kUnauthenticated, 401},
  };
  // Every enumerator is listed above (kUnauthenticated is the last one).
  EXPECT_EQ(std::size(expected), static_cast<size_t>(StatusCode::kUnauthenticated) + 1);
  for (const auto& [code, http] : expected) {
    EXPECT_EQ(HttpStatusFor(code), http) << StatusCodeName(code);
    EXPECT_STRNE(HttpReasonPhrase(HttpStatusFor(code)), "Unknown") << StatusCodeName(code);
  }
}

TEST(HttpStatusTest, ReasonPhrases) {
  EXPECT_STREQ(HttpReasonPhrase(413), "Payload Too Large");
  EXPECT_STREQ(HttpReasonPhrase(415), "Unsupported Media Type");
  EXPECT_STREQ(HttpReasonPhrase(406), "Not Acceptable");
  EXPECT_STREQ(HttpReasonPhrase(202), "Accepted");
  EXPECT_STREQ(HttpReasonPhrase(299), "Unknown");
}

TEST(HttpStatusTest, ErrorBodyIsJsonWithReason) {
  auto body = nlohmann::json::parse(ErrorBody(404, "no such study 1.2.3"));
  EXPECT_EQ(body["status"], 404);
  EXPECT_EQ(body["error"], "Not Found");
  EXPECT_EQ(body["reason"], "no such study 1.2.3");
}

TEST(HttpStatusTest, ErrorBodySurvivesInvalidUtf8) {
  auto body = nlohmann::json::parse(ErrorBody(400, std::string("bad \xff value")));
  EXPECT_EQ(body["status"], 400);
}

TEST(HttpStatusTest, RetryHintBecomesRetryAfterHeader) {
  Status rehydrating = Unavailable("object k is in the Archive tier; rehydration started")
                           .WithRetryAfter(std::chrono::seconds(3600))
                           .WithContext("retrieve");
  EXPECT_EQ(HttpStatusFor(rehydrating.code()), 503);
  const std::vector<std::pair<std::string, std::string>> expected = {{"Retry-After", "3600"}};
  EXPECT_EQ(ErrorHeaders(rehydrating), expected);
  EXPECT_TRUE(ErrorHeaders(Unavailable("down")).empty());
  EXPECT_TRUE(ErrorHeaders(OkStatus()).empty());

  // The server's error responses carry it.
  Response response = Response::Error(rehydrating);
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(std::find(response.headers.begin(), response.headers.end(),
                      std::pair<std::string, std::string>("Retry-After", "3600")),
            response.headers.end());
}

}  // namespace
}  // namespace strata::dicomweb
