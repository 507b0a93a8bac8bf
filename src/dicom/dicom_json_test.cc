#include "dicom/dicom_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dicom/testing/test_files.h"

namespace strata::dicom {
namespace {

class DicomJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-dicom-json-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DicomJsonTest, DataSetAsJsonWithBulkDataUri) {
  const std::string path = (dir_ / "a.dcm").string();
  InstanceMetadata m = testing::MakeMetadata(1, 2, 3, 4);
  m.patient_name = "Doe^Jane";
  ASSERT_TRUE(testing::WriteTestInstance(path, m));
  auto text = InstanceToJson(path, "/base/bulkdata");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto json = nlohmann::json::parse(*text);
  EXPECT_EQ(json["00080018"]["vr"], "UI");
  EXPECT_EQ(json["00080018"]["Value"][0], m.sop_instance_uid);
  EXPECT_EQ(json["0020000D"]["Value"][0], m.study_instance_uid);
  EXPECT_EQ(json["00100010"]["Value"][0]["Alphabetic"], "Doe^Jane");
  EXPECT_EQ(json["7FE00010"]["BulkDataURI"], "/base/bulkdata/7FE00010");
  EXPECT_FALSE(json["7FE00010"].contains("InlineBinary"));
  EXPECT_FALSE(json.contains("00020010"));  // no file meta information
}

TEST_F(DicomJsonTest, Failures) {
  EXPECT_EQ(InstanceToJson((dir_ / "missing.dcm").string(), "/b").status().code(),
            StatusCode::kNotFound);
  const std::string junk = (dir_ / "junk.dcm").string();
  std::ofstream(junk) << "not dicom at all";
  EXPECT_EQ(InstanceToJson(junk, "/b").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::dicom
