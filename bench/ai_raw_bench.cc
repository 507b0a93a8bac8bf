// ai_raw_bench: the "raw" bound for bench/ai_bench.py. One process that does nothing but
// preprocess DICOM files (inference::PreprocessDicomFile, the code the AI pipeline's workers
// call) and score them with the same engine, threads and batch size as the pipeline:
//
//   ai_raw_bench [--model-dir DIR] [--engine onnxruntime|opencv-dnn] [--workers W]
//                [--engine-threads T] [--batch B] [--passes P] FILE...
//
// W worker threads share one loaded model (as the pipeline's workers do) and take batches of up
// to B files from a shared queue; each preprocesses its batch and makes one Run() call. Two
// rates are measured, after a warm-up of three full batches per worker:
//   end_to_end:     preprocess + inference of every file (files in the page cache);
//   inference_only: Run() on tensors prepared in advance (the runtime alone).
// Per-image preprocessing and per-batch Run() times are summed per phase so that the split of
// the time is visible. Prints one JSON object on stdout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "inference/engine_factory.h"
#include "inference/model_card.h"
#include "inference/preprocess.h"

namespace {

using Clock = std::chrono::steady_clock;
using strata::inference::Tensor;

struct Args {
  std::string model_dir = STRATA_DEMO_MODEL_DIR;
  std::string engine = "onnxruntime";
  int workers = 2;
  int engine_threads = 1;
  int batch = 8;
  int passes = 1;
  std::vector<std::string> files;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0) {
      args.files.push_back(flag);
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--model-dir") {
      args.model_dir = value;
    } else if (flag == "--engine") {
      args.engine = value;
    } else if (flag == "--workers") {
      args.workers = std::stoi(value);
    } else if (flag == "--engine-threads") {
      args.engine_threads = std::stoi(value);
    } else if (flag == "--batch") {
      args.batch = std::stoi(value);
    } else if (flag == "--passes") {
      args.passes = std::stoi(value);
    } else {
      return false;
    }
  }
  return args.workers > 0 && args.engine_threads >= 0 && args.batch > 0 && args.passes > 0 &&
         !args.files.empty();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ai_raw_bench: %s\n", what.c_str());
  std::exit(1);
}

struct PhaseTimes {
  std::mutex mutex;
  double preprocess_s = 0;  // summed over threads
  double run_s = 0;         // summed over threads
  int64_t runs = 0;
};

// Runs `items` (indices 0..n-1, in batches of args.batch) over args.workers threads; `work`
// handles one batch [begin, end) and adds to `times`. Returns the wall seconds.
template <typename Work>
double RunPhase(const Args& args, size_t n, Work work) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int w = 0; w < args.workers; ++w) {
    threads.emplace_back([&] {
      while (true) {
        const size_t begin = next.fetch_add(args.batch);
        if (begin >= n) return;
        work(begin, std::min(n, begin + args.batch));
      }
    });
  }
  for (auto& t : threads) t.join();
  return Seconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: ai_raw_bench [--model-dir DIR] [--engine onnxruntime|opencv-dnn] "
                 "[--workers W] [--engine-threads T] [--batch B] [--passes P] FILE...\n");
    return 2;
  }
  auto card = strata::inference::LoadModelCard(args.model_dir + "/model_card.json");
  if (!card.ok()) Die(card.status().ToString());
  strata::inference::EngineOptions options;
  options.threads = args.engine_threads;
  if (args.engine == "onnxruntime") {
    options.kind = strata::inference::EngineKind::kOnnxRuntime;
  } else if (args.engine == "opencv-dnn") {
    options.kind = strata::inference::EngineKind::kOpenCvDnn;
  } else {
    Die("unknown engine " + args.engine);
  }
  auto engine = strata::inference::CreateInferenceEngine(options);
  if (!engine.ok()) Die(engine.status().ToString());
  auto model = (*engine)->Load(args.model_dir + "/model.onnx", *card);
  if (!model.ok()) Die(model.status().ToString());

  // The work list: every file, `passes` times.
  std::vector<std::string> files;
  for (int p = 0; p < args.passes; ++p)
    files.insert(files.end(), args.files.begin(), args.files.end());
  const size_t n = files.size();

  // One batch: preprocess files [begin, end) and score them in one Run(), times into `times`.
  std::atomic<bool> failed{false};
  auto preprocess_and_run = [&](size_t begin, size_t end, PhaseTimes& times) {
    std::vector<Tensor> batch;
    const auto t0 = Clock::now();
    for (size_t i = begin; i < end; ++i) {
      auto t = strata::inference::PreprocessDicomFile(files[i], *card);
      if (!t.ok()) {
        std::fprintf(stderr, "ai_raw_bench: %s: %s\n", files[i].c_str(),
                     t.status().ToString().c_str());
        failed = true;
        return;
      }
      batch.push_back(std::move(t).value());
    }
    const auto t1 = Clock::now();
    if (!(*model)->Run(batch).ok()) failed = true;
    const auto t2 = Clock::now();
    std::lock_guard lock(times.mutex);
    times.preprocess_s += Seconds(t1 - t0);
    times.run_s += Seconds(t2 - t1);
    ++times.runs;
  };

  // Warm-up, untimed: kWarmUpRounds full batches per worker, concurrently, as in the phases
  // (session initialisation, the runtime's memory for the batch shape, page cache). A
  // long-running server is past this point; with large models the first runs of each thread
  // are up to three times slower.
  constexpr size_t kWarmUpRounds = 3;
  PhaseTimes warm_up;
  RunPhase(args, std::min<size_t>(n, kWarmUpRounds * args.workers * args.batch),
           [&](size_t begin, size_t end) { preprocess_and_run(begin, end, warm_up); });
  if (failed) Die("warm-up failed");

  // Phase 1: preprocess + inference.
  PhaseTimes e2e;
  const double e2e_wall =
      RunPhase(args, n, [&](size_t begin, size_t end) { preprocess_and_run(begin, end, e2e); });
  if (failed) Die("end-to-end phase failed");

  // Phase 2: inference only, on tensors prepared in advance (one per input file).
  std::vector<Tensor> tensors;
  for (const auto& f : args.files) {
    auto t = strata::inference::PreprocessDicomFile(f, *card);
    if (!t.ok()) Die(f + ": " + t.status().ToString());
    tensors.push_back(std::move(t).value());
  }
  PhaseTimes inf;
  const double inf_wall = RunPhase(args, n, [&](size_t begin, size_t end) {
    std::vector<Tensor> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back(tensors[i % tensors.size()]);
    const auto t1 = Clock::now();
    if (!(*model)->Run(batch).ok()) failed = true;
    const auto t2 = Clock::now();
    std::lock_guard lock(inf.mutex);
    inf.run_s += Seconds(t2 - t1);
    ++inf.runs;
  });
  if (failed) Die("inference-only phase failed");

  nlohmann::json out = {
      {"engine", std::string((*engine)->name())},
      {"model", card->name + " " + card->version},
      {"input", {card->input.channels, card->input.height, card->input.width}},
      {"workers", args.workers},
      {"engine_threads", args.engine_threads},
      {"batch", args.batch},
      {"images", n},
      {"end_to_end",
       {{"wall_s", e2e_wall},
        {"images_per_s", n / e2e_wall},
        {"preprocess_ms_per_image", 1000.0 * e2e.preprocess_s / n},
        {"run_ms_per_image", 1000.0 * e2e.run_s / n},
        {"runs", e2e.runs}}},
      {"inference_only",
       {{"wall_s", inf_wall},
        {"images_per_s", n / inf_wall},
        {"run_ms_per_image", 1000.0 * inf.run_s / n},
        {"runs", inf.runs}}},
  };
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
