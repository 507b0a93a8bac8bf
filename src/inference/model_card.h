// A model card: what an ONNX model expects as input, how to prepare DICOM pixels for it, what
// its outputs mean and which images it applies to. Stored beside the model as JSON.
//
// The JSON form (every field required unless marked optional; unknown fields are errors, so a
// misspelt field cannot silently fall back to a default):
//
//   {
//     "name": "demo-chest-anomaly",          // [a-z0-9._-], 1-64 characters
//     "version": "1.0.0",                    // 1-64 printable characters, no spaces
//     "description": "...",                  // optional
//     "input": {"width": 128, "height": 128, "channels": 1},   // 1-4096; channels 1 or 3
//     "preprocessing": {
//       "window": {"mode": "from_file"}      // the file's first VOI window or LUT, else min-max
//               | {"mode": "fixed", "center": 40, "width": 400}  // modality units, width >= 1
//               | {"mode": "min_max"},       // the image's own value range
//       "invert_monochrome1": true,          // show MONOCHROME1 like MONOCHROME2 (dense = high)
//       "resize": "area" | "linear",         // interpolation to input width x height
//       "normalization": {"mean": [0.5], "std": [0.25]}  // per channel, std > 0
//     },
//     "labels": [{"name": "anomaly", "threshold": 0.5}],  // model output order; threshold in [0,1]
//     "applies_to": {"modalities": ["CR", "DX"],          // at least one
//                    "sop_classes": ["1.2.840.10008.5.1.4.1.1.1"],  // optional; empty: any
//                    "body_parts": ["CHEST"]},           // optional; empty: any
//     "heatmap": {"method": "occlusion", "grid": 8}      // optional; absent: no heat map.
//                // A Secondary Capture per scored image showing where the model looked
//                // (ai/occlusion_heatmap.h); costs grid * grid extra inferences per image.
//                // grid 2-32
//   }
//
// Thread-safety: values and pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::inference {

enum class WindowMode {
  kFromFile,  // first Window Center/Width of the file, else its first VOI LUT, else min-max
  kFixed,     // center/width from the card, in modality (rescaled) units
  kMinMax,    // the image's minimum and maximum
};

enum class ResizeMethod {
  kArea,    // pixel-area averaging: the right choice for shrinking radiographs
  kLinear,  // bilinear
};

struct InputShape {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1, or 3 (the grey image repeated, for ImageNet-style models)
};

struct WindowSpec {
  WindowMode mode = WindowMode::kFromFile;
  double center = 0;  // kFixed only
  double width = 0;   // kFixed only
};

struct Preprocessing {
  WindowSpec window;
  bool invert_monochrome1 = true;
  ResizeMethod resize = ResizeMethod::kArea;
  // After windowing, values are in [0, 1]; each channel c becomes (v - mean[c]) / std[c].
  std::vector<double> mean;
  std::vector<double> std;
};

// One model output: its name and the probability from which the finding counts as positive.
struct Label {
  std::string name;
  double threshold = 0.5;
};

struct AppliesTo {
  std::vector<std::string> modalities;
  std::vector<std::string> sop_classes;  // empty: any
  std::vector<std::string> body_parts;   // empty: any
};

// The heat map a model's findings come with (ai/occlusion_heatmap.h). Occlusion sensitivity is
// the only method: it needs nothing from the model beyond its scores, so it works with every
// engine, local or remote.
struct HeatmapSpec {
  int grid = 8;  // the image is hidden cell by cell in a grid x grid raster, 2-32
};

struct ModelCard {
  std::string name;
  std::string version;
  std::string description;
  InputShape input;
  Preprocessing preprocessing;
  std::vector<Label> labels;
  AppliesTo applies_to;
  std::optional<HeatmapSpec> heatmap;  // absent: no heat map
};

// Parses and validates a card. kInvalidArgument names the offending field by its JSON path
// ("model card: preprocessing.normalization.std[0]: must be > 0") for malformed JSON, a
// missing, unknown or mistyped field, or a value out of range.
Result<ModelCard> ParseModelCard(std::string_view json_text);

// Reads and parses `path`. kNotFound when it cannot be read; otherwise as ParseModelCard.
Result<ModelCard> LoadModelCard(const std::string& path);

// The card as JSON that ParseModelCard accepts and parses back to an equal card.
std::string ModelCardToJson(const ModelCard& card);

// Whether each score reaches its label's threshold. REQUIRES: scores.size() == labels.size().
std::vector<bool> Decide(const ModelCard& card, const std::vector<float>& scores);

}  // namespace strata::inference
