// Turns a stored DICOM instance into a model input tensor as its card says: decode the pixel
// data (every transfer syntax Strata accepts, compressed ones included), apply the modality LUT
// (Rescale Slope/Intercept or LUT), the VOI window the card asks for, undo MONOCHROME1's
// inverted polarity, resize to the card's input and normalise per channel.
//
// The adapter over DCMTK's dcmimgle (DicomImage) and OpenCV's imgproc; neither type appears
// here. Multi-frame images contribute their first frame.
//
// Thread-safety: safe to call concurrently on different or the same files.
#pragma once

#include <string>

#include "core/status.h"
#include "inference/model_card.h"
#include "inference/tensor.h"

namespace strata::inference {

// What preprocessing saw in the file, for logs and the inference record.
struct PreprocessInfo {
  int source_width = 0;
  int source_height = 0;
  bool monochrome1 = false;
  // The window actually applied: "file" (Window Center/Width), "voi_lut", "fixed" or "min_max"
  // (also when the card asked for the file's window and the file has none).
  std::string window_used;
};

// The tensor for the first frame of the Part 10 file at `path`. Fails with:
//  kNotFound: no such file;
//  kInvalidArgument: not DICOM, no pixel data, or pixel data DCMTK cannot render (the message
//                    carries DCMTK's reason);
//  kUnimplemented: a colour image, or a transfer syntax Strata cannot decode.
Result<Tensor> PreprocessDicomFile(const std::string& path, const ModelCard& card,
                                   PreprocessInfo* info = nullptr);

}  // namespace strata::inference
