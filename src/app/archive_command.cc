// `strata archive status`: how far the archive is behind, read from the catalog (works while
// `strata serve` runs, and without it).
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "app/commands.h"
#include "archive/archive_status.h"
#include "catalog/sqlite_catalog.h"
#include "core/config.h"

namespace strata::app {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int ShowStatus(const std::string& config_path, bool json) {
  auto config = LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "strata: " << config.status().ToString() << "\n";
    return 2;
  }
  auto catalog = catalog::OpenSqliteCatalog(config->CatalogPath());
  if (!catalog.ok()) {
    std::cerr << "strata: " << catalog.status().ToString() << "\n";
    return 1;
  }
  auto lag = archive::ReadArchiveLag(**catalog, archive::kArchiverConsumer, NowMs());
  if (!lag.ok()) {
    std::cerr << "strata: " << lag.status().ToString() << "\n";
    return 1;
  }
  if (json) {
    std::cout << archive::ArchiveLagJson(*lag) << "\n";
    return 0;
  }
  std::cout << "archive backend:   " << config->archive_backend << "\n"
            << "pending events:    " << lag->pending_events << "\n"
            << "oldest pending:    "
            << (lag->oldest_pending_at_ms ? std::to_string(lag->oldest_pending_age_ms / 1000) + " s"
                                          : std::string("none"))
            << "\n"
            << "archived objects:  " << lag->archived_objects << "\n"
            << "failed objects:    " << lag->failed_objects << "\n";
  return 0;
}

}  // namespace

void AddArchiveCommand(CLI::App& root, CommandRun* run) {
  auto* cmd = root.add_subcommand("archive", "Inspect the archive copy of stored objects");
  cmd->require_subcommand(1);
  auto* status = cmd->add_subcommand(
      "status", "Archive lag: outbox events not yet archived and the age of the oldest");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  const char* env_path = std::getenv("STRATA_CONFIG");
  if (env_path) *path = env_path;
  status->add_option("-c,--config", *path, "Configuration file (default: $STRATA_CONFIG)");
  status->add_flag("--json", *json, "Print one JSON object");
  status->callback([run, path, json] { *run = [path, json] { return ShowStatus(*path, *json); }; });
}

}  // namespace strata::app
