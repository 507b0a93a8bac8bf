// Internal to the catalog: checking retention dates (YYYYMMDD).
#pragma once

#include <string>

namespace strata::catalog {

// True for eight digits forming a real calendar date (YYYYMMDD).
bool IsValidRetentionDate(const std::string& date);

}  // namespace strata::catalog
