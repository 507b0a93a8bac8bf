// Synthetic studies for tests, demos and benchmarks: deterministic DICOM Part 10 files
// (Explicit VR Little Endian) with realistic patient/study/series attributes and cheap but
// non-trivial pixel data.
//
// Determinism: every byte is a function of (seed, preset, per-level counts, patient index).
// There are no wall-clock dates. UIDs are "2.25.<decimal>" (PS3.5 B.2): a 128-bit UUID of
// version 8 (RFC 9562, custom) whose bits are a hash of the seed and the entity's position,
// so the same seed always yields the same UIDs and different seeds practically never collide.
// Patient i's files do not depend on which other patients are generated, so
// `--first-patient 0 --patients 10` equals the union of `0/5` and `5/5`.
//
// Identifiers: PatientID "SYN<seed mod 1000, 3 digits>-<patient index, 7 digits>";
// AccessionNumber "A<seed mod 1000, 3 digits><patient index, 7 digits><study index, 2 digits>".
// Layout: <out>/<PatientID>/<AccessionNumber>/<SeriesNumber, 3 digits>/<InstanceNumber, 5
// digits>.dcm
//
// Thread-safety: the functions are reentrant; ForEachFile calls `sink` on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::synth {

enum class Preset {
  kDemo,   // 1 patient, 1 small CR study (2 views); fast
  kMixed,  // CT, CR/DX and MR studies; each patient has priors at earlier dates
  kCt,     // CT only: series of 512x512 slices
  kCr,     // CR/DX radiographs only, about 2000x2500
  kMr,     // MR only: series of 256x256 slices
  kTiny,   // 8x8 images with full metadata, for loading many instances fast
};

// Accepts "demo", "mixed", "ct", "cr", "mr", "tiny"; kInvalidArgument otherwise.
Result<Preset> ParsePreset(std::string_view name);
std::string_view PresetName(Preset preset);

struct Options {
  Preset preset = Preset::kDemo;
  uint64_t seed = 1;
  int patients = 0;              // 0: the preset's default
  int first_patient = 0;         // index of the first patient generated
  int studies_per_patient = 0;   // 0: the preset's default
  int series_per_study = 0;      // 0: per-modality default
  int instances_per_series = 0;  // 0: per-modality default
  int64_t max_bytes = 0;         // stop once this many bytes are produced; 0: no limit
};

struct Summary {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
};

// One generated file: its path relative to the output directory and its bytes.
struct GeneratedFile {
  std::string relative_path;
  std::string bytes;
};

// Generates the files in a fixed order and hands each to `sink`; stops early when `sink` fails
// (returning its status) or when options.max_bytes is reached.
// Fails with kInvalidArgument on negative or out-of-range counts.
Result<Summary> ForEachFile(const Options& options,
                            const std::function<Status(GeneratedFile&)>& sink);

// Writes the files under `out_dir` (created if missing). Fails with kInternal on I/O errors.
Result<Summary> WriteTree(const Options& options, const std::string& out_dir);

}  // namespace strata::synth
