#include "dicom/transcode.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace strata::dicom {
namespace {

const std::string kCorpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files/";

struct Pixels {
  std::string transfer_syntax;
  std::string photometric;
  uint16_t planar = 0;
  std::vector<uint8_t> bytes;  // little endian native pixel data
};

// Reads a native file's transfer syntax and pixel bytes (as they would be in little endian).
Pixels ReadPixels(const std::string& path) {
  Pixels p;
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good()) << path;
  DcmDataset* ds = file.getDataset();
  OFString ts;
  (void)file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
  p.transfer_syntax = ts.c_str();
  OFString photometric;
  (void)ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  p.photometric = photometric.c_str();
  (void)ds->findAndGetUint16(DCM_PlanarConfiguration, p.planar);
  EXPECT_TRUE(ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good()) << path;
  Uint16 bits = 0;
  (void)ds->findAndGetUint16(DCM_BitsAllocated, bits);
  if (bits == 8) {
    const Uint8* data = nullptr;
    unsigned long count = 0;
    EXPECT_TRUE(ds->findAndGetUint8Array(DCM_PixelData, data, &count).good());
    p.bytes.assign(data, data + count);
  } else {
    const Uint16* data = nullptr;
    unsigned long count = 0;
    EXPECT_TRUE(ds->findAndGetUint16Array(DCM_PixelData, data, &count).good());
    for (unsigned long i = 0; i < count; ++i) {
      p.bytes.push_back(static_cast<uint8_t>(data[i] & 0xFF));
      p.bytes.push_back(static_cast<uint8_t>(data[i] >> 8));
    }
  }
  return p;
}

class TranscodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kCorpus + "MR_small.dcm")) {
      GTEST_SKIP() << "pydicom test corpus not installed (python3-pydicom)";
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("strata_transcode_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string Out(const std::string& name) { return (dir_ / name).string(); }

  // Transcodes `compressed` to explicit LE and checks its pixels equal `reference`'s.
  void ExpectSamePixels(const std::string& compressed, const std::string& reference) {
    const std::string out = Out("out.dcm");
    ASSERT_TRUE(
        TranscodeFile(kCorpus + compressed, UID_LittleEndianExplicitTransferSyntax, out).ok());
    Pixels decoded = ReadPixels(out);
    Pixels expected = ReadPixels(kCorpus + reference);
    EXPECT_EQ(decoded.transfer_syntax, UID_LittleEndianExplicitTransferSyntax);
    ASSERT_EQ(decoded.bytes.size(), expected.bytes.size());
    EXPECT_TRUE(decoded.bytes == expected.bytes) << compressed << " vs " << reference;
  }

  std::filesystem::path dir_;
};

TEST_F(TranscodeTest, Jpeg2000LosslessMatchesUncompressed) {
  ExpectSamePixels("MR_small_jp2klossless.dcm", "MR_small.dcm");
}

TEST_F(TranscodeTest, RleMatchesUncompressed) {
  ExpectSamePixels("MR_small_RLE.dcm", "MR_small.dcm");
}

TEST_F(TranscodeTest, JpegLsLosslessMatchesUncompressed) {
  ExpectSamePixels("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm");
}

TEST_F(TranscodeTest, RleColorMultiFrameDecodesEveryFrame) {
  const std::string out = Out("rle2.dcm");
  ASSERT_TRUE(
      TranscodeFile(kCorpus + "SC_rgb_rle_2frame.dcm", UID_LittleEndianExplicitTransferSyntax, out)
          .ok());
  Pixels p = ReadPixels(out);
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  Uint16 rows = 0, columns = 0;
  (void)file.getDataset()->findAndGetUint16(DCM_Rows, rows);
  (void)file.getDataset()->findAndGetUint16(DCM_Columns, columns);
  EXPECT_EQ(p.bytes.size(), size_t{2} * rows * columns * 3);
  EXPECT_EQ(p.photometric, "RGB");
}

TEST_F(TranscodeTest, RleMultiFrameDoseMatchesUncompressed) {
  ExpectSamePixels("rtdose_rle.dcm", "rtdose.dcm");
}

TEST_F(TranscodeTest, BigEndianToLittleEndianKeepsPixels) {
  ExpectSamePixels("MR_small_bigendian.dcm", "MR_small.dcm");
}

TEST_F(TranscodeTest, LossyJpeg2000DecodesToNativeRgb) {
  const std::string out = Out("j2k.dcm");
  ASSERT_TRUE(
      TranscodeFile(kCorpus + "GDCMJ2K_TextGBR.dcm", UID_LittleEndianImplicitTransferSyntax, out)
          .ok());
  Pixels p = ReadPixels(out);
  EXPECT_EQ(p.transfer_syntax, UID_LittleEndianImplicitTransferSyntax);
  EXPECT_EQ(p.photometric, "RGB");
  EXPECT_EQ(p.planar, 0);
  EXPECT_FALSE(p.bytes.empty());
}

TEST_F(TranscodeTest, Jpeg2000MonochromeDecodes) {
  const std::string out = Out("j2k_mono.dcm");
  ASSERT_TRUE(
      TranscodeFile(kCorpus + "JPEG2000.dcm", UID_LittleEndianExplicitTransferSyntax, out).ok());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  Uint16 rows = 0, columns = 0;
  (void)file.getDataset()->findAndGetUint16(DCM_Rows, rows);
  (void)file.getDataset()->findAndGetUint16(DCM_Columns, columns);
  const Uint16* data = nullptr;
  unsigned long count = 0;
  ASSERT_TRUE(file.getDataset()->findAndGetUint16Array(DCM_PixelData, data, &count).good());
  EXPECT_EQ(count, static_cast<unsigned long>(rows) * columns);
  // Not a blank image: decoding produced real content.
  EXPECT_NE(*std::min_element(data, data + count), *std::max_element(data, data + count));
}

TEST_F(TranscodeTest, JpegBaselineDecodesToRgb) {
  const std::string out = Out("jpeg.dcm");
  ASSERT_TRUE(TranscodeFile(kCorpus + "SC_rgb_small_odd_jpeg.dcm",
                            UID_LittleEndianExplicitTransferSyntax, out)
                  .ok());
  Pixels decoded = ReadPixels(out);
  Pixels reference = ReadPixels(kCorpus + "SC_rgb_small_odd.dcm");
  ASSERT_EQ(decoded.bytes.size(), reference.bytes.size());
  // Lossy: close to, not equal to, the original.
  long total_error = 0;
  for (size_t i = 0; i < decoded.bytes.size(); ++i) {
    total_error += std::abs(int{decoded.bytes[i]} - int{reference.bytes[i]});
  }
  EXPECT_LT(static_cast<double>(total_error) / decoded.bytes.size(), 8.0);
}

TEST_F(TranscodeTest, RejectsCompressedTarget) {
  Status s = TranscodeFile(kCorpus + "MR_small.dcm", UID_JPEGProcess1TransferSyntax, Out("x.dcm"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST_F(TranscodeTest, RejectsNonDicomSource) {
  const std::string junk = Out("junk.dcm");
  FILE* f = std::fopen(junk.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not DICOM at all", f);
  std::fclose(f);
  EXPECT_EQ(TranscodeFile(junk, UID_LittleEndianExplicitTransferSyntax, Out("y.dcm")).code(),
            StatusCode::kInvalidArgument);
}

TEST(ChooseTransferSyntaxTest, PrefersStoredThenExplicitThenImplicit) {
  const std::string j2k = UID_JPEG2000LosslessOnlyTransferSyntax;
  const std::string ele = UID_LittleEndianExplicitTransferSyntax;
  const std::string ile = UID_LittleEndianImplicitTransferSyntax;
  EXPECT_EQ(*ChooseTransferSyntax(j2k, {ile, j2k, ele}), j2k);
  EXPECT_EQ(*ChooseTransferSyntax(j2k, {ile, ele}), ele);
  EXPECT_EQ(*ChooseTransferSyntax(j2k, {ile}), ile);
  EXPECT_EQ(ChooseTransferSyntax(j2k, {UID_JPEGProcess1TransferSyntax}).status().code(),
            StatusCode::kFailedPrecondition);
  // Unknown compressed syntax: only as is.
  EXPECT_EQ(ChooseTransferSyntax("1.2.840.10008.1.2.4.100", {ele}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(ChooseTransferSyntaxTest, NativeAndDecodable) {
  EXPECT_TRUE(IsNativeTransferSyntax(UID_BigEndianExplicitTransferSyntax));
  EXPECT_FALSE(IsNativeTransferSyntax(UID_RLELosslessTransferSyntax));
  EXPECT_TRUE(CanDecode(UID_RLELosslessTransferSyntax));
  EXPECT_TRUE(CanDecode(UID_JPEG2000TransferSyntax));
  EXPECT_FALSE(CanDecode("1.2.840.10008.1.2.4.100"));  // MPEG-2
}

}  // namespace
}  // namespace strata::dicom
