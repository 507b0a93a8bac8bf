#include "app/wiring.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "ai/sqlite_ai_records.h"
#include "audit/sqlite_audit_log.h"
#include "blob/azure_blob_store.h"
#include "blob/file_blob_store.h"
#include "cache/cache_status.h"
#include "catalog/sqlite_catalog.h"
#include "core/log.h"
#include "inference/engine_factory.h"
#include "jobs/sqlite_job_queue.h"

namespace strata::app {
namespace {

// A secret from a file (whole content, surrounding white space removed) or, when `file` is
// empty, from the environment variable `env`. Messages name where, never the value.
Result<std::string> ReadSecret(const std::string& what, const std::string& file,
                               const std::string& env) {
  std::string secret;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return InvalidArgument(what + ": file '" + file + "' cannot be read");
    std::ostringstream buf;
    buf << in.rdbuf();
    secret = buf.str();
  } else {
    const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
    if (value == nullptr) {
      return InvalidArgument(what + ": environment variable '" + env + "' is not set");
    }
    secret = value;
  }
  const auto first = secret.find_first_not_of(" \t\r\n");
  const auto last = secret.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return InvalidArgument(what + " is empty");
  return secret.substr(first, last - first + 1);
}

}  // namespace

archive::LifecycleRules ConfiguredLifecycleRules(const Config& config) {
  archive::LifecycleRules rules;
  rules.cool_after_days = config.lifecycle_cool_after_days;
  rules.cold_after_days = config.lifecycle_cold_after_days;
  rules.archive_after_days = config.lifecycle_archive_after_days;
  rules.evict_after_days = config.lifecycle_evict_after_days;
  return rules;
}

Result<std::unique_ptr<blob::BlobStore>> OpenArchiveStore(const Config& config) {
  if (config.archive_backend == "filesystem") {
    blob::FileBlobStoreOptions options;
    options.emulate_tiers = true;  // the archiver stores tier and metadata with each object
    options.rehydration_delay = std::chrono::seconds(config.archive_rehydration_delay_seconds);
    auto store = blob::OpenFileBlobStore(config.ArchivePath(), options);
    if (!store.ok()) return store.status().WithContext("archive store");
    return store;
  }
  blob::AzureBlobOptions options;
  options.endpoint = config.archive_endpoint;
  options.secondary_endpoint = config.archive_secondary_endpoint;
  options.account = config.archive_account;
  options.container = config.archive_container;
  STRATA_ASSIGN_OR_RETURN(std::string secret,
                          ReadSecret("archive credential", config.archive_credential_file,
                                     config.archive_credential_env));
  if (config.archive_credential == "sas") {
    options.sas_token = std::move(secret);
  } else {
    options.shared_key = std::move(secret);
  }
  options.staging_dir = config.ArchiveStagingPath();
  options.create_container = config.archive_create_container;
  options.lock_immutability_policies = config.archive_lock_immutability_policies;
  Result<std::unique_ptr<blob::AzureBlobStore>> store = blob::AzureBlobStore::Open(options);
  if (!store.ok() && store.status().code() == StatusCode::kUnavailable &&
      options.create_container) {
    // The cloud may be down at start-up (contract 6): serve anyway; the archiver retries
    // (a missing container counts as an outage) until the container exists.
    log::Warn("archive_container_unchecked", {{"error", store.status().ToString()}});
    options.create_container = false;
    store = blob::AzureBlobStore::Open(options);
  }
  if (!store.ok()) return store.status().WithContext("archive store");
  return std::unique_ptr<blob::BlobStore>(std::move(*store));
}

namespace {

Status BuildArchiver(const Config& config, Services& services) {
  if (!services.archive_store) return OkStatus();
  archive::ArchiverOptions options;
  options.batch_size = static_cast<size_t>(config.archive_batch_size);
  options.parallel_uploads = config.archive_parallel_uploads;
  options.poll_interval = std::chrono::milliseconds(config.archive_poll_interval_ms);
  options.backoff.initial = std::chrono::milliseconds(
      std::min(config.archive_max_backoff_ms, config.archive_poll_interval_ms));
  options.backoff.max = std::chrono::milliseconds(config.archive_max_backoff_ms);
  options.status_log_interval = std::chrono::seconds(config.archive_status_log_interval_seconds);
  options.protect_archive_copies = config.archive_protect_copies;
  if (!config.archive_tier.empty()) options.tier = blob::ParseStorageTier(config.archive_tier);
  if (config.archive_naming == "opaque") {
    options.naming = blob::BlobNaming::kOpaque;
    STRATA_ASSIGN_OR_RETURN(options.naming_key,
                            ReadSecret("archive naming key", config.archive_naming_key_file, ""));
  }
  STRATA_ASSIGN_OR_RETURN(services.archiver,
                          archive::Archiver::Create(*services.catalog, *services.blobs,
                                                    *services.archive_store, std::move(options)));
  return OkStatus();
}

// The lifecycle's view of local copies in `strata serve`: sizes from the local store,
// evictions through the hot cache, which keeps its byte count and its pins.
class CachedCopies final : public archive::LocalCopies {
 public:
  CachedCopies(blob::BlobStore& local, cache::HotCache& cache) : local_(local), cache_(cache) {}
  Result<std::optional<uint64_t>> LocalSize(const std::string& key) override {
    return archive::LocalStoreCopies(local_)->LocalSize(key);
  }
  Result<bool> EvictLocal(const std::string& key) override {
    STRATA_ASSIGN_OR_RETURN(std::optional<uint64_t> freed, cache_.EvictIfIdle(key));
    return freed.has_value();
  }

 private:
  blob::BlobStore& local_;
  cache::HotCache& cache_;
};

void BuildLifecycle(const Config& config, Services& services) {
  if (!services.archive_store || config.lifecycle_interval_minutes == 0) return;
  archive::LifecycleScheduleOptions options;
  options.lifecycle.rules = ConfiguredLifecycleRules(config);
  options.interval = std::chrono::minutes(config.lifecycle_interval_minutes);
  options.first_run_delay = std::chrono::minutes(config.lifecycle_first_run_delay_minutes);
  services.lifecycle_copies = std::make_unique<CachedCopies>(*services.blobs, *services.cache);
  services.lifecycle = std::make_unique<archive::LifecycleScheduler>(
      *services.catalog, *services.archive_store, services.lifecycle_copies.get(), options);
}

Result<std::unique_ptr<inference::InferenceEngine>> CreateEngine(const Config& config) {
  inference::EngineOptions options;
  options.threads = config.ai_engine_threads;
  if (config.ai_engine == "onnxruntime") {
    options.kind = inference::EngineKind::kOnnxRuntime;
  } else if (config.ai_engine == "opencv-dnn") {
    options.kind = inference::EngineKind::kOpenCvDnn;
  } else if (config.ai_engine == "kserve-v2") {
    options.kind = inference::EngineKind::kRemoteKServe;
    options.remote_url = config.ai_remote_url;
    if (!config.ai_remote_token_env.empty()) {
      STRATA_ASSIGN_OR_RETURN(options.remote_token,
                              ReadSecret("ai remote token", "", config.ai_remote_token_env));
    }
  }
  auto engine = inference::CreateInferenceEngine(options);
  if (!engine.ok()) return engine.status().WithContext("ai engine");
  return engine;
}

// One jobs.sqlite for every user (AI, prefetch); each leases only its own job kinds.
Status OpenJobs(const Config& config, Services& services) {
  if (services.jobs) return OkStatus();
  STRATA_ASSIGN_OR_RETURN(services.jobs, jobs::OpenSqliteJobQueue(config.JobsPath(), {}));
  return OkStatus();
}

Status BuildAi(const Config& config, Services& services) {
  if (!config.ai_enabled) return OkStatus();
  ai::AiPipelineOptions options;
  for (const auto& ae : config.ai_notify) {
    const DicomPeer* peer = config.FindPeer(ae);
    if (!peer) {
      return InvalidArgument("config key 'ai.notify': '" + ae +
                             "' is not a configured peer (dimse.peers)");
    }
    options.notify.push_back(*peer);
  }
  std::string stow_token;
  if (!config.ai_notify_stow_token_env.empty()) {
    STRATA_ASSIGN_OR_RETURN(
        stow_token, ReadSecret("ai.notify_stow token", "", config.ai_notify_stow_token_env));
  }
  for (const auto& url : config.ai_notify_stow) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return InvalidArgument("config key 'ai.notify_stow': '" + url + "' is not an http(s) URL");
    }
    options.notify_stow.push_back({url, stow_token});
  }
  for (const auto& r : config.ai_rules) {
    ai::RoutingRule rule;
    rule.model = r.model;
    rule.modalities = r.modalities;
    rule.sop_classes = r.sop_classes;
    rule.body_parts = r.body_parts;
    rule.calling_aes = r.calling_aes;
    rule.mode = r.mode == "series" ? ai::RunMode::kPerSeries : ai::RunMode::kPerInstance;
    rule.series_stable_after = std::chrono::seconds(r.series_stable_seconds);
    options.rules.push_back(std::move(rule));
  }
  options.workers = config.ai_workers;
  options.max_batch = static_cast<size_t>(config.ai_max_batch);
  options.max_attempts = config.ai_max_attempts;
  options.report_settle = std::chrono::milliseconds(config.ai_report_settle_ms);
  options.notify_max_attempts = config.ai_notify_max_attempts;
  options.calling_ae = config.ae_title;
  options.worker_prefix = config.ae_title + "/";
  STRATA_RETURN_IF_ERROR(OpenJobs(config, services));
  STRATA_ASSIGN_OR_RETURN(services.ai_records, ai::OpenSqliteAiRecords(config.AiRecordsPath()));
  STRATA_ASSIGN_OR_RETURN(services.engine, CreateEngine(config));
  services.ai = std::make_unique<ai::AiPipeline>(*services.catalog, *services.cache,
                                                 *services.ingest, *services.jobs,
                                                 *services.ai_records, *services.engine, options);
  return OkStatus();
}

// Without an archive store nothing leaves the local store: there is nothing to prefetch.
Status BuildPrefetcher(const Config& config, Services& services) {
  if (!config.prefetch_enabled || !services.archive_store) return OkStatus();
  cache::PrefetcherOptions options;
  options.policy.max_priors = static_cast<size_t>(config.prefetch_max_priors);
  options.policy.max_age_years = config.prefetch_max_age_years;
  options.policy.same_modality_only = config.prefetch_same_modality_only;
  options.pin = std::chrono::hours(config.prefetch_pin_hours);
  options.poll_interval = std::chrono::milliseconds(config.prefetch_poll_interval_ms);
  // Not the AI's "<ae>/worker-<n>" or "<ae>/notifier": each releases only its own leases.
  options.worker = config.ae_title + "/prefetch";
  STRATA_RETURN_IF_ERROR(OpenJobs(config, services));
  services.prefetcher = std::make_unique<cache::Prefetcher>(*services.catalog, *services.cache,
                                                            *services.jobs, options);
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<Services>> BuildServices(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return Unavailable("cannot create data directory '" + config.data_dir + "': " + ec.message());

  auto services = std::make_unique<Services>();
  STRATA_ASSIGN_OR_RETURN(services->audit, audit::OpenSqliteAuditLog(config.AuditPath()));
  STRATA_ASSIGN_OR_RETURN(auto tokens, security::TokenAuthenticator::Create(config.api_tokens));
  if (tokens.token_count() == 0) {
    log::Warn("auth_no_tokens",
              {{"effect", std::string("every HTTP request is refused with 401; add [auth] tokens "
                                      "(see `strata token new`)")}});
  }
  services->authenticator = std::make_unique<security::TokenAuthenticator>(std::move(tokens));
  STRATA_ASSIGN_OR_RETURN(services->catalog, catalog::OpenSqliteCatalog(config.CatalogPath()));
  STRATA_ASSIGN_OR_RETURN(services->blobs, blob::OpenFileBlobStore(config.BlobPath()));
  if (config.archive_backend != "none") {
    STRATA_ASSIGN_OR_RETURN(services->archive_store, OpenArchiveStore(config));
  }
  cache::HotCacheOptions cache_options;
  cache_options.max_bytes = config.cache_max_bytes > 0
                                ? static_cast<uint64_t>(config.cache_max_bytes)
                                : std::numeric_limits<uint64_t>::max();
  cache_options.low_watermark = config.cache_low_watermark_percent / 100.0;
  cache_options.pin_recent = std::chrono::hours(config.cache_pin_recent_hours);
  cache_options.min_idle = std::chrono::seconds(config.cache_min_idle_seconds);
  cache_options.eviction_interval = std::chrono::seconds(config.cache_eviction_interval_seconds);
  cache_options.rehydration_retry_after =
      std::chrono::seconds(config.cache_rehydration_retry_after_seconds);
  STRATA_ASSIGN_OR_RETURN(services->cache,
                          cache::HotCache::Create(*services->catalog, *services->blobs,
                                                  services->archive_store.get(), cache_options));

  ingest::IngestOptions ingest_options;
  ingest_options.duplicates = config.duplicates == DuplicatePolicy::kReject
                                  ? catalog::DuplicatePolicy::kReject
                                  : catalog::DuplicatePolicy::kKeepVersions;
  ingest_options.max_batch = config.group_commit_max_batch;
  ingest_options.min_free_bytes = static_cast<uint64_t>(config.min_free_bytes);
  // The AI router and the prefetcher start on new images at once (both are built after
  // ingest).
  ingest_options.on_committed = [svc = services.get()] {
    if (svc->ai) svc->ai->Notify();
    if (svc->prefetcher) svc->prefetcher->Notify();
  };
  ingest_options.retention.default_years = config.retention_default_years;
  ingest_options.retention.modality_years = config.retention_modality_years;
  services->ingest =
      ingest::CreateIngestService(*services->catalog, *services->cache, ingest_options);
  STRATA_RETURN_IF_ERROR(services->ingest->Recover());
  STRATA_RETURN_IF_ERROR(BuildArchiver(config, *services));
  BuildLifecycle(config, *services);
  STRATA_RETURN_IF_ERROR(BuildAi(config, *services));
  STRATA_RETURN_IF_ERROR(BuildPrefetcher(config, *services));

  dimse::DimseServerOptions dimse_options;
  dimse_options.ae_title = config.ae_title;
  dimse_options.bind_address = config.dimse_bind;
  dimse_options.port = config.dimse_port;
  dimse_options.max_associations = config.max_associations;
  dimse_options.max_pdu = config.max_pdu;
  dimse_options.acse_timeout_seconds = config.acse_timeout_seconds;
  dimse_options.dimse_timeout_seconds = config.dimse_timeout_seconds;
  dimse_options.accept_any_calling_ae = config.accept_any_calling_ae;
  dimse_options.allowed_calling_aes = config.allowed_calling_aes;
  dimse_options.peers = config.peers;
  services->dimse = dimse::CreateDimseServer(dimse_options, *services->ingest, *services->catalog,
                                             *services->cache, *services->audit);

  dicomweb::DicomWebOptions web_options;
  web_options.bind_address = config.http_bind;
  web_options.port = config.http_port;
  web_options.max_body_bytes = static_cast<uint64_t>(config.http_max_body_bytes);
  web_options.threads = config.http_threads;
  web_options.viewer_dir = config.viewer_dir;
  web_options.cors_allowed_origins = config.cors_allowed_origins;
  web_options.tls_certificate_file = config.http_tls_certificate;
  web_options.tls_private_key_file = config.http_tls_private_key;
  web_options.admin_status = [svc = services.get()] {
    return cache::CacheStatusJson(*svc->cache, svc->prefetcher.get());
  };
  services->dicomweb = dicomweb::CreateDicomWebServer(
      web_options, *services->ingest, *services->catalog, *services->cache,
      *services->authenticator, *services->audit, services->ai.get());
  return services;
}

}  // namespace strata::app
