#include "inference/preprocess.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dicom/dicom_file.h"
#include "synth/synth.h"

namespace strata::inference {
namespace {

namespace fs = std::filesystem;

const char kPydicomTestFiles[] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("preprocess_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

ModelCard Card(int width, int height, WindowMode mode = WindowMode::kFromFile) {
  ModelCard card;
  card.name = "test";
  card.version = "1";
  card.input = {width, height, 1};
  card.preprocessing.window.mode = mode;
  card.preprocessing.mean = {0.5};
  card.preprocessing.std = {0.25};
  card.labels = {{"finding", 0.5}};
  card.applies_to.modalities = {"CR"};
  return card;
}

// Writes the demo preset's first CR image for `seed` (MONOCHROME1 or MONOCHROME2 by seed).
std::string WriteSynthCr(const TempDir& dir, uint64_t seed, const std::string& name) {
  synth::Options options;
  options.preset = synth::Preset::kDemo;
  options.seed = seed;
  std::string bytes;
  auto summary = synth::ForEachFile(options, [&](synth::GeneratedFile& f) {
    if (bytes.empty()) bytes = f.bytes;
    return OkStatus();
  });
  EXPECT_TRUE(summary.ok()) << summary.status().ToString();
  const std::string path = dir.File(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

bool HaveTool(const char* tool) {
  return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

float MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.values.size(), b.values.size());
  float diff = 0;
  for (size_t i = 0; i < std::min(a.values.size(), b.values.size()); ++i) {
    diff = std::max(diff, std::abs(a.values[i] - b.values[i]));
  }
  return diff;
}

float Mean(const Tensor& t, int x0, int y0, int x1, int y1) {
  double sum = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) sum += t.values[static_cast<size_t>(y) * t.width + x];
  }
  return static_cast<float>(sum / ((x1 - x0) * (y1 - y0)));
}

TEST(PreprocessTest, ProducesTheCardsShapeAndNormalisation) {
  TempDir dir;
  const std::string path = WriteSynthCr(dir, 3, "cr.dcm");
  PreprocessInfo info;
  auto t = PreprocessDicomFile(path, Card(128, 96), &info);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->channels, 1);
  EXPECT_EQ(t->height, 96);
  EXPECT_EQ(t->width, 128);
  EXPECT_EQ(t->values.size(), 128u * 96u);
  EXPECT_EQ(info.source_width, 256);
  EXPECT_EQ(info.source_height, 320);
  EXPECT_EQ(info.window_used, "file");
  // Window in [0, 1], then (v - 0.5) / 0.25.
  const auto [lo, hi] = std::minmax_element(t->values.begin(), t->values.end());
  EXPECT_GE(*lo, -2.0f);
  EXPECT_LE(*hi, 2.0f);
  EXPECT_GT(*hi - *lo, 0.5f) << "the image should have contrast";
}

TEST(PreprocessTest, MinMaxWindowSpansTheWholeRange) {
  TempDir dir;
  const std::string path = WriteSynthCr(dir, 3, "cr.dcm");
  PreprocessInfo info;
  auto t = PreprocessDicomFile(path, Card(256, 320, WindowMode::kMinMax), &info);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(info.window_used, "min_max");
  const auto [lo, hi] = std::minmax_element(t->values.begin(), t->values.end());
  EXPECT_NEAR(*lo, -2.0f, 1e-3);
  EXPECT_NEAR(*hi, 2.0f, 1e-3);
}

TEST(PreprocessTest, FixedWindowSaturatesOutsideIt) {
  TempDir dir;
  const std::string path = WriteSynthCr(dir, 3, "cr.dcm");
  ModelCard card = Card(256, 320, WindowMode::kFixed);
  // A 1-wide window at 0 maps every stored value (all >= 0, most well above) to white.
  card.preprocessing.window.center = 0;
  card.preprocessing.window.width = 1;
  card.preprocessing.invert_monochrome1 = false;
  PreprocessInfo info;
  auto t = PreprocessDicomFile(path, card, &info);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(info.window_used, "fixed");
  const float white = info.monochrome1 ? -2.0f : 2.0f;  // stored polarity kept
  const size_t at_white = std::count(t->values.begin(), t->values.end(), white);
  EXPECT_GT(at_white, t->values.size() * 9 / 10);
}

TEST(PreprocessTest, ThreeChannelsRepeatTheGreyImageWithTheirOwnNormalisation) {
  TempDir dir;
  const std::string path = WriteSynthCr(dir, 3, "cr.dcm");
  ModelCard card = Card(64, 64);
  card.input.channels = 3;
  card.preprocessing.mean = {0.5, 0.0, 0.5};
  card.preprocessing.std = {0.25, 1.0, 0.5};
  auto t = PreprocessDicomFile(path, card);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->values.size(), 3u * 64 * 64);
  const size_t plane = 64 * 64;
  for (size_t i = 0; i < plane; i += 97) {
    const float grey = t->values[plane + i];  // mean 0, std 1: the windowed value itself
    EXPECT_NEAR(t->values[i], (grey - 0.5f) / 0.25f, 1e-5);
    EXPECT_NEAR(t->values[2 * plane + i], (grey - 0.5f) / 0.5f, 1e-5);
  }
}

// Rewrites `source` (MONOCHROME2) as MONOCHROME1: stored values mirrored and the window centre
// mirrored with them, so that displayed correctly both files look the same.
void WriteAsMonochrome1(const std::string& source, const std::string& dest) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(source.c_str()).good());
  DcmDataset* ds = file.getDataset();
  OFString photometric;
  ASSERT_TRUE(ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric).good());
  ASSERT_EQ(photometric, "MONOCHROME2");
  const Uint16* pixels = nullptr;
  unsigned long count = 0;
  ASSERT_TRUE(ds->findAndGetUint16Array(DCM_PixelData, pixels, &count).good());
  std::vector<Uint16> mirrored(pixels, pixels + count);
  for (Uint16& v : mirrored) v = static_cast<Uint16>(4095 - v);  // 12 bits stored
  ASSERT_TRUE(ds->putAndInsertUint16Array(DCM_PixelData, mirrored.data(), count).good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME1").good());
  Float64 center = 0;
  ASSERT_TRUE(ds->findAndGetFloat64(DCM_WindowCenter, center).good());
  // LINEAR VOI (PS3.3 C.11.2.1.2.1) of x' = 4095 - x with c' = 4096 - c is 1 - VOI(x).
  ASSERT_TRUE(
      ds->putAndInsertString(DCM_WindowCenter, std::to_string(4096 - center).c_str()).good());
  ASSERT_TRUE(file.saveFile(dest.c_str(), EXS_LittleEndianExplicit).good());
}

// Finds a demo seed whose first image is MONOCHROME2.
std::string WriteMonochrome2Cr(const TempDir& dir) {
  for (uint64_t seed = 1; seed < 50; ++seed) {
    const std::string path = WriteSynthCr(dir, seed, "m2.dcm");
    PreprocessInfo info;
    auto t = PreprocessDicomFile(path, Card(8, 8), &info);
    if (t.ok() && !info.monochrome1) return path;
  }
  ADD_FAILURE() << "no MONOCHROME2 image among 50 seeds";
  return "";
}

TEST(PreprocessTest, Monochrome1IsInvertedToMonochrome2Polarity) {
  TempDir dir;
  const std::string m2 = WriteMonochrome2Cr(dir);
  ASSERT_FALSE(m2.empty());
  const std::string m1 = dir.File("m1.dcm");
  WriteAsMonochrome1(m2, m1);
  if (HasFailure()) return;

  const ModelCard card = Card(128, 160);
  PreprocessInfo info1, info2;
  auto t2 = PreprocessDicomFile(m2, card, &info2);
  auto t1 = PreprocessDicomFile(m1, card, &info1);
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  EXPECT_FALSE(info2.monochrome1);
  EXPECT_TRUE(info1.monochrome1);
  // Same picture; differences only from 16-bit rendering (1/65535 before dividing by 0.25).
  EXPECT_LT(MaxAbsDiff(*t1, *t2), 1e-3);
  // And the right way round: aerated lung (low attenuation) darker than the spine.
  const float lung = Mean(*t2, 128 * 30 / 100, 160 * 40 / 100, 128 * 42 / 100, 160 * 50 / 100);
  const float spine = Mean(*t2, 128 * 49 / 100, 160 * 60 / 100, 128 * 51 / 100, 160 * 70 / 100);
  EXPECT_LT(lung, spine);

  // Without inversion MONOCHROME1 keeps its stored polarity: the negated image.
  ModelCard keep = card;
  keep.preprocessing.invert_monochrome1 = false;
  auto kept = PreprocessDicomFile(m1, keep);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  Tensor negated = *t2;
  for (float& v : negated.values) v = -v;  // (1 - y - 0.5) / 0.25 == -(y - 0.5) / 0.25
  EXPECT_LT(MaxAbsDiff(*kept, negated), 1e-3);
  // The flag changes nothing for MONOCHROME2.
  auto m2_kept = PreprocessDicomFile(m2, keep);
  ASSERT_TRUE(m2_kept.ok());
  EXPECT_EQ(MaxAbsDiff(*m2_kept, *t2), 0.0f);
}

// A synthetic CR stored uncompressed and through dcmtk's lossless encoders gives one tensor.
TEST(PreprocessTest, CompressedCopiesGiveTheSameTensor) {
  for (const char* tool : {"dcmcrle", "dcmcjpeg", "dcmcjpls", "dcmconv"}) {
    if (!HaveTool(tool)) GTEST_SKIP() << tool << " not installed (Debian package dcmtk)";
  }
  TempDir dir;
  const std::string original = WriteSynthCr(dir, 4, "native.dcm");
  const ModelCard card = Card(128, 128);
  auto expected = PreprocessDicomFile(original, card);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  struct Variant {
    const char* command;
    const char* name;
    const char* transfer_syntax;
  };
  const Variant variants[] = {
      {"dcmcrle", "rle.dcm", UID_RLELosslessTransferSyntax},
      {"dcmcjpeg --encode-lossless-sv1", "jpeg_sv1.dcm", UID_JPEGProcess14SV1TransferSyntax},
      {"dcmcjpeg --encode-lossless", "jpeg_14.dcm", UID_JPEGProcess14TransferSyntax},
      {"dcmcjpls --encode-lossless", "jpeg_ls.dcm", UID_JPEGLSLosslessTransferSyntax},
      {"dcmconv --write-xfer-implicit", "implicit.dcm", UID_LittleEndianImplicitTransferSyntax},
      {"dcmconv --write-xfer-big", "big_endian.dcm", UID_BigEndianExplicitTransferSyntax},
      {"dcmconv --write-xfer-deflated", "deflated.dcm",
       UID_DeflatedExplicitVRLittleEndianTransferSyntax},
  };
  for (const Variant& v : variants) {
    const std::string path = dir.File(v.name);
    const std::string command = std::string(v.command) + " " + original + " " + path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    auto parsed = dicom::ReadInstance(path);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->metadata.transfer_syntax_uid, v.transfer_syntax) << v.name;
    auto t = PreprocessDicomFile(path, card);
    ASSERT_TRUE(t.ok()) << v.name << ": " << t.status().ToString();
    EXPECT_EQ(MaxAbsDiff(*t, *expected), 0.0f) << v.name;
  }
}

// pydicom's corpus holds one MR image in many transfer syntaxes, JPEG 2000 included.
TEST(PreprocessTest, PydicomCorpusTransferSyntaxesGiveTheSameTensor) {
  const std::string base = std::string(kPydicomTestFiles) + "/MR_small.dcm";
  if (!fs::exists(base)) GTEST_SKIP() << "pydicom test files not installed (python3-pydicom)";
  const ModelCard card = Card(48, 48, WindowMode::kMinMax);
  auto expected = PreprocessDicomFile(base, card);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  int compared = 0;
  for (const char* name :
       {"MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm"}) {
    const std::string path = std::string(kPydicomTestFiles) + "/" + name;
    if (!fs::exists(path)) continue;
    auto t = PreprocessDicomFile(path, card);
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().ToString();
    EXPECT_EQ(MaxAbsDiff(*t, *expected), 0.0f) << name;
    ++compared;
  }
  EXPECT_GE(compared, 4);
}

TEST(PreprocessTest, ErrorsAreValues) {
  TempDir dir;
  const ModelCard card = Card(32, 32);
  EXPECT_EQ(PreprocessDicomFile(dir.File("missing.dcm"), card).status().code(),
            StatusCode::kNotFound);

  const std::string text = dir.File("text.dcm");
  std::ofstream(text) << "not a DICOM file at all";
  EXPECT_EQ(PreprocessDicomFile(text, card).status().code(), StatusCode::kInvalidArgument);

  // A DICOM file without pixel data.
  DcmFileFormat no_pixels;
  DcmDataset* ds = no_pixels.getDataset();
  ASSERT_TRUE(ds->putAndInsertString(DCM_SOPClassUID, UID_BasicTextSRStorage).good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4").good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3").good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.5").good());
  const std::string sr = dir.File("sr.dcm");
  ASSERT_TRUE(no_pixels.saveFile(sr.c_str(), EXS_LittleEndianExplicit).good());
  auto no_image = PreprocessDicomFile(sr, card);
  EXPECT_EQ(no_image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_image.status().message().find("no pixel data"), std::string::npos);

  const std::string rgb = std::string(kPydicomTestFiles) + "/SC_rgb_rle.dcm";
  if (fs::exists(rgb)) {
    EXPECT_EQ(PreprocessDicomFile(rgb, card).status().code(), StatusCode::kUnimplemented);
  }
}

}  // namespace
}  // namespace strata::inference
