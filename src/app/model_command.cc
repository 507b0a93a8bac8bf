// `strata model register | list | activate | deactivate`: the model registry, from the command
// line (works beside a running `strata serve`, which picks up changes on its next routing
// step). Every change is recorded in the audit log.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "ai/model_registry.h"
#include "ai/sqlite_ai_records.h"
#include "app/commands.h"
#include "audit/sqlite_audit_log.h"
#include "blob/file_blob_store.h"
#include "core/config.h"
#include "core/time_format.h"
#include "inference/engine_factory.h"

namespace strata::app {
namespace {

struct Args {
  std::string config_path;
  std::string onnx;
  std::string card;
  std::string name;
  std::string version;
  std::string by;
  bool activate = false;
};

// Who runs the command, for the registry and the audit trail.
std::string Operator(const Args& args) {
  if (!args.by.empty()) return args.by;
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user ? user : "unknown");
}

int Fail(const Status& status) {
  std::cerr << "strata model: " << status.ToString() << "\n";
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

void Audit(audit::AuditLog& log, const Args& args, const std::string& action,
           const std::string& detail, const Status& outcome) {
  audit::AuditEvent e;
  e.actor = Operator(args);
  e.role = "admin";
  e.source = "local";
  e.protocol = "cli";
  e.action = action;
  e.outcome = outcome.ok() ? "success" : "failure";
  e.detail = outcome.ok() ? detail : detail + ": " + outcome.ToString();
  log.Record(std::move(e));
  log.Flush().IgnoreError();
}

int Run(const Args& args, const std::string& command) {
  auto config = LoadConfig(args.config_path);
  if (!config.ok()) return Fail(config.status());
  std::error_code ec;
  std::filesystem::create_directories(config->data_dir, ec);
  auto records = ai::OpenSqliteAiRecords(config->AiRecordsPath());
  if (!records.ok()) return Fail(records.status());
  if (command == "list") {
    auto models = (*records)->ListModels();
    if (!models.ok()) return Fail(models.status());
    std::cout << std::left << std::setw(24) << "NAME" << std::setw(12) << "VERSION" << std::setw(8)
              << "ACTIVE" << std::setw(26) << "REGISTERED"
              << "SHA256\n";
    for (const auto& m : *models) {
      std::cout << std::setw(24) << m.name << std::setw(12) << m.version << std::setw(8)
                << (m.active ? "yes" : "no") << std::setw(26) << FormatUtcMs(m.registered_at_ms)
                << m.sha256_hex.substr(0, 16) << "\n";
    }
    return 0;
  }
  auto audit_log = audit::OpenSqliteAuditLog(config->AuditPath());
  if (!audit_log.ok()) return Fail(audit_log.status());
  Status outcome;
  std::string detail;
  if (command == "register") {
    auto blobs = blob::OpenFileBlobStore(config->BlobPath());
    if (!blobs.ok()) return Fail(blobs.status());
    // The model is checked on a local engine whatever engine serves it later.
    auto engine = inference::CreateInferenceEngine({});
    if (!engine.ok()) return Fail(engine.status());
    auto model = ai::RegisterModelFiles(**records, **blobs, **engine,
                                        {args.onnx, args.card, Operator(args)});
    outcome = model.status();
    if (model.ok()) {
      detail = model->name + " " + model->version + " sha256 " + model->sha256_hex;
      if (args.activate) outcome = (*records)->Activate(model->name, model->version);
      auto active = (*records)->GetModel(model->name, model->version);
      std::cout << "registered " << model->name << " " << model->version << " (sha256 "
                << model->sha256_hex << ")"
                << (active.ok() && *active && (*active)->active ? ", active" : ", not active")
                << "\n";
    } else {
      detail = args.onnx;
    }
    Audit(**audit_log, args, "model.register", detail, outcome);
  } else if (command == "activate") {
    detail = args.name + " " + args.version;
    outcome = (*records)->Activate(args.name, args.version);
    Audit(**audit_log, args, "model.activate", detail, outcome);
    if (outcome.ok()) std::cout << "active: " << detail << "\n";
  } else {
    detail = args.name;
    outcome = (*records)->Deactivate(args.name);
    Audit(**audit_log, args, "model.deactivate", detail, outcome);
    if (outcome.ok()) std::cout << "no version of " << args.name << " is active\n";
  }
  return outcome.ok() ? 0 : Fail(outcome);
}

}  // namespace

void AddModelCommand(CLI::App& root, CommandRun* run) {
  auto* cmd = root.add_subcommand("model", "Register, list, activate and deactivate AI models");
  cmd->require_subcommand(1);
  auto args = std::make_shared<Args>();
  const char* env_path = std::getenv("STRATA_CONFIG");
  if (env_path) args->config_path = env_path;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("-c,--config", args->config_path,
                    "Configuration file (default: embedded defaults, or $STRATA_CONFIG)");
  };
  auto* reg = cmd->add_subcommand("register", "Check and store an ONNX model with its card");
  add_common(reg);
  reg->add_option("--onnx", args->onnx, "The ONNX model file")->required();
  reg->add_option("--card", args->card, "Its model card (JSON, see docs/ai.md)")->required();
  reg->add_flag("--activate", args->activate,
                "Make this the active version (the first version of a name always is)");
  reg->add_option("--by", args->by, "Who registers it (default: cli:$USER)");
  auto* list = cmd->add_subcommand("list", "Registered models and versions");
  add_common(list);
  auto* activate = cmd->add_subcommand("activate", "Make one version the active one");
  add_common(activate);
  activate->add_option("name", args->name)->required();
  activate->add_option("version", args->version)->required();
  activate->add_option("--by", args->by, "Who activates it (default: cli:$USER)");
  auto* deactivate = cmd->add_subcommand("deactivate", "Stop running any version of a model");
  add_common(deactivate);
  deactivate->add_option("name", args->name)->required();
  deactivate->add_option("--by", args->by, "Who deactivates it (default: cli:$USER)");
  for (auto* sub : {reg, list, activate, deactivate}) {
    const std::string name = sub->get_name();
    sub->callback([run, args, name] { *run = [args, name] { return Run(*args, name); }; });
  }
}

}  // namespace strata::app
