#include "dicom/findings_sr.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <dcmtk/ofstd/ofchrenc.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/read_file.h"
#include "dicom/testing/test_files.h"

namespace strata::dicom {
namespace {

namespace fs = std::filesystem;

const std::string kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";

std::string Get(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  item.findAndGetOFStringArray(key, value);
  return value.c_str();
}

// One line per content item: depth, relationship, value type, concept code, value.
std::vector<std::string> DumpTree(DSRDocumentTree& tree) {
  std::vector<std::string> lines;
  if (tree.gotoRoot() == 0) return lines;
  do {
    const DSRContentItem& item = tree.getCurrentContentItem();
    std::string line = std::to_string(tree.getLevel()) + " " +
                       DSRTypes::relationshipTypeToDefinedTerm(item.getRelationshipType()) + " " +
                       DSRTypes::valueTypeToDefinedTerm(item.getValueType()) + " " +
                       item.getConceptName().getCodeValue().c_str() + "," +
                       item.getConceptName().getCodingSchemeDesignator().c_str() + " = ";
    switch (item.getValueType()) {
      case DSRTypes::VT_Text:
        line += item.getStringValue().c_str();
        break;
      case DSRTypes::VT_Num: {
        line += item.getNumericValue().getNumericValue().c_str();
        line += std::string(" [") +
                item.getNumericValue().getMeasurementUnit().getCodeValue().c_str() + "]";
        break;
      }
      case DSRTypes::VT_Code:
        line += item.getCodeValue().getCodeValue().c_str();
        break;
      case DSRTypes::VT_Image:
        line += item.getImageReference().getSOPInstanceUID().c_str();
        break;
      default:
        break;
    }
    lines.push_back(line);
  } while (tree.iterate() != 0);
  return lines;
}

class FindingsSrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strata_findings_sr_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    meta_ = testing::MakeMetadata(1, 2, 3, 4);
    source_ = (dir_ / "source.dcm").string();
    ASSERT_TRUE(testing::WriteTestInstance(source_, meta_));
    // Attributes the shared test file lacks.
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(source_.c_str()).good());
    DcmDataset* ds = file.getDataset();
    ds->putAndInsertString(DCM_IssuerOfPatientID, "HOSPITAL_A");
    ds->putAndInsertString(DCM_StudyID, "S42");
    ds->putAndInsertString(DCM_ReferringPhysicianName, "WHO^DOCTOR");
    ASSERT_TRUE(file.saveFile(source_.c_str(), EXS_LittleEndianExplicit).good());
  }
  void TearDown() override { fs::remove_all(dir_); }

  FindingsReport Report() const {
    FindingsReport r;
    r.source_path = source_;
    r.sop_instance_uid = "1.2.826.0.1.3680043.10.1042.9.1.1";
    r.series_instance_uid = "1.2.826.0.1.3680043.10.1042.9.1";
    r.series_number = 9001;
    r.instance_number = 1;
    r.model_name = "chest-demo";
    r.model_version = "1.0.3";
    r.model_sha256 = std::string(64, 'a');
    r.engine = "onnxruntime";
    r.content_time_ms = 1767225600123;  // 2026-01-01 00:00:00.123 UTC
    const auto second = testing::MakeMetadata(1, 2, 3, 5);
    r.images = {
        {{meta_.sop_class_uid, meta_.sop_instance_uid, meta_.series_instance_uid},
         {{"pneumothorax", 0.875, 0.5, true}, {"effusion", 0.125, 0.5, false}}},
        {{second.sop_class_uid, second.sop_instance_uid, second.series_instance_uid},
         {{"pneumothorax", 0.25, 0.5, false}}},
    };
    return r;
  }

  std::string Out(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  InstanceMetadata meta_;
  std::string source_;
};

TEST_F(FindingsSrTest, WritesAValidComprehensiveSr) {
  const std::string out = Out("sr.dcm");
  ASSERT_TRUE(WriteFindingsSr(Report(), out).ok());
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  EXPECT_EQ(Get(*file.getMetaInfo(), DCM_TransferSyntaxUID),
            UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(Get(*file.getMetaInfo(), DCM_MediaStorageSOPClassUID), kComprehensiveSr);
  EXPECT_EQ(Get(*file.getMetaInfo(), DCM_MediaStorageSOPInstanceUID), Report().sop_instance_uid);

  DcmDataset& ds = *file.getDataset();
  DSRDocument doc;
  ASSERT_TRUE(doc.read(ds).good());
  EXPECT_TRUE(doc.isValid());
  EXPECT_EQ(doc.getDocumentType(), DSRTypes::DT_ComprehensiveSR);
  EXPECT_EQ(Get(ds, DCM_SOPClassUID), kComprehensiveSr);
  EXPECT_EQ(Get(ds, DCM_SOPInstanceUID), Report().sop_instance_uid);
  EXPECT_EQ(Get(ds, DCM_SeriesInstanceUID), Report().series_instance_uid);
  EXPECT_EQ(Get(ds, DCM_Modality), "SR");
  EXPECT_EQ(Get(ds, DCM_Manufacturer), "Strata");
  EXPECT_EQ(Get(ds, DCM_SeriesDescription), "AI findings: chest-demo 1.0.3");
  EXPECT_EQ(Get(ds, DCM_SeriesNumber), "9001");
  EXPECT_EQ(Get(ds, DCM_InstanceNumber), "1");
  EXPECT_EQ(Get(ds, DCM_ContentDate), "20260101");
  EXPECT_EQ(Get(ds, DCM_ContentTime), "000000.123");
  EXPECT_EQ(Get(ds, DCM_InstanceCreationDate), "20260101");
  EXPECT_EQ(Get(ds, DCM_InstanceCreationTime), "000000.123");
  EXPECT_FALSE(ds.tagExists(DCM_InstanceCreatorUID));
  EXPECT_EQ(Get(ds, DCM_CompletionFlag), "COMPLETE");
  EXPECT_EQ(Get(ds, DCM_VerificationFlag), "UNVERIFIED");

  // Patient and General Study modules come from the source.
  EXPECT_EQ(Get(ds, DCM_PatientName), meta_.patient_name);
  EXPECT_EQ(Get(ds, DCM_PatientID), meta_.patient_id);
  EXPECT_EQ(Get(ds, DCM_IssuerOfPatientID), "HOSPITAL_A");
  EXPECT_EQ(Get(ds, DCM_PatientBirthDate), meta_.patient_birth_date);
  EXPECT_EQ(Get(ds, DCM_PatientSex), meta_.patient_sex);
  EXPECT_EQ(Get(ds, DCM_StudyInstanceUID), meta_.study_instance_uid);
  EXPECT_EQ(Get(ds, DCM_StudyDate), meta_.study_date);
  EXPECT_EQ(Get(ds, DCM_StudyTime), meta_.study_time);
  EXPECT_EQ(Get(ds, DCM_AccessionNumber), meta_.accession_number);
  EXPECT_EQ(Get(ds, DCM_StudyID), "S42");
  EXPECT_EQ(Get(ds, DCM_ReferringPhysicianName), "WHO^DOCTOR");
  EXPECT_EQ(Get(ds, DCM_StudyDescription), meta_.study_description);
  EXPECT_FALSE(ds.tagExists(DCM_SpecificCharacterSet));  // the source has none

  // Both source instances are evidence of the requested procedure.
  const auto second = testing::MakeMetadata(1, 2, 3, 5);
  DSRSOPInstanceReferenceList& evidence = doc.getCurrentRequestedProcedureEvidence();
  EXPECT_EQ(evidence.getNumberOfInstances(), 2u);
  EXPECT_TRUE(
      evidence.gotoItem(meta_.sop_class_uid.c_str(), meta_.sop_instance_uid.c_str()).good());
  EXPECT_TRUE(
      evidence.gotoItem(second.sop_class_uid.c_str(), second.sop_instance_uid.c_str()).good());

  // The private coding scheme is identified.
  EXPECT_TRUE(doc.getCodingSchemeIdentification().gotoItem("99STRATA").good());
}

TEST_F(FindingsSrTest, ContentTreeCarriesTheFindings) {
  const std::string out = Out("sr.dcm");
  ASSERT_TRUE(WriteFindingsSr(Report(), out).ok());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  DSRDocument doc;
  ASSERT_TRUE(doc.read(*file.getDataset()).good());
  const auto second = testing::MakeMetadata(1, 2, 3, 5);
  const std::vector<std::string> expected = {
      "1  CONTAINER 18748-4,LN = ",
      "2 HAS CONCEPT MOD TEXT 111001,DCM = chest-demo",
      "2 HAS CONCEPT MOD TEXT 111003,DCM = 1.0.3",
      "2 HAS CONCEPT MOD TEXT MODELSHA256,99STRATA = " + std::string(64, 'a'),
      "2 HAS CONCEPT MOD TEXT ENGINE,99STRATA = onnxruntime",
      "2 CONTAINS TEXT 121106,DCM = Generated automatically by an AI algorithm. Not reviewed or "
      "verified by a clinician.",
      "2 CONTAINS CONTAINER 125007,DCM = ",
      "3 CONTAINS IMAGE 121112,DCM = " + meta_.sop_instance_uid,
      "3 CONTAINS TEXT 121071,DCM = pneumothorax",
      "4 HAS PROPERTIES NUM 122157,DCM = 0.875 [1]",
      "4 HAS PROPERTIES NUM 122411,DCM = 0.5 [1]",
      "4 HAS PROPERTIES CODE DECISION,99STRATA = 10828004",
      "3 CONTAINS TEXT 121071,DCM = effusion",
      "4 HAS PROPERTIES NUM 122157,DCM = 0.125 [1]",
      "4 HAS PROPERTIES NUM 122411,DCM = 0.5 [1]",
      "4 HAS PROPERTIES CODE DECISION,99STRATA = 260385009",
      "2 CONTAINS CONTAINER 125007,DCM = ",
      "3 CONTAINS IMAGE 121112,DCM = " + second.sop_instance_uid,
      "3 CONTAINS TEXT 121071,DCM = pneumothorax",
      "4 HAS PROPERTIES NUM 122157,DCM = 0.25 [1]",
      "4 HAS PROPERTIES NUM 122411,DCM = 0.5 [1]",
      "4 HAS PROPERTIES CODE DECISION,99STRATA = 260385009",
  };
  EXPECT_EQ(DumpTree(doc.getTree()), expected);

  // The root is a Comprehensive SR title; the exact double is kept beside the decimal string.
  DSRDocumentTree& tree = doc.getTree();
  ASSERT_NE(tree.gotoRoot(), 0u);
  EXPECT_EQ(tree.getCurrentContentItem().getConceptName().getCodeMeaning(),
            "Diagnostic imaging report");
  ASSERT_NE(tree.gotoNamedNode(DSRCodedEntryValue("122157", "DCM", "Probability")), 0u);
  Float64 exact = 0;
  EXPECT_TRUE(
      tree.getCurrentContentItem().getNumericValue().getFloatingPointRepresentation(exact).good());
  EXPECT_EQ(exact, 0.875);
}

TEST_F(FindingsSrTest, SameReportGivesByteIdenticalFiles) {
  ASSERT_TRUE(WriteFindingsSr(Report(), Out("a.dcm")).ok());
  // DCMTK stamps the clock with second resolution; a second later it would differ.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(WriteFindingsSr(Report(), Out("b.dcm")).ok());
  const std::string a = strata::testing::ReadFileBytes(Out("a.dcm"));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, strata::testing::ReadFileBytes(Out("b.dcm")));
  // Overwriting an existing file (a retry) gives the same bytes too.
  ASSERT_TRUE(WriteFindingsSr(Report(), Out("a.dcm")).ok());
  EXPECT_EQ(a, strata::testing::ReadFileBytes(Out("a.dcm")));
  // And any change of input changes the output.
  FindingsReport changed = Report();
  changed.images[0].findings[0].probability = 0.876;
  ASSERT_TRUE(WriteFindingsSr(changed, Out("c.dcm")).ok());
  EXPECT_NE(a, strata::testing::ReadFileBytes(Out("c.dcm")));
}

TEST_F(FindingsSrTest, ARevisionListsTheReportsItReplaces) {
  FindingsReport report = Report();
  report.instance_number = 2;
  report.predecessors = {
      {kComprehensiveSr, "1.2.826.0.1.3680043.10.1042.9.1.0", report.series_instance_uid}};
  const std::string out = Out("revised.dcm");
  ASSERT_TRUE(WriteFindingsSr(report, out).ok());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.c_str()).good());
  DSRDocument doc;
  ASSERT_TRUE(doc.read(*file.getDataset()).good());
  DSRSOPInstanceReferenceList& predecessors = doc.getPredecessorDocuments();
  EXPECT_EQ(predecessors.getNumberOfInstances(), 1u);
  EXPECT_TRUE(
      predecessors.gotoItem(kComprehensiveSr.c_str(), "1.2.826.0.1.3680043.10.1042.9.1.0").good());
  EXPECT_EQ(Get(*file.getDataset(), DCM_InstanceNumber), "2");

  report.predecessors[0].sop_instance_uid = "not a uid";
  EXPECT_EQ(WriteFindingsSr(report, Out("bad.dcm")).code(), StatusCode::kInvalidArgument);
}

TEST_F(FindingsSrTest, LongSeriesDescriptionIsCutToLo) {
  FindingsReport r = Report();
  r.model_name = std::string(70, 'm');
  ASSERT_TRUE(WriteFindingsSr(r, Out("sr.dcm")).ok());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(Out("sr.dcm").c_str()).good());
  EXPECT_EQ(Get(*file.getDataset(), DCM_SeriesDescription),
            ("AI findings: " + r.model_name).substr(0, 64));
}

TEST_F(FindingsSrTest, RejectsBadInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* name;
    void (*mutate)(FindingsReport&);
  };
  const std::vector<Case> cases = {
      {"no SR UID", [](FindingsReport& r) { r.sop_instance_uid.clear(); }},
      {"bad SR UID", [](FindingsReport& r) { r.sop_instance_uid = "1.2.abc"; }},
      {"no series UID", [](FindingsReport& r) { r.series_instance_uid.clear(); }},
      {"no images", [](FindingsReport& r) { r.images.clear(); }},
      {"no findings", [](FindingsReport& r) { r.images[1].findings.clear(); }},
      {"no source SOP", [](FindingsReport& r) { r.images[0].image.sop_instance_uid.clear(); }},
      {"no source class", [](FindingsReport& r) { r.images[0].image.sop_class_uid.clear(); }},
      {"no source series",
       [](FindingsReport& r) { r.images[1].image.series_instance_uid.clear(); }},
      {"p > 1", [](FindingsReport& r) { r.images[0].findings[0].probability = 1.5; }},
      {"p < 0", [](FindingsReport& r) { r.images[0].findings[0].probability = -0.01; }},
      {"threshold > 1", [](FindingsReport& r) { r.images[0].findings[1].threshold = 2; }},
      {"empty label", [](FindingsReport& r) { r.images[0].findings[0].label.clear(); }},
      {"no model name", [](FindingsReport& r) { r.model_name.clear(); }},
      {"no model version", [](FindingsReport& r) { r.model_version.clear(); }},
      {"no content time", [](FindingsReport& r) { r.content_time_ms = 0; }},
  };
  for (const auto& c : cases) {
    FindingsReport r = Report();
    c.mutate(r);
    EXPECT_EQ(WriteFindingsSr(r, Out("bad.dcm")).code(), StatusCode::kInvalidArgument) << c.name;
  }
  for (double bad : {nan, inf, -inf}) {
    FindingsReport r = Report();
    r.images[0].findings[0].probability = bad;
    EXPECT_EQ(WriteFindingsSr(r, Out("bad.dcm")).code(), StatusCode::kInvalidArgument);
    r = Report();
    r.images[0].findings[0].threshold = bad;
    EXPECT_EQ(WriteFindingsSr(r, Out("bad.dcm")).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(Out("bad.dcm")));
}

TEST_F(FindingsSrTest, UnreadableSourceIsRejected) {
  FindingsReport r = Report();
  r.source_path = Out("missing.dcm");
  EXPECT_EQ(WriteFindingsSr(r, Out("sr.dcm")).code(), StatusCode::kNotFound);

  std::ofstream(Out("text.dcm")) << "not DICOM at all";
  r.source_path = Out("text.dcm");
  EXPECT_EQ(WriteFindingsSr(r, Out("sr.dcm")).code(), StatusCode::kInvalidArgument);

  auto no_study = meta_;
  no_study.study_instance_uid.clear();
  ASSERT_TRUE(testing::WriteTestInstance(Out("nostudy.dcm"), no_study));
  r.source_path = Out("nostudy.dcm");
  EXPECT_EQ(WriteFindingsSr(r, Out("sr.dcm")).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(Out("sr.dcm")));
}

TEST_F(FindingsSrTest, UnwritableOutputIsInternal) {
  const Status s = WriteFindingsSr(Report(), (dir_ / "no" / "such" / "dir" / "sr.dcm").string());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_FALSE(s.message().empty());
}

TEST_F(FindingsSrTest, KeepsTheSourceCharacterSetForAsciiText) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(source_.c_str()).good());
  file.getDataset()->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  file.getDataset()->putAndInsertString(DCM_PatientName, "M\xFCller^Hans");  // Latin-1
  ASSERT_TRUE(file.saveFile(source_.c_str(), EXS_LittleEndianExplicit).good());
  ASSERT_TRUE(WriteFindingsSr(Report(), Out("sr.dcm")).ok());
  DcmFileFormat sr;
  ASSERT_TRUE(sr.loadFile(Out("sr.dcm").c_str()).good());
  EXPECT_EQ(Get(*sr.getDataset(), DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(Get(*sr.getDataset(), DCM_PatientName), "M\xFCller^Hans");
}

TEST_F(FindingsSrTest, ConvertsToUtf8ForNonAsciiText) {
  if (!OFCharacterEncoding::isLibraryAvailable()) GTEST_SKIP() << "DCMTK without iconv/ICU";
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(source_.c_str()).good());
  file.getDataset()->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  file.getDataset()->putAndInsertString(DCM_PatientName, "M\xFCller^Hans");  // Latin-1
  ASSERT_TRUE(file.saveFile(source_.c_str(), EXS_LittleEndianExplicit).good());
  FindingsReport r = Report();
  r.images[0].findings[0].label = "\xC3\xA9panchement";  // "épanchement" in UTF-8
  ASSERT_TRUE(WriteFindingsSr(r, Out("sr.dcm")).ok());
  DcmFileFormat sr;
  ASSERT_TRUE(sr.loadFile(Out("sr.dcm").c_str()).good());
  EXPECT_EQ(Get(*sr.getDataset(), DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(Get(*sr.getDataset(), DCM_PatientName), "M\xC3\xBCller^Hans");
  DSRDocument doc;
  ASSERT_TRUE(doc.read(*sr.getDataset()).good());
  ASSERT_NE(doc.getTree().gotoNamedNode(DSRCodedEntryValue("121071", "DCM", "Finding")), 0u);
  EXPECT_EQ(doc.getTree().getCurrentContentItem().getStringValue(), "\xC3\xA9panchement");
}

// Other readers parse it too (when installed): DCMTK's dsrdump and pydicom.
TEST_F(FindingsSrTest, ExternalReadersParseIt) {
  const std::string out = Out("sr.dcm");
  ASSERT_TRUE(WriteFindingsSr(Report(), out).ok());
  const std::string second_uid = testing::MakeMetadata(1, 2, 3, 5).sop_instance_uid;
  bool ran = false;
  if (fs::exists("/usr/bin/dsrdump")) {
    ran = true;
    const std::string cmd = "/usr/bin/dsrdump " + out + " > " + Out("dump.txt") + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << strata::testing::ReadFileBytes(Out("dump.txt"));
    const std::string dump = strata::testing::ReadFileBytes(Out("dump.txt"));
    EXPECT_NE(dump.find("Comprehensive SR"), std::string::npos) << dump;
    EXPECT_NE(dump.find("pneumothorax"), std::string::npos) << dump;
    EXPECT_EQ(dump.find("Warning"), std::string::npos) << dump;
    EXPECT_EQ(dump.find("Error"), std::string::npos) << dump;
  }
  if (fs::exists("/usr/bin/python3")) {
    const std::string script =
        "import sys\n"
        "try:\n"
        "    import pydicom\n"
        "except ImportError:\n"
        "    sys.exit(77)\n"
        "ds = pydicom.dcmread(sys.argv[1])\n"
        "assert ds.SOPClassUID == '" +
        kComprehensiveSr +
        "', ds.SOPClassUID\n"
        "refs = [g.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID\n"
        "        for g in ds.ContentSequence if g.ValueType == 'CONTAINER']\n"
        "assert refs == ['" +
        meta_.sop_instance_uid + "', '" + second_uid +
        "'], refs\n"
        "assert ds.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == '" +
        meta_.study_instance_uid + "'\n";
    std::ofstream(Out("check.py")) << script;
    const std::string cmd =
        "/usr/bin/python3 " + Out("check.py") + " " + out + " > " + Out("py.txt") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 77)) {
      ran = true;
      EXPECT_EQ(rc, 0) << strata::testing::ReadFileBytes(Out("py.txt"));
    }
  }
  if (!ran) GTEST_SKIP() << "neither dsrdump nor pydicom installed";
}

}  // namespace
}  // namespace strata::dicom
