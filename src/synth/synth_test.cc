#include "synth/synth.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "synth/ids.h"
#include "synth/part10_writer.h"
#include "synth/pixels.h"

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

Options Tiny(uint64_t seed, int patients) {
  Options o;
  o.preset = Preset::kTiny;
  o.seed = seed;
  o.patients = patients;
  return o;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("synth_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string Get(DcmItem* item, const DcmTagKey& key) {
  OFString value;
  if (item->findAndGetOFStringArray(key, value).bad()) return "<missing>";
  return value.c_str();
}

Uint16 GetUs(DcmItem* item, const DcmTagKey& key) {
  Uint16 v = 0;
  EXPECT_TRUE(item->findAndGetUint16(key, v).good()) << key.toString().c_str();
  return v;
}

std::vector<fs::path> DicomFilesUnder(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".dcm") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsValidUid(const std::string& uid) {
  if (uid.size() > 64 || uid.rfind("2.25.", 0) != 0) return false;
  const std::string digits = uid.substr(5);
  return !digits.empty() && digits.size() <= 39 && digits[0] != '0' &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

TEST(SynthTest, SameSeedGivesIdenticalFiles) {
  const auto a = Generate(Tiny(7, 3));
  const auto b = Generate(Tiny(7, 3));
  ASSERT_EQ(a.size(), 3u * 3 * 2 * 5);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].relative_path, b[i].relative_path);
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].relative_path;
  }
}

TEST(SynthTest, DifferentSeedsGiveDifferentFilesAndIds) {
  const auto a = Generate(Tiny(7, 1));
  const auto b = Generate(Tiny(8, 1));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a[0].relative_path, b[0].relative_path);  // PatientID carries the seed
  EXPECT_NE(a[0].bytes, b[0].bytes);
}

TEST(SynthTest, PatientsDoNotDependOnTheirNeighbours) {
  const auto both = Generate(Tiny(3, 2));
  Options second = Tiny(3, 1);
  second.first_patient = 1;
  const auto only_second = Generate(second);
  ASSERT_EQ(both.size(), 2 * only_second.size());
  for (size_t i = 0; i < only_second.size(); ++i) {
    EXPECT_EQ(both[only_second.size() + i].relative_path, only_second[i].relative_path);
    EXPECT_EQ(both[only_second.size() + i].bytes, only_second[i].bytes);
  }
}

TEST(SynthTest, OverridesSetCounts) {
  Options o = Tiny(1, 2);
  o.studies_per_patient = 4;
  o.series_per_study = 3;
  o.instances_per_series = 2;
  Summary summary;
  auto result = ForEachFile(o, [](GeneratedFile&) { return OkStatus(); });
  ASSERT_TRUE(result.ok());
  summary = *result;
  EXPECT_EQ(summary.patients, 2);
  EXPECT_EQ(summary.studies, 8);
  EXPECT_EQ(summary.series, 24);
  EXPECT_EQ(summary.files, 48);
}

TEST(SynthTest, MaxBytesStopsSoonAfterTheLimit) {
  const auto all = Generate(Tiny(1, 4));
  const int64_t one = static_cast<int64_t>(all[0].bytes.size());
  Options o = Tiny(1, 4);
  o.max_bytes = 10 * one + 1;
  auto summary = ForEachFile(o, [](GeneratedFile&) { return OkStatus(); });
  ASSERT_TRUE(summary.ok());
  EXPECT_GE(summary->bytes, o.max_bytes);
  EXPECT_LT(summary->files, static_cast<int64_t>(all.size()));
  EXPECT_LE(summary->files, 12);
}

TEST(SynthTest, SinkErrorStopsGeneration) {
  int calls = 0;
  auto summary = ForEachFile(Tiny(1, 2), [&](GeneratedFile&) {
    return ++calls == 3 ? Internal("disk full") : OkStatus();
  });
  EXPECT_FALSE(summary.ok());
  EXPECT_EQ(calls, 3);
}

TEST(SynthTest, RejectsBadOptions) {
  Options o = Tiny(1, 1);
  o.patients = -1;
  EXPECT_EQ(ForEachFile(o, [](GeneratedFile&) { return OkStatus(); }).status().code(),
            StatusCode::kInvalidArgument);
  o = Tiny(1, 1);
  o.studies_per_patient = 100;
  EXPECT_EQ(ForEachFile(o, [](GeneratedFile&) { return OkStatus(); }).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParsePreset("huge").ok());
  for (const char* name : {"demo", "mixed", "ct", "cr", "mr", "tiny"}) {
    auto p = ParsePreset(name);
    ASSERT_TRUE(p.ok()) << name;
    EXPECT_EQ(PresetName(*p), name);
  }
}

TEST(SynthTest, DemoFilesParseWithExpectedAttributes) {
  TempDir dir;
  Options o;
  o.preset = Preset::kDemo;
  auto summary = WriteTree(o, dir.path().string());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const auto files = DicomFilesUnder(dir.path());
  ASSERT_EQ(static_cast<int64_t>(files.size()), summary->files);
  ASSERT_EQ(files.size(), 2u);
  int64_t bytes = 0;
  std::set<std::string> sop_uids;
  for (const auto& path : files) {
    bytes += static_cast<int64_t>(fs::file_size(path));
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(path.c_str()).good()) << path;
    DcmDataset* ds = ff.getDataset();
    DcmMetaInfo* meta = ff.getMetaInfo();
    EXPECT_EQ(ds->getOriginalXfer(), EXS_LittleEndianExplicit);
    EXPECT_EQ(Get(meta, DCM_TransferSyntaxUID), kExplicitVrLittleEndian);
    EXPECT_EQ(Get(meta, DCM_MediaStorageSOPClassUID), Get(ds, DCM_SOPClassUID));
    EXPECT_EQ(Get(meta, DCM_MediaStorageSOPInstanceUID), Get(ds, DCM_SOPInstanceUID));
    EXPECT_EQ(Get(ds, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.1");  // CR Image Storage
    EXPECT_EQ(Get(ds, DCM_Modality), "CR");
    EXPECT_EQ(Get(ds, DCM_PatientID), "SYN001-0000000");
    EXPECT_EQ(Get(ds, DCM_AccessionNumber), "A001000000000");
    EXPECT_EQ(Get(ds, DCM_BodyPartExamined), "CHEST");
    EXPECT_NE(Get(ds, DCM_PatientName).find('^'), std::string::npos);
    EXPECT_EQ(Get(ds, DCM_StudyDate).size(), 8u);
    EXPECT_EQ(Get(ds, DCM_PatientBirthDate).size(), 8u);
    EXPECT_LT(Get(ds, DCM_PatientBirthDate), Get(ds, DCM_StudyDate));
    EXPECT_TRUE(IsValidUid(Get(ds, DCM_StudyInstanceUID))) << Get(ds, DCM_StudyInstanceUID);
    EXPECT_TRUE(IsValidUid(Get(ds, DCM_SeriesInstanceUID)));
    EXPECT_TRUE(IsValidUid(Get(ds, DCM_SOPInstanceUID)));
    sop_uids.insert(Get(ds, DCM_SOPInstanceUID));
    EXPECT_EQ(GetUs(ds, DCM_Rows), 320);
    EXPECT_EQ(GetUs(ds, DCM_Columns), 256);
    EXPECT_EQ(GetUs(ds, DCM_BitsAllocated), 16);
    EXPECT_EQ(GetUs(ds, DCM_BitsStored), 12);
    EXPECT_EQ(GetUs(ds, DCM_HighBit), 11);
    EXPECT_EQ(GetUs(ds, DCM_PixelRepresentation), 0);
    const std::string photometric = Get(ds, DCM_PhotometricInterpretation);
    EXPECT_TRUE(photometric == "MONOCHROME1" || photometric == "MONOCHROME2") << photometric;
    const Uint16* pixels = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(ds->findAndGetUint16Array(DCM_PixelData, pixels, &count).good());
    ASSERT_EQ(count, 320u * 256u);
    const auto [lo, hi] = std::minmax_element(pixels, pixels + count);
    EXPECT_LE(*hi, 4095);
    EXPECT_GT(*hi - *lo, 1000) << "images should have contrast";
  }
  EXPECT_EQ(bytes, summary->bytes);
  EXPECT_EQ(sop_uids.size(), 2u);
}

TEST(SynthTest, MixedPresetHasEveryModalityWithPriors) {
  TempDir dir;
  Options o;
  o.preset = Preset::kMixed;
  o.patients = 6;
  o.series_per_study = 1;
  o.instances_per_series = 2;
  auto summary = WriteTree(o, dir.path().string());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->studies, 18);
  std::map<std::string, std::string> sop_class_by_modality;
  std::map<std::string, std::set<std::string>> dates_by_patient;
  std::set<std::string> photometrics;
  for (const auto& path : DicomFilesUnder(dir.path())) {
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(path.c_str()).good()) << path;
    DcmDataset* ds = ff.getDataset();
    const std::string modality = Get(ds, DCM_Modality);
    sop_class_by_modality[modality] = Get(ds, DCM_SOPClassUID);
    dates_by_patient[Get(ds, DCM_PatientID)].insert(Get(ds, DCM_StudyDate));
    const Uint16 rows = GetUs(ds, DCM_Rows);
    const Uint16 cols = GetUs(ds, DCM_Columns);
    if (modality == "CT") {
      EXPECT_EQ(rows, 512);
      EXPECT_EQ(cols, 512);
      EXPECT_EQ(Get(ds, DCM_RescaleIntercept), "-1024");
      EXPECT_EQ(Get(ds, DCM_RescaleSlope), "1");
      EXPECT_NE(Get(ds, DCM_ImagePositionPatient), "<missing>");
      EXPECT_NE(Get(ds, DCM_SliceLocation), "<missing>");
    } else if (modality == "MR") {
      EXPECT_EQ(rows, 256);
      EXPECT_EQ(cols, 256);
      EXPECT_NE(Get(ds, DCM_ImagePositionPatient), "<missing>");
    } else {
      EXPECT_GE(rows, 2000);
      EXPECT_GE(cols, 2000);
      EXPECT_EQ(Get(ds, DCM_RescaleIntercept), "<missing>");
      photometrics.insert(Get(ds, DCM_PhotometricInterpretation));
    }
    EXPECT_NE(Get(ds, DCM_WindowCenter), "<missing>");
    EXPECT_NE(Get(ds, DCM_ReferringPhysicianName), "<missing>");
    EXPECT_NE(Get(ds, DCM_StudyDescription), "<missing>");
  }
  EXPECT_EQ(sop_class_by_modality["CT"], "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(sop_class_by_modality["MR"], "1.2.840.10008.5.1.4.1.1.4");
  EXPECT_EQ(sop_class_by_modality["CR"], "1.2.840.10008.5.1.4.1.1.1");
  EXPECT_EQ(sop_class_by_modality["DX"], "1.2.840.10008.5.1.4.1.1.1.1");
  EXPECT_EQ(dates_by_patient.size(), 6u);
  for (const auto& [patient, dates] : dates_by_patient) EXPECT_EQ(dates.size(), 3u) << patient;
  EXPECT_TRUE(photometrics.count("MONOCHROME2"));
}

TEST(SynthTest, CtSlicesMoveThroughTheVolume) {
  Options o;
  o.preset = Preset::kCt;
  o.patients = 1;
  o.studies_per_patient = 1;
  o.series_per_study = 1;
  o.instances_per_series = 3;
  TempDir dir;
  ASSERT_TRUE(WriteTree(o, dir.path().string()).ok());
  std::vector<double> locations;
  for (const auto& path : DicomFilesUnder(dir.path())) {
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(path.c_str()).good());
    locations.push_back(std::stod(Get(ff.getDataset(), DCM_SliceLocation)));
    EXPECT_EQ(Get(ff.getDataset(), DCM_SliceThickness), "5");
  }
  ASSERT_EQ(locations.size(), 3u);
  EXPECT_DOUBLE_EQ(locations[1] - locations[0], 5.0);
  EXPECT_DOUBLE_EQ(locations[2] - locations[1], 5.0);
}

TEST(PixelsTest, RenderIsDeterministicAndClamped) {
  ImageSpec spec;
  spec.rows = 64;
  spec.columns = 48;
  spec.bits_stored = 10;
  spec.background = 100;
  spec.gradient_x = 200;
  spec.ellipses = {{24, 32, 10, 12, 2000}};
  spec.noise_seed = 5;
  std::string a(64 * 48 * 2, '\0');
  std::string b(a.size(), '\0');
  RenderImage(spec, a.data());
  RenderImage(spec, b.data());
  EXPECT_EQ(a, b);
  auto at = [&](int y, int x) {
    return static_cast<int>(static_cast<uint8_t>(a[(y * 48 + x) * 2])) |
           (static_cast<int>(static_cast<uint8_t>(a[(y * 48 + x) * 2 + 1])) << 8);
  };
  EXPECT_EQ(at(32, 24), 1023);  // inside the ellipse, clamped to 10 bits
  EXPECT_NEAR(at(0, 0), 100, 8);
  EXPECT_NEAR(at(0, 47), 300, 8);
  spec.noise_seed = 6;
  RenderImage(spec, b.data());
  EXPECT_NE(a, b);
  spec.invert = true;
  spec.noise_bits = 0;
  RenderImage(spec, b.data());
  EXPECT_EQ(static_cast<uint8_t>(b[0]) | (static_cast<uint8_t>(b[1]) << 8), 1023 - 100);
}

TEST(Part10WriterTest, PadsOddValuesPerVr) {
  Part10Writer w("1.2", "1.23", 0);
  w.AddString(dicom::MakeTag(0x0008, 0x0018), "UI", "1.23");
  w.AddString(dicom::MakeTag(0x0010, 0x0020), "LO", "ABC");
  const std::string bytes = w.Take();
  ASSERT_GT(bytes.size(), 132u);
  EXPECT_EQ(bytes.substr(128, 4), "DICM");
  const std::string tail = bytes.substr(bytes.size() - 12);
  EXPECT_EQ(tail.substr(0, 4), std::string("\x10\x00\x20\x00", 4));
  EXPECT_EQ(tail.substr(4, 2), "LO");
  EXPECT_EQ(tail.substr(6, 2), std::string("\x04\x00", 2));
  EXPECT_EQ(tail.substr(8), "ABC ");
  EXPECT_NE(bytes.find(std::string("1.23", 4)), std::string::npos);
}

TEST(Part10WriterDeathTest, RejectsDescendingTags) {
  EXPECT_DEATH(
      {
        Part10Writer w("1.2", "1.3", 0);
        w.AddString(dicom::MakeTag(0x0010, 0x0020), "LO", "A");
        w.AddString(dicom::MakeTag(0x0008, 0x0018), "UI", "1.4");
      },
      "tags must ascend");
}

TEST(IdsTest, DatesAndTimes) {
  EXPECT_EQ(DicomDate(0), "19700101");
  EXPECT_EQ(DicomDate(DaysFromCivil(2024, 2, 29)), "20240229");
  EXPECT_EQ(DicomDate(DaysFromCivil(2024, 2, 29) + 1), "20240301");
  EXPECT_EQ(DicomDate(DaysFromCivil(1930, 12, 31)), "19301231");
  EXPECT_EQ(DicomTime(3661), "010101");
  EXPECT_EQ(DicomTime(86399), "235959");
  EXPECT_EQ(Padded(42, 5), "00042");
  EXPECT_EQ(Ds(-179.2), "-179.2");
}

TEST(IdsTest, UidsAreStableDistinctAndWellFormed) {
  const std::string a = Uid(1, {2, 3});
  EXPECT_EQ(a, Uid(1, {2, 3}));
  EXPECT_NE(a, Uid(1, {3, 2}));
  EXPECT_NE(a, Uid(2, {2, 3}));
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 10000; ++i) {
    const std::string uid = Uid(9, {4, i});
    EXPECT_TRUE(IsValidUid(uid)) << uid;
    seen.insert(uid);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace strata::synth
