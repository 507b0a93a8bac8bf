#include "ai/derived_uid.h"

#include <gtest/gtest.h>

#include "dicom/uid.h"

namespace strata::ai {
namespace {

TEST(DerivedUidTest, SameSeedSameUidAndAlwaysValid) {
  EXPECT_EQ(DerivedUid("a"), DerivedUid("a"));
  EXPECT_NE(DerivedUid("a"), DerivedUid("b"));
  for (int i = 0; i < 1000; ++i) {
    std::string uid = DerivedUid("seed " + std::to_string(i));
    ASSERT_TRUE(dicom::IsValidUid(uid)) << uid;
    ASSERT_EQ(uid.rfind("2.25.", 0), 0u);
    ASSERT_NE(uid[5], '0') << uid;  // no leading zero in the integer
  }
}

}  // namespace
}  // namespace strata::ai
