// UTC timestamps as text, for audit and change-feed output.
#pragma once

#include <cstdint>
#include <string>

namespace strata {

// "YYYY-MM-DDTHH:MM:SS.mmmZ" for Unix milliseconds.
std::string FormatUtcMs(int64_t unix_ms);

}  // namespace strata
