#include "dicomweb/series_activity.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/time_format.h"
#include "dicomweb/request_params.h"

namespace strata::dicomweb {
namespace {

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 1000;
constexpr int64_t kMaxSeconds = 100LL * 366 * 86400;  // keeps seconds * 1000 far from overflow

Result<int64_t> ParseSeconds(const std::string& name, const std::string& text) {
  STRATA_ASSIGN_OR_RETURN(int64_t seconds, ParseNonNegative(name, text));
  if (seconds > kMaxSeconds) {
    return InvalidArgument("query parameter '" + name + "' must be at most " +
                           std::to_string(kMaxSeconds));
  }
  return seconds;
}

// Whole seconds from the series' last receipt to now; 0 when that is ahead of now.
int64_t StableForSeconds(const catalog::SeriesActivity& a, int64_t now_ms) {
  return now_ms > a.last_received_ms ? (now_ms - a.last_received_ms) / 1000 : 0;
}

nlohmann::json ActivityJson(const catalog::SeriesActivity& a, int64_t now_ms) {
  return {{"study_instance_uid", a.study_uid},
          {"series_instance_uid", a.series_uid},
          {"modality", a.modality},
          {"instances", a.num_instances},
          {"last_received", FormatUtcMs(a.last_received_ms)},
          {"last_received_ms", a.last_received_ms},
          {"stable_for_seconds", StableForSeconds(a, now_ms)}};
}

// A page cursor as text: "<last_received_ms>_<series uid>" (UIDs have no '_').
std::string CursorText(const catalog::SeriesActivity& a) {
  return std::to_string(a.last_received_ms) + "_" + a.series_uid;
}

Result<catalog::SeriesActivityCursor> ParseCursor(const std::string& text) {
  const size_t sep = text.find('_');
  if (sep == std::string::npos || sep + 1 == text.size()) {
    return InvalidArgument("query parameter 'after' must be a next_after value, not '" + text +
                           "'");
  }
  STRATA_ASSIGN_OR_RETURN(int64_t ms, ParseNonNegative("after", text.substr(0, sep)));
  return catalog::SeriesActivityCursor{ms, text.substr(sep + 1)};
}

}  // namespace

Response HandleSeriesActivity(catalog::Catalog& catalog, Request& request, int64_t now_ms) {
  std::optional<int64_t> quiet_seconds;
  for (const auto& [name, value] : request.query) {
    if (name != "quiet_seconds") {
      return Response::Error(InvalidArgument("unknown query parameter '" + name +
                                             "' (series activity takes quiet_seconds)"));
    }
    auto seconds = ParseSeconds(name, value);
    if (!seconds.ok()) return Response::Error(seconds.status());
    quiet_seconds = *seconds;
  }
  const std::string series_uid = request.path_params["series"];
  std::optional<catalog::SeriesActivity> activity;
  Status read = catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(activity, txn.SeriesActivityOf(series_uid));
    return OkStatus();
  });
  if (!read.ok()) return Response::Error(read);
  if (!activity) return Response::Error(NotFound("series " + series_uid + " is not stored"));
  nlohmann::json body = ActivityJson(*activity, now_ms);
  if (quiet_seconds) body["stable"] = StableForSeconds(*activity, now_ms) >= *quiet_seconds;
  return Response::Json(200, body.dump(), "application/json");
}

Response HandleStableSeries(catalog::Catalog& catalog, Request& request, int64_t now_ms) {
  std::optional<int64_t> stable_for;
  size_t limit = kDefaultLimit;
  std::optional<catalog::SeriesActivityCursor> after;
  for (const auto& [name, value] : request.query) {
    Status parsed;
    if (name == "stable_for_seconds") {
      auto seconds = ParseSeconds(name, value);
      parsed = seconds.status();
      if (seconds.ok()) stable_for = *seconds;
    } else if (name == "limit") {
      auto n = ParseLimit(name, value, kMaxLimit);
      parsed = n.status();
      if (n.ok()) limit = *n;
    } else if (name == "after") {
      auto cursor = ParseCursor(value);
      parsed = cursor.status();
      if (cursor.ok()) after = std::move(*cursor);
    } else {
      parsed = InvalidArgument("unknown query parameter '" + name +
                               "' (series takes stable_for_seconds, limit, after)");
    }
    if (!parsed.ok()) return Response::Error(parsed);
  }
  if (!stable_for) {
    return Response::Error(InvalidArgument("query parameter 'stable_for_seconds' is required"));
  }
  // Stable for N seconds: nothing received after now - N s, so before now - N s + 1 ms is the
  // exclusive bound (a receipt exactly N seconds ago counts as stable).
  const int64_t received_before_ms = now_ms - *stable_for * 1000 + 1;
  std::vector<catalog::SeriesActivity> page;
  Status read = catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(page, txn.StableSeries(received_before_ms, after, limit));
    return OkStatus();
  });
  if (!read.ok()) return Response::Error(read);
  nlohmann::json series = nlohmann::json::array();
  for (const auto& a : page) series.push_back(ActivityJson(a, now_ms));
  nlohmann::json body = {{"series", std::move(series)}, {"done", page.size() < limit}};
  if (!page.empty()) body["next_after"] = CursorText(page.back());
  return Response::Json(200, body.dump(), "application/json");
}

}  // namespace strata::dicomweb
