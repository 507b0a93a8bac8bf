// Query-parameter values shared by the non-DICOM routes (change feed, AI): strict parsing
// with errors that name the parameter.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace strata::dicomweb {

// A non-negative decimal integer; kInvalidArgument naming `name` otherwise.
Result<int64_t> ParseNonNegative(const std::string& name, const std::string& text);

// A page size from 1 to `max`; kInvalidArgument naming `name` otherwise.
Result<size_t> ParseLimit(const std::string& name, const std::string& text, size_t max);

}  // namespace strata::dicomweb
