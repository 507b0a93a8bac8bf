#include "inference/opencv_dnn_engine.h"

#include <filesystem>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

#include "core/log.h"
#include "inference/batch.h"

namespace strata::inference {
namespace {

class OpenCvDnnModel final : public LoadedModel {
 public:
  OpenCvDnnModel(ModelCard card, cv::dnn::Net net) : card_(std::move(card)), net_(std::move(net)) {}

  const ModelCard& card() const override { return card_; }

  Result<std::vector<Scores>> Run(std::span<const Tensor> batch) const override {
    STRATA_RETURN_IF_ERROR(internal::CheckBatch(batch, card_.input));
    std::vector<float> packed = internal::PackBatch(batch);
    const int dims[] = {static_cast<int>(batch.size()), card_.input.channels, card_.input.height,
                        card_.input.width};
    try {
      const cv::Mat blob(4, dims, CV_32F, packed.data());
      std::lock_guard<std::mutex> lock(mutex_);
      net_.setInput(blob);
      const cv::Mat output = net_.forward();
      if (output.type() != CV_32F || !output.isContinuous()) {
        return Internal("opencv-dnn: model output is not a continuous float32 tensor");
      }
      return internal::SplitScores(output.ptr<float>(), output.total(), batch.size(),
                                   card_.labels.size());
    } catch (const cv::Exception& e) {
      return Internal(std::string("opencv-dnn: run failed: ") + e.what());
    }
  }

 private:
  const ModelCard card_;
  mutable std::mutex mutex_;
  mutable cv::dnn::Net net_;  // GUARDED_BY(mutex_)
};

class OpenCvDnnEngine final : public InferenceEngine {
 public:
  std::string_view name() const override { return "opencv-dnn"; }

  Result<std::unique_ptr<LoadedModel>> Load(const std::string& onnx_path,
                                            const ModelCard& card) override {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(onnx_path, ec)) {
      return NotFound("opencv-dnn: no model file at " + onnx_path);
    }
    cv::dnn::Net net;
    try {
      net = cv::dnn::readNetFromONNX(onnx_path);
      net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    } catch (const cv::Exception& e) {
      return InvalidArgument("opencv-dnn: cannot load " + onnx_path + ": " + e.what());
    }
    if (net.empty()) return InvalidArgument("opencv-dnn: cannot load " + onnx_path);
    auto model = std::make_unique<OpenCvDnnModel>(card, std::move(net));
    // OpenCV does not report a model's input shape before a forward pass, so one pass on a
    // zero image checks that the card's input fits and that there is one output per label.
    Tensor zeros;
    zeros.channels = card.input.channels;
    zeros.height = card.input.height;
    zeros.width = card.input.width;
    zeros.values.assign(zeros.ExpectedSize(), 0.0f);
    auto probe = model->Run(std::span<const Tensor>(&zeros, 1));
    if (!probe.ok()) {
      return InvalidArgument("opencv-dnn: " + onnx_path + " does not accept the card's input " +
                             "or give one output per label: " + probe.status().message());
    }
    log::Info("inference.model_loaded", {{"engine", std::string_view("opencv-dnn")},
                                         {"model", std::string_view(card.name)},
                                         {"version", std::string_view(card.version)}});
    return std::unique_ptr<LoadedModel>(std::move(model));
  }
};

}  // namespace

Result<std::unique_ptr<InferenceEngine>> CreateOpenCvDnnEngine(int threads) {
  if (threads < 0) return InvalidArgument("opencv-dnn: threads must be >= 0");
  if (threads > 0) cv::setNumThreads(threads);
  return std::unique_ptr<InferenceEngine>(std::make_unique<OpenCvDnnEngine>());
}

}  // namespace strata::inference
