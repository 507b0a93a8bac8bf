// archive_upload_bench: Strata's archive path, timed, for bench/archive_bench.py.
//
//   archive_upload_bench prepare --work-dir W DIR...
//   archive_upload_bench run --work-dir W --endpoint URL --account A --key-env VAR
//                            --container C [--parallel N] [--batch B] [--tier Hot]
//                            [--log-level warn]
//
// `prepare` stores every file under the DIRs (recursively) through the IngestService into a
// SQLite catalog (W/catalog.sqlite) and a FileBlobStore (W/local), exactly as C-STORE or
// STOW-RS would; this is not timed. It leaves one outbox event per instance.
//
// `run` copies that catalog (so every run starts with the whole backlog pending and nothing
// recorded as archived), opens an AzureBlobStore on a fresh container (created before the
// clock starts) and an archive::Archiver with `parallel_uploads = N`, `batch_size = B`, and
// calls RunBatch (the worker's step, without its poll waits) until the outbox is drained. The
// clock runs from the first RunBatch until the last commit: every object uploaded, checked
// (HEAD: size, MD5 of the local file against the service's, sha256 metadata) and recorded as
// archived in the catalog. Prints one JSON object on stdout.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "archive/archive_status.h"
#include "archive/archiver.h"
#include "blob/azure_blob_store.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "core/log.h"
#include "ingest/ingest_service.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using strata::Result;
using strata::Status;

struct Args {
  std::string command;
  std::string work_dir;
  std::string endpoint;
  std::string account = "devstoreaccount1";
  std::string key_env = "STRATA_BENCH_ACCOUNT_KEY";
  std::string container;
  std::string tier = "Hot";  // strata serve's default ([archive] tier)
  int parallel = 4;
  int batch = 100;
  std::string log_level = "warn";
  std::vector<std::string> inputs;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  if (argc < 2) return false;
  args.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0) {
      args.inputs.push_back(flag);
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--work-dir") {
      args.work_dir = value;
    } else if (flag == "--endpoint") {
      args.endpoint = value;
    } else if (flag == "--account") {
      args.account = value;
    } else if (flag == "--key-env") {
      args.key_env = value;
    } else if (flag == "--container") {
      args.container = value;
    } else if (flag == "--tier") {
      args.tier = value;
    } else if (flag == "--parallel") {
      args.parallel = std::stoi(value);
    } else if (flag == "--batch") {
      args.batch = std::stoi(value);
    } else if (flag == "--log-level") {
      args.log_level = value;
    } else {
      return false;
    }
  }
  if (args.work_dir.empty()) return false;
  if (args.command == "prepare") return !args.inputs.empty();
  if (args.command == "run") return !args.endpoint.empty() && !args.container.empty();
  return false;
}

int Fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "archive_upload_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  return 1;
}

std::vector<std::string> ListFiles(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    if (fs::is_directory(input)) {
      for (const auto& entry : fs::recursive_directory_iterator(input)) {
        if (entry.is_regular_file()) files.push_back(entry.path().string());
      }
    } else {
      files.push_back(input);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int Prepare(const Args& args) {
  fs::create_directories(args.work_dir);
  Result<std::unique_ptr<strata::catalog::Catalog>> catalog =
      strata::catalog::OpenSqliteCatalog(args.work_dir + "/catalog.sqlite");
  if (!catalog.ok()) return Fail("catalog", catalog.status());
  Result<std::unique_ptr<strata::blob::BlobStore>> local =
      strata::blob::OpenFileBlobStore(args.work_dir + "/local");
  if (!local.ok()) return Fail("local store", local.status());
  std::unique_ptr<strata::ingest::IngestService> ingest =
      strata::ingest::CreateIngestService(**catalog, **local, strata::ingest::IngestOptions());
  uint64_t objects = 0;
  uint64_t bytes = 0;
  for (const std::string& file : ListFiles(args.inputs)) {
    Result<std::string> staged = ingest->StagingPath();
    if (!staged.ok()) return Fail("staging", staged.status());
    std::error_code ec;
    fs::copy_file(file, *staged, fs::copy_options::overwrite_existing, ec);
    if (ec) return Fail("copy " + file, strata::Internal(ec.message()));
    const uint64_t size = fs::file_size(*staged);
    strata::ingest::IngestRequest request;
    request.staged_path = *staged;
    request.source_ae = "BENCH";
    Result<strata::ingest::IngestResult> result = ingest->Ingest(request);
    if (!result.ok()) return Fail("ingest " + file, result.status());
    ++objects;
    bytes += size;
  }
  ingest.reset();
  catalog->reset();  // closes the database, so the file can be copied
  nlohmann::json out = {{"objects", objects}, {"bytes", bytes}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int Run(const Args& args) {
  const std::string run_dir = args.work_dir + "/run-" + args.container;
  fs::remove_all(run_dir);
  fs::create_directories(run_dir);
  std::error_code ec;
  fs::copy_file(args.work_dir + "/catalog.sqlite", run_dir + "/catalog.sqlite", ec);
  if (ec) return Fail("copy catalog (run prepare first)", strata::Internal(ec.message()));

  const char* key = getenv(args.key_env.c_str());
  if (key == nullptr) {
    return Fail("credential", strata::InvalidArgument("$" + args.key_env + " is not set"));
  }
  Result<std::unique_ptr<strata::catalog::Catalog>> catalog =
      strata::catalog::OpenSqliteCatalog(run_dir + "/catalog.sqlite");
  if (!catalog.ok()) return Fail("catalog", catalog.status());
  Result<std::unique_ptr<strata::blob::BlobStore>> local =
      strata::blob::OpenFileBlobStore(args.work_dir + "/local");
  if (!local.ok()) return Fail("local store", local.status());

  strata::blob::AzureBlobOptions azure;  // block size, single-put limit, threads: defaults
  azure.endpoint = args.endpoint;
  azure.account = args.account;
  azure.container = args.container;
  azure.shared_key = key;
  azure.staging_dir = run_dir + "/archive-staging";
  azure.create_container = true;
  Result<std::unique_ptr<strata::blob::AzureBlobStore>> archive_store =
      strata::blob::AzureBlobStore::Open(azure);
  if (!archive_store.ok()) return Fail("archive store", archive_store.status());

  strata::archive::ArchiverOptions options;
  options.parallel_uploads = args.parallel;
  options.batch_size = static_cast<size_t>(args.batch);
  if (!args.tier.empty()) options.tier = strata::blob::ParseStorageTier(args.tier);
  Result<std::unique_ptr<strata::archive::Archiver>> archiver =
      strata::archive::Archiver::Create(**catalog, **local, **archive_store, options);
  if (!archiver.ok()) return Fail("archiver", archiver.status());

  Result<strata::archive::ArchiveLag> before =
      strata::archive::ReadArchiveLag(**catalog, options.consumer, 0);
  if (!before.ok()) return Fail("lag", before.status());

  uint64_t archived = 0;
  uint64_t bytes = 0;
  int batches = 0;
  const Clock::time_point start = Clock::now();
  for (;;) {
    Result<strata::archive::BatchOutcome> batch = (*archiver)->RunBatch();
    if (!batch.ok()) return Fail("batch", batch.status());
    if (!batch->retry_later.ok()) return Fail("archive store", batch->retry_later);
    if (batch->events == 0) break;
    archived += batch->archived;
    bytes += batch->bytes_uploaded;
    ++batches;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  Result<strata::archive::ArchiveLag> after =
      strata::archive::ReadArchiveLag(**catalog, options.consumer, 0);
  if (!after.ok()) return Fail("lag", after.status());
  const bool complete = after->pending_events == 0 && after->failed_objects == 0 &&
                        after->archived_objects == before->pending_events;
  nlohmann::json out = {{"path", "archiver"},
                        {"objects", archived},
                        {"bytes", bytes},
                        {"seconds", seconds},
                        {"parallel_uploads", args.parallel},
                        {"batch_size", args.batch},
                        {"batches", batches},
                        {"archived_in_catalog", after->archived_objects},
                        {"failed_in_catalog", after->failed_objects},
                        {"complete", complete}};
  std::printf("%s\n", out.dump().c_str());
  archiver->reset();
  catalog->reset();
  fs::remove_all(run_dir);
  return complete ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: archive_upload_bench prepare --work-dir W DIR...\n"
                 "       archive_upload_bench run --work-dir W --endpoint URL --container C\n"
                 "            [--account A] [--key-env VAR] [--parallel N] [--batch B]"
                 " [--tier T] [--log-level L]\n");
    return 2;
  }
  // "info" shows the per-object azure_put and per-batch archive_batch lines on stderr.
  strata::log::Level level;
  if (!strata::log::ParseLevel(args.log_level, &level)) {
    std::fprintf(stderr, "archive_upload_bench: bad --log-level '%s'\n", args.log_level.c_str());
    return 2;
  }
  strata::log::SetMinLevel(level);
  return args.command == "prepare" ? Prepare(args) : Run(args);
}
