// The hot cache's state as JSON, for GET /admin/v1/status: its counters and hit ratios, and
// the prefetcher's queue.
//
// Thread-safety: as HotCache::Stats and the Prefetcher's accessors (any thread).
#pragma once

#include <string>

#include "cache/hot_cache.h"
#include "cache/prefetcher.h"
#include "core/status.h"

namespace strata::cache {

// {"cache": {...HotCacheStats, "hit_ratio"}, "prefetch": {"enabled", counters, "hit_ratio",
// "jobs": {...}, "backlog_events"}}. `prefetcher` may be null (prefetch off). The job queue's
// and catalog's errors.
Result<std::string> CacheStatusJson(HotCache& cache, Prefetcher* prefetcher);

}  // namespace strata::cache
