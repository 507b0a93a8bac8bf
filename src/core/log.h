// Structured logging: one JSON object per line on stderr.
//
// Fields carry identifiers (UIDs, AE titles, sizes) only, never patient data.
// Thread-safety: safe for concurrent use; each line is written atomically.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace strata::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

// One log field value: text, integer or floating point.
using Value = std::variant<std::string_view, std::string, int64_t, double, bool>;
using Field = std::pair<std::string_view, Value>;

void SetMinLevel(Level level);
// Parses "debug", "info", "warn", "error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* level);

// Writes {"ts":..., "level":..., "event": event, <fields>}.
void Write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, e, f);
}
inline void Info(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, e, f);
}
inline void Warn(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, e, f);
}
inline void Error(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kError, e, f);
}

}  // namespace strata::log
