// Deterministic identifiers and values for the synthetic-study generator: hashing, a seeded
// random stream, 2.25 UIDs and DICOM date/time/number strings. Internal to src/synth.
//
// Thread-safety: free functions are pure; an Rng is a value owned by one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace strata::synth {

// SplitMix64's finaliser: a bijective 64-bit mix.
uint64_t SplitMix64(uint64_t x);

// A 64-bit hash of a path of small integers under `seed`.
uint64_t Hash(uint64_t seed, std::initializer_list<uint64_t> parts);

// A deterministic random stream for choosing attributes.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return SplitMix64(state_);
  }
  // Uniform in [lo, hi].
  int Between(int lo, int hi) {
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Unit() { return static_cast<double>(Next() >> 11) / static_cast<double>(1ULL << 53); }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) {
    return items[Next() % N];
  }

 private:
  uint64_t state_;
};

// "2.25." + the decimal value of a version-8 UUID (RFC 9562) whose other bits are a hash of
// `seed` and `parts` (PS3.5 B.2). At most 44 characters.
std::string Uid(uint64_t seed, std::initializer_list<uint64_t> parts);

// Days since 1970-01-01 of a civil date.
int64_t DaysFromCivil(int year, unsigned month, unsigned day);
// A DA value (YYYYMMDD) for days since 1970-01-01.
std::string DicomDate(int64_t days);
// A TM value (HHMMSS). REQUIRES: 0 <= seconds_of_day < 86400.
std::string DicomTime(int seconds_of_day);
// A DS value with at most 16 characters.
std::string Ds(double v);
// `value` in decimal, zero-padded to `width` digits.
std::string Padded(int64_t value, int width);

}  // namespace strata::synth
