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
// Synthetic lesions: with Options::lesion_fraction > 0, each CR/DX chest radiograph gets, with
// that probability, a soft round opacity of seeded size, contrast and position inside one lung
// field, and WriteTree writes the ground truth to <out>/lesion_manifest.csv. Whether and where
// an image has a lesion depends only on (seed, the image's position, its size), and not on the
// fraction except through the yes/no draw, so fraction 1 and 0 give the same image with and
// without its lesion. With the default fraction 0 the output is byte-identical to generators
// that predate lesions.
//
// Thread-safety: the functions are reentrant; ForEachFile calls `sink` on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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
  double lesion_fraction = 0;    // in [0, 1]: share of chest radiographs with a lesion
};

struct Summary {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
};

// Ground truth of one chest radiograph that was eligible for a synthetic lesion.
struct LesionTruth {
  bool present = false;
  // Centre (column, row) and radius in pixels of the stored image; 0 when absent.
  double center_x = 0;
  double center_y = 0;
  double radius = 0;
};

// One generated file: its path relative to the output directory and its bytes.
struct GeneratedFile {
  std::string relative_path;
  std::string bytes;
  std::string sop_instance_uid;
  // Set for CR/DX chest radiographs when Options::lesion_fraction > 0.
  std::optional<LesionTruth> lesion;
};

// Name of the ground-truth file WriteTree writes when Options::lesion_fraction > 0: CSV with a
// header line "sop_instance_uid,file,lesion,center_x,center_y,radius" and one row per eligible
// image in generation order (lesion is 1 or 0; file is relative to the output directory;
// centre and radius in pixels, empty when there is no lesion).
inline constexpr std::string_view kLesionManifestName = "lesion_manifest.csv";

// Generates the files in a fixed order and hands each to `sink`; stops early when `sink` fails
// (returning its status) or when options.max_bytes is reached.
// Fails with kInvalidArgument on negative or out-of-range counts or a lesion fraction outside
// [0, 1].
Result<Summary> ForEachFile(const Options& options,
                            const std::function<Status(GeneratedFile&)>& sink);

// Writes the files under `out_dir` (created if missing), plus the lesion manifest when
// options.lesion_fraction > 0. Fails with kInternal on I/O errors.
Result<Summary> WriteTree(const Options& options, const std::string& out_dir);

}  // namespace strata::synth
