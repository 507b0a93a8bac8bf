// `strata admin retention|hold|delete|restore|purge|protection`: retention, legal hold and
// soft delete of studies from the command line (DESIGN.md contract 2, docs/retention.md).
// Works beside a running `strata serve` (the catalog is shared through SQLite's WAL). Every
// command is recorded in the audit log, refusals included.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "audit/sqlite_audit_log.h"
#include "blob/file_blob_store.h"
#include "catalog/sqlite_catalog.h"
#include "core/config.h"
#include "core/time_format.h"

namespace strata::app {
namespace {

struct Args {
  std::string config_path;
  std::string study;
  std::string until;
  std::string reason;
  std::string by;
  bool dry_run = false;
  bool json = false;
};

constexpr int64_t kDayMs = 86400000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Operator(const Args& args) {
  if (!args.by.empty()) return args.by;
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user ? user : "unknown");
}

int Fail(const Status& status) {
  std::cerr << "strata admin: " << status.ToString() << "\n";
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kFailedPrecondition:
      return 4;  // refused: retention, legal hold, or not in the right state
    default:
      return 1;
  }
}

void Audit(audit::AuditLog& log, const Args& args, const std::string& action,
           const std::string& study, const std::string& detail, const Status& outcome) {
  audit::AuditEvent e;
  e.actor = Operator(args);
  e.role = "admin";
  e.source = "local";
  e.protocol = "cli";
  e.action = action;
  e.study_uid = study;
  e.outcome = outcome.ok() ? "success" : "failure";
  e.detail = outcome.ok() ? detail : (detail.empty() ? "" : detail + ": ") + outcome.ToString();
  log.Record(std::move(e));
}

const char* StateName(catalog::StudyState state) {
  return state == catalog::StudyState::kDeleted ? "deleted" : "active";
}

void PrintProtection(const catalog::StudyProtection& p, int64_t now_ms, bool json) {
  const bool retained = !p.retention_until.empty() && catalog::UtcDate(now_ms) <= p.retention_until;
  if (json) {
    nlohmann::json out = {{"study_instance_uid", p.study_instance_uid},
                          {"state", StateName(p.state)},
                          {"retention_until", p.retention_until},
                          {"retained", retained},
                          {"legal_hold", p.hold.held},
                          {"instances", p.instances}};
    if (p.hold.held) {
      out["hold_reason"] = p.hold.reason;
      out["hold_by"] = p.hold.set_by;
      out["hold_at"] = FormatUtcMs(p.hold.set_at_ms);
    }
    if (p.state == catalog::StudyState::kDeleted) {
      out["deleted_by"] = p.deleted_by;
      out["deleted_at"] = FormatUtcMs(p.deleted_at_ms);
    }
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << "study:      " << p.study_instance_uid << "\n"
            << "state:      " << StateName(p.state);
  if (p.state == catalog::StudyState::kDeleted) {
    std::cout << " (by " << p.deleted_by << " at " << FormatUtcMs(p.deleted_at_ms) << ")";
  }
  std::cout << "\nretention:  "
            << (p.retention_until.empty()
                    ? std::string("none")
                    : p.retention_until + (retained ? " (retained)" : " (expired)"))
            << "\nlegal hold: "
            << (p.hold.held ? "yes: " + p.hold.reason + " (by " + p.hold.set_by + " at " +
                                  FormatUtcMs(p.hold.set_at_ms) + ")"
                            : std::string("no"))
            << "\ninstances:  " << p.instances << "\n";
}

// Purges every soft-deleted study older than the window; removes its local objects after
// the commit. Archive copies are left where they are.
int Purge(const Config& config, catalog::Catalog& catalog, audit::AuditLog& log, const Args& args) {
  const int64_t now_ms = NowMs();
  const int64_t window_ms = int64_t{config.retention_soft_delete_days} * kDayMs;
  std::vector<catalog::DeletedStudy> candidates;
  Status read = catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(candidates, txn.PurgeCandidates(now_ms, window_ms));
    return OkStatus();
  });
  if (!read.ok()) return Fail(read);
  if (args.dry_run) {
    for (const auto& d : candidates) {
      std::cout << "would purge " << d.study_instance_uid << " (" << d.instances
                << " instances, deleted by " << d.deleted_by << " at "
                << FormatUtcMs(d.deleted_at_ms) << ")\n";
    }
    std::cout << candidates.size() << " studies would be purged\n";
    return 0;
  }
  auto blobs = blob::OpenFileBlobStore(config.BlobPath());
  if (!blobs.ok()) return Fail(blobs.status());
  int failures = 0;
  size_t purged = 0;
  for (const auto& d : candidates) {
    std::vector<std::string> keys;
    Status status = catalog.Write([&](catalog::WriteTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(keys, txn.PurgeStudy(d.study_instance_uid, Operator(args), now_ms));
      return OkStatus();
    });
    size_t removed = 0;
    std::string detail;
    if (status.ok()) {
      ++purged;
      for (const auto& key : keys) {
        Status deleted = (*blobs)->Delete(key);
        if (deleted.ok() || deleted.code() == StatusCode::kNotFound) {
          ++removed;
        } else {
          std::cerr << "strata admin: purge " << d.study_instance_uid << ": object " << key
                    << " left: " << deleted.ToString() << "\n";
          ++failures;
        }
      }
      detail = std::to_string(removed) + " of " + std::to_string(keys.size()) +
               " local objects removed; archive copies kept";
      std::cout << "purged " << d.study_instance_uid << ": " << detail << "\n";
    } else {
      ++failures;
      std::cerr << "strata admin: purge " << d.study_instance_uid << ": " << status.ToString()
                << "\n";
    }
    Audit(log, args, "study.purge", d.study_instance_uid, detail, status);
  }
  std::cout << purged << " studies purged\n";
  return failures == 0 ? 0 : 1;
}

int Run(const Args& args, const std::string& command) {
  auto config = LoadConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  std::error_code ec;
  std::filesystem::create_directories(config->data_dir, ec);
  auto catalog = catalog::OpenSqliteCatalog(config->CatalogPath());
  if (!catalog.ok()) return Fail(catalog.status());
  auto audit_log = audit::OpenSqliteAuditLog(config->AuditPath());
  if (!audit_log.ok()) return Fail(audit_log.status());
  audit::AuditLog& log = **audit_log;
  const int64_t now_ms = NowMs();
  const std::string by = Operator(args);
  Status outcome;
  std::string action, detail, done;
  int code = 0;
  if (command == "purge") {
    code = Purge(*config, **catalog, log, args);
    log.Flush().IgnoreError();
    return code;
  }
  if (command == "protection") {
    catalog::StudyProtection p;
    outcome = (*catalog)->Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(p, txn.GetStudyProtection(args.study));
      return OkStatus();
    });
    Audit(log, args, "study.protection.read", args.study, "", outcome);
    log.Flush().IgnoreError();
    if (!outcome.ok()) return Fail(outcome);
    PrintProtection(p, now_ms, args.json);
    return 0;
  }
  outcome = (*catalog)->Write([&](catalog::WriteTxn& txn) -> Status {
    if (command == "retention-set") {
      action = "study.retention.set";
      const std::string until = args.until == "none" ? "" : args.until;
      detail = "until " + (until.empty() ? std::string("none") : until);
      done = "retention of " + args.study + " set to " + detail;
      return txn.SetRetention(args.study, until);
    }
    if (command == "hold-set") {
      action = "study.hold.set";
      detail = "reason: " + args.reason;
      done = "legal hold set on " + args.study;
      return txn.SetLegalHold(args.study, args.reason, by, now_ms);
    }
    if (command == "hold-clear") {
      action = "study.hold.clear";
      detail = args.reason.empty() ? "" : "reason: " + args.reason;
      done = "legal hold cleared on " + args.study;
      return txn.ClearLegalHold(args.study);
    }
    if (command == "delete") {
      action = "study.delete";
      detail = "soft delete, recoverable for " +
               std::to_string(config->retention_soft_delete_days) + " days";
      done = "deleted " + args.study + " (recoverable with `strata admin restore` for " +
             std::to_string(config->retention_soft_delete_days) + " days)";
      return txn.SoftDeleteStudy(args.study, by, now_ms);
    }
    action = "study.restore";
    done = "restored " + args.study;
    return txn.RestoreStudy(args.study, by);
  });
  Audit(log, args, action, args.study, detail, outcome);
  log.Flush().IgnoreError();
  if (!outcome.ok()) return Fail(outcome);
  std::cout << done << "\n";
  return 0;
}

}  // namespace

void AddAdminRetentionCommands(CLI::App& root, CommandRun* run) {
  CLI::App* admin = AdminCommand(root);  // shared with admin_command.cc
  auto args = std::make_shared<Args>();
  const char* env_path = std::getenv("STRATA_CONFIG");
  if (env_path) args->config_path = env_path;
  auto common = [&](CLI::App* sub, bool study) {
    sub->add_option("-c,--config", args->config_path,
                    "Configuration file (default: embedded defaults, or $STRATA_CONFIG)");
    sub->add_option("--by", args->by, "Who does it, for the audit log (default: cli:$USER)");
    if (study) sub->add_option("--study", args->study, "Study Instance UID")->required();
  };
  auto bind = [run, args](CLI::App* sub, std::string name) {
    sub->callback([run, args, name] { *run = [args, name] { return Run(*args, name); }; });
  };

  auto* retention = admin->add_subcommand("retention", "Retention date of a study");
  retention->require_subcommand(1);
  auto* retention_set =
      retention->add_subcommand("set", "Keep a study (no delete, no overwrite) through a date");
  common(retention_set, true);
  retention_set->add_option("--until", args->until, "YYYYMMDD (UTC, inclusive), or none")
      ->required();
  bind(retention_set, "retention-set");

  auto* hold = admin->add_subcommand("hold", "Legal hold of a study");
  hold->require_subcommand(1);
  auto* hold_set = hold->add_subcommand("set", "Place a study under legal hold");
  common(hold_set, true);
  hold_set->add_option("--reason", args->reason, "Why (case, order), for the record")->required();
  bind(hold_set, "hold-set");
  auto* hold_clear = hold->add_subcommand("clear", "Lift the legal hold of a study");
  common(hold_clear, true);
  hold_clear->add_option("--reason", args->reason, "Why, for the audit log");
  bind(hold_clear, "hold-clear");

  auto* del = admin->add_subcommand(
      "delete", "Soft-delete a study: hidden, recoverable until purged after soft_delete_days");
  common(del, true);
  bind(del, "delete");
  auto* restore = admin->add_subcommand("restore", "Bring back a soft-deleted study");
  common(restore, true);
  bind(restore, "restore");
  auto* purge = admin->add_subcommand(
      "purge",
      "Remove soft-deleted studies older than [retention] soft_delete_days (never "
      "retained or held ones); local objects only, archive copies are kept");
  common(purge, false);
  purge->add_flag("--dry-run", args->dry_run, "List what would be purged, change nothing");
  bind(purge, "purge");
  auto* protection =
      admin->add_subcommand("protection", "Retention, legal hold and state of a study");
  common(protection, true);
  protection->add_flag("--json", args->json, "Print one JSON object");
  bind(protection, "protection");
}

}  // namespace strata::app
