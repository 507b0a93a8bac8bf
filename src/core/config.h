// Config: every setting of `strata serve`, from one TOML file plus STRATA_* environment overrides.
//
// Each setting has an embedded default, so an empty file (or none) runs everything on one
// machine. The key `dimse.port` is overridden by the environment variable STRATA_DIMSE_PORT.
// Thread-safety: a plain value; build it once at start-up and share it read-only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata {

// A remote DICOM application entity Strata may open associations to (C-MOVE destinations).
struct DicomPeer {
  std::string ae_title;
  std::string host;
  uint16_t port = 0;
};

enum class DuplicatePolicy { kKeepVersions, kReject };

// An API token of the HTTP API: whose it is, what it may do (reader, writer or admin), and the
// SHA-256 of its secret in hex. The secret itself is never stored (`strata token new` makes one).
struct ApiToken {
  std::string name;
  std::string role;
  std::string sha256_hex;
};

// One [[ai.rules]] entry (see ai/routing.h): narrows where a model runs.
struct AiRule {
  std::string model;
  std::vector<std::string> modalities;
  std::vector<std::string> sop_classes;
  std::vector<std::string> body_parts;
  std::vector<std::string> calling_aes;
  std::string mode = "instance";  // "instance" or "series"
  int series_stable_seconds = 30;
};

struct Config {
  // [server]
  std::string data_dir = "strata-data";
  std::string log_level = "info";

  // [catalog]
  std::string catalog_backend = "sqlite";
  std::string catalog_path;  // empty: <data_dir>/catalog.sqlite

  // [storage]
  std::string blob_backend = "filesystem";
  std::string blob_path;  // empty: <data_dir>/objects
  DuplicatePolicy duplicates = DuplicatePolicy::kKeepVersions;
  int group_commit_max_batch = 256;
  // Minimum free bytes kept on the object store's file system; below it stores are refused.
  int64_t min_free_bytes = 256LL * 1024 * 1024;

  // [dimse]
  std::string ae_title = "STRATA";
  std::string dimse_bind = "0.0.0.0";
  uint16_t dimse_port = 11112;
  int max_associations = 32;
  int max_pdu = 131072;
  int acse_timeout_seconds = 30;
  int dimse_timeout_seconds = 60;
  bool accept_any_calling_ae = true;
  std::vector<std::string> allowed_calling_aes;
  std::vector<DicomPeer> peers;

  // [http]
  std::string http_bind = "0.0.0.0";
  uint16_t http_port = 8080;
  // Largest request body accepted (Content-Length or streamed); larger ones get 413.
  int64_t http_max_body_bytes = 4LL * 1024 * 1024 * 1024;
  int http_threads = 8;
  // HTTPS when both are set (PEM files): TLS 1.2 or newer on http.port.
  std::string http_tls_certificate;
  std::string http_tls_private_key;

  // [viewer]
  // Directory of a prebuilt web viewer (OHIF's dist/, fetched by tools/setup_viewer.sh) served
  // at / with a generated app-config.js; empty: no viewer.
  std::string viewer_dir;

  // [auth]
  std::vector<ApiToken> api_tokens;
  // Origins (scheme://host[:port]) whose browser pages may call the HTTP API; "*" for any.
  std::vector<std::string> cors_allowed_origins;

  // [audit]
  std::string audit_path;  // empty: <data_dir>/audit.sqlite

  // [archive]: the copy of every stored object in the archive store (see docs/azure.md).
  std::string archive_backend = "none";  // "none", "azure" or "filesystem"
  std::string archive_endpoint;
  std::string archive_secondary_endpoint;  // read-access geo-replica; empty: none
  std::string archive_account;
  std::string archive_container;
  // Which credential, and where its secret is read from: the file archive_credential_file
  // when set, else the environment variable archive_credential_env. Never the TOML itself.
  std::string archive_credential = "shared_key";  // "shared_key" or "sas"
  std::string archive_credential_env = "AZURE_STORAGE_KEY";
  std::string archive_credential_file;
  bool archive_create_container = false;
  bool archive_protect_copies = false;  // WORM in the archive store too (docs/retention.md)
  bool archive_lock_immutability_policies = false;
  std::string archive_tier = "Hot";     // Hot, Cool, Cold, Archive; "" = account default
  std::string archive_naming = "uids";  // "uids" (vendor neutral) or "opaque"
  std::string archive_naming_key_file;  // secret (>= 32 bytes) for "opaque"
  int archive_batch_size = 100;
  int archive_parallel_uploads = 4;
  int archive_poll_interval_ms = 1000;
  int archive_max_backoff_ms = 5 * 60 * 1000;
  int archive_status_log_interval_seconds = 60;
  std::string archive_staging_dir;  // empty: <data_dir>/archive-staging
  // "filesystem": a mounted volume (NAS, object gateway) as the archive store, with the
  // Azure tiers emulated and Archive-tier reads delayed by archive_rehydration_delay_seconds.
  std::string archive_path;  // empty: <data_dir>/archive
  int archive_rehydration_delay_seconds = 3600;

  // [cache]: the local object store as a cache bounded in bytes in front of the archive.
  int64_t cache_max_bytes = 0;  // 0: unbounded
  int cache_low_watermark_percent = 90;
  int cache_pin_recent_hours = 24;
  int cache_min_idle_seconds = 300;
  int cache_eviction_interval_seconds = 60;
  int cache_rehydration_retry_after_seconds = 3600;

  // [prefetch]: a patient's prior studies brought into the hot cache when a new study arrives
  // (only with an archive store: without one nothing leaves the local store).
  bool prefetch_enabled = true;
  int prefetch_max_priors = 2;
  int prefetch_max_age_years = 5;  // 0: any age
  bool prefetch_same_modality_only = false;
  int prefetch_pin_hours = 72;
  int prefetch_poll_interval_ms = 1000;

  // [lifecycle]: rules of `strata admin lifecycle`, in days after an object was archived or
  // last read, whichever is later (docs/operations.md); 0 turns a rule off.
  int lifecycle_cool_after_days = 30;
  int lifecycle_cold_after_days = 0;
  int lifecycle_archive_after_days = 180;
  int lifecycle_evict_after_days = 0;
  // How often `strata serve` applies the rules itself (0: never; `strata admin lifecycle`
  // still can), and how long after start-up the first run comes.
  int lifecycle_interval_minutes = 24 * 60;
  int lifecycle_first_run_delay_minutes = 10;
  // [cost]: prices per GB-month for `strata admin cost` (editable estimates).
  double cost_hot_per_gb_month = 0.018;
  double cost_cool_per_gb_month = 0.010;
  double cost_cold_per_gb_month = 0.0036;
  double cost_archive_per_gb_month = 0.00099;
  double cost_local_per_gb_month = 0.0;
  std::string cost_currency = "USD";

  // [ai]: event-triggered inference, findings reports and their delivery (docs/ai.md).
  bool ai_enabled = true;
  std::string ai_engine = "default";  // default, onnxruntime, opencv-dnn, kserve-v2
  std::string ai_remote_url;          // kserve-v2: base URL of the KServe v2 endpoint
  std::string ai_remote_token_env;    // kserve-v2: environment variable with a bearer token
  int ai_workers = 2;
  int ai_engine_threads = 1;
  int ai_max_batch = 8;
  int ai_max_attempts = 5;
  int ai_report_settle_ms = 2000;           // a study's SR waits until no result came for this long
  std::vector<std::string> ai_notify;       // AE titles of dimse.peers that receive every report
  std::vector<std::string> ai_notify_stow;  // DICOMweb base URLs that receive every report
  std::string ai_notify_stow_token_env;     // bearer token for them; empty: none
  int ai_notify_max_attempts = 20;
  std::vector<AiRule> ai_rules;

  // [retention]: how long studies are kept, and the soft-delete window (docs/retention.md).
  int retention_default_years = 10;                     // 0: no default retention
  std::map<std::string, int> retention_modality_years;  // Modality -> years; overrides
  int retention_soft_delete_days = 30;  // purge soft-deleted studies only after this

  std::string CatalogPath() const;
  std::string AuditPath() const;
  std::string BlobPath() const;
  std::string ArchiveStagingPath() const;
  std::string ArchivePath() const;    // <data_dir>/archive unless archive_path is set
  std::string AiRecordsPath() const;  // <data_dir>/ai.sqlite
  std::string JobsPath() const;       // <data_dir>/jobs.sqlite
  // Looks up a peer by AE title; nullptr when unknown.
  const DicomPeer* FindPeer(const std::string& ae_title) const;
};

// Parses TOML text, then applies overrides from `env` (name -> value, STRATA_* only).
// Fails with kInvalidArgument naming the key on an unknown key, a wrong type or a bad value.
Result<Config> ParseConfig(const std::string& toml_text,
                           const std::map<std::string, std::string>& env);

// Reads `path` (empty: no file, defaults only) and the process environment.
Result<Config> LoadConfig(const std::string& path);

// The documented default configuration file, as `strata config` prints it.
std::string DefaultConfigToml();

}  // namespace strata
