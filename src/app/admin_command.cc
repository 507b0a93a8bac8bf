// `strata admin rebuild-catalog|cost|lifecycle`: the hybrid archive's operations (see
// docs/operations.md), and AdminCommand, the `admin` parent every admin subcommand shares.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.h"
#include "app/wiring.h"
#include "archive/catalog_rebuild.h"
#include "archive/cost_report.h"
#include "archive/lifecycle.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "core/config.h"
#include "dicom/dicom_file.h"

namespace strata::app {
namespace {

struct AdminArgs {
  std::string config_path;
  bool json = false;
  bool dry_run = false;
  bool from_archive = false;
  int parallel = 4;
};

int Fail(const Status& status) {
  std::cerr << "strata admin: " << status.ToString() << "\n";
  return 1;
}

// The opaque naming secret: the whole file, surrounding white space removed.
Result<std::string> ReadNamingKey(const std::string& path) {
  if (path.empty())
    return InvalidArgument("archive.naming = \"opaque\" needs archive.naming_key_file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("archive naming key: file '" + path + "' cannot be read");
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string key = buf.str();
  const auto first = key.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return InvalidArgument("archive naming key is empty");
  return key.substr(first, key.find_last_not_of(" \t\r\n") - first + 1);
}

Result<std::unique_ptr<blob::BlobStore>> OpenConfiguredArchive(const Config& config) {
  if (config.archive_backend == "none") {
    return FailedPrecondition("no archive store is configured ([archive] backend = \"none\")");
  }
  return OpenArchiveStore(config);
}

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

int RebuildCatalogCommand(const AdminArgs& args) {
  auto config = LoadConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  dicom::SilenceDcmtkLogging();
  auto archive = OpenConfiguredArchive(*config);
  if (!archive.ok()) return Fail(archive.status());
  archive::RebuildOptions options;
  options.parallel_downloads = args.parallel;
  options.retention.default_years = config->retention_default_years;
  options.retention.modality_years = config->retention_modality_years;
  if (config->archive_naming == "opaque") {
    options.naming = blob::BlobNaming::kOpaque;
    auto key = ReadNamingKey(config->archive_naming_key_file);
    if (!key.ok()) return Fail(key.status());
    options.naming_key = std::move(*key);
  }
  std::error_code ec;
  std::filesystem::create_directories(config->data_dir, ec);
  if (ec) return Fail(Unavailable("cannot create data directory '" + config->data_dir + "'"));
  auto catalog = catalog::OpenSqliteCatalog(config->CatalogPath());
  if (!catalog.ok()) return Fail(catalog.status());
  auto report = archive::RebuildCatalog(**catalog, **archive, options);
  if (!report.ok()) return Fail(report.status());
  if (args.json) {
    std::cout << archive::RebuildReportJson(*report) << "\n";
  } else {
    const double secs = report->seconds > 0 ? report->seconds : 1e-9;
    std::printf(
        "listed:             %llu\nrecorded:           %llu\nduplicates:         %llu\n"
        "failed:             %llu (in the Archive tier: %llu)\nambiguous versions: %llu\n"
        "bytes:              %s\ntime:               %.2f s (%.1f objects/s, %.1f MiB/s)\n",
        static_cast<unsigned long long>(report->listed),
        static_cast<unsigned long long>(report->recorded),
        static_cast<unsigned long long>(report->duplicates),
        static_cast<unsigned long long>(report->failed),
        static_cast<unsigned long long>(report->needs_rehydration),
        static_cast<unsigned long long>(report->ambiguous_versions), Mib(report->bytes).c_str(),
        report->seconds, static_cast<double>(report->recorded) / secs,
        static_cast<double>(report->bytes) / (1024.0 * 1024.0) / secs);
    for (const auto& f : report->failures) {
      std::cout << "failed: " << f.archive_key << ": " << f.error << "\n";
    }
  }
  return report->failed == 0 ? 0 : 3;
}

int CostCommand(const AdminArgs& args) {
  auto config = LoadConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  auto catalog = catalog::OpenSqliteCatalog(config->CatalogPath());
  if (!catalog.ok()) return Fail(catalog.status());
  auto local = blob::OpenFileBlobStore(config->BlobPath());
  if (!local.ok()) return Fail(local.status());
  archive::StoragePrices prices;
  prices.hot_per_gb_month = config->cost_hot_per_gb_month;
  prices.cool_per_gb_month = config->cost_cool_per_gb_month;
  prices.cold_per_gb_month = config->cost_cold_per_gb_month;
  prices.archive_per_gb_month = config->cost_archive_per_gb_month;
  prices.local_per_gb_month = config->cost_local_per_gb_month;
  prices.currency = config->cost_currency;
  auto report = archive::ReadCostReport(**catalog, local->get(), prices);
  if (!report.ok()) return Fail(report.status());
  std::cout << (args.json ? archive::CostReportJson(*report) + "\n"
                          : archive::CostReportText(*report));
  return 0;
}

int LifecycleCommand(const AdminArgs& args) {
  auto config = LoadConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  auto archive = OpenConfiguredArchive(*config);
  if (!archive.ok()) return Fail(archive.status());
  auto catalog = catalog::OpenSqliteCatalog(config->CatalogPath());
  if (!catalog.ok()) return Fail(catalog.status());
  auto local = blob::OpenFileBlobStore(config->BlobPath());
  if (!local.ok()) return Fail(local.status());
  archive::LifecycleOptions options;
  options.dry_run = args.dry_run;
  options.rules = ConfiguredLifecycleRules(*config);
  auto copies = archive::LocalStoreCopies(**local);
  auto report = archive::RunLifecycle(**catalog, **archive, copies.get(), options);
  if (!report.ok()) return Fail(report.status());
  if (args.json) {
    std::cout << archive::LifecycleReportJson(*report) << "\n";
  } else {
    std::cout << (report->dry_run ? "plan (dry run, nothing changed):\n" : "applied:\n")
              << "  archived objects examined: " << report->examined << "\n";
    if (report->untiered > 0) {
      std::cout << "  without a recorded tier (left alone): " << report->untiered << "\n";
    }
    for (const auto& m : report->moves) {
      std::cout << "  " << blob::StorageTierName(m.from) << " -> " << blob::StorageTierName(m.to)
                << ": " << m.count.objects << " objects, " << Mib(m.count.bytes) << "\n";
    }
    if (report->moves.empty()) std::cout << "  tier moves: none\n";
    std::cout << "  evict local copy: " << report->evict_local.objects << " objects, "
              << Mib(report->evict_local.bytes) << "\n";
    if (report->evict_kept > 0) {
      std::cout << "  kept (pinned or in use): " << report->evict_kept << "\n";
    }
    if (report->failed > 0) std::cout << "  failed: " << report->failed << "\n";
    for (const auto& f : report->failures) std::cout << "  failed: " << f << "\n";
  }
  return report->failed == 0 ? 0 : 3;
}

}  // namespace

CLI::App* AdminCommand(CLI::App& root) {
  try {
    return root.get_subcommand("admin");
  } catch (const CLI::OptionNotFound&) {
    CLI::App* admin = root.add_subcommand("admin", "Administration of the archive and its data");
    admin->require_subcommand(1);
    return admin;
  }
}

void AddAdminArchiveCommands(CLI::App& root, CommandRun* run) {
  CLI::App* admin = AdminCommand(root);
  auto args = std::make_shared<AdminArgs>();
  const char* env_path = std::getenv("STRATA_CONFIG");
  if (env_path) args->config_path = env_path;
  auto common = [&](CLI::App* sub) {
    sub->add_option("-c,--config", args->config_path,
                    "Configuration file (default: embedded defaults, or $STRATA_CONFIG)");
    sub->add_flag("--json", args->json, "Print one JSON object");
  };

  auto* rebuild = admin->add_subcommand(
      "rebuild-catalog",
      "Re-create the catalog of an empty data directory from the archive store alone");
  common(rebuild);
  rebuild->add_flag("--from-archive", args->from_archive,
                    "Read the archive store (the only source so far; the default)");
  rebuild->add_option("--parallel", args->parallel, "Objects downloaded at once")
      ->check(CLI::Range(1, 64));
  rebuild->callback([run, args] { *run = [args] { return RebuildCatalogCommand(*args); }; });

  auto* cost = admin->add_subcommand(
      "cost", "Objects and bytes per archive tier and locally, with a monthly estimate");
  common(cost);
  cost->callback([run, args] { *run = [args] { return CostCommand(*args); }; });

  auto* lifecycle = admin->add_subcommand(
      "lifecycle", "Apply the [lifecycle] rules: tier moves and local evictions");
  common(lifecycle);
  lifecycle->add_flag("--dry-run", args->dry_run, "Print the plan only; change nothing");
  lifecycle->callback([run, args] { *run = [args] { return LifecycleCommand(*args); }; });
}

}  // namespace strata::app
