#include "ai/heatmap_capture.h"

#include <algorithm>

#include "ai/derived_uid.h"
#include "ai/occlusion_heatmap.h"

namespace strata::ai {

std::string HeatmapSopUid(const std::string& model, const std::string& version,
                          const std::string& source_sop_uid) {
  return DerivedUid("strata-ai-heatmap/" + model + "/" + version + "/" + source_sop_uid);
}

std::string HeatmapSeriesUid(const std::string& model, const std::string& version,
                             const std::string& study_uid) {
  return DerivedUid("strata-ai-heatmap-series/" + model + "/" + version + "/" + study_uid);
}

Result<dicom::HeatmapCapture> MakeHeatmapCapture(const inference::ModelCard& card,
                                                 const inference::LoadedModel& model,
                                                 const inference::Tensor& input,
                                                 const InferenceResult& result,
                                                 const std::string& source_path, size_t max_batch) {
  STRATA_CHECK(card.heatmap.has_value()) << "the card of " << card.name << " asks for no heat map";
  const int grid = card.heatmap->grid;
  STRATA_ASSIGN_OR_RETURN(HeatMap map, ComputeOcclusionHeatMap(model, input, {grid, max_batch}));
  if (map.label_index >= card.labels.size()) {
    return Internal("heat map: the model has more outputs than its card has labels");
  }
  dicom::HeatmapCapture capture;
  capture.source_path = source_path;
  capture.sop_instance_uid = HeatmapSopUid(result.model_name, result.model_version, result.sop_uid);
  capture.series_instance_uid =
      HeatmapSeriesUid(result.model_name, result.model_version, result.study_uid);
  capture.series_number = kHeatmapSeriesNumber;
  capture.model_name = result.model_name;
  capture.model_version = result.model_version;
  capture.method =
      "occlusion sensitivity, " + std::to_string(grid) + " x " + std::to_string(grid) + " grid";
  capture.label = card.labels[map.label_index].name;
  capture.probability = std::clamp(static_cast<double>(map.probability), 0.0, 1.0);
  // The result's time, not now: a retry writes the same bytes.
  capture.content_time_ms = result.created_at_ms;
  capture.grid_columns = grid;
  capture.grid_rows = grid;
  capture.heat = DisplayHeat(map);
  return capture;
}

}  // namespace strata::ai
