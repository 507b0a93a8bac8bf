// Catalog rebuild: re-creates the catalog from the archive store alone (disaster recovery).
//
// Every object under the archive's DICOM prefix ("dicom/" for vendor-neutral names,
// "dicom-opaque/" for opaque ones) is listed, downloaded to a temporary file (one object at a
// time per worker, so memory does not grow with the archive), parsed, and checked: its bytes
// against the size the store reports, its data set's SHA-256 against the strata_sha256
// metadata and its UIDs against the strata_*_uid metadata, where the archiver stored them,
// and its name against the name the archiver would give it (vendor-neutral or opaque). It is
// then recorded as the instance version ingest would have stored locally
// ("dicom/<study>/<series>/<sop>.dcm", later versions "<sop>.<hash prefix>.dcm") together
// with an archived ArchiveRecord for that local key, so that a reader's miss on the (empty)
// local store fetches the object back from the archive (cache/hot_cache.h).
//
// No instance events are written: rebuilt instances are not re-archived, re-routed to AI or
// forwarded. The change feed starts with the study.protection_changed events of the
// retention dates and holds recorded last. First versions are recorded before later
// ones; the order among several later versions of one instance is not in the archive, so
// the one with the greatest key becomes current (counted in ambiguous_versions).
//
// An object that cannot be used (unreadable, not DICOM, hash or name mismatch, in the
// Archive tier and so not readable before rehydration) is counted and listed, and the
// rebuild goes on.
//
// Thread-safety: RebuildCatalog runs its own worker threads and returns when they are done;
// it must not run concurrently with another writer of the same catalog (it is meant for an
// empty data directory, with nothing else running).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "blob/blob_naming.h"
#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::archive {

struct RebuildOptions {
  blob::BlobNaming naming = blob::BlobNaming::kVendorNeutral;
  std::string naming_key;  // kOpaque: the archive's naming secret (>= 32 bytes)
  // Objects downloaded and parsed at once (each holds one temporary file).
  int parallel_downloads = 4;
  // Instances recorded per catalog transaction.
  size_t commit_batch = 256;
  // At most this many failures are listed in the report (all are counted and logged).
  size_t max_listed_failures = 1000;
  // Retention dates given to the rebuilt studies, as ingest gives them (from StudyDate and
  // Modality), recorded after every instance. Dates set by hand and legal holds are in the
  // archive only where the archiver protected the copies ([archive] protect_copies): then a
  // later retention end found on a copy wins, and a held copy puts its study under legal hold
  // again. Otherwise they are lost.
  catalog::RetentionPolicy retention;
  // Unix time in ms, recorded as receive and archive time; empty: the system clock.
  std::function<int64_t()> now_ms;
};

struct RebuildFailure {
  std::string archive_key;
  std::string error;
};

struct RebuildReport {
  uint64_t listed = 0;              // objects found under the prefix
  uint64_t recorded = 0;            // instance versions recorded (stored or new version)
  uint64_t duplicates = 0;          // same data set as an instance already recorded
  uint64_t failed = 0;              // unusable objects (includes needs_rehydration)
  uint64_t needs_rehydration = 0;   // in the Archive tier: rehydrate, then rebuild again
  uint64_t ambiguous_versions = 0;  // later versions whose order had to be guessed
  uint64_t bytes = 0;               // bytes of the recorded objects
  // Studies whose retention came from their archive copies' own (later than the policy's),
  // and studies put back under legal hold because a copy was held (see RebuildOptions).
  uint64_t retention_from_archive = 0;
  uint64_t holds_restored = 0;
  double seconds = 0;                    // wall time of the whole rebuild
  std::vector<RebuildFailure> failures;  // the first max_listed_failures
};

// Rebuilds `catalog` from `archive_store`. Fails with kFailedPrecondition when the catalog
// already has instances, kInvalidArgument for bad options, the archive store's List error
// (e.g. kUnavailable), or a catalog error; per-object problems are only reported.
// REQUIRES: nothing else writes to `catalog` meanwhile.
Result<RebuildReport> RebuildCatalog(catalog::Catalog& catalog, blob::BlobStore& archive_store,
                                     const RebuildOptions& options);

// The report as one JSON object (for `strata admin rebuild-catalog --json`).
std::string RebuildReportJson(const RebuildReport& report);

}  // namespace strata::archive
