// InferenceEngine back end over OpenCV's DNN module (Debian libopencv-dev 4.6), CPU target:
// the fallback when the build has no ONNX Runtime. No OpenCV type appears here.
//
// Thread-safety: as InferenceEngine. A cv::dnn::Net cannot run two forward passes at once, so
// each LoadedModel serialises its Run() calls with a mutex; load a model twice to run it in
// parallel.
#pragma once

#include <memory>

#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::inference {

// `threads` > 0 sets OpenCV's process-wide thread count (cv::setNumThreads) when the engine is
// created; 0 keeps OpenCV's default. kInvalidArgument when threads < 0.
Result<std::unique_ptr<InferenceEngine>> CreateOpenCvDnnEngine(int threads);

}  // namespace strata::inference
