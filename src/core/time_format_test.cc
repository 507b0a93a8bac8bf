#include "core/time_format.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(FormatUtcMsTest, KnownInstants) {
  EXPECT_EQ(FormatUtcMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtcMs(1764326096789), "2025-11-28T10:34:56.789Z");
}

}  // namespace
}  // namespace strata
