// The `strata` subcommands. Each Add*Command registers its options on `root` and sets
// `*run` (when the subcommand is chosen) to the function that executes it and returns the
// process exit code.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace strata::app {

using CommandRun = std::function<int()>;

void AddServeCommand(CLI::App& root, CommandRun* run);
void AddSynthCommand(CLI::App& root, CommandRun* run);
void AddConfigCommand(CLI::App& root, CommandRun* run);
void AddTokenCommand(CLI::App& root, CommandRun* run);
void AddAuditCommand(CLI::App& root, CommandRun* run);
void AddArchiveCommand(CLI::App& root, CommandRun* run);
void AddModelCommand(CLI::App& root, CommandRun* run);
// `strata admin retention|hold|delete|restore|purge|protection`.
void AddAdminRetentionCommands(CLI::App& root, CommandRun* run);

// The shared `strata admin` parent: returns the existing subcommand, or adds it once. Every
// Add*Command that registers under `admin` gets it here.
CLI::App* AdminCommand(CLI::App& root);
// `strata admin rebuild-catalog|cost|lifecycle` (admin_command.cc).
void AddAdminArchiveCommands(CLI::App& root, CommandRun* run);

}  // namespace strata::app
