// Retention dates: the pure calendar arithmetic behind RetentionPolicy (catalog.h).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>

#include "catalog/catalog.h"
#include "catalog/retention_date.h"

namespace strata::catalog {
namespace {

bool IsLeap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

std::string FormatDate(int year, int month, int day) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02d", year, month, day);
  return buf;
}

}  // namespace

bool IsValidRetentionDate(const std::string& date) {
  if (date.size() != 8) return false;
  for (char c : date) {
    if (c < '0' || c > '9') return false;
  }
  const int year = std::stoi(date.substr(0, 4));
  const int month = std::stoi(date.substr(4, 2));
  const int day = std::stoi(date.substr(6, 2));
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= DaysInMonth(year, month);
}

int64_t RetentionEndMs(const std::string& date) {
  if (!IsValidRetentionDate(date)) return 0;
  std::tm tm{};
  tm.tm_year = std::stoi(date.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(date.substr(4, 2)) - 1;
  tm.tm_mday = std::stoi(date.substr(6, 2));
  return (static_cast<int64_t>(timegm(&tm)) + 24 * 3600) * 1000;
}

std::string UtcDate(int64_t unix_ms) {
  // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm), floor division so
  // times before the epoch work too.
  int64_t days = unix_ms / 86400000;
  if (unix_ms % 86400000 < 0) --days;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0));
  return FormatDate(year, month, day);
}

std::string DefaultRetentionUntil(const RetentionPolicy& policy, const std::string& study_date,
                                  const std::string& modality, int64_t received_at_ms) {
  int years = policy.default_years;
  if (auto it = policy.modality_years.find(modality); it != policy.modality_years.end()) {
    years = it->second;
  }
  if (years <= 0) return "";
  const std::string base = IsValidRetentionDate(study_date) ? study_date : UtcDate(received_at_ms);
  const int year = std::stoi(base.substr(0, 4)) + years;
  const int month = std::stoi(base.substr(4, 2));
  const int day = std::min(std::stoi(base.substr(6, 2)), DaysInMonth(year, month));
  if (year > 9999) return "99991231";
  return FormatDate(year, month, day);
}

}  // namespace strata::catalog
