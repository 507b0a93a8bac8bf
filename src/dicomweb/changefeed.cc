// GET /changefeed: the archive's ordered, immutable history of creates, replacements and
// deletes (the catalog's outbox), so an AI pipeline, analytics or a second archive can follow
// Strata without polling QIDO-RS.
//
// Parameters: offset (return entries with a larger sequence number; the answer's next_offset
// continues from there), limit (1-1000, default 100), since / until (a time window, as Unix
// milliseconds or UTC "YYYY-MM-DDTHH:MM:SSZ").
#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/time_format.h"
#include "dicomweb/handlers.h"
#include "dicomweb/request_params.h"

namespace strata::dicomweb {
namespace {

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 1000;

// Unix milliseconds, or "YYYY-MM-DDTHH:MM:SSZ" (UTC).
Result<int64_t> ParseTime(const std::string& name, const std::string& text) {
  if (text.find('-') == std::string::npos) return ParseNonNegative(name, text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != static_cast<int>(text.size()) || tm.tm_mon < 1 || tm.tm_mon > 12 ||
      tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return InvalidArgument("query parameter '" + name +
                           "' must be Unix milliseconds or YYYY-MM-DDTHH:MM:SSZ, not '" + text +
                           "'");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Result<catalog::ChangeQuery> ParseChangeQuery(const Request& request) {
  catalog::ChangeQuery q;
  q.limit = kDefaultLimit;
  for (const auto& [name, value] : request.query) {
    if (name == "offset") {
      STRATA_ASSIGN_OR_RETURN(q.after_seq, ParseNonNegative(name, value));
    } else if (name == "limit") {
      STRATA_ASSIGN_OR_RETURN(int64_t limit, ParseNonNegative(name, value));
      if (limit < 1 || limit > static_cast<int64_t>(kMaxLimit)) {
        return InvalidArgument("query parameter 'limit' must be between 1 and " +
                               std::to_string(kMaxLimit));
      }
      q.limit = static_cast<size_t>(limit);
    } else if (name == "since") {
      STRATA_ASSIGN_OR_RETURN(q.since_ms, ParseTime(name, value));
    } else if (name == "until") {
      STRATA_ASSIGN_OR_RETURN(q.until_ms, ParseTime(name, value));
    } else {
      return InvalidArgument("unknown query parameter '" + name +
                             "' (changefeed takes offset, limit, since, until)");
    }
  }
  return q;
}

}  // namespace

Response HandleChangeFeed(Services& services, Request& request) {
  auto query = ParseChangeQuery(request);
  if (!query.ok()) return Response::Error(query.status());
  std::vector<catalog::ChangeEntry> entries;
  Status read = services.catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(entries, txn.Changes(*query));
    return OkStatus();
  });
  if (!read.ok()) return Response::Error(read);
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json payload = nlohmann::json::parse(e.payload, nullptr, false);
    nlohmann::json item = {{"seq", e.seq},
                           {"kind", e.kind},
                           {"time", FormatUtcMs(e.created_at_ms)},
                           {"time_ms", e.created_at_ms}};
    // The object's identity; the blob key stays internal.
    for (const char* key : {"study_instance_uid", "series_instance_uid", "sop_instance_uid",
                            "sop_class_uid", "sha256"}) {
      if (payload.is_object() && payload.contains(key)) item[key] = payload[key];
    }
    changes.push_back(std::move(item));
  }
  nlohmann::json body = {{"changes", changes},
                         {"next_offset", entries.empty() ? query->after_seq : entries.back().seq},
                         {"done", entries.size() < query->limit}};
  return Response::Json(200, body.dump(), "application/json");
}

}  // namespace strata::dicomweb
