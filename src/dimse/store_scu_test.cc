// StoreFiles against Strata's own DimseServer in process (real SQLite catalog, file blob store
// and ingest service) on loopback, the way dimse_server_test.cc runs it.
#include "dimse/store_scu.h"

#include <dcmtk/config/osconfig.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dicom/findings_sr.h"
#include "dicom/testing/test_files.h"
#include "dimse/dimse_server.h"
#include "dimse/dimse_test_archive.h"

namespace strata::dimse {
namespace {

namespace fs = std::filesystem;

// The receiving peer.
struct Peer : testing::TestArchive {
  using TestArchive::TestArchive;

  DicomPeer Address() const { return {"STRATA", "127.0.0.1", server->port()}; }

  std::set<std::string> StoredSops(const std::string& study) {
    std::set<std::string> sops;
    for (const auto& l : Locate(study)) sops.insert(l.sop_instance_uid);
    return sops;
  }
};

class StoreScuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    files_ = Root("files");
    fs::remove_all(files_);
    fs::create_directories(files_);
  }
  void TearDown() override { fs::remove_all(files_); }

  fs::path Root(const std::string& name) const {
    return fs::temp_directory_path() /
           ("strata_store_scu_test_" + std::to_string(getpid()) + "_" + name + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::unique_ptr<Peer> StartPeer(DimseServerOptions options = {}) {
    auto peer = std::make_unique<Peer>(Root("peer"), options);
    Status started = peer->server->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return peer;
  }

  std::string TestFile(const dicom::InstanceMetadata& m) {
    const std::string path = (files_ / (m.sop_instance_uid + ".dcm")).string();
    EXPECT_TRUE(dicom::testing::WriteTestInstance(path, m));
    return path;
  }

  // An AI findings SR on the image `m`, as the inference pipeline writes it.
  std::string FindingsSr(const dicom::InstanceMetadata& m, const std::string& image_path) {
    dicom::FindingsReport report;
    report.source_path = image_path;
    report.sop_instance_uid = m.study_instance_uid + ".99.1";
    report.series_instance_uid = m.study_instance_uid + ".99";
    report.model_name = "demo";
    report.model_version = "1";
    report.content_time_ms = 1767225600000;
    report.images = {{{m.sop_class_uid, m.sop_instance_uid, m.series_instance_uid},
                      {{"finding", 0.75, 0.5, true}}}};
    const std::string path = (files_ / "sr.dcm").string();
    Status written = dicom::WriteFindingsSr(report, path);
    EXPECT_TRUE(written.ok()) << written.ToString();
    return path;
  }

  fs::path files_;
};

TEST_F(StoreScuTest, SendsFilesOnOneAssociation) {
  auto peer = StartPeer();
  const auto m = dicom::testing::MakeMetadata(1, 1, 1, 1);
  const std::string image = TestFile(m);
  const std::string sr = FindingsSr(m, image);

  auto result = StoreFiles(peer->Address(), {image, sr}, StoreScuOptions{});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->sent, 2);
  EXPECT_EQ(result->warnings, 0);
  EXPECT_EQ(peer->StoredSops(m.study_instance_uid),
            (std::set<std::string>{m.sop_instance_uid, m.study_instance_uid + ".99.1"}));

  // Sending again (a retry) is accepted too.
  result = StoreFiles(peer->Address(), {sr}, StoreScuOptions{});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->sent, 1);
}

TEST_F(StoreScuTest, NothingToSendOpensNoAssociation) {
  auto result = StoreFiles({"NOBODY", "127.0.0.1", 1}, {}, StoreScuOptions{});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->sent, 0);
}

TEST_F(StoreScuTest, UnreachablePortIsUnavailableQuickly) {
  const std::string image = TestFile(dicom::testing::MakeMetadata(2, 1, 1, 1));
  const auto start = std::chrono::steady_clock::now();
  auto result = StoreFiles({"GONE", "127.0.0.1", 1}, {image}, StoreScuOptions{});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("127.0.0.1:1"), std::string::npos)
      << result.status().message();
}

TEST_F(StoreScuTest, PeerRefusingOurAeTitleIsUnavailable) {
  DimseServerOptions options;
  options.accept_any_calling_ae = false;
  options.allowed_calling_aes = {"GOODSCU"};
  auto peer = StartPeer(options);
  const auto m = dicom::testing::MakeMetadata(3, 1, 1, 1);
  const std::string image = TestFile(m);

  StoreScuOptions scu;
  scu.calling_ae = "EVILSCU";
  auto result = StoreFiles(peer->Address(), {image}, scu);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("association rejected"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("Calling AE Title Not Recognized"), std::string::npos)
      << result.status().message();
  EXPECT_TRUE(peer->StoredSops(m.study_instance_uid).empty());

  scu.calling_ae = "GOODSCU";
  result = StoreFiles(peer->Address(), {image}, scu);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->sent, 1);
}

TEST_F(StoreScuTest, FailureStatusIsAbortedWithStatusAndComment) {
  auto peer = StartPeer();
  peer->controllable->ingest_error = ResourceExhausted("object store below min_free_bytes");
  const std::string image = TestFile(dicom::testing::MakeMetadata(4, 1, 1, 1));
  auto result = StoreFiles(peer->Address(), {image}, StoreScuOptions{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kAborted);
  EXPECT_NE(result.status().message().find("0xA700"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("object store below min_free_bytes"), std::string::npos)
      << result.status().message();
}

TEST_F(StoreScuTest, UnsupportedSopClassIsFailedPreconditionAndSendsNothing) {
  auto peer = StartPeer();
  const auto good = dicom::testing::MakeMetadata(5, 1, 1, 1);
  auto odd = dicom::testing::MakeMetadata(5, 1, 1, 2);
  odd.sop_class_uid = "1.2.826.0.1.3680043.10.1042.77.1";  // no storage SOP class
  const std::string good_path = TestFile(good);
  const std::string odd_path = TestFile(odd);
  auto result = StoreFiles(peer->Address(), {good_path, odd_path}, StoreScuOptions{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition) << result.status().ToString();
  EXPECT_TRUE(peer->StoredSops(good.study_instance_uid).empty());

  // Strata's server rejects an association on which it can accept no context at all (other
  // peers accept it with every context refused, which CheckCanSend turns into
  // kFailedPrecondition): that is a rejection, kUnavailable.
  result = StoreFiles(peer->Address(), {odd_path}, StoreScuOptions{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
}

TEST_F(StoreScuTest, FilesThatAreNotDicomAreRejectedBeforeConnecting) {
  const std::string text = (files_ / "notes.txt").string();
  std::ofstream(text) << "not DICOM";
  // Port 1: a connection attempt would fail with kUnavailable instead.
  auto result = StoreFiles({"GONE", "127.0.0.1", 1}, {text}, StoreScuOptions{});
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  result =
      StoreFiles({"GONE", "127.0.0.1", 1}, {(files_ / "missing.dcm").string()}, StoreScuOptions{});
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  result = StoreFiles({"NOHOST", "", 0}, {text}, StoreScuOptions{});
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::dimse
