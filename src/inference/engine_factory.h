// Chooses and creates an InferenceEngine back end.
//
// Thread-safety: free functions, safe to call concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::inference {

enum class EngineKind {
  kDefault,       // ONNX Runtime when this build has it, else OpenCV DNN
  kOnnxRuntime,   // local CPU; the runtime Azure ML serves models with
  kOpenCvDnn,     // local CPU fallback from Debian's OpenCV
  kRemoteKServe,  // a remote KServe v2 / Open Inference Protocol server (remote_engine.h)
};

struct EngineOptions {
  EngineKind kind = EngineKind::kDefault;
  // Threads one Run() may use. ONNX Runtime: per session. OpenCV DNN has one process-wide
  // pool, so its engine applies this with cv::setNumThreads; 0 leaves OpenCV's default.
  int threads = 1;

  // kRemoteKServe only (see RemoteKServeOptions in remote_engine.h).
  std::string remote_url;            // http(s)://host[:port][/prefix]; required
  std::string remote_token;          // "Authorization: Bearer <token>"; empty: none
  std::string remote_model_name;     // the model's name on the server; empty: the card's name
  std::string remote_model_version;  // empty: the card's version
  bool remote_use_version = true;    // false: no "/versions/<v>" in the URLs
  std::chrono::milliseconds remote_timeout{30'000};  // per attempt
  int remote_max_attempts = 3;
};

// True when this build links ONNX Runtime (configured with STRATA_ONNXRUNTIME_ROOT).
bool HasOnnxRuntime();

// Fails with kUnimplemented when kOnnxRuntime is asked of a build without it, and with
// kInvalidArgument for negative thread counts or, for kRemoteKServe, a missing or invalid URL
// (or a non-positive timeout or attempt count). Creating a remote engine does not contact the
// server; Load() does.
Result<std::unique_ptr<InferenceEngine>> CreateInferenceEngine(const EngineOptions& options);

}  // namespace strata::inference
