#include "inference/onnxruntime_engine.h"

#include <onnxruntime_cxx_api.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "core/log.h"
#include "inference/batch.h"

namespace strata::inference {
namespace {

// The shape of a model's input or output as ONNX Runtime reports it; -1 for dynamic axes.
std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

Status CheckInput(Ort::Session& session, const ModelCard& card) {
  if (session.GetInputCount() != 1) {
    return InvalidArgument("model has " + std::to_string(session.GetInputCount()) +
                           " inputs; Strata feeds exactly one image tensor");
  }
  if (session.GetOutputCount() < 1) return InvalidArgument("model has no output");
  // The shape info is a view into its TypeInfo, which must stay alive while it is used.
  const Ort::TypeInfo input_type = session.GetInputTypeInfo(0);
  const auto input = input_type.GetTensorTypeAndShapeInfo();
  if (input.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    return InvalidArgument("model input is not float32");
  }
  const std::vector<int64_t> shape = input.GetShape();
  const std::array<int64_t, 3> expected{card.input.channels, card.input.height, card.input.width};
  bool matches = shape.size() == 4 && (shape[0] == -1 || shape[0] == 1);
  for (size_t i = 0; matches && i < 3; ++i) {
    matches = shape[i + 1] == -1 || shape[i + 1] == expected[i];
  }
  if (!matches) {
    return InvalidArgument(
        "model input shape " + ShapeText(shape) + " does not match the card's [" + "batch, " +
        std::to_string(card.input.channels) + ", " + std::to_string(card.input.height) + ", " +
        std::to_string(card.input.width) + "]");
  }
  const Ort::TypeInfo output_type = session.GetOutputTypeInfo(0);
  const auto output = output_type.GetTensorTypeAndShapeInfo();
  if (output.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    return InvalidArgument("model output is not float32");
  }
  const std::vector<int64_t> out_shape = output.GetShape();
  const int64_t per_image = out_shape.size() >= 2 ? out_shape.back() : 1;
  if (per_image != -1 && per_image != static_cast<int64_t>(card.labels.size())) {
    return InvalidArgument("model output shape " + ShapeText(out_shape) + " gives " +
                           std::to_string(per_image) + " values per image; the card has " +
                           std::to_string(card.labels.size()) + " labels");
  }
  return OkStatus();
}

class OnnxRuntimeModel final : public LoadedModel {
 public:
  OnnxRuntimeModel(ModelCard card, Ort::Session session, std::string input_name,
                   std::string output_name, bool fixed_batch_of_one)
      : card_(std::move(card)),
        session_(std::move(session)),
        input_name_(std::move(input_name)),
        output_name_(std::move(output_name)),
        fixed_batch_of_one_(fixed_batch_of_one) {}

  const ModelCard& card() const override { return card_; }

  Result<std::vector<Scores>> Run(std::span<const Tensor> batch) const override {
    STRATA_RETURN_IF_ERROR(internal::CheckBatch(batch, card_.input));
    if (fixed_batch_of_one_ && batch.size() > 1) {
      // A model exported without a dynamic batch axis: one image per call.
      std::vector<Scores> all;
      for (size_t i = 0; i < batch.size(); ++i) {
        STRATA_ASSIGN_OR_RETURN(std::vector<Scores> one, Run(batch.subspan(i, 1)));
        all.push_back(std::move(one.front()));
      }
      return all;
    }
    std::vector<float> packed = internal::PackBatch(batch);
    const std::array<int64_t, 4> shape{static_cast<int64_t>(batch.size()), card_.input.channels,
                                       card_.input.height, card_.input.width};
    try {
      const Ort::MemoryInfo memory =
          Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
      Ort::Value input = Ort::Value::CreateTensor<float>(memory, packed.data(), packed.size(),
                                                         shape.data(), shape.size());
      const char* input_names[] = {input_name_.c_str()};
      const char* output_names[] = {output_name_.c_str()};
      auto outputs =
          session_.Run(Ort::RunOptions{nullptr}, input_names, &input, 1, output_names, 1);
      const auto info = outputs.front().GetTensorTypeAndShapeInfo();
      return internal::SplitScores(outputs.front().GetTensorData<float>(), info.GetElementCount(),
                                   batch.size(), card_.labels.size());
    } catch (const Ort::Exception& e) {
      return Internal(std::string("onnxruntime: run failed: ") + e.what());
    }
  }

 private:
  const ModelCard card_;
  // Mutable because Ort::Session::Run is not marked const, although ONNX Runtime documents
  // concurrent Run calls on one session as safe.
  mutable Ort::Session session_;
  const std::string input_name_;
  const std::string output_name_;
  const bool fixed_batch_of_one_;
};

class OnnxRuntimeEngine final : public InferenceEngine {
 public:
  OnnxRuntimeEngine(Ort::Env env, int threads) : env_(std::move(env)), threads_(threads) {}

  std::string_view name() const override { return "onnxruntime"; }

  Result<std::unique_ptr<LoadedModel>> Load(const std::string& onnx_path,
                                            const ModelCard& card) override {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(onnx_path, ec)) {
      return NotFound("onnxruntime: no model file at " + onnx_path);
    }
    try {
      Ort::SessionOptions options;
      options.SetIntraOpNumThreads(threads_);
      options.SetInterOpNumThreads(1);
      options.SetExecutionMode(ORT_SEQUENTIAL);
      options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
      options.AddConfigEntry("session.intra_op.allow_spinning", "0");
      Ort::Session session(env_, onnx_path.c_str(), options);
      Status checked = CheckInput(session, card);
      if (!checked.ok()) return checked.WithContext("onnxruntime: " + onnx_path);
      Ort::AllocatorWithDefaultOptions allocator;
      std::string input_name = session.GetInputNameAllocated(0, allocator).get();
      std::string output_name = session.GetOutputNameAllocated(0, allocator).get();
      const Ort::TypeInfo input_type = session.GetInputTypeInfo(0);
      const bool fixed_batch_of_one =
          input_type.GetTensorTypeAndShapeInfo().GetShape().front() == 1;
      log::Info("inference.model_loaded", {{"engine", std::string_view("onnxruntime")},
                                           {"model", std::string_view(card.name)},
                                           {"version", std::string_view(card.version)},
                                           {"threads", static_cast<int64_t>(threads_)}});
      return std::unique_ptr<LoadedModel>(
          std::make_unique<OnnxRuntimeModel>(card, std::move(session), std::move(input_name),
                                             std::move(output_name), fixed_batch_of_one));
    } catch (const Ort::Exception& e) {
      return InvalidArgument("onnxruntime: cannot load " + onnx_path + ": " + e.what());
    }
  }

 private:
  Ort::Env env_;
  const int threads_;
};

// Sends ONNX Runtime's own messages to Strata's JSON-lines log, so the log keeps one format.
void LogFromOnnxRuntime(void* /*param*/, OrtLoggingLevel severity, const char* category,
                        const char* /*logid*/, const char* code_location, const char* message) {
  const log::Level level = severity >= ORT_LOGGING_LEVEL_ERROR     ? log::Level::kError
                           : severity >= ORT_LOGGING_LEVEL_WARNING ? log::Level::kWarn
                                                                   : log::Level::kDebug;
  log::Write(level, "onnxruntime.log",
             {{"category", std::string_view(category)},
              {"location", std::string_view(code_location)},
              {"message", std::string_view(message)}});
}

}  // namespace

Result<std::unique_ptr<InferenceEngine>> CreateOnnxRuntimeEngine(int threads) {
  if (threads < 1) return InvalidArgument("onnxruntime: threads must be >= 1");
  try {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "strata", LogFromOnnxRuntime, nullptr);
    return std::unique_ptr<InferenceEngine>(
        std::make_unique<OnnxRuntimeEngine>(std::move(env), threads));
  } catch (const Ort::Exception& e) {
    return Internal(std::string("onnxruntime: cannot start: ") + e.what());
  }
}

std::string OnnxRuntimeVersion() { return Ort::GetVersionString(); }

}  // namespace strata::inference
