// A prepared model input: one image as 32-bit floats in channel-major (CHW) order, the layout
// of ONNX image models' NCHW inputs without the batch dimension.
//
// Thread-safety: a value.
#pragma once

#include <cstddef>
#include <vector>

namespace strata::inference {

struct Tensor {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<float> values;  // channels * height * width, index (c * height + y) * width + x

  size_t ExpectedSize() const {
    return static_cast<size_t>(channels) * static_cast<size_t>(height) * static_cast<size_t>(width);
  }
};

}  // namespace strata::inference
