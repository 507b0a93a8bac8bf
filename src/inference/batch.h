// Checks and packing shared by the local back ends: a batch of CHW tensors becomes one
// contiguous NCHW buffer, and a flat output buffer becomes per-image scores.
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <vector>

#include "core/status.h"
#include "inference/inference_engine.h"
#include "inference/model_card.h"

namespace strata::inference::internal {

// kInvalidArgument for an empty batch or a tensor whose shape or size differs from `input`.
Status CheckBatch(std::span<const Tensor> batch, const InputShape& input);

// The tensors' values back to back (NCHW). REQUIRES: CheckBatch(batch, ...) is OK.
std::vector<float> PackBatch(std::span<const Tensor> batch);

// Splits `count` output floats into `batch_size` Scores of `labels` each. kInternal when the
// model produced a different number of values than batch_size * labels.
Result<std::vector<Scores>> SplitScores(const float* values, size_t count, size_t batch_size,
                                        size_t labels);

}  // namespace strata::inference::internal
