#include "ai/occlusion_heatmap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

namespace strata::ai {
namespace {

constexpr int kSide = 64;

// A "model" with two labels: label 1 is the mean of the input over one region (clamped to
// [0, 1]), label 0 a constant below it. Records the batch sizes it was called with.
class RegionModel : public inference::LoadedModel {
 public:
  RegionModel(int x0, int y0, int x1, int y1) : x0_(x0), y0_(y0), x1_(x1), y1_(y1) {}

  const inference::ModelCard& card() const override { return card_; }

  Result<std::vector<inference::Scores>> Run(
      std::span<const inference::Tensor> batch) const override {
    {
      std::lock_guard lock(mutex_);
      batches_.push_back(batch.size());
    }
    std::vector<inference::Scores> out;
    for (const auto& t : batch) {
      double sum = 0;
      for (int y = y0_; y < y1_; ++y) {
        for (int x = x0_; x < x1_; ++x) sum += t.values[static_cast<size_t>(y) * t.width + x];
      }
      const double mean = sum / ((x1_ - x0_) * (y1_ - y0_));
      out.push_back({0.05f, static_cast<float>(std::clamp(mean, 0.0, 1.0))});
    }
    return out;
  }

  std::vector<size_t> batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  int x0_, y0_, x1_, y1_;
  inference::ModelCard card_;
  mutable std::mutex mutex_;
  mutable std::vector<size_t> batches_;
};

// An image of zeros with a bright square (value 1) at [x0, x1) x [y0, y1).
inference::Tensor Image(int x0, int y0, int x1, int y1) {
  inference::Tensor t;
  t.channels = 1;
  t.height = kSide;
  t.width = kSide;
  t.values.assign(t.ExpectedSize(), 0.0f);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) t.values[static_cast<size_t>(y) * kSide + x] = 1.0f;
  }
  return t;
}

TEST(OcclusionHeatMapTest, PeakIsWhereTheModelLooks) {
  // The model looks at [42, 46) x [18, 22), inside row 2, column 5 of an 8 x 8 grid of 8-pixel
  // cells; hiding that cell fills it with the dark around it.
  RegionModel model(42, 18, 46, 22);
  auto map = ComputeOcclusionHeatMap(model, Image(42, 18, 46, 22), {8, 8});
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->grid, 8);
  EXPECT_EQ(map->label_index, 1u);  // the highest-scoring label
  EXPECT_FLOAT_EQ(map->probability, 1.0f);
  ASSERT_EQ(map->heat.size(), 64u);
  const size_t hottest =
      static_cast<size_t>(std::max_element(map->heat.begin(), map->heat.end()) - map->heat.begin());
  EXPECT_EQ(hottest, 2u * 8 + 5);
  EXPECT_FLOAT_EQ(map->heat[hottest], 1.0f);
  for (size_t k = 0; k < map->heat.size(); ++k) {
    if (k != hottest) {
      EXPECT_EQ(map->heat[k], 0.0f) << "cell " << k;
    }
  }
}

TEST(OcclusionHeatMapTest, RunsInBatchesOfAtMostMaxBatch) {
  RegionModel model(0, 0, 8, 8);
  auto map = ComputeOcclusionHeatMap(model, Image(0, 0, 8, 8), {4, 5});
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  // 1 + 16 inputs: 5, 5, 5, 2.
  EXPECT_EQ(model.batches(), (std::vector<size_t>{5, 5, 5, 2}));
  // The region is a quarter of cell (0, 0) of a 4 x 4 grid of 16-pixel cells.
  EXPECT_EQ(std::max_element(map->heat.begin(), map->heat.end()) - map->heat.begin(), 0);
}

TEST(OcclusionHeatMapTest, TheSameInputGivesTheSameMap) {
  RegionModel model(10, 30, 30, 50);
  auto a = ComputeOcclusionHeatMap(model, Image(12, 28, 40, 52), {6, 3});
  auto b = ComputeOcclusionHeatMap(model, Image(12, 28, 40, 52), {6, 3});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->heat, b->heat);
  EXPECT_EQ(a->probability, b->probability);
}

TEST(OcclusionHeatMapTest, AGridFinerThanTheInputLeavesEmptyCellsCold) {
  RegionModel model(0, 0, 2, 2);
  inference::Tensor tiny;
  tiny.channels = 1;
  tiny.height = 2;
  tiny.width = 2;
  tiny.values = {1, 1, 1, 1};
  auto map = ComputeOcclusionHeatMap(model, tiny, {4, 8});
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->heat.size(), 16u);
  // A one-pixel cell takes the value around it, the same here; empty cells hide nothing.
  EXPECT_EQ(map->Peak(), 0.0f);
}

TEST(OcclusionHeatMapTest, RejectsBadArguments) {
  RegionModel model(0, 0, 1, 1);
  EXPECT_EQ(ComputeOcclusionHeatMap(model, Image(0, 0, 1, 1), {0, 8}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeOcclusionHeatMap(model, Image(0, 0, 1, 1), {8, 0}).status().code(),
            StatusCode::kInvalidArgument);
  inference::Tensor broken = Image(0, 0, 1, 1);
  broken.values.pop_back();
  EXPECT_EQ(ComputeOcclusionHeatMap(model, broken, {8, 8}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(OcclusionHeatMapTest, DisplayHeatScalesToThePeakAndIgnoresNoise) {
  HeatMap map;
  map.grid = 2;
  map.heat = {0.0f, 0.2f, 0.4f, 0.1f};
  EXPECT_EQ(DisplayHeat(map), (std::vector<float>{0.0f, 0.5f, 1.0f, 0.25f}));
  map.heat = {0.0f, 0.02f, 0.04f, 0.01f};
  EXPECT_EQ(DisplayHeat(map), (std::vector<float>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace strata::ai
