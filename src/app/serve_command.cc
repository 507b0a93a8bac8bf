// `strata serve`: every service in one process until SIGTERM or SIGINT.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "app/commands.h"
#include "app/wiring.h"
#include "core/config.h"
#include "core/log.h"
#include "dicom/dicom_file.h"

namespace strata::app {
namespace {

int Serve(const std::string& config_path) {
  auto config = LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "strata serve: " << config.status().ToString() << "\n";
    return 2;
  }
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config->log_level, &level);
  log::SetMinLevel(level);
  // DCMTK reads this when it opens sockets; without it Nagle's algorithm delays every DIMSE
  // message by up to 40 ms.
  setenv("TCP_NODELAY", "1", 1);
  dicom::SilenceDcmtkLogging();
  dicom::RegisterCodecs();

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto services = BuildServices(*config);
  if (!services.ok()) {
    log::Error("serve_start_failed", {{"reason", services.status().ToString()}});
    return 1;
  }
  Status started = (*services)->dimse->Start();
  if (!started.ok()) {
    log::Error("serve_start_failed", {{"reason", started.ToString()}});
    return 1;
  }
  started = (*services)->dicomweb->Start();
  if (!started.ok()) {
    (*services)->dimse->Stop();
    log::Error("serve_start_failed", {{"reason", started.ToString()}});
    return 1;
  }
  // The archiver runs beside ingest and never holds it up (contract 6).
  if ((*services)->archiver) (*services)->archiver->Start();
  (*services)->cache->Start();
  if ((*services)->prefetcher) (*services)->prefetcher->Start();
  if ((*services)->lifecycle) (*services)->lifecycle->Start();
  if ((*services)->ai) (*services)->ai->Start();
  log::Info("serve_ready", {{"ae_title", config->ae_title},
                            {"dimse_bind", config->dimse_bind},
                            {"dimse_port", static_cast<int64_t>((*services)->dimse->port())},
                            {"http_bind", config->http_bind},
                            {"http_port", static_cast<int64_t>((*services)->dicomweb->port())},
                            {"http_tls", !config->http_tls_certificate.empty()},
                            {"data_dir", config->data_dir}});
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log::Info("serve_stopping", {{"signal", static_cast<int64_t>(signal)}});
  (*services)->dicomweb->Stop();
  (*services)->dimse->Stop();
  if ((*services)->archiver) (*services)->archiver->Stop();
  if ((*services)->prefetcher) (*services)->prefetcher->Stop();
  if ((*services)->lifecycle) (*services)->lifecycle->Stop();
  if ((*services)->ai) (*services)->ai->Stop();
  services->reset();
  log::Info("serve_stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& root, CommandRun* run) {
  auto* cmd = root.add_subcommand("serve", "Run every Strata service in one process");
  auto path = std::make_shared<std::string>();
  const char* env_path = std::getenv("STRATA_CONFIG");
  if (env_path) *path = env_path;
  cmd->add_option("-c,--config", *path,
                  "Configuration file (TOML; default: embedded defaults, or $STRATA_CONFIG)");
  cmd->callback([run, path] { *run = [path] { return Serve(*path); }; });
}

}  // namespace strata::app
