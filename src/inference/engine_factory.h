// Chooses and creates an InferenceEngine back end.
//
// Thread-safety: free functions, safe to call concurrently.
#pragma once

#include <memory>

#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::inference {

enum class EngineKind {
  kDefault,      // ONNX Runtime when this build has it, else OpenCV DNN
  kOnnxRuntime,  // local CPU; the runtime Azure ML serves models with
  kOpenCvDnn,    // local CPU fallback from Debian's OpenCV
};

struct EngineOptions {
  EngineKind kind = EngineKind::kDefault;
  // Threads one Run() may use. ONNX Runtime: per session. OpenCV DNN has one process-wide
  // pool, so its engine applies this with cv::setNumThreads; 0 leaves OpenCV's default.
  int threads = 1;
};

// True when this build links ONNX Runtime (configured with STRATA_ONNXRUNTIME_ROOT).
bool HasOnnxRuntime();

// Fails with kUnimplemented when kOnnxRuntime is asked of a build without it, and with
// kInvalidArgument for negative thread counts.
Result<std::unique_ptr<InferenceEngine>> CreateInferenceEngine(const EngineOptions& options);

}  // namespace strata::inference
