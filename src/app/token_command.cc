// `strata token new`: makes an API token secret and prints the config entry holding its hash.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "security/authenticator.h"

namespace strata::app {

void AddTokenCommand(CLI::App& root, CommandRun* run) {
  auto* cmd = root.add_subcommand("token", "Manage API tokens of the HTTP API");
  cmd->require_subcommand(1);
  auto* make = cmd->add_subcommand(
      "new", "Make a new token: prints the secret (shown once) and the [auth] tokens entry");
  struct Args {
    std::string name;
    std::string role = "reader";
  };
  auto args = std::make_shared<Args>();
  make->add_option("--name", args->name, "Who the token is for (e.g. ohif, modality-ct1)")
      ->required();
  make->add_option("--role", args->role, "reader, writer or admin")
      ->check(CLI::IsMember({"reader", "writer", "admin"}));
  make->callback([run, args] {
    *run = [args]() -> int {
      auto check =
          security::TokenAuthenticator::Create({{args->name, args->role, security::Sha256Hex("")}});
      if (!check.ok() || args->name.find_first_of(":, \t") != std::string::npos) {
        std::cerr << "strata: token name must be non-empty without ':', ',' or spaces\n";
        return 2;
      }
      const std::string secret = security::NewTokenSecret();
      const std::string digest = security::Sha256Hex(secret);
      std::cout << "secret: " << secret << "\n"
                << "# Give the secret to the client (Authorization: Bearer <secret>, or Basic\n"
                << "# with user '" << args->name << "'). Strata keeps only its SHA-256:\n"
                << "# strata.toml\n"
                << "[auth]\n"
                << "tokens = [{ name = \"" << args->name << "\", role = \"" << args->role
                << "\", sha256 = \"" << digest << "\" }]\n"
                << "# or in the environment\n"
                << "STRATA_AUTH_TOKENS=" << args->name << ":" << args->role << ":" << digest
                << "\n";
      return 0;
    };
  });
}

}  // namespace strata::app
