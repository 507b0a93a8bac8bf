// Registering a model: the ONNX file and its card are checked (the card parses, the engine
// loads the model and it agrees with the card's input and labels), the file is stored in the
// object store under models/<name>/<version>/<sha256>.onnx and the version is recorded with
// its SHA-256. Registering the same file again is a no-op; a different file under an existing
// name and version is refused (versions are immutable: register a new version instead).
//
// Thread-safety: as safe as the services it is given.
#pragma once

#include <string>

#include "ai/ai_records.h"
#include "blob/blob_store.h"
#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::ai {

struct ModelFiles {
  std::string onnx_path;
  std::string card_path;
  std::string registered_by;  // who, for the registry and the audit trail
};

// kNotFound for missing files, kInvalidArgument for a bad card or a model that disagrees with
// it, kAlreadyExists for a different file under a registered name and version.
Result<RegisteredModel> RegisterModelFiles(AiRecords& records, blob::BlobStore& blobs,
                                           inference::InferenceEngine& engine,
                                           const ModelFiles& files);

}  // namespace strata::ai
