// Synthetic lesions (Options::lesion_fraction) and their ground-truth manifest.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "synth/synth.h"

namespace strata::synth {
namespace {

namespace fs = std::filesystem;

std::vector<GeneratedFile> Generate(const Options& options) {
  std::vector<GeneratedFile> files;
  auto summary = ForEachFile(options, [&](GeneratedFile& f) {
    files.push_back(std::move(f));
    return OkStatus();
  });
  EXPECT_TRUE(summary.ok()) << summary.status().ToString();
  return files;
}

Options Demo(uint64_t seed, int patients, double fraction) {
  Options o;
  o.preset = Preset::kDemo;
  o.seed = seed;
  o.patients = patients;
  o.lesion_fraction = fraction;
  return o;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("lesion_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// The demo preset's images are 320 rows x 256 columns of 16-bit samples at the end of the file.
constexpr int kRows = 320;
constexpr int kColumns = 256;

std::vector<uint16_t> Pixels(const std::string& bytes) {
  std::vector<uint16_t> pixels(kRows * kColumns);
  const size_t size = pixels.size() * 2;
  std::memcpy(pixels.data(), bytes.data() + bytes.size() - size, size);
  return pixels;
}

TEST(SynthLesionTest, DefaultFractionIsZeroAndAddsNothing) {
  EXPECT_EQ(Options().lesion_fraction, 0);
  for (const GeneratedFile& f : Generate(Demo(5, 2, 0))) {
    EXPECT_FALSE(f.lesion.has_value());
    EXPECT_FALSE(f.sop_instance_uid.empty());
  }
}

TEST(SynthLesionTest, LesionsAreSeededAndDoNotDisturbTheRestOfTheImage) {
  const auto none = Generate(Demo(11, 10, 0));
  const auto half = Generate(Demo(11, 10, 0.5));
  const auto half_again = Generate(Demo(11, 10, 0.5));
  const auto all = Generate(Demo(11, 10, 1));
  ASSERT_EQ(none.size(), 20u);
  ASSERT_EQ(half.size(), none.size());
  ASSERT_EQ(all.size(), none.size());
  int present = 0;
  for (size_t i = 0; i < none.size(); ++i) {
    ASSERT_TRUE(half[i].lesion.has_value());
    ASSERT_TRUE(all[i].lesion.has_value());
    EXPECT_EQ(half[i].bytes, half_again[i].bytes);
    EXPECT_EQ(half[i].sop_instance_uid, none[i].sop_instance_uid);
    EXPECT_TRUE(all[i].lesion->present);
    if (!half[i].lesion->present) {
      EXPECT_EQ(half[i].bytes, none[i].bytes) << "an image without a lesion is unchanged";
      EXPECT_EQ(half[i].lesion->radius, 0);
      continue;
    }
    ++present;
    // The same lesion whatever the fraction.
    EXPECT_EQ(half[i].bytes, all[i].bytes);
    const LesionTruth& t = *half[i].lesion;
    EXPECT_GE(t.radius, 0.025 * kColumns);
    EXPECT_LE(t.radius, 0.06 * kColumns);
    // Inside a lung field: the ellipses at x = 0.36 w / 0.64 w, y = 0.45 h, radii 0.12 w, 0.25 h.
    const double lung_x = t.center_x < kColumns / 2 ? 0.36 * kColumns : 0.64 * kColumns;
    const double dx = (t.center_x - lung_x) / (0.12 * kColumns);
    const double dy = (t.center_y - 0.45 * kRows) / (0.25 * kRows);
    EXPECT_LE(dx * dx + dy * dy, 1.0) << "centre outside the lung field";
    // Pixels change only inside the disc, and most of them there.
    const auto before = Pixels(none[i].bytes);
    const auto after = Pixels(half[i].bytes);
    int changed_inside = 0;
    int inside = 0;
    for (int y = 0; y < kRows; ++y) {
      for (int x = 0; x < kColumns; ++x) {
        const double r = std::hypot(x + 0.5 - t.center_x, y + 0.5 - t.center_y);
        const bool differs = before[y * kColumns + x] != after[y * kColumns + x];
        if (r >= t.radius) {
          ASSERT_FALSE(differs) << "pixel " << x << "," << y << " outside the lesion changed";
        } else {
          ++inside;
          changed_inside += differs ? 1 : 0;
        }
      }
    }
    EXPECT_GT(changed_inside, inside / 2);
  }
  // 20 draws at 0.5: anything from 3 to 17 is unremarkable; outside that the draw is broken.
  EXPECT_GE(present, 3);
  EXPECT_LE(present, 17);
}

TEST(SynthLesionTest, OnlyChestRadiographsAreEligible) {
  TempDir dir;
  Options o;
  o.preset = Preset::kTiny;
  o.seed = 3;
  o.patients = 12;
  o.lesion_fraction = 1;
  int eligible = 0;
  int others = 0;
  auto summary = ForEachFile(o, [&](GeneratedFile& f) {
    const fs::path path = dir.path() / "f.dcm";
    fs::create_directories(dir.path());
    std::ofstream(path, std::ios::binary) << f.bytes;
    DcmFileFormat file;
    if (file.loadFile(path.c_str()).bad()) return Internal("unreadable");
    OFString modality, body_part;
    (void)file.getDataset()->findAndGetOFString(DCM_Modality, modality);
    (void)file.getDataset()->findAndGetOFString(DCM_BodyPartExamined, body_part);
    const bool chest_xr = (modality == "CR" || modality == "DX") && body_part == "CHEST";
    EXPECT_EQ(f.lesion.has_value(), chest_xr) << modality << " " << body_part;
    (chest_xr ? eligible : others) += 1;
    return OkStatus();
  });
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_GT(eligible, 0);
  EXPECT_GT(others, 0);
}

TEST(SynthLesionTest, WriteTreeWritesTheManifest) {
  TempDir dir;
  auto summary = WriteTree(Demo(21, 4, 0.5), dir.path().string());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  std::ifstream in(dir.path() / kLesionManifestName);
  ASSERT_TRUE(in.good());
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "sop_instance_uid,file,lesion,center_x,center_y,radius");
  const auto files = Generate(Demo(21, 4, 0.5));
  size_t row = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(row, files.size());
    std::vector<std::string> cells;
    std::stringstream cells_in(line);
    for (std::string cell; std::getline(cells_in, cell, ',');) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    ASSERT_EQ(cells.size(), 6u) << line;
    EXPECT_EQ(cells[0], files[row].sop_instance_uid);
    EXPECT_EQ(cells[1], files[row].relative_path);
    EXPECT_TRUE(fs::exists(dir.path() / cells[1]));
    const LesionTruth& t = *files[row].lesion;
    EXPECT_EQ(cells[2], t.present ? "1" : "0");
    if (t.present) {
      EXPECT_NEAR(std::stod(cells[3]), t.center_x, 0.01);
      EXPECT_NEAR(std::stod(cells[4]), t.center_y, 0.01);
      EXPECT_NEAR(std::stod(cells[5]), t.radius, 0.01);
    } else {
      EXPECT_EQ(cells[3] + cells[4] + cells[5], "");
    }
    ++row;
  }
  EXPECT_EQ(row, files.size());
}

TEST(SynthLesionTest, NoManifestWithoutLesions) {
  TempDir dir;
  ASSERT_TRUE(WriteTree(Demo(21, 1, 0), dir.path().string()).ok());
  EXPECT_FALSE(fs::exists(dir.path() / kLesionManifestName));
}

TEST(SynthLesionTest, RejectsFractionsOutsideZeroToOne) {
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    auto summary = ForEachFile(Demo(1, 1, bad), [](GeneratedFile&) { return OkStatus(); });
    EXPECT_EQ(summary.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace strata::synth
