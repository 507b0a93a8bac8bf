// DimseServer in process, with the real SQLite catalog, file blob store and ingest service,
// driven over loopback by DCMTK's SCU code.
#include "dimse/dimse_server.h"

#include <arpa/inet.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/scu.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "blob/crypto_util.h"
#include "core/testing/loopback.h"
#include "dicom/testing/test_files.h"
#include "dicom/transcode.h"
#include "dimse/association.h"
#include "dimse/dimse_test_archive.h"
#include "ingest/ingest_service.h"

namespace strata::dimse {
namespace {

namespace fs = std::filesystem;

const std::string kCorpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files/";

using testing::ControllableIngest;

// The tests' archive, with direct ingest and a look into its staging folder.
struct Archive : testing::TestArchive {
  using TestArchive::TestArchive;

  // Ingests a copy of `source` directly (no network).
  void Put(const std::string& source) {
    auto staged = ingest->StagingPath();
    ASSERT_TRUE(staged.ok());
    fs::copy_file(source, *staged, fs::copy_options::overwrite_existing);
    ingest::IngestRequest request;
    request.staged_path = *staged;
    request.source_ae = "TEST";
    auto result = ingest->Ingest(request);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
  }

  // Files in the blob store's staging folder (must be empty between operations).
  size_t StagedFiles() const {
    size_t n = 0;
    const fs::path staging = dir / "objects" / ".staging";
    if (!fs::exists(staging)) return 0;
    for (const auto& entry : fs::directory_iterator(staging)) {
      if (entry.is_regular_file()) ++n;
    }
    return n;
  }
};

// An association opened with the low-level API, to see reject reasons and send crafted
// requests. Released on destruction.
struct RawAssociation {
  T_ASC_Network* net = nullptr;
  T_ASC_Association* assoc = nullptr;
  OFCondition cond;
  T_ASC_RejectParameters reject{};

  RawAssociation(uint16_t port, const std::string& calling, const std::string& called,
                 const std::vector<std::pair<std::string, std::vector<std::string>>>& contexts) {
    {
      std::lock_guard lock(DcmtkNetworkMutex());
      cond = ASC_initializeNetwork(NET_REQUESTOR, 0, 5, &net);
    }
    if (cond.bad()) return;
    T_ASC_Parameters* params = nullptr;
    cond = ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
    if (cond.bad()) return;
    ASC_setAPTitles(params, calling.c_str(), called.c_str(), nullptr);
    const std::string address = "127.0.0.1:" + std::to_string(port);
    ASC_setPresentationAddresses(params, "localhost", address.c_str());
    int id = 1;
    for (const auto& [sop, syntaxes] : contexts) {
      std::vector<const char*> ts;
      for (const auto& s : syntaxes) ts.push_back(s.c_str());
      ASC_addPresentationContext(params, static_cast<T_ASC_PresentationContextID>(id), sop.c_str(),
                                 ts.data(), static_cast<int>(ts.size()));
      id += 2;
    }
    cond = ASC_requestAssociation(net, params, &assoc);
    if (cond == DUL_ASSOCIATIONREJECTED) ASC_getRejectParameters(params, &reject);
    if (cond.bad() && assoc != nullptr) {
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
  }
  ~RawAssociation() {
    if (assoc != nullptr) {
      if (released) {
        ASC_dropAssociation(assoc);
      } else {
        ASC_releaseAssociation(assoc);
      }
      ASC_destroyAssociation(&assoc);
    }
    if (net != nullptr) ASC_dropNetwork(&net);
  }
  bool ok() const { return cond.good() && assoc != nullptr; }
  uint16_t Echo() {
    DIC_US status = 0xFFFF;
    DcmDataset* detail = nullptr;
    OFCondition c = DIMSE_echoUser(assoc, assoc->nextMsgID++, DIMSE_BLOCKING, 0, &status, &detail);
    delete detail;
    return c.good() ? status : 0xFFFF;
  }
  bool released = false;
};

std::vector<std::string> Syntaxes(std::initializer_list<const char*> list) {
  return std::vector<std::string>(list.begin(), list.end());
}

const std::vector<std::string> kUncompressed =
    Syntaxes({UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax});

class DimseServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  fs::path Root(const std::string& name) {
    return fs::temp_directory_path() /
           ("strata_dimse_test_" + std::to_string(getpid()) + "_" + name + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::unique_ptr<Archive> StartArchive(DimseServerOptions options = {},
                                        const std::string& name = "a") {
    auto archive = std::make_unique<Archive>(Root(name), options);
    Status started = archive->server->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    EXPECT_NE(archive->port(), 0);
    return archive;
  }

  // A connected DcmSCU with the given contexts; null when negotiation fails.
  std::unique_ptr<DcmSCU> Scu(
      uint16_t port,
      const std::vector<std::tuple<std::string, std::vector<std::string>, T_ASC_SC_ROLE>>& contexts,
      const std::string& calling = "TESTSCU") {
    auto scu = std::make_unique<DcmSCU>();
    scu->setAETitle(calling.c_str());
    scu->setPeerHostName("127.0.0.1");
    scu->setPeerPort(port);
    scu->setPeerAETitle("STRATA");
    scu->setACSETimeout(5);
    scu->setDIMSETimeout(10);
    for (const auto& [sop, syntaxes, role] : contexts) {
      OFList<OFString> ts;
      for (const auto& s : syntaxes) ts.push_back(s.c_str());
      scu->addPresentationContext(sop.c_str(), ts, role);
    }
    if (scu->initNetwork().bad() || scu->negotiateAssociation().bad()) return nullptr;
    return scu;
  }

  // Writes a small test instance and returns its path.
  std::string TestFile(const dicom::InstanceMetadata& m, int seed = 0) {
    const fs::path dir = Root("files");
    fs::create_directories(dir);
    const std::string path = (dir / (m.sop_instance_uid + ".dcm")).string();
    EXPECT_TRUE(dicom::testing::WriteTestInstance(path, m, seed));
    return path;
  }

  void TearDown() override { fs::remove_all(Root("files")); }

  // Sends `file` with a C-STORE whose affected UIDs may be overridden; returns the status and
  // the error comment.
  std::pair<uint16_t, std::string> RawStore(uint16_t port, const std::string& file,
                                            const std::string& sop_class,
                                            const std::string& sop_instance) {
    RawAssociation raw(port, "TESTSCU", "STRATA", {{sop_class, kUncompressed}});
    EXPECT_TRUE(raw.ok()) << raw.cond.text();
    if (!raw.ok()) return {0xFFFF, ""};
    T_DIMSE_C_StoreRQ request{};
    request.MessageID = raw.assoc->nextMsgID++;
    OFStandard::strlcpy(request.AffectedSOPClassUID, sop_class.c_str(), sizeof(DIC_UI));
    OFStandard::strlcpy(request.AffectedSOPInstanceUID, sop_instance.c_str(), sizeof(DIC_UI));
    request.DataSetType = DIMSE_DATASET_PRESENT;
    request.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP response{};
    DcmDataset* detail = nullptr;
    const T_ASC_PresentationContextID pres =
        ASC_findAcceptedPresentationContextID(raw.assoc, sop_class.c_str());
    OFCondition cond = DIMSE_storeUser(raw.assoc, pres, &request, file.c_str(), nullptr, nullptr,
                                       nullptr, DIMSE_BLOCKING, 0, &response, &detail);
    EXPECT_TRUE(cond.good()) << cond.text();
    std::string comment;
    if (detail != nullptr) {
      OFString text;
      if (detail->findAndGetOFString(DCM_ErrorComment, text).good()) comment = text.c_str();
      delete detail;
    }
    return {response.DimseStatus, comment};
  }
};

const std::string kSc = UID_SecondaryCaptureImageStorage;

TEST_F(DimseServerTest, EchoOnLoopbackPortZero) {
  auto archive = StartArchive();
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA",
                     {{UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(raw.ok()) << raw.cond.text();
  EXPECT_EQ(raw.Echo(), STATUS_Success);
}

TEST_F(DimseServerTest, RejectsWrongCalledAeTitle) {
  auto archive = StartArchive();
  RawAssociation raw(archive->port(), "TESTSCU", "NOTSTRATA",
                     {{UID_VerificationSOPClass, kUncompressed}});
  EXPECT_FALSE(raw.ok());
  EXPECT_EQ(raw.reject.result, ASC_RESULT_REJECTEDPERMANENT);
  EXPECT_EQ(raw.reject.reason, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
  // And keeps serving.
  RawAssociation good(archive->port(), "TESTSCU", "STRATA",
                      {{UID_VerificationSOPClass, kUncompressed}});
  EXPECT_TRUE(good.ok());
}

TEST_F(DimseServerTest, CallingAeAllowListAdmitsListedAndPeers) {
  DimseServerOptions options;
  options.accept_any_calling_ae = false;
  options.allowed_calling_aes = {"GOODSCU"};
  options.peers = {{"PEERAE", "127.0.0.1", 1}};
  auto archive = StartArchive(options);
  for (const char* ae : {"GOODSCU", "PEERAE"}) {
    RawAssociation raw(archive->port(), ae, "STRATA", {{UID_VerificationSOPClass, kUncompressed}});
    EXPECT_TRUE(raw.ok()) << ae;
  }
  RawAssociation evil(archive->port(), "EVILSCU", "STRATA",
                      {{UID_VerificationSOPClass, kUncompressed}});
  EXPECT_FALSE(evil.ok());
  EXPECT_EQ(evil.reject.result, ASC_RESULT_REJECTEDPERMANENT);
  EXPECT_EQ(evil.reject.reason, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
}

TEST_F(DimseServerTest, RejectsTransientlyBeyondMaxAssociations) {
  DimseServerOptions options;
  options.max_associations = 1;
  auto archive = StartArchive(options);
  auto first = std::make_unique<RawAssociation>(
      archive->port(), "ONE", "STRATA",
      std::vector<std::pair<std::string, std::vector<std::string>>>{
          {UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(first->ok());
  RawAssociation second(archive->port(), "TWO", "STRATA",
                        {{UID_VerificationSOPClass, kUncompressed}});
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.reject.result, ASC_RESULT_REJECTEDTRANSIENT);
  EXPECT_EQ(second.reject.reason, ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
  first.reset();
  // The slot frees up once the first association's thread has finished.
  bool admitted = false;
  for (int i = 0; i < 50 && !admitted; ++i) {
    RawAssociation third(archive->port(), "THREE", "STRATA",
                         {{UID_VerificationSOPClass, kUncompressed}});
    admitted = third.ok();
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(admitted);
}

TEST_F(DimseServerTest, ConcurrentAssociationsAllStore) {
  DimseServerOptions options;
  options.max_associations = 8;
  auto archive = StartArchive(options);
  constexpr int kClients = 8;
  constexpr int kPerClient = 4;
  std::vector<std::vector<std::string>> files(kClients);
  for (int c = 0; c < kClients; ++c) {
    for (int i = 1; i <= kPerClient; ++i) {
      files[c].push_back(TestFile(dicom::testing::MakeMetadata(8, 1, c + 1, i)));
    }
  }
  std::atomic<int> stored{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      RawAssociation raw(archive->port(), "CLIENT" + std::to_string(c), "STRATA",
                         {{kSc, kUncompressed}});
      if (!raw.ok()) return;
      for (const auto& file : files[c]) {
        DcmFileFormat probe;
        OFString sop;
        if (probe.loadFile(file.c_str()).bad()) return;
        probe.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, sop);
        T_DIMSE_C_StoreRQ request{};
        request.MessageID = raw.assoc->nextMsgID++;
        OFStandard::strlcpy(request.AffectedSOPClassUID, kSc.c_str(), sizeof(DIC_UI));
        OFStandard::strlcpy(request.AffectedSOPInstanceUID, sop.c_str(), sizeof(DIC_UI));
        request.DataSetType = DIMSE_DATASET_PRESENT;
        T_DIMSE_C_StoreRSP response{};
        DcmDataset* detail = nullptr;
        const T_ASC_PresentationContextID pres =
            ASC_findAcceptedPresentationContextID(raw.assoc, kSc.c_str());
        if (DIMSE_storeUser(raw.assoc, pres, &request, file.c_str(), nullptr, nullptr, nullptr,
                            DIMSE_BLOCKING, 0, &response, &detail)
                .good() &&
            response.DimseStatus == STATUS_Success) {
          ++stored;
        }
        delete detail;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(stored.load(), kClients * kPerClient);
  EXPECT_EQ(archive->Locate(dicom::testing::MakeMetadata(8, 1, 1, 1).study_instance_uid).size(),
            static_cast<size_t>(kClients * kPerClient));
}

TEST_F(DimseServerTest, NonDicomTrafficIsDroppedAndServerKeepsServing) {
  auto archive = StartArchive();
  const int fd = strata::testing::ConnectLoopback(archive->port());
  ASSERT_GE(fd, 0);
  const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL), 0);
  char buf[16];
  EXPECT_LE(recv(fd, buf, sizeof(buf), 0), 0);  // closed (or reset) without an answer
  close(fd);
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA",
                     {{UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.Echo(), STATUS_Success);
}

// A peer that sends part of an A-ASSOCIATE-RQ and closes its side is dropped at once, not when
// the ACSE timeout (5 s here) runs out.
TEST_F(DimseServerTest, PartialAssociateRequestFromAClosedPeerIsDroppedAtOnce) {
  auto archive = StartArchive();
  const int fd = strata::testing::ConnectLoopback(archive->port());
  ASSERT_GE(fd, 0);
  // An A-ASSOCIATE-RQ header announcing 200 bytes, and only 10 of them.
  const unsigned char partial[16] = {0x01, 0, 0,   0,   0,   200, 0,   1,
                                     0,    0, 'S', 'T', 'R', 'A', 'T', 'A'};
  ASSERT_EQ(send(fd, partial, sizeof(partial), MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof(partial)));
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  const auto start = std::chrono::steady_clock::now();
  char buf[16];
  EXPECT_LE(recv(fd, buf, sizeof(buf), 0), 0);  // closed (or reset) without an answer
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  close(fd);
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA",
                     {{UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.Echo(), STATUS_Success);
}

TEST_F(DimseServerTest, RefusesUnknownAbstractSyntaxButAcceptsTheRest) {
  auto archive = StartArchive();
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA",
                     {{"1.2.3.4.5.6.7", kUncompressed}, {UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(ASC_countAcceptedPresentationContexts(raw.assoc->params), 1);
  EXPECT_EQ(raw.Echo(), STATUS_Success);
}

TEST_F(DimseServerTest, StoreIsDurableAndQueryable) {
  auto archive = StartArchive();
  auto scu =
      Scu(archive->port(),
          {{kSc, kUncompressed, ASC_SC_ROLE_DEFAULT},
           {UID_FINDStudyRootQueryRetrieveInformationModel, kUncompressed, ASC_SC_ROLE_DEFAULT}});
  ASSERT_NE(scu, nullptr);
  const auto m1 = dicom::testing::MakeMetadata(1, 1, 1, 1);
  const auto m2 = dicom::testing::MakeMetadata(1, 1, 1, 2);
  for (const auto& m : {m1, m2}) {
    Uint16 status = 0xFFFF;
    OFCondition sent = scu->sendSTORERequest(0, TestFile(m).c_str(), nullptr, status);
    ASSERT_TRUE(sent.good()) << sent.text();
    EXPECT_EQ(status, STATUS_Success);
  }
  EXPECT_EQ(archive->Locate(m1.study_instance_uid).size(), 2u);
  const ingest::IngestRequest last = archive->controllable->last_request();
  EXPECT_EQ(last.source_ae, "TESTSCU");
  EXPECT_EQ(last.source_address, "127.0.0.1");
  EXPECT_EQ(last.expected_sop_instance_uid, m2.sop_instance_uid);
  EXPECT_EQ(archive->StagedFiles(), 0u);
  // The hash taken while the data set arrived is the stored object's.
  const auto& digest = last.digest;
  ASSERT_TRUE(digest.has_value());
  for (const auto& location : archive->Locate(m1.study_instance_uid)) {
    if (location.sop_instance_uid != m2.sop_instance_uid) continue;
    auto object = archive->blobs->Open(location.blob_key);
    ASSERT_TRUE(object.ok());
    EXPECT_EQ(digest->file_size, fs::file_size((*object)->path()));
    auto sha = blob::Sha256HexOfFile((*object)->path(), digest->dataset_offset);
    ASSERT_TRUE(sha.ok());
    EXPECT_EQ(digest->sha256_hex, *sha);
    EXPECT_EQ(location.sha256_hex, *sha);
  }

  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
  query.putAndInsertString(DCM_StudyInstanceUID, m1.study_instance_uid.c_str());
  query.insertEmptyElement(DCM_SOPInstanceUID);
  query.insertEmptyElement(DCM_PatientName);
  OFList<QRResponse*> responses;
  const T_ASC_PresentationContextID find_pc =
      scu->findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendFINDRequest(find_pc, &query, &responses).good());
  std::vector<std::string> sops;
  Uint16 final_status = 0xFFFF;
  for (QRResponse* r : responses) {
    if (r->m_dataset != nullptr) {
      OFString sop;
      r->m_dataset->findAndGetOFString(DCM_SOPInstanceUID, sop);
      sops.push_back(sop.c_str());
      OFString name;
      EXPECT_TRUE(r->m_dataset->findAndGetOFString(DCM_PatientName, name).good());
      EXPECT_EQ(name, m1.patient_name.c_str());
      EXPECT_FALSE(r->m_dataset->tagExists(DCM_PatientID));  // not asked for
    }
    final_status = r->m_status;
    delete r;
  }
  EXPECT_EQ(final_status, STATUS_Success);
  EXPECT_EQ(sops, (std::vector<std::string>{m1.sop_instance_uid, m2.sop_instance_uid}));
  scu->releaseAssociation();

  // Both stores and the query are in the audit log, with who, from where and which objects.
  ASSERT_TRUE(archive->audit->Flush().ok());
  auto records = archive->audit->Read({});
  ASSERT_TRUE(records.ok());
  std::vector<std::string> actions;
  for (const auto& r : *records) {
    actions.push_back(r.event.action);
    EXPECT_EQ(r.event.actor, "ae:TESTSCU");
    EXPECT_EQ(r.event.source, "127.0.0.1");
    EXPECT_EQ(r.event.outcome, "success");
  }
  ASSERT_EQ(actions, (std::vector<std::string>{"dimse.store", "dimse.store", "dimse.find"}));
  EXPECT_EQ((*records)[1].event.instance_uid, m2.sop_instance_uid);
  EXPECT_EQ((*records)[1].event.study_uid, m1.study_instance_uid);
}

TEST_F(DimseServerTest, StoreWithMismatchedAffectedUidIsA900) {
  auto archive = StartArchive();
  const auto m = dicom::testing::MakeMetadata(2, 1, 1, 1);
  auto [status, comment] = RawStore(archive->port(), TestFile(m), kSc, "1.2.3.999");
  EXPECT_EQ(status, 0xA900);
  EXPECT_FALSE(comment.empty());
  EXPECT_TRUE(archive->Locate(m.study_instance_uid).empty());
  EXPECT_EQ(archive->StagedFiles(), 0u);
}

TEST_F(DimseServerTest, StoreOfDataSetWithoutUidsIsCannotUnderstand) {
  auto archive = StartArchive();
  auto m = dicom::testing::MakeMetadata(2, 1, 1, 2);
  const std::string sop = m.sop_instance_uid;
  m.study_instance_uid.clear();  // left out of the file
  auto [status, comment] = RawStore(archive->port(), TestFile(m), kSc, sop);
  EXPECT_EQ(status, 0xC000);
  EXPECT_FALSE(comment.empty());
  EXPECT_EQ(archive->StagedFiles(), 0u);
}

TEST_F(DimseServerTest, IngestOutOfSpaceIsA700AndServerKeepsServing) {
  auto archive = StartArchive();
  archive->controllable->ingest_error = ResourceExhausted("object store below min_free_bytes");
  const auto m = dicom::testing::MakeMetadata(3, 1, 1, 1);
  auto [status, comment] = RawStore(archive->port(), TestFile(m), kSc, m.sop_instance_uid);
  EXPECT_EQ(status, 0xA700);
  EXPECT_EQ(comment, "object store below min_free_bytes");
  EXPECT_EQ(archive->StagedFiles(), 0u);

  archive->controllable->ingest_error.reset();
  archive->controllable->staging_error = Unavailable("staging folder gone");
  EXPECT_EQ(RawStore(archive->port(), TestFile(m), kSc, m.sop_instance_uid).first, 0xA700);

  archive->controllable->staging_error.reset();
  EXPECT_EQ(RawStore(archive->port(), TestFile(m), kSc, m.sop_instance_uid).first, STATUS_Success);
}

TEST_F(DimseServerTest, DuplicateRejectedByPolicyIs0111) {
  auto archive = StartArchive();
  archive->controllable->ingest_error = AlreadyExists("different object under this UID");
  const auto m = dicom::testing::MakeMetadata(3, 2, 1, 1);
  EXPECT_EQ(RawStore(archive->port(), TestFile(m), kSc, m.sop_instance_uid).first, 0x0111);
}

// Cuts the client's TCP connection to the server port in `data` once 256 KiB are sent.
void ShutdownMidTransfer(void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ*) {
  const uint16_t server_port = *static_cast<uint16_t*>(data);
  if (progress->state != DIMSE_StoreProgressing || progress->progressBytes < 256 * 1024) return;
  for (int fd = 3; fd < 1024; ++fd) {
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
        peer.sin_family == AF_INET && ntohs(peer.sin_port) == server_port) {
      shutdown(fd, SHUT_RDWR);
    }
  }
}

TEST_F(DimseServerTest, AbortedTransferLeavesNothingBehind) {
  auto archive = StartArchive();
  // A 4 MB instance, cut off after a quarter of a megabyte.
  const auto m = dicom::testing::MakeMetadata(6, 1, 1, 1);
  const std::string path = TestFile(m);
  {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(path.c_str()).good());
    std::vector<Uint8> pixels(2048 * 2048, 7);
    file.getDataset()->putAndInsertUint16(DCM_Rows, 2048);
    file.getDataset()->putAndInsertUint16(DCM_Columns, 2048);
    file.getDataset()->putAndInsertUint8Array(DCM_PixelData, pixels.data(), pixels.size());
    ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  }
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA", {{kSc, kUncompressed}});
  ASSERT_TRUE(raw.ok());
  T_DIMSE_C_StoreRQ request{};
  request.MessageID = raw.assoc->nextMsgID++;
  OFStandard::strlcpy(request.AffectedSOPClassUID, kSc.c_str(), sizeof(DIC_UI));
  OFStandard::strlcpy(request.AffectedSOPInstanceUID, m.sop_instance_uid.c_str(), sizeof(DIC_UI));
  request.DataSetType = DIMSE_DATASET_PRESENT;
  request.Priority = DIMSE_PRIORITY_MEDIUM;
  T_DIMSE_C_StoreRSP response{};
  DcmDataset* detail = nullptr;
  const T_ASC_PresentationContextID pres =
      ASC_findAcceptedPresentationContextID(raw.assoc, kSc.c_str());
  uint16_t port = archive->port();
  OFCondition cond =
      DIMSE_storeUser(raw.assoc, pres, &request, path.c_str(), nullptr, ShutdownMidTransfer, &port,
                      DIMSE_BLOCKING, 0, &response, &detail);
  delete detail;
  EXPECT_TRUE(cond.bad());
  raw.released = true;
  bool clean = false;
  for (int i = 0; i < 100 && !clean; ++i) {
    clean = archive->StagedFiles() == 0;
    if (!clean) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(clean);
  EXPECT_TRUE(archive->Locate(m.study_instance_uid).empty());
  // And keeps serving.
  RawAssociation again(archive->port(), "TESTSCU", "STRATA",
                       {{UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.Echo(), STATUS_Success);
}

TEST_F(DimseServerTest, FindPatientRootWithoutPatientIdFails) {
  auto archive = StartArchive();
  auto scu =
      Scu(archive->port(),
          {{UID_FINDPatientRootQueryRetrieveInformationModel, kUncompressed, ASC_SC_ROLE_DEFAULT}});
  ASSERT_NE(scu, nullptr);
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  query.insertEmptyElement(DCM_StudyInstanceUID);
  OFList<QRResponse*> responses;
  const T_ASC_PresentationContextID pc =
      scu->findPresentationContextID(UID_FINDPatientRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendFINDRequest(pc, &query, &responses).good());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses.front()->m_status, 0xA900);
  for (auto* r : responses) delete r;
  scu->releaseAssociation();
}

TEST_F(DimseServerTest, FindReturnsEveryMatchAcrossCatalogPages) {
  auto archive = StartArchive();
  constexpr int kInstances = 260;  // more than one C-FIND page (256 rows)
  for (int i = 1; i <= kInstances; ++i) {
    archive->Put(TestFile(dicom::testing::MakeMetadata(7, 1, 1, i)));
  }
  auto scu =
      Scu(archive->port(),
          {{UID_FINDStudyRootQueryRetrieveInformationModel, kUncompressed, ASC_SC_ROLE_DEFAULT}});
  ASSERT_NE(scu, nullptr);
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
  query.putAndInsertString(DCM_StudyInstanceUID,
                           dicom::testing::MakeMetadata(7, 1, 1, 1).study_instance_uid.c_str());
  query.insertEmptyElement(DCM_SOPInstanceUID);
  OFList<QRResponse*> responses;
  const T_ASC_PresentationContextID pc =
      scu->findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendFINDRequest(pc, &query, &responses).good());
  std::set<std::string> sops;
  for (QRResponse* r : responses) {
    if (r->m_dataset != nullptr) {
      OFString sop;
      r->m_dataset->findAndGetOFString(DCM_SOPInstanceUID, sop);
      sops.insert(sop.c_str());
    }
    delete r;
  }
  EXPECT_EQ(sops.size(), static_cast<size_t>(kInstances));
  scu->releaseAssociation();
}

// Stores instances in `source`, then C-MOVEs the study to `destination` configured as peer.
TEST_F(DimseServerTest, MoveStudyToPeer) {
  auto destination = StartArchive({}, "dest");
  DimseServerOptions options;
  options.peers = {{"STRATA", "127.0.0.1", destination->port()}};  // same AE title is fine
  auto source = StartArchive(options, "src");
  const auto m1 = dicom::testing::MakeMetadata(4, 1, 1, 1);
  const auto m2 = dicom::testing::MakeMetadata(4, 1, 2, 1);
  source->Put(TestFile(m1));
  source->Put(TestFile(m2));

  auto scu =
      Scu(source->port(),
          {{UID_MOVEStudyRootQueryRetrieveInformationModel, kUncompressed, ASC_SC_ROLE_DEFAULT}});
  ASSERT_NE(scu, nullptr);
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  identifier.putAndInsertString(DCM_StudyInstanceUID, m1.study_instance_uid.c_str());
  OFList<RetrieveResponse*> responses;
  const T_ASC_PresentationContextID pc =
      scu->findPresentationContextID(UID_MOVEStudyRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendMOVERequest(pc, "STRATA", &identifier, &responses).good());
  ASSERT_FALSE(responses.empty());
  RetrieveResponse* last = responses.back();
  EXPECT_EQ(last->m_status, STATUS_Success);
  EXPECT_EQ(last->m_numberOfCompletedSubops, 2);
  EXPECT_EQ(last->m_numberOfFailedSubops, 0);
  for (auto* r : responses) delete r;
  EXPECT_EQ(destination->Locate(m1.study_instance_uid).size(), 2u);

  // Unknown destination.
  responses.clear();
  ASSERT_TRUE(scu->sendMOVERequest(pc, "NOBODY", &identifier, &responses).good());
  ASSERT_FALSE(responses.empty());
  EXPECT_EQ(responses.back()->m_status, 0xA801);
  for (auto* r : responses) delete r;
  scu->releaseAssociation();
}

TEST_F(DimseServerTest, MoveToUnreachablePeerFailsEverySubOperation) {
  DimseServerOptions options;
  options.peers = {{"GONE", "127.0.0.1", 1}};  // nothing listens on port 1
  auto source = StartArchive(options);
  const auto m = dicom::testing::MakeMetadata(5, 1, 1, 1);
  source->Put(TestFile(m));
  auto scu =
      Scu(source->port(),
          {{UID_MOVEStudyRootQueryRetrieveInformationModel, kUncompressed, ASC_SC_ROLE_DEFAULT}});
  ASSERT_NE(scu, nullptr);
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
  identifier.putAndInsertString(DCM_StudyInstanceUID, m.study_instance_uid.c_str());
  identifier.putAndInsertString(DCM_SeriesInstanceUID, m.series_instance_uid.c_str());
  identifier.putAndInsertString(DCM_SOPInstanceUID, m.sop_instance_uid.c_str());
  OFList<RetrieveResponse*> responses;
  const T_ASC_PresentationContextID pc =
      scu->findPresentationContextID(UID_MOVEStudyRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendMOVERequest(pc, "GONE", &identifier, &responses).good());
  ASSERT_FALSE(responses.empty());
  RetrieveResponse* last = responses.back();
  EXPECT_EQ(last->m_status, 0xA702);
  EXPECT_EQ(last->m_numberOfFailedSubops, 1);
  ASSERT_NE(last->m_dataset, nullptr);
  OFString failed;
  EXPECT_TRUE(
      last->m_dataset->findAndGetOFStringArray(DCM_FailedSOPInstanceUIDList, failed).good());
  EXPECT_EQ(failed, m.sop_instance_uid.c_str());
  for (auto* r : responses) delete r;
  scu->releaseAssociation();
}

TEST_F(DimseServerTest, GetTranscodesJpegLsForAnUncompressedOnlyPeer) {
  if (!fs::exists(kCorpus + "MR_small_jpeg_ls_lossless.dcm")) GTEST_SKIP() << "no pydicom corpus";
  auto archive = StartArchive();
  archive->Put(kCorpus + "MR_small_jpeg_ls_lossless.dcm");
  DcmFileFormat original;
  ASSERT_TRUE(original.loadFile((kCorpus + "MR_small.dcm").c_str()).good());
  OFString study, sop;
  original.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study);
  original.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, sop);

  const fs::path out = Root("get");
  fs::create_directories(out);
  auto scu = std::make_unique<DcmSCU>();
  scu->setAETitle("GETSCU");
  scu->setPeerHostName("127.0.0.1");
  scu->setPeerPort(archive->port());
  scu->setPeerAETitle("STRATA");
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  scu->addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, ts);
  scu->addPresentationContext(UID_MRImageStorage, ts, ASC_SC_ROLE_SCP);
  scu->setStorageMode(DCMSCU_STORAGE_DISK);
  scu->setStorageDir(out.string().c_str());
  ASSERT_TRUE(scu->initNetwork().good());
  ASSERT_TRUE(scu->negotiateAssociation().good());
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  identifier.putAndInsertString(DCM_StudyInstanceUID, study.c_str());
  OFList<RetrieveResponse*> responses;
  const T_ASC_PresentationContextID pc =
      scu->findPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  ASSERT_TRUE(scu->sendCGETRequest(pc, &identifier, &responses).good());
  ASSERT_FALSE(responses.empty());
  EXPECT_EQ(responses.back()->m_status, STATUS_Success);
  EXPECT_EQ(responses.back()->m_numberOfCompletedSubops, 1);
  for (auto* r : responses) delete r;
  scu->releaseAssociation();

  // The received copy is explicit LE with the original's pixels.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  DcmFileFormat received;
  ASSERT_TRUE(received.loadFile(files[0].string().c_str()).good());
  EXPECT_EQ(received.getDataset()->getOriginalXfer(), EXS_LittleEndianExplicit);
  const Uint16* a = nullptr;
  const Uint16* b = nullptr;
  unsigned long na = 0, nb = 0;
  ASSERT_TRUE(received.getDataset()->findAndGetUint16Array(DCM_PixelData, a, &na).good());
  ASSERT_TRUE(original.getDataset()->findAndGetUint16Array(DCM_PixelData, b, &nb).good());
  ASSERT_EQ(na, nb);
  EXPECT_TRUE(std::equal(a, a + na, b));
  EXPECT_EQ(archive->StagedFiles(), 0u);  // the transcoded temporary is gone
  fs::remove_all(out);
}

TEST_F(DimseServerTest, StopAbortsOpenAssociationsPromptly) {
  auto archive = StartArchive();
  RawAssociation raw(archive->port(), "TESTSCU", "STRATA",
                     {{UID_VerificationSOPClass, kUncompressed}});
  ASSERT_TRUE(raw.ok());
  const auto start = std::chrono::steady_clock::now();
  archive->server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(raw.Echo(), 0xFFFF);
  raw.released = true;
  archive->server->Stop();  // idempotent
}

TEST_F(DimseServerTest, StartFailsWhenPortIsTaken) {
  auto first = StartArchive({}, "first");
  DimseServerOptions options;
  Archive second(Root("second"), options);
  // Archive forces port 0; rebuild a server bound to the first one's port.
  options.bind_address = "127.0.0.1";
  options.port = first->port();
  auto server = CreateDimseServer(options, *second.controllable, *second.catalog, *second.blobs,
                                  *second.audit);
  EXPECT_EQ(server->Start().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strata::dimse
