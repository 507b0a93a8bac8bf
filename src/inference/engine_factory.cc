#include "inference/engine_factory.h"

#include "inference/opencv_dnn_engine.h"
#include "inference/remote_engine.h"
#if STRATA_WITH_ONNXRUNTIME
#include "inference/onnxruntime_engine.h"
#endif

namespace strata::inference {

bool HasOnnxRuntime() { return STRATA_WITH_ONNXRUNTIME != 0; }

Result<std::unique_ptr<InferenceEngine>> CreateInferenceEngine(const EngineOptions& options) {
  if (options.threads < 0) return InvalidArgument("inference: threads must not be negative");
  EngineKind kind = options.kind;
  if (kind == EngineKind::kDefault) {
    kind = HasOnnxRuntime() ? EngineKind::kOnnxRuntime : EngineKind::kOpenCvDnn;
  }
  if (kind == EngineKind::kOpenCvDnn) return CreateOpenCvDnnEngine(options.threads);
  if (kind == EngineKind::kRemoteKServe) {
    RemoteKServeOptions remote;
    remote.base_url = options.remote_url;
    remote.bearer_token = options.remote_token;
    remote.model_name = options.remote_model_name;
    remote.model_version = options.remote_model_version;
    remote.use_version = options.remote_use_version;
    remote.timeout = options.remote_timeout;
    remote.max_attempts = options.remote_max_attempts;
    return CreateRemoteKServeEngine(remote);
  }
#if STRATA_WITH_ONNXRUNTIME
  return CreateOnnxRuntimeEngine(options.threads > 0 ? options.threads : 1);
#else
  return Unimplemented(
      "inference: this build has no ONNX Runtime (configure with STRATA_ONNXRUNTIME_ROOT, see "
      "tools/setup_onnxruntime.sh)");
#endif
}

}  // namespace strata::inference
