// How far the archive is behind the local store, read from the catalog.
//
// The archiver's cursor is the last outbox event it has dealt with; every event after it is
// not yet archived. The age of the oldest such event is the recovery point: losing the local
// store now would lose at most what arrived in that time. Thread-safety: plain values and a
// function that runs one read transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::archive {

// The outbox consumer name under which the archiver keeps its cursor.
inline constexpr const char* kArchiverConsumer = "archiver";

struct ArchiveLag {
  int64_t cursor_seq = 0;       // last outbox event dealt with
  uint64_t pending_events = 0;  // outbox events after the cursor (lag in events)
  // When the oldest pending event was written (Unix ms); nullopt when nothing is pending.
  std::optional<int64_t> oldest_pending_at_ms;
  int64_t oldest_pending_age_ms = 0;  // now - oldest_pending_at_ms; 0 when nothing is pending
  uint64_t archived_objects = 0;      // object versions recorded as archived
  uint64_t failed_objects = 0;        // recorded as failed for good (see the log for why)
};

// Reads the lag of `consumer` at time `now_ms` (Unix ms). Catalog errors pass through.
Result<ArchiveLag> ReadArchiveLag(catalog::Catalog& catalog, const std::string& consumer,
                                  int64_t now_ms);

// One JSON object, as `strata archive status` prints it.
std::string ArchiveLagJson(const ArchiveLag& lag);

}  // namespace strata::archive
