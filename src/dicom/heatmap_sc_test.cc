#include "dicom/heatmap_sc.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/testing/read_file.h"

namespace strata::dicom {
namespace {

namespace fs = std::filesystem;

const std::string kCrStorage = "1.2.840.10008.5.1.4.1.1.1";
const std::string kSourceUid = "1.2.3.4.5.6.7";

std::string Get(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  item.findAndGetOFStringArray(key, value);
  return value.c_str();
}

class HeatmapScTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strata-heatmap-sc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A 16-bit CR whose value rises from left (0) to right (1000), windowed 500/1000.
  std::string WriteSource(const std::string& name, int width, int height,
                          const std::string& photometric = "MONOCHROME2") {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
    ds.putAndInsertString(DCM_SOPClassUID, kCrStorage.c_str());
    ds.putAndInsertString(DCM_SOPInstanceUID, kSourceUid.c_str());
    ds.putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4");
    ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4.5");
    ds.putAndInsertString(DCM_PatientName, "M\xFCller^Anna");  // Latin-1
    ds.putAndInsertString(DCM_PatientID, "P-17");
    ds.putAndInsertString(DCM_StudyDate, "20260102");
    ds.putAndInsertString(DCM_AccessionNumber, "ACC9");
    ds.putAndInsertString(DCM_Modality, "CR");
    ds.putAndInsertString(DCM_BodyPartExamined, "CHEST");
    ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds.putAndInsertString(DCM_PhotometricInterpretation, photometric.c_str());
    ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(height));
    ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(width));
    ds.putAndInsertUint16(DCM_BitsAllocated, 16);
    ds.putAndInsertUint16(DCM_BitsStored, 12);
    ds.putAndInsertUint16(DCM_HighBit, 11);
    ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
    ds.putAndInsertString(DCM_WindowCenter, "500");
    ds.putAndInsertString(DCM_WindowWidth, "1000");
    std::vector<Uint16> pixels(static_cast<size_t>(width) * height);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        pixels[static_cast<size_t>(y) * width + x] = static_cast<Uint16>(x * 1000 / (width - 1));
      }
    }
    ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
    const std::string path = (dir_ / name).string();
    EXPECT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
    return path;
  }

  HeatmapCapture Capture(const std::string& source) {
    HeatmapCapture c;
    c.source_path = source;
    c.sop_instance_uid = "2.25.1234";
    c.series_instance_uid = "2.25.5678";
    c.model_name = "demo-chest-anomaly";
    c.model_version = "1.0.0";
    c.method = "occlusion sensitivity, 4 x 4 grid";
    c.label = "synthetic_lesion";
    c.probability = 0.875;
    c.content_time_ms = 1767225600123;  // 2026-01-01 00:00:00.123 UTC
    c.grid_columns = 4;
    c.grid_rows = 4;
    c.heat.assign(16, 0.0f);
    c.heat[1 * 4 + 2] = 1.0f;  // row 1, column 2
    return c;
  }

  fs::path dir_;
};

// The RGB triple at (x, y) of a written capture.
std::vector<int> Rgb(DcmDataset& ds, int x, int y) {
  const Uint8* pixels = nullptr;
  unsigned long count = 0;
  EXPECT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, pixels, &count).good());
  Uint16 columns = 0;
  ds.findAndGetUint16(DCM_Columns, columns);
  const size_t i = (static_cast<size_t>(y) * columns + x) * 3;
  if (pixels == nullptr || i + 2 >= count) return {};
  return {pixels[i], pixels[i + 1], pixels[i + 2]};
}

TEST_F(HeatmapScTest, WritesASecondaryCaptureOfTheSource) {
  const std::string source = WriteSource("cr.dcm", 200, 100);
  const std::string out = (dir_ / "sc.dcm").string();
  ASSERT_TRUE(WriteHeatmapSc(Capture(source), out).ok());

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  DcmDataset& ds = *file.getDataset();
  EXPECT_EQ(Get(*file.getMetaInfo(), DCM_TransferSyntaxUID),
            UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(Get(*file.getMetaInfo(), DCM_MediaStorageSOPClassUID), kSecondaryCaptureImageStorage);
  EXPECT_EQ(Get(ds, DCM_SOPClassUID), kSecondaryCaptureImageStorage);
  EXPECT_EQ(Get(ds, DCM_SOPInstanceUID), "2.25.1234");
  EXPECT_EQ(Get(ds, DCM_SeriesInstanceUID), "2.25.5678");
  EXPECT_EQ(Get(ds, DCM_SeriesNumber), "9002");
  EXPECT_EQ(Get(ds, DCM_Modality), "OT");
  EXPECT_EQ(Get(ds, DCM_ConversionType), "WSD");
  EXPECT_EQ(Get(ds, DCM_ImageType), "DERIVED\\SECONDARY");
  EXPECT_EQ(Get(ds, DCM_BurnedInAnnotation), "NO");
  EXPECT_NE(Get(ds, DCM_ImageComments).find("NOT FOR DIAGNOSIS"), std::string::npos);
  const std::string derivation = Get(ds, DCM_DerivationDescription);
  for (const char* part : {"demo-chest-anomaly", "1.0.0", "occlusion sensitivity, 4 x 4 grid",
                           "synthetic_lesion", "0.875"}) {
    EXPECT_NE(derivation.find(part), std::string::npos) << part << " in " << derivation;
  }
  EXPECT_EQ(Get(ds, DCM_ContentDate), "20260101");
  EXPECT_EQ(Get(ds, DCM_ContentTime), "000000.123");
  // Patient and study as the source has them, in its character set.
  EXPECT_EQ(Get(ds, DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(Get(ds, DCM_PatientName), "M\xFCller^Anna");
  EXPECT_EQ(Get(ds, DCM_PatientID), "P-17");
  EXPECT_EQ(Get(ds, DCM_StudyInstanceUID), "1.2.3.4");
  EXPECT_EQ(Get(ds, DCM_AccessionNumber), "ACC9");
  EXPECT_TRUE(ds.tagExists(DCM_StudyTime));  // Type 2: present, empty
  EXPECT_FALSE(ds.tagExists(DCM_BodyPartExamined));
  DcmItem* reference = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_SourceImageSequence, reference, 0).good());
  EXPECT_EQ(Get(*reference, DCM_ReferencedSOPClassUID), kCrStorage);
  EXPECT_EQ(Get(*reference, DCM_ReferencedSOPInstanceUID), kSourceUid);
  // The source's size, RGB.
  Uint16 value = 0;
  ds.findAndGetUint16(DCM_Rows, value);
  EXPECT_EQ(value, 100);
  ds.findAndGetUint16(DCM_Columns, value);
  EXPECT_EQ(value, 200);
  ds.findAndGetUint16(DCM_SamplesPerPixel, value);
  EXPECT_EQ(value, 3);
  EXPECT_EQ(Get(ds, DCM_PhotometricInterpretation), "RGB");

  // Hot cell (row 1, column 2 of 4 x 4: centre at x 125, y 37): coloured, red over green
  // over blue. A cold cell (row 3, column 0): grey, as windowed from the source.
  const std::vector<int> hot = Rgb(ds, 125, 37);
  ASSERT_EQ(hot.size(), 3u);
  EXPECT_GT(hot[0], hot[2] + 100) << hot[0] << "," << hot[1] << "," << hot[2];
  const std::vector<int> cold = Rgb(ds, 10, 90);
  ASSERT_EQ(cold.size(), 3u);
  EXPECT_EQ(cold[0], cold[1]);
  EXPECT_EQ(cold[1], cold[2]);
  EXPECT_LT(cold[0], 30);  // the dark left edge of the ramp
  const std::vector<int> right = Rgb(ds, 199, 90);
  EXPECT_GT(right[0], 225);
}

TEST_F(HeatmapScTest, TheSameCaptureGivesTheSameBytes) {
  const std::string source = WriteSource("cr.dcm", 64, 48);
  const std::string a = (dir_ / "a.dcm").string();
  const std::string b = (dir_ / "b.dcm").string();
  ASSERT_TRUE(WriteHeatmapSc(Capture(source), a).ok());
  ASSERT_TRUE(WriteHeatmapSc(Capture(source), b).ok());
  EXPECT_EQ(strata::testing::ReadFileBytes(a), strata::testing::ReadFileBytes(b));
  EXPECT_FALSE(fs::exists(a + ".tmp"));
}

TEST_F(HeatmapScTest, LargeSourcesAreScaledToALongSideOf1024) {
  const std::string source = WriteSource("big.dcm", 2048, 1536);
  const std::string out = (dir_ / "sc.dcm").string();
  ASSERT_TRUE(WriteHeatmapSc(Capture(source), out).ok());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  Uint16 rows = 0, columns = 0;
  file.getDataset()->findAndGetUint16(DCM_Rows, rows);
  file.getDataset()->findAndGetUint16(DCM_Columns, columns);
  EXPECT_EQ(columns, 1024);
  EXPECT_EQ(rows, 768);
}

TEST_F(HeatmapScTest, Monochrome1IsShownInverted) {
  const std::string m2 = WriteSource("m2.dcm", 64, 32, "MONOCHROME2");
  const std::string m1 = WriteSource("m1.dcm", 64, 32, "MONOCHROME1");
  ASSERT_TRUE(WriteHeatmapSc(Capture(m2), (dir_ / "sc2.dcm").string()).ok());
  ASSERT_TRUE(WriteHeatmapSc(Capture(m1), (dir_ / "sc1.dcm").string()).ok());
  DcmFileFormat f2, f1;
  ASSERT_TRUE(f2.loadFile((dir_ / "sc2.dcm").c_str()).good());
  ASSERT_TRUE(f1.loadFile((dir_ / "sc1.dcm").c_str()).good());
  const std::vector<int> left2 = Rgb(*f2.getDataset(), 0, 30);
  const std::vector<int> left1 = Rgb(*f1.getDataset(), 0, 30);
  ASSERT_EQ(left2.size(), 3u);
  ASSERT_EQ(left1.size(), 3u);
  EXPECT_LT(left2[0], 30);
  EXPECT_GT(left1[0], 225);
}

TEST_F(HeatmapScTest, RejectsBadCaptures) {
  const std::string source = WriteSource("cr.dcm", 32, 32);
  const std::string out = (dir_ / "sc.dcm").string();
  HeatmapCapture c = Capture(source);
  c.heat.pop_back();
  EXPECT_EQ(WriteHeatmapSc(c, out).code(), StatusCode::kInvalidArgument);
  c = Capture(source);
  c.heat[0] = 1.5f;
  EXPECT_EQ(WriteHeatmapSc(c, out).code(), StatusCode::kInvalidArgument);
  c = Capture(source);
  c.sop_instance_uid = "not-a-uid";
  EXPECT_EQ(WriteHeatmapSc(c, out).code(), StatusCode::kInvalidArgument);
  c = Capture(source);
  c.content_time_ms = 0;
  EXPECT_EQ(WriteHeatmapSc(c, out).code(), StatusCode::kInvalidArgument);
  c = Capture((dir_ / "missing.dcm").string());
  EXPECT_EQ(WriteHeatmapSc(c, out).code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(out));
}

TEST(ResampleBilinearTest, InterpolatesBetweenCellCentres) {
  EXPECT_EQ(ResampleBilinear({0.0f, 1.0f}, 2, 1, 4, 1),
            (std::vector<float>{0.0f, 0.25f, 0.75f, 1.0f}));
  EXPECT_EQ(ResampleBilinear({0.5f}, 1, 1, 3, 2), std::vector<float>(6, 0.5f));
  const std::vector<float> up = ResampleBilinear({0, 1, 0, 0}, 2, 2, 8, 8);
  EXPECT_EQ(up[0 * 8 + 7], 1.0f);  // the top-right corner is the top-right cell's value
  EXPECT_EQ(up[7 * 8 + 0], 0.0f);
}

}  // namespace
}  // namespace strata::dicom
