// `strata config`: prints the documented default configuration, or checks a file.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "core/config.h"

namespace strata::app {

void AddConfigCommand(CLI::App& root, CommandRun* run) {
  auto* cmd =
      root.add_subcommand("config", "Print the documented default configuration, or check a file");
  auto path = std::make_shared<std::string>();
  cmd->add_option("--check", *path, "Configuration file to validate (with STRATA_* overrides)");
  cmd->callback([run, path] {
    *run = [path]() -> int {
      if (path->empty()) {
        std::cout << DefaultConfigToml();
        return 0;
      }
      auto config = LoadConfig(*path);
      if (!config.ok()) {
        std::cerr << "strata: " << config.status().ToString() << "\n";
        return 1;
      }
      std::cout << "configuration OK\n";
      return 0;
    };
  });
}

}  // namespace strata::app
