#include "archive/archive_status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace strata::archive {

Result<ArchiveLag> ReadArchiveLag(catalog::Catalog& catalog, const std::string& consumer,
                                  int64_t now_ms) {
  ArchiveLag lag;
  STRATA_RETURN_IF_ERROR(catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    lag = ArchiveLag();
    STRATA_ASSIGN_OR_RETURN(lag.cursor_seq, txn.ConsumerCursor(consumer));
    STRATA_ASSIGN_OR_RETURN(catalog::OutboxBacklog backlog, txn.Backlog(lag.cursor_seq));
    STRATA_ASSIGN_OR_RETURN(catalog::ArchiveCounts counts, txn.CountArchiveStates());
    lag.pending_events = backlog.events;
    lag.oldest_pending_at_ms = backlog.oldest_created_at_ms;
    lag.archived_objects = counts.archived;
    lag.failed_objects = counts.failed;
    return OkStatus();
  }));
  if (lag.oldest_pending_at_ms) {
    lag.oldest_pending_age_ms = std::max<int64_t>(0, now_ms - *lag.oldest_pending_at_ms);
  }
  return lag;
}

std::string ArchiveLagJson(const ArchiveLag& lag) {
  nlohmann::json out = {
      {"cursor_seq", lag.cursor_seq},
      {"pending_events", lag.pending_events},
      {"oldest_pending_age_ms", lag.oldest_pending_age_ms},
      {"archived_objects", lag.archived_objects},
      {"failed_objects", lag.failed_objects},
  };
  out["oldest_pending_at_ms"] =
      lag.oldest_pending_at_ms ? nlohmann::json(*lag.oldest_pending_at_ms) : nlohmann::json();
  return out.dump();
}

}  // namespace strata::archive
