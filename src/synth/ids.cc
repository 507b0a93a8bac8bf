#include "synth/ids.h"

#include <cstdio>

namespace strata::synth {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t Hash(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t h = SplitMix64(seed ^ 0x5354524154415359ULL);
  for (uint64_t p : parts) h = SplitMix64(h ^ SplitMix64(p + 0x632BE59BD9B4E019ULL));
  return h;
}

std::string Uid(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t hi = Hash(seed, parts);
  uint64_t lo = SplitMix64(hi ^ 0xD1B54A32D192ED03ULL);
  hi = (hi & ~0xF000ULL) | 0x8000ULL;                         // version 8
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  unsigned __int128 v = (static_cast<unsigned __int128>(hi) << 64) | lo;
  char digits[40];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  } while (v != 0);
  std::string uid = "2.25.";
  while (n > 0) uid.push_back(digits[--n]);
  return uid;
}

// H. Hinnant's civil-date algorithms.
int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  int y = year;
  const unsigned m = month;
  const unsigned d = day;
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string DicomDate(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(y + (m <= 2)), m, d);
  return buf;
}

std::string DicomTime(int seconds_of_day) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d", seconds_of_day / 3600, seconds_of_day / 60 % 60,
                seconds_of_day % 60);
  return buf;
}

std::string Ds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string Padded(int64_t value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(value));
  return buf;
}

}  // namespace strata::synth
