#include "inference/batch.h"

#include <string>

namespace strata::inference::internal {

Status CheckBatch(std::span<const Tensor> batch, const InputShape& input) {
  if (batch.empty()) return InvalidArgument("inference: empty batch");
  for (size_t i = 0; i < batch.size(); ++i) {
    const Tensor& t = batch[i];
    if (t.channels != input.channels || t.height != input.height || t.width != input.width ||
        t.values.size() != t.ExpectedSize()) {
      return InvalidArgument("inference: tensor " + std::to_string(i) + " is " +
                             std::to_string(t.channels) + "x" + std::to_string(t.height) + "x" +
                             std::to_string(t.width) + " with " + std::to_string(t.values.size()) +
                             " values; the model card expects " + std::to_string(input.channels) +
                             "x" + std::to_string(input.height) + "x" +
                             std::to_string(input.width));
    }
  }
  return OkStatus();
}

std::vector<float> PackBatch(std::span<const Tensor> batch) {
  std::vector<float> packed;
  packed.reserve(batch.size() * batch.front().values.size());
  for (const Tensor& t : batch) packed.insert(packed.end(), t.values.begin(), t.values.end());
  return packed;
}

Result<std::vector<Scores>> SplitScores(const float* values, size_t count, size_t batch_size,
                                        size_t labels) {
  if (count != batch_size * labels) {
    return Internal("inference: model produced " + std::to_string(count) + " values for " +
                    std::to_string(batch_size) + " images of " + std::to_string(labels) +
                    " labels");
  }
  std::vector<Scores> scores(batch_size);
  for (size_t i = 0; i < batch_size; ++i) {
    scores[i].assign(values + i * labels, values + (i + 1) * labels);
  }
  return scores;
}

}  // namespace strata::inference::internal
