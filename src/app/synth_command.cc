// `strata synth`: writes deterministic synthetic studies as DICOM Part 10 files.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "app/commands.h"
#include "synth/synth.h"

namespace strata::app {
namespace {

struct SynthArgs {
  std::string out;
  std::string preset = "demo";
  uint64_t seed = 1;
  int patients = 0;
  int first_patient = 0;
  int studies = 0;
  int series = 0;
  int instances = 0;
  int64_t max_bytes = 0;
  double lesion_fraction = 0;
};

int RunSynth(const SynthArgs& args) {
  auto preset = synth::ParsePreset(args.preset);
  if (!preset.ok()) {
    std::cerr << "strata: " << preset.status().ToString() << "\n";
    return 2;
  }
  synth::Options options;
  options.preset = *preset;
  options.seed = args.seed;
  options.patients = args.patients;
  options.first_patient = args.first_patient;
  options.studies_per_patient = args.studies;
  options.series_per_study = args.series;
  options.instances_per_series = args.instances;
  options.max_bytes = args.max_bytes;
  options.lesion_fraction = args.lesion_fraction;
  const auto start = std::chrono::steady_clock::now();
  auto summary = synth::WriteTree(options, args.out);
  if (!summary.ok()) {
    std::cerr << "strata: " << summary.status().ToString() << "\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "synth: %lld files, %lld bytes (%.1f MiB), %lld patients, %lld studies, %lld series in %s "
      "(%.1f s)\n",
      static_cast<long long>(summary->files), static_cast<long long>(summary->bytes),
      static_cast<double>(summary->bytes) / (1024.0 * 1024.0),
      static_cast<long long>(summary->patients), static_cast<long long>(summary->studies),
      static_cast<long long>(summary->series), args.out.c_str(), seconds);
  if (options.lesion_fraction > 0) {
    std::printf("synth: lesion ground truth in %s/%s\n", args.out.c_str(),
                std::string(synth::kLesionManifestName).c_str());
  }
  return 0;
}

}  // namespace

void AddSynthCommand(CLI::App& root, CommandRun* run) {
  auto* cmd =
      root.add_subcommand("synth", "Write deterministic synthetic studies as DICOM Part 10 files");
  auto args = std::make_shared<SynthArgs>();
  cmd->add_option("--out", args->out, "Output directory (created if missing)")->required();
  cmd->add_option("--preset", args->preset, "demo, mixed, ct, cr, mr or tiny")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed; the same seed gives byte-identical files")
      ->capture_default_str();
  cmd->add_option("--patients", args->patients, "Number of patients (default: per preset)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--first-patient", args->first_patient,
                  "Index of the first patient (to extend a data set)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--studies-per-patient", args->studies,
                  "Studies per patient, the latest plus priors")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--series-per-study", args->series, "Series per study (default: per modality)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--instances-per-series", args->instances,
                  "Instances per series (default: per modality)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-bytes", args->max_bytes,
                  "Stop once about this many bytes are written (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lesion-fraction", args->lesion_fraction,
                  "Share of CR/DX chest radiographs given a synthetic lesion, 0 to 1; ground "
                  "truth goes to lesion_manifest.csv (0: none, output unchanged)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->callback([run, args] { *run = [args] { return RunSynth(*args); }; });
}

}  // namespace strata::app
