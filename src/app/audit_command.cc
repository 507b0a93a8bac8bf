// `strata audit`: reads the audit log (filtered, as a table or JSON lines) and verifies its
// hash chain.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "audit/sqlite_audit_log.h"
#include "core/config.h"
#include "core/time_format.h"

namespace strata::app {
namespace {

struct AuditArgs {
  std::string config_path;
  audit::AuditFilter filter;
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  bool json = false;
};

Result<std::unique_ptr<audit::AuditLog>> OpenFromConfig(const std::string& config_path) {
  STRATA_ASSIGN_OR_RETURN(Config config, LoadConfig(config_path));
  return audit::OpenSqliteAuditLogReadOnly(config.AuditPath());
}

int Show(const AuditArgs& args) {
  auto log = OpenFromConfig(args.config_path);
  if (!log.ok()) {
    std::cerr << "strata: " << log.status().ToString() << "\n";
    return 1;
  }
  audit::AuditFilter filter = args.filter;
  if (args.since_ms) filter.since_ms = args.since_ms;
  if (args.until_ms) filter.until_ms = args.until_ms;
  auto records = (*log)->Read(filter);
  if (!records.ok()) {
    std::cerr << "strata: " << records.status().ToString() << "\n";
    return 1;
  }
  for (const auto& r : *records) {
    const auto& e = r.event;
    if (args.json) {
      std::cout << audit::CanonicalJson(r.seq, e) << "\n";
      continue;
    }
    std::cout << r.seq << "  " << FormatUtcMs(e.time_ms) << "  " << e.actor << " (" << e.role
              << ") from " << e.source << "  " << e.action << "  " << e.outcome;
    if (!e.study_uid.empty()) std::cout << "  study=" << e.study_uid;
    if (!e.series_uid.empty()) std::cout << " series=" << e.series_uid;
    if (!e.instance_uid.empty()) std::cout << " instance=" << e.instance_uid;
    if (!e.detail.empty()) std::cout << "  [" << e.detail << "]";
    std::cout << "\n";
  }
  return 0;
}

int Verify(const std::string& config_path) {
  auto log = OpenFromConfig(config_path);
  if (!log.ok()) {
    std::cerr << "strata: " << log.status().ToString() << "\n";
    return 1;
  }
  auto result = (*log)->Verify();
  if (!result.ok()) {
    std::cerr << "strata: " << result.status().ToString() << "\n";
    return 1;
  }
  if (result->first_broken_seq != 0) {
    std::cout << "audit log BROKEN: record " << result->first_broken_seq
              << " does not follow from its predecessor (" << result->records << " records)\n";
    return 3;
  }
  std::cout << "audit log intact: " << result->records << " records\n";
  return 0;
}

}  // namespace

void AddAuditCommand(CLI::App& root, CommandRun* run) {
  auto* cmd = root.add_subcommand("audit", "Read the audit log, or verify its hash chain");
  auto args = std::make_shared<AuditArgs>();
  cmd->add_option("-c,--config", args->config_path, "Configuration file (default: built-in)");
  cmd->add_option("--after", args->filter.after_seq, "Only records after this sequence number");
  cmd->add_option("--since-ms", args->since_ms, "Only records at or after this Unix time (ms)");
  cmd->add_option("--until-ms", args->until_ms, "Only records before this Unix time (ms)");
  cmd->add_option("--actor", args->filter.actor, "Only this actor (token name or ae:<AE>)");
  cmd->add_option("--action", args->filter.action, "Only this action (e.g. wado.instance)");
  cmd->add_option("--study", args->filter.study_uid, "Only this Study Instance UID");
  cmd->add_option("--limit", args->filter.limit, "At most this many records")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--json", args->json, "One JSON object per line");
  auto* verify = cmd->add_subcommand("verify", "Check the hash chain of the whole log");
  cmd->callback([run, args, verify] {
    if (verify->parsed()) {
      *run = [args] { return Verify(args->config_path); };
    } else {
      *run = [args] { return Show(*args); };
    }
  });
}

}  // namespace strata::app
