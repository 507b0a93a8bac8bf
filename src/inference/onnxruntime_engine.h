// InferenceEngine back end over ONNX Runtime's C++ API, on the CPU execution provider.
// Built only when CMake finds an ONNX Runtime install (STRATA_ONNXRUNTIME_ROOT); no ONNX
// Runtime type appears here.
//
// Thread-safety: as InferenceEngine. ONNX Runtime sessions run concurrent Run() calls
// themselves, so LoadedModel::Run takes no lock.
#pragma once

#include <memory>

#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::inference {

// An engine whose sessions use `threads` intra-op threads each (1 inter-op thread; thread
// spinning off, because the archive shares its cores with ingest and other work).
// kInvalidArgument when threads < 1; kInternal when ONNX Runtime cannot start.
Result<std::unique_ptr<InferenceEngine>> CreateOnnxRuntimeEngine(int threads);

// The linked library's version, e.g. "1.30.0".
std::string OnnxRuntimeVersion();

}  // namespace strata::inference
