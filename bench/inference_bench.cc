// inference_bench: images/s of the local InferenceEngine back ends (ONNX Runtime and OpenCV
// DNN) on the demo model, in one run on the same prepared tensors, and their ratio.
//
//   inference_bench [--seconds S] [--threads T] [--batches 1,8] [--model-dir DIR]
//
// Preprocessing (DICOM -> tensor) is done once before timing: this measures the runtimes only.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "inference/engine_factory.h"
#include "inference/model_card.h"
#include "inference/preprocess.h"
#include "synth/synth.h"

namespace {

namespace fs = std::filesystem;
using strata::inference::EngineKind;

struct Args {
  double seconds = 3;
  int threads = 2;
  std::vector<int> batches{1, 8};
  std::string model_dir = STRATA_DEMO_MODEL_DIR;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--seconds") {
      args.seconds = std::stod(value);
    } else if (flag == "--threads") {
      args.threads = std::stoi(value);
    } else if (flag == "--model-dir") {
      args.model_dir = value;
    } else if (flag == "--batches") {
      args.batches.clear();
      std::stringstream in(value);
      for (std::string item; std::getline(in, item, ',');) args.batches.push_back(std::stoi(item));
    } else {
      return false;
    }
  }
  return args.seconds > 0 && args.threads > 0 && !args.batches.empty();
}

// 16 demo chest radiographs (half with lesions) preprocessed for `card`.
std::vector<strata::inference::Tensor> PrepareTensors(const strata::inference::ModelCard& card) {
  const fs::path dir = fs::temp_directory_path() / "strata_inference_bench";
  fs::create_directories(dir);
  strata::synth::Options options;
  options.preset = strata::synth::Preset::kDemo;
  options.seed = 99;
  options.patients = 8;
  options.lesion_fraction = 0.5;
  std::vector<strata::inference::Tensor> tensors;
  auto summary = strata::synth::ForEachFile(options, [&](strata::synth::GeneratedFile& f) {
    const fs::path path = dir / (std::to_string(tensors.size()) + ".dcm");
    std::ofstream(path, std::ios::binary) << f.bytes;
    auto tensor = strata::inference::PreprocessDicomFile(path.string(), card);
    if (!tensor.ok()) return tensor.status();
    tensors.push_back(std::move(tensor).value());
    return strata::OkStatus();
  });
  fs::remove_all(dir);
  if (!summary.ok()) {
    std::fprintf(stderr, "inference_bench: %s\n", summary.status().ToString().c_str());
    std::exit(1);
  }
  return tensors;
}

// Images per second for one engine and batch size: repeated Run() calls for `seconds` after a
// warm-up call.
double Measure(EngineKind kind, const Args& args, int batch_size,
               const strata::inference::ModelCard& card,
               const std::vector<strata::inference::Tensor>& tensors) {
  strata::inference::EngineOptions options;
  options.kind = kind;
  options.threads = args.threads;
  auto engine = strata::inference::CreateInferenceEngine(options);
  if (!engine.ok()) return -1;
  auto model = (*engine)->Load(args.model_dir + "/model.onnx", card);
  if (!model.ok()) {
    std::fprintf(stderr, "inference_bench: %s\n", model.status().ToString().c_str());
    return -1;
  }
  std::vector<strata::inference::Tensor> batch;
  for (int i = 0; i < batch_size; ++i) batch.push_back(tensors[i % tensors.size()]);
  if (!(*model)->Run(batch).ok()) return -1;  // warm-up
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int64_t images = 0;
  double elapsed = 0;
  while (elapsed < args.seconds) {
    auto scores = (*model)->Run(batch);
    if (!scores.ok()) return -1;
    images += batch_size;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return static_cast<double>(images) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: inference_bench [--seconds S] [--threads T] [--batches 1,8] "
                 "[--model-dir DIR]\n");
    return 2;
  }
  auto card = strata::inference::LoadModelCard(args.model_dir + "/model_card.json");
  if (!card.ok()) {
    std::fprintf(stderr, "inference_bench: %s\n", card.status().ToString().c_str());
    return 1;
  }
  const auto tensors = PrepareTensors(*card);
  std::printf("inference_bench: model %s %s, %dx%dx%d input, %d threads, %.1f s per run\n",
              card->name.c_str(), card->version.c_str(), card->input.channels, card->input.height,
              card->input.width, args.threads, args.seconds);
  std::printf("%-8s %16s %16s %8s\n", "batch", "onnxruntime img/s", "opencv-dnn img/s", "ratio");
  for (int batch : args.batches) {
    const double ort = strata::inference::HasOnnxRuntime()
                           ? Measure(EngineKind::kOnnxRuntime, args, batch, *card, tensors)
                           : -1;
    const double cv = Measure(EngineKind::kOpenCvDnn, args, batch, *card, tensors);
    if (ort > 0 && cv > 0) {
      std::printf("%-8d %16.1f %16.1f %8.2f\n", batch, ort, cv, ort / cv);
    } else {
      std::printf("%-8d %16s %16.1f %8s\n", batch, ort > 0 ? "?" : "n/a", cv, "n/a");
    }
  }
  return 0;
}
