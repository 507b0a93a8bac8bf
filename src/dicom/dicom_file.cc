#include "dicom/dicom_file.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <mutex>

namespace strata::dicom {
namespace {

// Values longer than this are not loaded when indexing (pixel data, large sequences).
constexpr Uint32 kMaxIndexedValueLength = 4096;

std::string GetString(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  if (item.findAndGetOFStringArray(key, value).bad()) return {};
  // Trailing padding (space or NUL) is not part of the value.
  size_t end = value.length();
  while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\0')) --end;
  size_t begin = 0;
  while (begin < end && value[begin] == ' ') ++begin;
  return std::string(value.c_str() + begin, end - begin);
}

uint64_t DatasetOffset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, kPart10HeadBytes> head{};
  in.read(head.data(), head.size());
  return DatasetOffsetOfHead(std::string_view(head.data(), static_cast<size_t>(in.gcount())));
}

}  // namespace

// 128-byte preamble, "DICM", then the file meta group, whose first element (0002,0000) UL
// gives its remaining length (PS3.10 7.1).
uint64_t DatasetOffsetOfHead(std::string_view head) {
  if (head.size() < kPart10HeadBytes || head.substr(128, 4) != "DICM") return 0;
  const auto* e = reinterpret_cast<const unsigned char*>(head.data()) + 132;
  bool is_group_length = e[0] == 0x02 && e[1] == 0x00 && e[2] == 0x00 && e[3] == 0x00 &&
                         e[4] == 'U' && e[5] == 'L' && e[6] == 4 && e[7] == 0;
  if (!is_group_length) return 0;
  uint32_t group_length = e[8] | (e[9] << 8) | (e[10] << 16) | (static_cast<uint32_t>(e[11]) << 24);
  return 132 + 12 + static_cast<uint64_t>(group_length);
}

void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

void SilenceDcmtkLogging() { OFLog::configure(OFLogger::OFF_LOG_LEVEL); }

Result<ParsedInstance> ReadInstance(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound("no such file: " + path);

  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxIndexedValueLength,
                                   ERM_autoDetect);
  if (cond.bad()) {
    return InvalidArgument(std::string("not a readable DICOM file (truncated or malformed): ") +
                           cond.text());
  }
  DcmDataset& ds = *file.getDataset();
  DcmMetaInfo& meta = *file.getMetaInfo();

  ParsedInstance parsed;
  InstanceMetadata& m = parsed.metadata;
  m.patient_id = GetString(ds, DCM_PatientID);
  m.issuer_of_patient_id = GetString(ds, DCM_IssuerOfPatientID);
  m.patient_name = GetString(ds, DCM_PatientName);
  m.patient_birth_date = GetString(ds, DCM_PatientBirthDate);
  m.patient_sex = GetString(ds, DCM_PatientSex);
  m.study_instance_uid = GetString(ds, DCM_StudyInstanceUID);
  m.study_date = GetString(ds, DCM_StudyDate);
  m.study_time = GetString(ds, DCM_StudyTime);
  m.accession_number = GetString(ds, DCM_AccessionNumber);
  m.study_id = GetString(ds, DCM_StudyID);
  m.study_description = GetString(ds, DCM_StudyDescription);
  m.referring_physician_name = GetString(ds, DCM_ReferringPhysicianName);
  m.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  m.modality = GetString(ds, DCM_Modality);
  m.series_number = GetString(ds, DCM_SeriesNumber);
  m.series_description = GetString(ds, DCM_SeriesDescription);
  m.series_date = GetString(ds, DCM_SeriesDate);
  m.series_time = GetString(ds, DCM_SeriesTime);
  m.body_part_examined = GetString(ds, DCM_BodyPartExamined);
  m.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  m.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  m.instance_number = GetString(ds, DCM_InstanceNumber);
  m.content_date = GetString(ds, DCM_ContentDate);
  m.content_time = GetString(ds, DCM_ContentTime);
  m.rows = GetString(ds, DCM_Rows);
  m.columns = GetString(ds, DCM_Columns);
  m.number_of_frames = GetString(ds, DCM_NumberOfFrames);
  m.specific_character_set = GetString(ds, DCM_SpecificCharacterSet);
  m.transfer_syntax_uid = GetString(meta, DCM_TransferSyntaxUID);
  if (m.transfer_syntax_uid.empty()) {
    DcmXfer xfer(ds.getOriginalXfer());
    m.transfer_syntax_uid = xfer.getXferID();
  }

  const std::pair<const char*, const std::string*> required[] = {
      {"SOPClassUID", &m.sop_class_uid},
      {"SOPInstanceUID", &m.sop_instance_uid},
      {"StudyInstanceUID", &m.study_instance_uid},
      {"SeriesInstanceUID", &m.series_instance_uid},
  };
  for (const auto& [name, value] : required) {
    if (value->empty()) return InvalidArgument(std::string("data set has no ") + name);
    if (!IsValidUid(*value)) {
      return InvalidArgument(std::string("data set has an invalid ") + name + " '" + *value + "'");
    }
  }
  // The meta header must describe the same object as the data set (PS3.10 7.1).
  std::string media_sop_class = GetString(meta, DCM_MediaStorageSOPClassUID);
  std::string media_sop_instance = GetString(meta, DCM_MediaStorageSOPInstanceUID);
  if (!media_sop_class.empty() && media_sop_class != m.sop_class_uid) {
    return FailedPrecondition("file meta MediaStorageSOPClassUID " + media_sop_class +
                              " differs from the data set's SOPClassUID " + m.sop_class_uid);
  }
  if (!media_sop_instance.empty() && media_sop_instance != m.sop_instance_uid) {
    return FailedPrecondition("file meta MediaStorageSOPInstanceUID " + media_sop_instance +
                              " differs from the data set's SOPInstanceUID " + m.sop_instance_uid);
  }
  parsed.dataset_offset = DatasetOffset(path);
  return parsed;
}

}  // namespace strata::dicom
