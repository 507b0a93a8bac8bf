// Writing an AI model's findings on a study as a DICOM Comprehensive SR (PS3.3 A.35.3), the
// adapter over DCMTK's dcmsr. No DCMTK type crosses this header.
//
// Content tree (PS3.3 C.17.3; codes from PS3.16 and a private scheme "99STRATA", which the
// Coding Scheme Identification Sequence names):
//
//   CONTAINER (18748-4, LN, "Diagnostic imaging report")              root, SEPARATE
//   ├ HAS CONCEPT MOD TEXT (111001, DCM, "Algorithm Name")             model_name
//   ├ HAS CONCEPT MOD TEXT (111003, DCM, "Algorithm Version")          model_version
//   ├ HAS CONCEPT MOD TEXT (MODELSHA256, 99STRATA, "Model SHA-256")    model_sha256 (if set)
//   ├ HAS CONCEPT MOD TEXT (ENGINE, 99STRATA, "Inference Engine")      engine (if set)
//   ├ CONTAINS TEXT (121106, DCM, "Comment")                           fixed disclaimer:
//   │                                  machine-generated, not reviewed by a clinician
//   └ CONTAINS CONTAINER (125007, DCM, "Measurement Group")            one per source image
//     ├ CONTAINS IMAGE (121112, DCM, "Source of Measurement")          the source instance
//     └ CONTAINS TEXT (121071, DCM, "Finding")                         label, one per finding
//       ├ HAS PROPERTIES NUM (122157, DCM, "Probability")              unit (1, UCUM, "no units")
//       ├ HAS PROPERTIES NUM (122411, DCM, "Threshold Value")          unit (1, UCUM, "no units")
//       └ HAS PROPERTIES CODE (DECISION, 99STRATA, "Algorithm Decision")
//                                  (10828004, SCT, "Positive") or (260385009, SCT, "Negative")
//
// The algorithm identification follows TID 4019; the NUM items carry the value both as a
// decimal string (6 significant digits) and as the exact double (Floating Point Value).
// Every source image is also listed in the Current Requested Procedure Evidence Sequence, and
// every earlier report this one revises in the Predecessor Documents Sequence (0040,A360).
// The document is COMPLETE and UNVERIFIED.
//
// Thread-safety: free function; safe to call concurrently with different output paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::dicom {

// An instance the findings were computed on.
struct SrSourceImage {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
};

// One output of the model on one image.
struct SrFinding {
  std::string label;       // the model's class name, e.g. "pneumothorax"
  double probability = 0;  // in [0, 1]
  double threshold = 0;    // in [0, 1]; the operating point the decision was made at
  bool positive = false;   // the decision, as the caller made it
};

struct SrImageFindings {
  SrSourceImage image;
  std::vector<SrFinding> findings;
};

struct FindingsReport {
  // A Part 10 file of the study. Its Patient and General Study modules are copied
  // (PatientName, PatientID, IssuerOfPatientID, PatientBirthDate, PatientSex,
  // StudyInstanceUID, StudyDate, StudyTime, AccessionNumber, StudyID, ReferringPhysicianName,
  // StudyDescription) with its SpecificCharacterSet. When a text of this report is not ASCII
  // and the source is in a character set other than UTF-8, the copied values are converted
  // and the SR is written in UTF-8 (ISO_IR 192).
  std::string source_path;
  // Of the SR, chosen by the caller (a retry must reuse them).
  std::string sop_instance_uid;
  std::string series_instance_uid;
  int series_number = 9001;
  int instance_number = 1;
  std::string model_name;     // required
  std::string model_version;  // required
  std::string model_sha256;   // optional
  std::string engine;         // optional, e.g. "onnxruntime"
  // Unix time in milliseconds: ContentDate/ContentTime and InstanceCreationDate/Time, in UTC.
  // REQUIRES: > 0 (the time the findings were made, not "now" at a retry).
  int64_t content_time_ms = 0;
  std::vector<SrImageFindings> images;  // at least one, each with at least one finding
  // Earlier SRs of the same study whose content this one includes (a revised report).
  std::vector<SrSourceImage> predecessors;
};

// Writes `report` as a Comprehensive SR Part 10 file (explicit VR little endian, with file meta
// information) to `output_path`, through a temporary file renamed into place, so a crash never
// leaves a partial file there. The output depends on `report` and the source's attributes
// only: the same input gives a byte-identical file (no clock, no generated UID).
// Fails with:
//  kInvalidArgument: a missing or malformed UID (also of a predecessor), no images, an image
//  without findings, an
//                    empty label or model name/version, a probability or threshold outside
//                    [0, 1] or not finite, content_time_ms <= 0, a series/instance number < 0,
//                    a source that is not readable DICOM or has no StudyInstanceUID, or a
//                    character set conversion that fails;
//  kNotFound: no file at source_path;
//  kInternal: DCMTK cannot build or write the document (its message is included).
Status WriteFindingsSr(const FindingsReport& report, const std::string& output_path);

}  // namespace strata::dicom
