// InferenceEngine: runs registered models on prepared pixels. It knows nothing about DICOM
// (preprocess.h turns instances into tensors) and nothing about where models are registered.
//
// An engine is a runtime (ONNX Runtime, OpenCV DNN, later a remote KServe endpoint); Load()
// gives a LoadedModel, which scores batches. Create engines with CreateInferenceEngine
// (engine_factory.h); only app wiring and tests name a concrete back end.
//
// Model contract: one float input of shape [batch, channels, height, width] matching the
// card's input (a fixed batch size of 1 or a dynamic batch axis); one float output with one
// probability per card label per image, shape [batch, labels] (or [batch] for one label).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "inference/model_card.h"
#include "inference/tensor.h"

namespace strata::inference {

// Per-image scores, one per card label in card order.
using Scores = std::vector<float>;

// A model loaded into an engine and checked against its card.
// Thread-safety: Run() may be called concurrently from several threads (a back end that cannot
// run in parallel serialises internally). The LoadedModel must not outlive its engine.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  virtual const ModelCard& card() const = 0;

  // Scores a batch. Every tensor must have the card's input shape. Returns one Scores per
  // tensor, in order. Fails with:
  //  kInvalidArgument: empty batch, or a tensor whose shape differs from the card's input;
  //  kInternal: the runtime failed or produced an output of the wrong size.
  virtual Result<std::vector<Scores>> Run(std::span<const Tensor> batch) const = 0;
};

// A local or remote inference runtime.
// Thread-safety: Load() and name() are safe to call concurrently.
class InferenceEngine {
 public:
  virtual ~InferenceEngine() = default;

  // "onnxruntime", "opencv-dnn": for logs and the inference record.
  virtual std::string_view name() const = 0;

  // Loads the ONNX model at `onnx_path` and checks it against `card` (input shape, output
  // size). Fails with:
  //  kNotFound: no readable file at `onnx_path`;
  //  kInvalidArgument: not a model this runtime can load, or it disagrees with the card
  //                    (the message says how).
  virtual Result<std::unique_ptr<LoadedModel>> Load(const std::string& onnx_path,
                                                    const ModelCard& card) = 0;
};

}  // namespace strata::inference
