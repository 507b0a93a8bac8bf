// Wiring: the only place that names concrete back ends. Builds every service of
// `strata serve` from a Config.
#pragma once

#include <memory>

#include "ai/ai_pipeline.h"
#include "ai/ai_records.h"
#include "archive/archiver.h"
#include "archive/lifecycle_scheduler.h"
#include "audit/audit_log.h"
#include "blob/blob_store.h"
#include "cache/hot_cache.h"
#include "cache/prefetcher.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "core/status.h"
#include "dicomweb/dicomweb_server.h"
#include "dimse/dimse_server.h"
#include "inference/inference_engine.h"
#include "ingest/ingest_service.h"
#include "jobs/job_queue.h"
#include "security/authenticator.h"

namespace strata::app {

// Owns the services; members are destroyed in reverse order (server first).
struct Services {
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<security::Authenticator> authenticator;
  std::unique_ptr<catalog::Catalog> catalog;
  // The local object store itself; everything else reads and writes through `cache`.
  std::unique_ptr<blob::BlobStore> blobs;
  // With [archive] backend = "none" both are null. The archiver is built, not started.
  std::unique_ptr<blob::BlobStore> archive_store;
  std::unique_ptr<cache::HotCache> cache;  // built, its eviction thread not started
  std::unique_ptr<ingest::IngestService> ingest;
  std::unique_ptr<archive::Archiver> archiver;
  // Null without an archive store or with [lifecycle] interval_minutes = 0. Not started.
  std::unique_ptr<archive::LocalCopies> lifecycle_copies;
  std::unique_ptr<archive::LifecycleScheduler> lifecycle;
  // With [ai] enabled = false all four are null (`jobs` is also open for the prefetcher).
  // The pipeline is built, not started.
  std::unique_ptr<jobs::JobQueue> jobs;
  std::unique_ptr<ai::AiRecords> ai_records;
  std::unique_ptr<inference::InferenceEngine> engine;
  std::unique_ptr<ai::AiPipeline> ai;
  // Null without an archive store or with [prefetch] enabled = false. Built, not started.
  std::unique_ptr<cache::Prefetcher> prefetcher;
  std::unique_ptr<dimse::DimseServer> dimse;
  std::unique_ptr<dicomweb::DicomWebServer> dicomweb;
};

// Creates the data directory, opens the catalog and object store, finishes ingests a crash
// interrupted, and prepares (does not start) the DIMSE server, the archiver, the cache's
// eviction and the AI pipeline.
Result<std::unique_ptr<Services>> BuildServices(const Config& config);

// The archive store [archive] names (not "none"), as serve uses it; also for the admin
// commands that work on the archive (rebuild-catalog, lifecycle).
Result<std::unique_ptr<blob::BlobStore>> OpenArchiveStore(const Config& config);

// The [lifecycle] rules, for the schedule in serve and for `strata admin lifecycle`.
archive::LifecycleRules ConfiguredLifecycleRules(const Config& config);

}  // namespace strata::app
