#include "ai/occlusion_heatmap.h"

#include <algorithm>
#include <string>

namespace strata::ai {
namespace {

// The rows (or columns) [begin, end) of grid cell `index` along a side of `size` pixels; the
// cells tile the side exactly, and are empty when the side has fewer pixels than cells.
std::pair<int, int> CellSpan(int index, int grid, int size) {
  return {index * size / grid, (index + 1) * size / grid};
}

// `input` with grid cell `cell` (row-major) hidden: filled, per channel, with the bilinear
// Coons patch of the pixels bordering it, a smooth surface that meets its surroundings on all
// four sides. At the image's edge the opposite border stands in for the missing one; a cell
// with no border at all (a 1 x 1 grid) takes its own mean.
inference::Tensor Occluded(const inference::Tensor& input, int grid, int cell) {
  inference::Tensor out = input;
  const int w = input.width;
  const int h = input.height;
  const auto [y0, y1] = CellSpan(cell / grid, grid, h);
  const auto [x0, x1] = CellSpan(cell % grid, grid, w);
  if (y0 == y1 || x0 == x1) return out;
  const int top = y0 > 0 ? y0 - 1 : (y1 < h ? y1 : -1);
  const int bottom = y1 < h ? y1 : top;
  const int left = x0 > 0 ? x0 - 1 : (x1 < w ? x1 : -1);
  const int right = x1 < w ? x1 : left;
  const size_t plane = static_cast<size_t>(h) * static_cast<size_t>(w);
  for (int c = 0; c < input.channels; ++c) {
    const float* in = input.values.data() + static_cast<size_t>(c) * plane;
    float* channel = out.values.data() + static_cast<size_t>(c) * plane;
    auto at = [&](int x, int y) { return in[static_cast<size_t>(y) * w + x]; };
    if (top < 0 || left < 0) {
      double sum = 0;
      for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) sum += at(x, y);
      }
      const float mean = static_cast<float>(sum / ((y1 - y0) * (x1 - x0)));
      for (int y = y0; y < y1; ++y) {
        std::fill(channel + static_cast<size_t>(y) * w + x0,
                  channel + static_cast<size_t>(y) * w + x1, mean);
      }
      continue;
    }
    const float tl = at(left, top), tr = at(right, top);
    const float bl = at(left, bottom), br = at(right, bottom);
    for (int y = y0; y < y1; ++y) {
      const float v = static_cast<float>(y - y0 + 1) / static_cast<float>(y1 - y0 + 1);
      const float l = at(left, y), r = at(right, y);
      for (int x = x0; x < x1; ++x) {
        const float u = static_cast<float>(x - x0 + 1) / static_cast<float>(x1 - x0 + 1);
        const float t = at(x, top), b = at(x, bottom);
        channel[static_cast<size_t>(y) * w + x] =
            (1 - v) * t + v * b + (1 - u) * l + u * r -
            ((1 - u) * (1 - v) * tl + u * (1 - v) * tr + (1 - u) * v * bl + u * v * br);
      }
    }
  }
  return out;
}

}  // namespace

float HeatMap::Peak() const {
  return heat.empty() ? 0.0f : *std::max_element(heat.begin(), heat.end());
}

Result<HeatMap> ComputeOcclusionHeatMap(const inference::LoadedModel& model,
                                        const inference::Tensor& input,
                                        const OcclusionOptions& options) {
  if (options.grid < 1) return InvalidArgument("heat map: grid must be >= 1");
  if (options.max_batch == 0) return InvalidArgument("heat map: max_batch must be >= 1");
  if (input.channels < 1 || input.height < 1 || input.width < 1 ||
      input.values.size() != input.ExpectedSize()) {
    return InvalidArgument("heat map: the input tensor's values do not match its shape");
  }
  const int cells = options.grid * options.grid;

  // Input 0 is the whole image, input 1 + k hides cell k. Only one batch of copies is held.
  std::vector<inference::Scores> scores;
  scores.reserve(static_cast<size_t>(cells) + 1);
  for (int first = 0; first <= cells;) {
    const int end = std::min(cells + 1, first + static_cast<int>(options.max_batch));
    std::vector<inference::Tensor> batch;
    batch.reserve(static_cast<size_t>(end - first));
    for (int i = first; i < end; ++i) {
      batch.push_back(i == 0 ? input : Occluded(input, options.grid, i - 1));
    }
    STRATA_ASSIGN_OR_RETURN(auto run, model.Run(batch));
    if (run.size() != batch.size()) {
      return Internal("heat map: the model returned " + std::to_string(run.size()) +
                      " scores for " + std::to_string(batch.size()) + " images");
    }
    for (auto& s : run) scores.push_back(std::move(s));
    first = end;
  }

  const inference::Scores& whole = scores.front();
  if (whole.empty()) return Internal("heat map: the model returned no scores");
  HeatMap map;
  map.grid = options.grid;
  map.label_index =
      static_cast<size_t>(std::max_element(whole.begin(), whole.end()) - whole.begin());
  map.probability = whole[map.label_index];
  map.heat.resize(static_cast<size_t>(cells));
  for (int k = 0; k < cells; ++k) {
    const inference::Scores& hidden = scores[static_cast<size_t>(k) + 1];
    if (hidden.size() != whole.size()) return Internal("heat map: inconsistent score sizes");
    map.heat[static_cast<size_t>(k)] =
        std::clamp(map.probability - hidden[map.label_index], 0.0f, 1.0f);
  }
  return map;
}

std::vector<float> DisplayHeat(const HeatMap& map, float min_peak) {
  const float peak = map.Peak();
  std::vector<float> out(map.heat.size(), 0.0f);
  if (peak <= 0 || peak < min_peak) return out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = map.heat[i] / peak;
  return out;
}

}  // namespace strata::ai
