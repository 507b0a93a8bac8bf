#include "dimse/dimse_status.h"

#include <gtest/gtest.h>

#include <string>

namespace strata::dimse {
namespace {

constexpr StatusCode kAllCodes[] = {
    StatusCode::kOk,
    StatusCode::kCancelled,
    StatusCode::kInvalidArgument,
    StatusCode::kDeadlineExceeded,
    StatusCode::kNotFound,
    StatusCode::kAlreadyExists,
    StatusCode::kPermissionDenied,
    StatusCode::kResourceExhausted,
    StatusCode::kFailedPrecondition,
    StatusCode::kAborted,
    StatusCode::kUnimplemented,
    StatusCode::kInternal,
    StatusCode::kUnavailable,
    StatusCode::kDataLoss,
    StatusCode::kUnauthenticated,
};

uint16_t Expected(DimseService service, StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 0x0000;
    case StatusCode::kInvalidArgument:
      return service == DimseService::kStore ? 0xC000 : 0xA900;
    case StatusCode::kFailedPrecondition:
      return 0xA900;
    case StatusCode::kAlreadyExists:
      return service == DimseService::kStore ? 0x0111 : 0xC001;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
    case StatusCode::kAborted:
    case StatusCode::kDeadlineExceeded:
      return service == DimseService::kRetrieve ? 0xA701 : 0xA700;
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      return 0x0124;
    case StatusCode::kCancelled:
      return service == DimseService::kStore ? 0xC001 : 0xFE00;
    case StatusCode::kNotFound:
      return service == DimseService::kRetrieve ? 0xA801 : 0xC001;
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 0xC001;
  }
  return 0xFFFF;
}

TEST(DimseStatusTest, EveryCodeMapsAsDocumentedForEveryService) {
  for (DimseService service :
       {DimseService::kStore, DimseService::kFind, DimseService::kRetrieve}) {
    for (StatusCode code : kAllCodes) {
      const Status status = code == StatusCode::kOk ? OkStatus() : Status(code, "why it failed");
      const DimseStatus mapped = ToDimseStatus(service, status);
      EXPECT_EQ(mapped.code, Expected(service, code))
          << "service " << static_cast<int>(service) << " code " << StatusCodeName(code);
      if (code == StatusCode::kOk) {
        EXPECT_TRUE(mapped.error_comment.empty());
      } else {
        EXPECT_EQ(mapped.error_comment, "why it failed");
        // Never a success or pending status for a failure.
        EXPECT_NE(mapped.code, 0x0000);
        EXPECT_NE(mapped.code & 0xFF00, 0xFF00);
      }
    }
  }
}

TEST(DimseStatusTest, StoreTransientFailuresAreOutOfResources) {
  EXPECT_EQ(ToDimseStatus(DimseService::kStore, ResourceExhausted("disk full")).code, 0xA700);
  EXPECT_EQ(ToDimseStatus(DimseService::kStore, Unavailable("catalog down")).code, 0xA700);
}

TEST(DimseStatusTest, ErrorCommentIsAValidLongString) {
  const std::string long_text(100, 'x');
  EXPECT_EQ(ToErrorComment(long_text).size(), 64u);
  EXPECT_EQ(ToErrorComment("a\\b\nc  "), "a b c");
  EXPECT_EQ(ToDimseStatus(DimseService::kFind, InvalidArgument(long_text)).error_comment.size(),
            64u);
}

}  // namespace
}  // namespace strata::dimse
