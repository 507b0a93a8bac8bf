// Whole-file reads for tests.
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace strata::testing {

// The bytes of the file at `path`; empty when it cannot be read.
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace strata::testing
