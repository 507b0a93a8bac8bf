#include "cache/cache_status.h"

#include <nlohmann/json.hpp>

namespace strata::cache {

Result<std::string> CacheStatusJson(HotCache& cache, Prefetcher* prefetcher) {
  const HotCacheStats stats = cache.Stats();
  nlohmann::json out;
  out["cache"] = {{"max_bytes", stats.max_bytes},
                  {"bytes", stats.bytes},
                  {"objects", stats.objects},
                  {"pins", stats.pins},
                  {"hits", stats.hits},
                  {"misses", stats.misses},
                  {"hit_ratio", stats.HitRatio()},
                  {"fetch_backs", stats.fetch_backs},
                  {"evictions", stats.evictions},
                  {"bytes_evicted", stats.bytes_evicted},
                  {"refused_unarchived", stats.refused_unarchived}};
  nlohmann::json prefetch = {{"enabled", prefetcher != nullptr},
                             {"prefetched_objects", stats.prefetched},
                             {"fetch_backs", stats.prefetch_fetch_backs},
                             {"hits", stats.prefetch_hits},
                             {"evicted_unread", stats.prefetch_evicted_unread},
                             {"unread", stats.prefetch_unread},
                             {"hit_ratio", stats.PrefetchHitRatio()}};
  if (prefetcher != nullptr) {
    const PrefetcherCounters counters = prefetcher->Counters();
    STRATA_ASSIGN_OR_RETURN(jobs::JobCounts jobs, prefetcher->JobCounts());
    STRATA_ASSIGN_OR_RETURN(catalog::OutboxBacklog backlog, prefetcher->Backlog());
    prefetch["studies_seen"] = counters.studies_seen;
    prefetch["jobs_enqueued"] = counters.jobs_enqueued;
    prefetch["jobs_completed"] = counters.jobs_completed;
    prefetch["jobs_rescheduled"] = counters.jobs_rescheduled;
    prefetch["jobs_failed"] = counters.jobs_failed;
    prefetch["jobs"] = {{"pending", jobs.pending},
                        {"running", jobs.running},
                        {"succeeded", jobs.succeeded},
                        {"failed", jobs.failed}};
    prefetch["backlog_events"] = backlog.events;
  }
  out["prefetch"] = std::move(prefetch);
  return out.dump();
}

}  // namespace strata::cache
