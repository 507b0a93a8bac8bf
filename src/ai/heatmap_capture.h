// The heat-map Secondary Capture of one AI result (dicom/heatmap_sc.h): its UIDs, derived
// from (model, version, source instance) like the reports' (derived_uid.h), and its content,
// computed by occlusion (occlusion_heatmap.h) from the prepared image. A retry derives the same
// UIDs and, with a deterministic engine, the same picture, so ingest answers it as a duplicate.
//
// Thread-safety: pure functions; LoadedModel::Run may be called concurrently.
#pragma once

#include <cstddef>
#include <string>

#include "ai/ai_records.h"
#include "core/status.h"
#include "dicom/heatmap_sc.h"
#include "inference/inference_engine.h"
#include "inference/model_card.h"
#include "inference/tensor.h"

namespace strata::ai {

// Series number of the heat maps in a study (the findings SRs' is 9001).
inline constexpr int kHeatmapSeriesNumber = 9002;

std::string HeatmapSopUid(const std::string& model, const std::string& version,
                          const std::string& source_sop_uid);
// One heat-map series per study and model version.
std::string HeatmapSeriesUid(const std::string& model, const std::string& version,
                             const std::string& study_uid);

// The capture of `result`'s heat map: `input` is the image as prepared for the model (the
// file at `source_path`), run with occlusion in batches of `max_batch`. REQUIRES: card.heatmap.
Result<dicom::HeatmapCapture> MakeHeatmapCapture(const inference::ModelCard& card,
                                                 const inference::LoadedModel& model,
                                                 const inference::Tensor& input,
                                                 const InferenceResult& result,
                                                 const std::string& source_path, size_t max_batch);

}  // namespace strata::ai
