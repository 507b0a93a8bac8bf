// Occlusion sensitivity (Zeiler and Fergus, 2014): where a classification model looked. The
// prepared input is hidden one cell of a grid x grid raster at a time, and each cell's heat is
// how much the model's probability falls without it:
//
//   heat(cell) = max(0, p(whole image) - p(image with that cell hidden))
//
// for one label: the one with the highest probability on the whole image (for a one-label
// model, its only label). A hidden cell is filled, per channel (in the normalised units the
// model sees), with a smooth surface interpolated from the pixels around it (a bilinear Coons
// patch from its four borders): what was in the cell goes, and no edge appears. Flat fills
// failed on the demo model: a hard-edged square of any value (the image's mean, 0 after
// normalisation, the mean around the cell) raised its probability to about 1 wherever it was
// put, which left no heat at all.
//
// It needs nothing from the model but its scores, so it works with every engine (ONNX
// Runtime, OpenCV DNN, a remote KServe v2 endpoint), at the cost of grid * grid + 1 inferences
// per image. It is a visual aid, not a segmentation: cells are coarse, and a model that uses
// evidence spread over the image shows little heat anywhere.
//
// Deterministic for a deterministic engine: the inputs are run in the same order and the same
// batches (the whole image first, then the cells row by row, max_batch at a time) whatever
// else the caller scores, so a retry computes the same map.
//
// Thread-safety: a pure function of its arguments; LoadedModel::Run may be called
// concurrently.
#pragma once

#include <cstddef>
#include <vector>

#include "core/status.h"
#include "inference/inference_engine.h"
#include "inference/tensor.h"

namespace strata::ai {

struct OcclusionOptions {
  int grid = 8;          // cells per side, >= 1
  size_t max_batch = 8;  // images per Run() call, >= 1; memory is bounded by this many copies
};

struct HeatMap {
  int grid = 0;
  size_t label_index = 0;   // the card label explained
  float probability = 0;    // of that label on the whole image
  std::vector<float> heat;  // grid * grid, row-major from the top-left cell; in [0, 1]

  // The largest heat; 0 for an empty map.
  float Peak() const;
};

// The occlusion heat map of `input` under `model`. Fails with kInvalidArgument for a grid < 1,
// max_batch 0 or an input tensor whose size does not match its shape, and with whatever
// model.Run() returns.
Result<HeatMap> ComputeOcclusionHeatMap(const inference::LoadedModel& model,
                                        const inference::Tensor& input,
                                        const OcclusionOptions& options);

// The map for display: each cell's heat divided by the peak, so the hottest cell is 1. All
// zero when the peak is below `min_peak` (no cell lowered the probability by 5 points), so
// that noise, as on most negative images, is not blown up into a hot spot.
std::vector<float> DisplayHeat(const HeatMap& map, float min_peak = 0.05f);

}  // namespace strata::ai
