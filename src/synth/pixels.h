// Synthetic monochrome images: a smooth gradient, filled ellipses ("anatomy"), soft round
// opacities (synthetic lesions) and seeded noise, rendered fast enough to produce gigabytes of
// pixel data in seconds.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::synth {

// A filled ellipse that adds `delta` to the pixels inside it. Coordinates are in pixels.
struct Ellipse {
  double center_x = 0;
  double center_y = 0;
  double radius_x = 0;
  double radius_y = 0;
  int32_t delta = 0;
};

// A soft round opacity: adds `peak * (1 - (r / radius)^2)^2` at distance r < radius from the
// centre, so it fades smoothly into its surroundings like a nodule on a radiograph rather than
// ending at a sharp edge. Coordinates are in pixels.
struct SoftDisc {
  double center_x = 0;
  double center_y = 0;
  double radius = 0;
  int32_t peak = 0;
};

struct ImageSpec {
  int rows = 0;
  int columns = 0;
  int bits_stored = 12;    // values are clamped to [0, 2^bits_stored - 1]
  int32_t background = 0;  // value at the top-left corner
  int32_t gradient_x = 0;  // total change across the width
  int32_t gradient_y = 0;  // total change down the height
  std::vector<Ellipse> ellipses;
  std::vector<SoftDisc> soft_discs;  // drawn after the ellipses
  int noise_bits = 4;                // noise in [-2^(n-1), 2^(n-1)); 0 for none
  uint64_t noise_seed = 0;
  bool invert = false;  // MONOCHROME1: store max - value
};

// Writes rows * columns 16-bit little-endian samples (row-major) to `out`.
// REQUIRES: `out` has room for 2 * rows * columns bytes; 1 <= bits_stored <= 16.
void RenderImage(const ImageSpec& spec, char* out);

}  // namespace strata::synth
