// For the DIMSE tests: an archive in process (real SQLite catalog, file blob store, ingest
// service, audit log) serving DIMSE on 127.0.0.1 with a port of its own, and an ingest service
// whose failures a test can choose.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/sqlite_audit_log.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "dimse/dimse_server.h"
#include "ingest/ingest_service.h"

namespace strata::dimse::testing {

// Forwards to a real IngestService; a test can make StagingPath or Prepare (so Ingest) fail, and
// sees the last request. Associations call it from threads of their own, so the last request is
// kept under a lock.
class ControllableIngest final : public ingest::IngestService {
 public:
  explicit ControllableIngest(ingest::IngestService& base) : base_(base) {}
  Result<std::string> StagingPath() override {
    if (staging_error) return *staging_error;
    return base_.StagingPath();
  }
  Result<ingest::PreparedIngest> Prepare(const ingest::IngestRequest& request) override {
    {
      std::lock_guard lock(mutex_);
      last_request_ = request;
    }
    if (ingest_error) {
      (void)::unlink(request.staged_path.c_str());  // as the real service does on failure
      return *ingest_error;
    }
    return base_.Prepare(request);
  }
  std::vector<Result<ingest::IngestResult>> Commit(
      std::vector<ingest::PreparedIngest> prepared) override {
    return base_.Commit(std::move(prepared));
  }
  void Abandon(ingest::PreparedIngest prepared) override { base_.Abandon(std::move(prepared)); }
  Status Recover() override { return base_.Recover(); }
  std::optional<Status> staging_error;
  std::optional<Status> ingest_error;
  ingest::IngestRequest last_request() {
    std::lock_guard lock(mutex_);
    return last_request_;
  }

 private:
  ingest::IngestService& base_;
  std::mutex mutex_;
  ingest::IngestRequest last_request_;
};

// Everything under `root`, which it removes when it goes. Start `server` to serve.
struct TestArchive {
  std::filesystem::path dir;
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<ingest::IngestService> ingest;
  std::unique_ptr<ControllableIngest> controllable;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<DimseServer> server;

  TestArchive(const std::filesystem::path& root, DimseServerOptions options) : dir(root) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    catalog = std::move(catalog::OpenSqliteCatalog((dir / "catalog.sqlite").string())).value();
    blobs = std::move(blob::OpenFileBlobStore((dir / "objects").string())).value();
    ingest = ingest::CreateIngestService(*catalog, *blobs, ingest::IngestOptions{});
    controllable = std::make_unique<ControllableIngest>(*ingest);
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.acse_timeout_seconds = 5;
    options.dimse_timeout_seconds = 10;
    audit = std::move(audit::OpenSqliteAuditLog((dir / "audit.sqlite").string())).value();
    server = CreateDimseServer(options, *controllable, *catalog, *blobs, *audit);
  }
  ~TestArchive() {
    server->Stop();
    server.reset();
    ingest.reset();
    std::filesystem::remove_all(dir);
  }
  uint16_t port() const { return server->port(); }

  // Every stored instance of `study`.
  std::vector<catalog::InstanceLocation> Locate(const std::string& study) {
    std::vector<catalog::InstanceLocation> found;
    Status read = catalog->Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(found, txn.Locate(study, "", ""));
      return OkStatus();
    });
    EXPECT_TRUE(read.ok()) << read.ToString();
    return found;
  }
};

}  // namespace strata::dimse::testing
