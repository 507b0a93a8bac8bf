// STOW-RS delivery against a scripted HTTP client: the request on the wire and how answers
// are read. The delivery to a real DICOMweb server (Orthanc) is in tests/e2e/test_ai_pipeline.py.
#include "ai/stow_delivery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace strata::ai {
namespace {

class ScriptedClient final : public blob::HttpClient {
 public:
  Result<blob::HttpResponse> Send(const blob::HttpRequest& request) override {
    requests.push_back(request);
    return answer;
  }
  std::vector<blob::HttpRequest> requests;
  blob::HttpResponse answer;
};

class StowDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("strata_stow_test_" + std::to_string(::getpid()) + ".dcm");
    std::ofstream(path_, std::ios::binary) << "DICM-bytes";
  }
  void TearDown() override { std::filesystem::remove(path_); }

  Status Deliver(int status, const std::string& body) {
    client_.answer.status = status;
    client_.answer.body = body;
    return StowFile(client_, {"http://pacs.example/dicom-web/", "secret-token"}, path_.string());
  }

  std::filesystem::path path_;
  ScriptedClient client_;
};

TEST_F(StowDeliveryTest, PostsOneMultipartPartWithTheFileBytes) {
  ASSERT_TRUE(Deliver(200, R"({"00081199":{"vr":"SQ","Value":[{}]}})").ok());
  ASSERT_EQ(client_.requests.size(), 1u);
  const blob::HttpRequest& r = client_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://pacs.example/dicom-web/studies");
  std::string content_type, authorization;
  for (const auto& [name, value] : r.headers) {
    if (name == "Content-Type") content_type = value;
    if (name == "Authorization") authorization = value;
  }
  const std::string prefix = "multipart/related; type=\"application/dicom\"; boundary=";
  ASSERT_EQ(content_type.rfind(prefix, 0), 0u) << content_type;
  const std::string boundary = content_type.substr(prefix.size());
  EXPECT_EQ(r.body, "--" + boundary +
                        "\r\nContent-Type: application/dicom\r\n\r\nDICM-bytes\r\n--" + boundary +
                        "--\r\n");
  EXPECT_EQ(authorization, "Bearer secret-token");
}

TEST_F(StowDeliveryTest, ReadsTheAnswer) {
  // An empty FailedSOPSequence (as Orthanc sends it) is a success.
  EXPECT_TRUE(Deliver(200, R"({"00081198":{"vr":"SQ","Value":[]}})").ok());
  EXPECT_TRUE(Deliver(200, R"({"00081198":{"vr":"SQ"}})").ok());
  Status refused = Deliver(200, R"({"00081198":{"vr":"SQ","Value":[
      {"00081197":{"vr":"US","Value":[49442]}}]}})");
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("49442"), std::string::npos) << refused.ToString();
  EXPECT_EQ(Deliver(409, R"({"00081198":{"vr":"SQ","Value":[{}]}})").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Deliver(202, "").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Deliver(503, "").code(), StatusCode::kUnavailable);
  EXPECT_EQ(Deliver(429, "").code(), StatusCode::kUnavailable);
  EXPECT_EQ(Deliver(404, "not json").code(), StatusCode::kFailedPrecondition);
}

TEST_F(StowDeliveryTest, MissingFileIsUnavailable) {
  std::filesystem::remove(path_);
  EXPECT_EQ(Deliver(200, "").code(), StatusCode::kUnavailable);
  EXPECT_TRUE(client_.requests.empty());
}

}  // namespace
}  // namespace strata::ai
