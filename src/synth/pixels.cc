#include "synth/pixels.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/status.h"

namespace strata::synth {
namespace {

// xorshift64*: a small, fast generator; quality is ample for image noise.
uint64_t NextRandom(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

void AddSoftDiscToRow(const SoftDisc& d, int y, std::vector<int32_t>& row) {
  if (d.radius <= 0) return;
  const double dy = (y + 0.5 - d.center_y) / d.radius;
  if (dy <= -1.0 || dy >= 1.0) return;
  const int cols = static_cast<int>(row.size());
  const int x0 = std::max(0, static_cast<int>(std::floor(d.center_x - d.radius)));
  const int x1 = std::min(cols, static_cast<int>(std::ceil(d.center_x + d.radius)) + 1);
  for (int x = x0; x < x1; ++x) {
    const double dx = (x + 0.5 - d.center_x) / d.radius;
    const double r2 = dx * dx + dy * dy;
    if (r2 >= 1.0) continue;
    const double fall_off = (1.0 - r2) * (1.0 - r2);
    row[x] += static_cast<int32_t>(std::lround(d.peak * fall_off));
  }
}

}  // namespace

void RenderImage(const ImageSpec& spec, char* out) {
  static_assert(std::endian::native == std::endian::little,
                "pixel rows are copied as little endian");
  STRATA_CHECK(spec.bits_stored >= 1 && spec.bits_stored <= 16) << spec.bits_stored;
  STRATA_CHECK(spec.noise_bits >= 0 && spec.noise_bits <= 15) << spec.noise_bits;
  const int cols = spec.columns;
  const int32_t max_value = (1 << spec.bits_stored) - 1;
  const int32_t noise_mask = spec.noise_bits == 0 ? 0 : (1 << spec.noise_bits) - 1;
  const int32_t noise_offset = spec.noise_bits == 0 ? 0 : (1 << (spec.noise_bits - 1));
  uint64_t state = spec.noise_seed | 1;  // xorshift state must be non-zero
  std::vector<int32_t> row(static_cast<size_t>(cols));
  std::vector<uint16_t> samples(static_cast<size_t>(cols));
  // Gradients in 1/65536 units per pixel, so a row is an integer add per sample.
  const int64_t step_x = cols > 1 ? (static_cast<int64_t>(spec.gradient_x) << 16) / (cols - 1) : 0;
  for (int y = 0; y < spec.rows; ++y) {
    const int32_t base =
        spec.background +
        (spec.rows > 1
             ? static_cast<int32_t>(static_cast<int64_t>(spec.gradient_y) * y / (spec.rows - 1))
             : 0);
    int64_t acc = static_cast<int64_t>(base) << 16;
    for (int x = 0; x < cols; ++x) {
      row[x] = static_cast<int32_t>(acc >> 16);
      acc += step_x;
    }
    for (const Ellipse& e : spec.ellipses) {
      if (e.radius_x <= 0 || e.radius_y <= 0) continue;
      const double dy = (y + 0.5 - e.center_y) / e.radius_y;
      if (dy <= -1.0 || dy >= 1.0) continue;
      const double half = e.radius_x * std::sqrt(1.0 - dy * dy);
      const int x0 = std::max(0, static_cast<int>(std::ceil(e.center_x - half - 0.5)));
      const int x1 = std::min(cols, static_cast<int>(std::floor(e.center_x + half - 0.5)) + 1);
      for (int x = x0; x < x1; ++x) row[x] += e.delta;
    }
    for (const SoftDisc& d : spec.soft_discs) AddSoftDiscToRow(d, y, row);
    int x = 0;
    while (x < cols) {
      uint64_t r = NextRandom(state);
      for (int k = 0; k < 4 && x < cols; ++k, ++x, r >>= 16) {
        int32_t v = row[x] + (static_cast<int32_t>(r & 0xffff) & noise_mask) - noise_offset;
        v = std::clamp(v, 0, max_value);
        samples[x] = static_cast<uint16_t>(spec.invert ? max_value - v : v);
      }
    }
    std::memcpy(out + static_cast<size_t>(y) * cols * 2, samples.data(),
                static_cast<size_t>(cols) * 2);
  }
}

}  // namespace strata::synth
