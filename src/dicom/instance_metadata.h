// InstanceMetadata: the attributes Strata indexes for one stored DICOM instance.
//
// Values are the DICOM string values as stored (trailing padding removed), in the instance's
// SpecificCharacterSet. A plain value type without DCMTK types.
#pragma once

#include <string>

namespace strata::dicom {

struct InstanceMetadata {
  // Patient level
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string patient_name;
  std::string patient_birth_date;  // YYYYMMDD
  std::string patient_sex;
  // Study level
  std::string study_instance_uid;
  std::string study_date;  // YYYYMMDD
  std::string study_time;  // HHMMSS.FFFFFF
  std::string accession_number;
  std::string study_id;
  std::string study_description;
  std::string referring_physician_name;
  // Series level
  std::string series_instance_uid;
  std::string modality;
  std::string series_number;  // IS, as text
  std::string series_description;
  std::string series_date;
  std::string series_time;
  std::string body_part_examined;
  // Instance level
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string instance_number;  // IS, as text
  std::string content_date;
  std::string content_time;
  std::string rows;
  std::string columns;
  std::string number_of_frames;
  std::string transfer_syntax_uid;  // from the file meta information
  std::string specific_character_set;
};

}  // namespace strata::dicom
