// `strata`: one binary, one subcommand per job.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App root{"Strata: hybrid imaging archive"};
  root.require_subcommand(1);
  strata::app::CommandRun run;
  strata::app::AddServeCommand(root, &run);
  strata::app::AddSynthCommand(root, &run);
  strata::app::AddConfigCommand(root, &run);
  strata::app::AddTokenCommand(root, &run);
  strata::app::AddAuditCommand(root, &run);
  strata::app::AddArchiveCommand(root, &run);
  strata::app::AddModelCommand(root, &run);
  strata::app::AddAdminRetentionCommands(root, &run);
  strata::app::AddAdminArchiveCommands(root, &run);
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return root.exit(e);
  }
  if (!run) {
    std::cerr << root.help();
    return 2;
  }
  return run();
}
