#include "ai/model_registry.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "blob/crypto_util.h"
#include "inference/model_card.h"

namespace strata::ai {

Result<RegisteredModel> RegisterModelFiles(AiRecords& records, blob::BlobStore& blobs,
                                           inference::InferenceEngine& engine,
                                           const ModelFiles& files) {
  STRATA_ASSIGN_OR_RETURN(inference::ModelCard card, inference::LoadModelCard(files.card_path));
  if (!std::filesystem::is_regular_file(files.onnx_path)) {
    return NotFound("no model file at " + files.onnx_path);
  }
  // The engine checks that the model loads and agrees with the card.
  STRATA_RETURN_IF_ERROR(engine.Load(files.onnx_path, card).status());
  STRATA_ASSIGN_OR_RETURN(std::string sha256, blob::Sha256HexOfFile(files.onnx_path));

  STRATA_ASSIGN_OR_RETURN(auto existing, records.GetModel(card.name, card.version));
  if (existing && existing->sha256_hex != sha256) {
    return AlreadyExists("model " + card.name + " version " + card.version +
                         " is already registered with different content; register a new version");
  }

  RegisteredModel model;
  model.name = card.name;
  model.version = card.version;
  model.sha256_hex = sha256;
  model.onnx_key = "models/" + card.name + "/" + card.version + "/" + sha256 + ".onnx";
  model.card_json = inference::ModelCardToJson(card);
  model.registered_by = files.registered_by;

  STRATA_ASSIGN_OR_RETURN(std::string staged, blobs.StagingPath());
  std::error_code copy_error;
  std::filesystem::copy_file(files.onnx_path, staged,
                             std::filesystem::copy_options::overwrite_existing, copy_error);
  Status put = copy_error ? Unavailable("copying " + files.onnx_path + ": " + copy_error.message())
                          : blobs.PutFile(model.onnx_key, staged, /*create_only=*/true);
  ::unlink(staged.c_str());
  // The key names the content, so an object already there is this very file.
  if (!put.ok() && put.code() != StatusCode::kAlreadyExists) return put;

  STRATA_RETURN_IF_ERROR(records.RegisterModel(model));
  STRATA_ASSIGN_OR_RETURN(auto stored, records.GetModel(model.name, model.version));
  if (!stored) return Internal("registered model vanished");
  return *stored;
}

}  // namespace strata::ai
