#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace strata {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  STRATA_ASSIGN_OR_RETURN(int h, Half(x));
  STRATA_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckPositive(int x) {
  if (x <= 0) return FailedPrecondition("not positive");
  return OkStatus();
}

Status Both(int a, int b) {
  STRATA_RETURN_IF_ERROR(CheckPositive(a));
  STRATA_RETURN_IF_ERROR(CheckPositive(b));
  return OkStatus();
}

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = NotFound("no such study");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no such study");
  EXPECT_EQ(s.WithContext("retrieve").message(), "retrieve: no such study");
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "UNKNOWN") << c;
  }
}

TEST(ResultTest, ValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(7));
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(StatusMacrosTest, ReturnIfError) {
  EXPECT_TRUE(Both(1, 2).ok());
  EXPECT_EQ(Both(1, -2).code(), StatusCode::kFailedPrecondition);
}

TEST(StatusTest, RetryAfterHintSurvivesContextAndResult) {
  Status plain = Unavailable("archive tier");
  EXPECT_EQ(plain.retry_after_seconds(), std::nullopt);
  Status hinted = plain.WithRetryAfter(std::chrono::seconds(90));
  EXPECT_EQ(hinted.retry_after_seconds(), 90);
  EXPECT_EQ(hinted.code(), StatusCode::kUnavailable);
  EXPECT_EQ(hinted.message(), "archive tier");
  EXPECT_NE(hinted, plain) << "the hint is part of the value";
  Status wrapped = hinted.WithContext("open dicom/1/2/3.dcm");
  EXPECT_EQ(wrapped.retry_after_seconds(), 90);
  EXPECT_EQ(wrapped.message(), "open dicom/1/2/3.dcm: archive tier");
  Result<int> result(hinted);
  EXPECT_EQ(result.status().retry_after_seconds(), 90);
  EXPECT_EQ(Unavailable("x").WithRetryAfter(std::chrono::seconds(-5)).retry_after_seconds(), 0);
  EXPECT_EQ(OkStatus().WithRetryAfter(std::chrono::seconds(3)).retry_after_seconds(), std::nullopt);
}

}  // namespace
}  // namespace strata
