#include "dicom/dicom_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dicom/testing/test_files.h"

namespace strata::dicom {
namespace {

namespace fs = std::filesystem;

class DicomFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata_dicom_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(DicomFileTest, ReadsIndexedAttributes) {
  InstanceMetadata m = testing::MakeMetadata(1, 2, 3, 4);
  ASSERT_TRUE(testing::WriteTestInstance(Path("a.dcm"), m));
  auto parsed = ReadInstance(Path("a.dcm"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->metadata.sop_instance_uid, m.sop_instance_uid);
  EXPECT_EQ(parsed->metadata.study_instance_uid, m.study_instance_uid);
  EXPECT_EQ(parsed->metadata.patient_name, m.patient_name);
  EXPECT_EQ(parsed->metadata.accession_number, m.accession_number);
  EXPECT_EQ(parsed->metadata.rows, "4");
  EXPECT_EQ(parsed->metadata.transfer_syntax_uid, "1.2.840.10008.1.2.1");
  // The data set starts after the preamble, "DICM" and the meta group.
  EXPECT_GT(parsed->dataset_offset, 132u);
  EXPECT_LT(parsed->dataset_offset, fs::file_size(Path("a.dcm")));
}

TEST_F(DicomFileTest, RefusesMissingUids) {
  for (auto field : {&InstanceMetadata::sop_instance_uid, &InstanceMetadata::study_instance_uid,
                     &InstanceMetadata::series_instance_uid}) {
    InstanceMetadata m = testing::MakeMetadata(1, 1, 1, 1);
    m.*field = "";
    ASSERT_TRUE(testing::WriteTestInstance(Path("missing.dcm"), m));
    auto parsed = ReadInstance(Path("missing.dcm"));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("has no"), std::string::npos)
        << parsed.status().message();
  }
}

TEST_F(DicomFileTest, RefusesUnsafeUid) {
  InstanceMetadata m = testing::MakeMetadata(1, 1, 1, 1);
  m.series_instance_uid = "1.2.3/../../etc";
  ASSERT_TRUE(testing::WriteTestInstance(Path("bad.dcm"), m));
  auto parsed = ReadInstance(Path("bad.dcm"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("invalid SeriesInstanceUID"), std::string::npos);
}

TEST_F(DicomFileTest, RefusesTruncatedAndGarbage) {
  InstanceMetadata m = testing::MakeMetadata(1, 1, 1, 1);
  ASSERT_TRUE(testing::WriteTestInstance(Path("full.dcm"), m));
  auto size = fs::file_size(Path("full.dcm"));
  fs::copy_file(Path("full.dcm"), Path("cut.dcm"));
  fs::resize_file(Path("cut.dcm"), size - 7);
  EXPECT_EQ(ReadInstance(Path("cut.dcm")).status().code(), StatusCode::kInvalidArgument);

  std::ofstream(Path("garbage.dcm")) << "this is not DICOM at all, just text";
  EXPECT_EQ(ReadInstance(Path("garbage.dcm")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadInstance(Path("absent.dcm")).status().code(), StatusCode::kNotFound);
}

TEST(UidTest, Validity) {
  EXPECT_TRUE(IsValidUid("1.2.840.10008.1.2.1"));
  EXPECT_TRUE(IsValidUid("1.2.05"));  // leading zero: invalid per PS3.5, found in real archives
  EXPECT_FALSE(IsValidUid(""));
  EXPECT_FALSE(IsValidUid("1..2"));
  EXPECT_FALSE(IsValidUid(".1.2"));
  EXPECT_FALSE(IsValidUid("1.2."));
  EXPECT_FALSE(IsValidUid("1.2.a"));
  EXPECT_FALSE(IsValidUid(std::string(65, '1')));
}

}  // namespace
}  // namespace strata::dicom
