// AzureBlobStore: the BlobStore on Azure Blob Storage, over the REST API (libcurl + OpenSSL).
//
// Block blobs in one container. Small objects go up in one Put Blob with Content-MD5; larger
// ones as parallel Put Block calls (each with Content-MD5) and a Put Block List carrying the
// whole object's MD5, so the service rejects corrupted uploads and reports the hash on every
// download, where Open checks it. Create-only puts use If-None-Match: *. Every call is retried
// with backoff (see http_retry.h); errors map to Status in azure_errors.cc.
//
// The endpoint is configurable: path-style for Azurite ("http://127.0.0.1:10000/
// devstoreaccount1"), host-style for Azure ("https://acct.blob.core.windows.net"). See
// docs/azure.md.
//
// Thread-safety: safe for concurrent use. Ownership: owns its HttpClient; a TokenProvider is
// shared (std::shared_ptr) because one identity usually serves several clients.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blob/azure_errors.h"
#include "blob/blob_store.h"
#include "blob/curl_http_client.h"
#include "blob/http_client.h"
#include "blob/http_retry.h"

namespace strata::blob {

// Source of OAuth bearer tokens (Azure AD, managed identity). Implementations cache and
// refresh tokens themselves. Thread-safety: Token may be called concurrently.
class TokenProvider {
 public:
  virtual ~TokenProvider() = default;
  // A currently valid access token for https://storage.azure.com/, or why there is none
  // (kUnauthenticated, kUnavailable).
  virtual Result<std::string> Token() = 0;
};

// A fixed token, for tests and for tokens obtained outside Strata.
class StaticTokenProvider final : public TokenProvider {
 public:
  explicit StaticTokenProvider(std::string token) : token_(std::move(token)) {}
  Result<std::string> Token() override { return token_; }

 private:
  const std::string token_;
};

struct AzureBlobOptions {
  // "http://127.0.0.1:10000/devstoreaccount1" (path-style, Azurite) or
  // "https://acct.blob.core.windows.net" (host-style). No trailing slash needed.
  std::string endpoint;
  std::string account;
  std::string container;
  // The read-access geo-replica (RA-GRS / RA-GZRS), e.g.
  // "https://acct-secondary.blob.core.windows.net"; empty: none. Reads (get, stat, list) go
  // there when the primary is unreachable (transport errors, 5xx after retries); writes never
  // do. The secondary lags the primary (Azure's replication is asynchronous), so an object
  // missing there while the primary is down is reported unavailable, not missing. Requests to
  // it are signed for the account itself, as Azure requires.
  std::string secondary_endpoint;
  // After the primary failed a read, reads try the secondary first for this long.
  std::chrono::milliseconds secondary_preference{std::chrono::seconds(60)};

  // Credential: exactly one of the three.
  std::string shared_key;                         // base64 account key (Shared Key)
  std::string sas_token;                          // SAS query string, with or without a leading '?'
  std::shared_ptr<TokenProvider> token_provider;  // bearer tokens; https endpoints only

  std::string api_version = "2021-12-02";  // x-ms-version, pinned (Azurite accepts it)

  uint64_t single_put_limit_bytes = 4 << 20;  // larger objects use block upload
  uint64_t block_size_bytes = 4 << 20;
  int upload_threads = 3;  // parallel Put Block calls per object
  int list_page_size = 1000;

  CurlHttpOptions http;  // timeouts, TLS verification (on by default), CA file
  RetryPolicy retry;

  // Where StagingPath hands out files and where downloads land. Created if missing.
  std::string staging_dir;
  // Tier for new objects when a put asks for none; nullopt: the account's default.
  std::optional<StorageTier> default_tier;
  // Creates the container on Open if it does not exist.
  bool create_container = false;
  // Mode of the immutability policies SetProtection sets: unlocked ones can be shortened or
  // removed later (Strata's retention can be corrected by an admin); locked ones cannot, by
  // anyone (SEC 17a-4 style). Needs a container with version-level immutability support.
  bool lock_immutability_policies = false;

  // Clock for the x-ms-date header; empty: the system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
  // Replaces the libcurl client (tests); null: MakeCurlHttpClient(http).
  std::function<std::unique_ptr<HttpClient>()> http_client_factory;
};

class AzureBlobStore final : public BlobStore {
 public:
  // Checks the options, prepares the staging folder and, with create_container, creates the
  // container. kInvalidArgument for bad options (no or several credentials, a bad key, a
  // bearer token over http); errors of the service as mapped in azure_errors.h.
  static Result<std::unique_ptr<AzureBlobStore>> Open(AzureBlobOptions options);

  ~AzureBlobStore() override;

  // Errors: kAlreadyExists (create_only and the key exists), kInvalidArgument (bad key or
  // metadata), kDataLoss (the service saw a content hash mismatch), kPermissionDenied,
  // kUnavailable (service unreachable after retries).
  Status PutFile(const std::string& key, const std::string& source_path, bool create_only) override;
  Status Put(const std::string& key, const std::string& source_path,
             const PutOptions& options) override;
  // Describes the object from the write's own answer (ETag) and what was sent (size, MD5,
  // tier, metadata): no HEAD after the upload.
  Result<BlobInfo> PutDescribed(const std::string& key, const std::string& source_path,
                                const PutOptions& options) override;
  Result<std::string> StagingPath() override;
  std::vector<std::string> StagedLeftovers() override;
  // Downloads into the staging folder (removed when the LocalObject is destroyed) and checks
  // the MD5 the service reports. kNotFound; kFailedPrecondition for an Archive-tier object
  // ("rehydrate first"); kDataLoss if the bytes do not match the reported MD5 or length.
  Result<std::unique_ptr<LocalObject>> Open(const std::string& key) override;
  Result<BlobInfo> Stat(const std::string& key) override;
  Status Delete(const std::string& key) override;
  Status List(const std::string& prefix,
              const std::function<void(const std::string& key)>& fn) override;
  Status SetTier(const std::string& key, StorageTier tier) override;
  // Azure's version-level immutability: Set/Delete Blob Immutability Policy and Set Blob
  // Legal Hold, only for what differs from the blob's current state. The container must
  // support version-level immutability (else the service refuses: kFailedPrecondition or
  // kInvalidArgument with its error code). Azurite does not emulate it.
  Status SetProtection(const std::string& key, const BlobProtection& protection) override;
  // kUnimplemented: cloud storage has no meaningful free space.
  Result<uint64_t> FreeBytes() override;

 private:
  struct Call;
  AzureBlobStore(AzureBlobOptions options, std::string key_bytes, std::string path_prefix,
                 std::unique_ptr<HttpClient> http);

  Status Init();
  Status CreateContainerIfMissing();
  // Put, filling `written` with the size, the MD5 and (from the answer) the ETag.
  Status PutObject(const std::string& key, const std::string& source_path,
                   const PutOptions& options, BlobInfo* written);
  // Both fill written->content_md5 and, when the service answered the write, written->etag.
  Status PutSingle(const std::string& key, const std::string& source_path, uint64_t size,
                   const PutOptions& options, BlobInfo* written);
  Status PutBlocks(const std::string& key, const std::string& source_path, uint64_t size,
                   const PutOptions& options, BlobInfo* written);
  // A create-only put whose first attempt may have succeeded before a retry: the object that
  // now exists is ours if it has our MD5 and size.
  Status ResolveRetriedCreate(const Status& status, int attempts, const std::string& key,
                              const std::string& md5, uint64_t size);
  Result<HttpRequest> BuildRequest(const Call& call);
  Result<HttpResponse> Execute(const Call& call);
  // A read (GET/HEAD): the primary, or the secondary when the primary is unreachable (see
  // AzureBlobOptions::secondary_endpoint). The answer is checked as CheckResponse does.
  Result<HttpResponse> ExecuteRead(Call call, const AzureCallContext& context);
  std::string BlobPath(const std::string& key) const;
  std::string ContainerPath() const;

  const AzureBlobOptions options_;
  const std::string key_bytes_;    // decoded Shared Key; empty for SAS or bearer
  const std::string path_prefix_;  // URL path of the endpoint ("/devstoreaccount1" or "")
  std::string secondary_origin_;   // "scheme://host[:port]" of the secondary; empty: none
  std::string secondary_prefix_;   // its URL path
  // Steady-clock time (ns since epoch) until which reads try the secondary first.
  std::atomic<int64_t> prefer_secondary_until_ns_{0};
  const std::unique_ptr<HttpClient> http_;
  const RetryEnvironment retry_environment_;
  std::vector<std::string> leftovers_;  // set once by Init
};

}  // namespace strata::blob
