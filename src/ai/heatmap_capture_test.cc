#include "ai/heatmap_capture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/testing/read_file.h"
#include "inference/engine_factory.h"
#include "inference/preprocess.h"
#include "synth/synth.h"

namespace strata::ai {
namespace {

namespace fs = std::filesystem;

const std::string kModelDir = STRATA_DEMO_MODEL_DIR;

class HeatmapCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata_heatmap_capture_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto card = inference::LoadModelCard(kModelDir + "/model_card.json");
    ASSERT_TRUE(card.ok()) << card.status().ToString();
    card_ = *card;
    engine_ = inference::CreateInferenceEngine({}).value();
    auto model = engine_->Load(kModelDir + "/model.onnx", card_);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(*model);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  inference::ModelCard card_;
  std::unique_ptr<inference::InferenceEngine> engine_;
  std::unique_ptr<inference::LoadedModel> model_;
};

TEST_F(HeatmapCaptureTest, UidsAreDerivedFromModelVersionAndSource) {
  EXPECT_EQ(HeatmapSopUid("m", "1", "1.2.3"), HeatmapSopUid("m", "1", "1.2.3"));
  EXPECT_NE(HeatmapSopUid("m", "1", "1.2.3"), HeatmapSopUid("m", "2", "1.2.3"));
  EXPECT_NE(HeatmapSopUid("m", "1", "1.2.3"), HeatmapSeriesUid("m", "1", "1.2.3"));
  EXPECT_EQ(HeatmapSopUid("m", "1", "1.2.3").rfind("2.25.", 0), 0u);
}

// The demo model on synthetic radiographs with a lesion: the hottest cell of the heat map
// lies near the lesion, and the same result gives the same Secondary Capture, byte for byte.
// (Over 60 such images, seeds 1-15, the hottest cell's centre is within 1.5 cells of the
// lesion's for 50, and is the lesion's own cell for 43; a lesion across a cell border splits
// its heat.)
TEST_F(HeatmapCaptureTest, TheDemoModelsHeatPeaksAtTheLesionAndRepeatsExactly) {
  ASSERT_TRUE(card_.heatmap.has_value());
  synth::Options options;
  options.seed = 5;
  options.patients = 2;
  options.lesion_fraction = 1.0;
  std::vector<synth::GeneratedFile> files;
  ASSERT_TRUE(synth::ForEachFile(options, [&](synth::GeneratedFile& f) -> Status {
                files.push_back(f);
                return OkStatus();
              }).ok());
  ASSERT_FALSE(files.empty());
  int checked = 0;
  int near = 0;
  for (const auto& f : files) {
    if (!f.lesion || !f.lesion->present) continue;
    const std::string source = (dir_ / (f.sop_instance_uid + ".dcm")).string();
    std::ofstream(source, std::ios::binary) << f.bytes;
    inference::PreprocessInfo info;
    auto tensor = inference::PreprocessDicomFile(source, card_, &info);
    ASSERT_TRUE(tensor.ok()) << tensor.status().ToString();

    InferenceResult result;
    result.model_name = card_.name;
    result.model_version = card_.version;
    result.study_uid = "1.2.3";
    result.sop_uid = f.sop_instance_uid;
    result.created_at_ms = 1767225600000;
    auto capture = MakeHeatmapCapture(card_, *model_, *tensor, result, source, 8);
    ASSERT_TRUE(capture.ok()) << capture.status().ToString();
    EXPECT_EQ(capture->label, "synthetic_lesion");
    EXPECT_EQ(capture->method, "occlusion sensitivity, 8 x 8 grid");
    EXPECT_EQ(capture->sop_instance_uid, HeatmapSopUid(card_.name, card_.version, result.sop_uid));
    ASSERT_EQ(capture->heat.size(), 64u);
    const size_t hottest = static_cast<size_t>(
        std::max_element(capture->heat.begin(), capture->heat.end()) - capture->heat.begin());
    EXPECT_EQ(capture->heat[hottest], 1.0f);
    // The hottest cell's centre, in source pixels, within 1.5 cells of the lesion's centre.
    const double cell = static_cast<double>(std::max(info.source_width, info.source_height)) / 8;
    const double x = (static_cast<double>(hottest % 8) + 0.5) * info.source_width / 8;
    const double y = (static_cast<double>(hottest / 8) + 0.5) * info.source_height / 8;
    if (std::hypot(x - f.lesion->center_x, y - f.lesion->center_y) < 1.5 * cell) ++near;

    // Computed again (another batch size changes nothing either) and written twice.
    auto again = MakeHeatmapCapture(card_, *model_, *tensor, result, source, 5);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->heat, capture->heat);
    const std::string a = (dir_ / "a.dcm").string();
    const std::string b = (dir_ / "b.dcm").string();
    ASSERT_TRUE(dicom::WriteHeatmapSc(*capture, a).ok());
    ASSERT_TRUE(dicom::WriteHeatmapSc(*again, b).ok());
    EXPECT_EQ(testing::ReadFileBytes(a), testing::ReadFileBytes(b));
    ++checked;
  }
  EXPECT_EQ(checked, 4);
  EXPECT_GE(near, 3);
}

}  // namespace
}  // namespace strata::ai
