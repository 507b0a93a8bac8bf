// Lifecycle: rules that move archive copies to colder (cheaper) tiers as they age, and evict
// old local copies whose archive copy is safe.
//
// An object's age is measured from its archive time or its last read, whichever is later
// (ArchiveRecord::archived_at_ms, for a catalog rebuilt from the archive the rebuild time;
// ArchiveRecord::last_access_ms, which the hot cache records in batches): every rule reads
// "N days after it was archived and not read since". The lifecycle keeps both times when it
// records a new tier.
//
// The target tier of an object is the coldest one whose rule (cool_after_days,
// cold_after_days, archive_after_days; 0 turns a rule off) its age has reached. Objects only
// ever move to a colder tier (Hot -> Cool -> Cold -> Archive, possibly skipping some); never
// out of Archive (that is rehydration, a read-path matter). Objects with no recorded tier (an
// archive store without tiers) are counted and left alone. Eviction (evict_after_days)
// deletes the local copy of an object recorded as archived, after checking that the archive
// copy exists with the recorded size: a later read fetches it back (cache/hot_cache.h).
// Un-archived objects are never evicted (DESIGN.md contract 2).
//
// A dry run only reads the catalog and the local store; otherwise each move is
// BlobStore::SetTier on the archive store followed by RecordArchiveState with the new tier.
// A failed move or eviction is counted and listed, and the run goes on.
//
// Thread-safety: RunLifecycle is a plain function. Two runs at once on one catalog (the
// schedule in `strata serve` and an admin run) are harmless: tier moves are idempotent and
// eviction re-checks the local copy. The catalog and stores are borrowed for the call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::archive {

// The local copies that lifecycle eviction deletes.
class LocalCopies {
 public:
  virtual ~LocalCopies() = default;
  // The local copy's size; nullopt when there is none.
  virtual Result<std::optional<uint64_t>> LocalSize(const std::string& key) = 0;
  // Deletes the local copy; false when it is kept because it is pinned or in use.
  virtual Result<bool> EvictLocal(const std::string& key) = 0;
};

// LocalCopies over a plain local store: nothing is pinned. Borrows `local`.
std::unique_ptr<LocalCopies> LocalStoreCopies(blob::BlobStore& local);

struct LifecycleRules {
  int cool_after_days = 0;     // Hot -> Cool; 0: off
  int cold_after_days = 0;     // -> Cold; 0: off
  int archive_after_days = 0;  // -> Archive; 0: off
  int evict_after_days = 0;    // delete the local copy of archived objects; 0: off
};

struct LifecycleOptions {
  LifecycleRules rules;
  bool dry_run = true;
  size_t page_size = 500;  // archive records per catalog read
  size_t max_listed_failures = 100;
  // Unix time in ms; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// Objects and bytes of one kind of change.
struct LifecycleCount {
  uint64_t objects = 0;
  uint64_t bytes = 0;
};

struct TierMove {
  blob::StorageTier from = blob::StorageTier::kHot;
  blob::StorageTier to = blob::StorageTier::kCool;
  LifecycleCount count;
};

struct LifecycleReport {
  bool dry_run = true;
  uint64_t examined = 0;              // archived objects looked at
  uint64_t untiered = 0;              // archived objects without a recorded tier (left alone)
  std::vector<TierMove> moves;        // planned (dry run) or done, one entry per (from, to)
  LifecycleCount evict_local;         // planned or done
  uint64_t evict_kept = 0;            // due for eviction but pinned or in use (kept)
  uint64_t failed = 0;                // moves or evictions that failed (not in the counts above)
  std::vector<std::string> failures;  // "<key>: <error>", the first max_listed_failures
};

// Plans (dry run) or applies the rules. `local` may be null: nothing is evicted.
// kInvalidArgument for negative days or a zero page size; catalog errors stop the run
// (what was applied stays applied).
Result<LifecycleReport> RunLifecycle(catalog::Catalog& catalog, blob::BlobStore& archive_store,
                                     LocalCopies* local, const LifecycleOptions& options);

// The report as one JSON object.
std::string LifecycleReportJson(const LifecycleReport& report);

}  // namespace strata::archive
