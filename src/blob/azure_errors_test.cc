#include "blob/azure_errors.h"

#include <gtest/gtest.h>

namespace strata::blob {
namespace {

StatusCode Map(int http, const char* code, bool create_only = false) {
  return AzureErrorToStatus(http, code, {"put", "dicom/k.dcm", create_only}).code();
}

TEST(AzureErrorsTest, MapsStatusAndCode) {
  EXPECT_EQ(Map(400, "InvalidHeaderValue"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Map(400, "Md5Mismatch"), StatusCode::kDataLoss);
  EXPECT_EQ(Map(401, "InvalidAuthenticationInfo"), StatusCode::kUnauthenticated);
  EXPECT_EQ(Map(403, "AuthorizationFailure"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Map(403, "AuthorizationPermissionMismatch"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Map(404, "BlobNotFound"), StatusCode::kNotFound);
  EXPECT_EQ(Map(404, ""), StatusCode::kNotFound);
  EXPECT_EQ(Map(409, "BlobAlreadyExists"), StatusCode::kAlreadyExists);
  EXPECT_EQ(Map(409, "ContainerAlreadyExists"), StatusCode::kAlreadyExists);
  EXPECT_EQ(Map(409, "BlobArchived"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Map(409, "BlobBeingRehydrated"), StatusCode::kUnavailable);
  EXPECT_EQ(Map(409, "LeaseIdMissing"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Map(412, "ConditionNotMet"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Map(412, "ConditionNotMet", true), StatusCode::kAlreadyExists);
  EXPECT_EQ(Map(413, "RequestBodyTooLarge"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Map(429, ""), StatusCode::kUnavailable);
  EXPECT_EQ(Map(500, "InternalError"), StatusCode::kUnavailable);
  EXPECT_EQ(Map(502, ""), StatusCode::kUnavailable);
  EXPECT_EQ(Map(503, "ServerBusy"), StatusCode::kUnavailable);
  EXPECT_EQ(Map(504, ""), StatusCode::kUnavailable);
  EXPECT_EQ(Map(501, "APINotImplemented"), StatusCode::kUnimplemented);
  EXPECT_EQ(Map(418, ""), StatusCode::kInvalidArgument);
  EXPECT_EQ(Map(599, ""), StatusCode::kInternal);
}

TEST(AzureErrorsTest, MessageNamesOperationKeyAndCode) {
  Status s = AzureErrorToStatus(409, "BlobArchived", {"get", "dicom/k.dcm"});
  EXPECT_EQ(s.message(),
            "get 'dicom/k.dcm': HTTP 409 BlobArchived: object is in the Archive tier; rehydrate "
            "first");
}

}  // namespace
}  // namespace strata::blob
