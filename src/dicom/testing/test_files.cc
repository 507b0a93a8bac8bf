#include "dicom/testing/test_files.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <vector>

namespace strata::dicom::testing {

bool WriteTestInstance(const std::string& path, const InstanceMetadata& m, int pixel_seed) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  auto put = [&](const DcmTagKey& key, const std::string& value) {
    if (!value.empty()) ds->putAndInsertString(key, value.c_str());
  };
  put(DCM_SOPClassUID, m.sop_class_uid);
  put(DCM_SOPInstanceUID, m.sop_instance_uid);
  put(DCM_StudyInstanceUID, m.study_instance_uid);
  put(DCM_SeriesInstanceUID, m.series_instance_uid);
  put(DCM_PatientID, m.patient_id);
  put(DCM_PatientName, m.patient_name);
  put(DCM_PatientBirthDate, m.patient_birth_date);
  put(DCM_PatientSex, m.patient_sex);
  put(DCM_StudyDate, m.study_date);
  put(DCM_StudyTime, m.study_time);
  put(DCM_AccessionNumber, m.accession_number);
  put(DCM_StudyDescription, m.study_description);
  put(DCM_Modality, m.modality);
  put(DCM_SeriesNumber, m.series_number);
  put(DCM_InstanceNumber, m.instance_number);
  ds->putAndInsertUint16(DCM_Rows, 4);
  ds->putAndInsertUint16(DCM_Columns, 4);
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  std::vector<Uint8> pixels(16);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<Uint8>(pixel_seed + i);
  ds->putAndInsertUint8Array(DCM_PixelData, pixels.data(), pixels.size());
  return file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good();
}

InstanceMetadata MakeMetadata(int patient, int study, int series, int instance) {
  const std::string root = "1.2.826.0.1.3680043.10.1042.";
  InstanceMetadata m;
  m.patient_id = "PAT" + std::to_string(patient);
  m.patient_name = "TEST^PATIENT" + std::to_string(patient);
  m.patient_birth_date = "19700101";
  m.patient_sex = "O";
  m.study_instance_uid = root + "1." + std::to_string(patient) + "." + std::to_string(study);
  m.study_date = "2026010" + std::to_string(1 + study % 9);
  m.study_time = "101500";
  m.accession_number = "ACC" + std::to_string(patient) + "_" + std::to_string(study);
  m.study_description = "TEST STUDY";
  m.series_instance_uid = m.study_instance_uid + ".2." + std::to_string(series);
  m.modality = "OT";
  m.series_number = std::to_string(series);
  m.sop_class_uid = UID_SecondaryCaptureImageStorage;
  m.sop_instance_uid = m.series_instance_uid + ".3." + std::to_string(instance);
  m.instance_number = std::to_string(instance);
  return m;
}

}  // namespace strata::dicom::testing
