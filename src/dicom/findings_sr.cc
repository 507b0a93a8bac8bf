#include "dicom/findings_sr.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/dsrcodvl.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <dcmtk/dcmsr/dsrimgvl.h>
#include <dcmtk/dcmsr/dsrnumvl.h>

#include <cmath>
#include <cstdio>

#include "dicom/internal/derived_instance.h"

namespace strata::dicom {
namespace {

using internal::CheckUid;
using internal::DateTime;
using internal::DcmtkError;
using internal::IsAscii;
using internal::LoadSource;
using internal::UtcDateTime;

constexpr const char* kPrivateScheme = "99STRATA";
constexpr const char* kDisclaimer =
    "Generated automatically by an AI algorithm. Not reviewed or verified by a clinician.";

DSRCodedEntryValue ReportTitle() {
  return DSRCodedEntryValue("18748-4", "LN", "Diagnostic imaging report");
}
DSRCodedEntryValue ModelSha256Concept() {
  return DSRCodedEntryValue("MODELSHA256", kPrivateScheme, "Model SHA-256");
}
DSRCodedEntryValue EngineConcept() {
  return DSRCodedEntryValue("ENGINE", kPrivateScheme, "Inference Engine");
}
DSRCodedEntryValue DecisionConcept() {
  return DSRCodedEntryValue("DECISION", kPrivateScheme, "Algorithm Decision");
}
DSRCodedEntryValue Positive() { return DSRCodedEntryValue("10828004", "SCT", "Positive"); }
DSRCodedEntryValue Negative() { return DSRCodedEntryValue("260385009", "SCT", "Negative"); }
DSRCodedEntryValue NoUnits() { return DSRCodedEntryValue("1", "UCUM", "no units"); }

Status CheckUnitInterval(double value, const std::string& what) {
  if (!std::isfinite(value) || value < 0.0 || value > 1.0) {
    return InvalidArgument(what + " must be a finite number in [0, 1]");
  }
  return OkStatus();
}

Status Validate(const FindingsReport& report) {
  STRATA_RETURN_IF_ERROR(CheckUid(report.sop_instance_uid, "SR SOP Instance UID"));
  STRATA_RETURN_IF_ERROR(CheckUid(report.series_instance_uid, "SR Series Instance UID"));
  if (report.series_number < 0 || report.instance_number < 0) {
    return InvalidArgument("series and instance numbers must not be negative");
  }
  if (report.model_name.empty() || report.model_version.empty()) {
    return InvalidArgument("model name and version are required");
  }
  if (report.content_time_ms <= 0) return InvalidArgument("content_time_ms is not set");
  if (report.images.empty()) return InvalidArgument("no source images");
  for (const auto& predecessor : report.predecessors) {
    STRATA_RETURN_IF_ERROR(CheckUid(predecessor.sop_class_uid, "predecessor SOP Class UID"));
    STRATA_RETURN_IF_ERROR(CheckUid(predecessor.sop_instance_uid, "predecessor SOP Instance UID"));
    STRATA_RETURN_IF_ERROR(
        CheckUid(predecessor.series_instance_uid, "predecessor Series Instance UID"));
  }
  for (const auto& image : report.images) {
    STRATA_RETURN_IF_ERROR(CheckUid(image.image.sop_class_uid, "source SOP Class UID"));
    STRATA_RETURN_IF_ERROR(CheckUid(image.image.sop_instance_uid, "source SOP Instance UID"));
    STRATA_RETURN_IF_ERROR(CheckUid(image.image.series_instance_uid, "source Series Instance UID"));
    if (image.findings.empty()) {
      return InvalidArgument("no findings for source image " + image.image.sop_instance_uid);
    }
    for (const auto& finding : image.findings) {
      if (finding.label.empty()) return InvalidArgument("a finding has an empty label");
      STRATA_RETURN_IF_ERROR(
          CheckUnitInterval(finding.probability, "probability of '" + finding.label + "'"));
      STRATA_RETURN_IF_ERROR(
          CheckUnitInterval(finding.threshold, "threshold of '" + finding.label + "'"));
    }
  }
  return OkStatus();
}

// True when every text this report adds to the document is ASCII (then any source character
// set can be kept as it is).
bool ReportTextIsAscii(const FindingsReport& report) {
  if (!IsAscii(report.model_name) || !IsAscii(report.model_version) ||
      !IsAscii(report.model_sha256) || !IsAscii(report.engine)) {
    return false;
  }
  for (const auto& image : report.images) {
    for (const auto& finding : image.findings) {
      if (!IsAscii(finding.label)) return false;
    }
  }
  return true;
}

// A DS value (at most 16 characters) for a number in [0, 1].
std::string DecimalString(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  return buf;
}

// Adds content items below given parents of a document tree, remembering the first failure.
class TreeBuilder {
 public:
  explicit TreeBuilder(DSRDocumentTree& tree) : tree_(tree) {}

  size_t AddRoot(const DSRCodedEntryValue& concept_name) {
    const size_t id = tree_.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
    if (id == 0) {
      Fail("cannot add the root container");
      return 0;
    }
    Check(tree_.getCurrentContentItem().setConceptName(concept_name), "root concept name");
    Check(tree_.getCurrentContentItem().setContinuityOfContent(DSRTypes::COC_Separate),
          "root continuity");
    return id;
  }

  // Adds a child of `parent` and leaves the tree's cursor on it; returns its ID (0 on error).
  size_t AddChild(size_t parent, DSRTypes::E_RelationshipType relationship,
                  DSRTypes::E_ValueType type, const DSRCodedEntryValue& concept_name) {
    if (!status_.ok() || tree_.gotoNode(parent) != parent) {
      Fail("cannot find content item " + std::to_string(parent));
      return 0;
    }
    const size_t id = tree_.addContentItem(relationship, type, DSRTypes::AM_belowCurrent);
    if (id == 0) {
      Fail(std::string("cannot add a content item '") + concept_name.getCodeMeaning().c_str() +
           "'");
      return 0;
    }
    Check(tree_.getCurrentContentItem().setConceptName(concept_name), "concept name");
    return id;
  }

  void AddText(size_t parent, DSRTypes::E_RelationshipType relationship,
               const DSRCodedEntryValue& concept_name, const std::string& text) {
    if (AddChild(parent, relationship, DSRTypes::VT_Text, concept_name) == 0) return;
    Check(item().setStringValue(text.c_str()), "text value");
  }

  void AddNumber(size_t parent, const DSRCodedEntryValue& concept_name, double value) {
    if (AddChild(parent, DSRTypes::RT_hasProperties, DSRTypes::VT_Num, concept_name) == 0) return;
    DSRNumericMeasurementValue number(DecimalString(value).c_str(), NoUnits());
    Check(number.setFloatingPointRepresentation(value), "floating point value");
    Check(item().setNumericValue(number), "numeric value");
  }

  DSRContentItem& item() { return tree_.getCurrentContentItem(); }

  void Check(const OFCondition& cond, const std::string& what) {
    if (cond.bad() && status_.ok()) status_ = DcmtkError("SR content: " + what, cond);
  }
  void Fail(const std::string& what) {
    if (status_.ok()) status_ = Internal("SR content: " + what);
  }
  const Status& status() const { return status_; }

 private:
  DSRDocumentTree& tree_;
  Status status_;
};

Status BuildTree(const FindingsReport& report, DSRDocumentTree& tree) {
  TreeBuilder b(tree);
  const size_t root = b.AddRoot(ReportTitle());
  b.AddText(root, DSRTypes::RT_hasConceptMod, CODE_DCM_AlgorithmName, report.model_name);
  b.AddText(root, DSRTypes::RT_hasConceptMod, CODE_DCM_AlgorithmVersion, report.model_version);
  if (!report.model_sha256.empty()) {
    b.AddText(root, DSRTypes::RT_hasConceptMod, ModelSha256Concept(), report.model_sha256);
  }
  if (!report.engine.empty()) {
    b.AddText(root, DSRTypes::RT_hasConceptMod, EngineConcept(), report.engine);
  }
  b.AddText(root, DSRTypes::RT_contains, CODE_DCM_Comment, kDisclaimer);
  for (const auto& image : report.images) {
    const size_t group =
        b.AddChild(root, DSRTypes::RT_contains, DSRTypes::VT_Container, CODE_DCM_MeasurementGroup);
    if (group == 0) break;
    b.Check(b.item().setContinuityOfContent(DSRTypes::COC_Separate), "group continuity");
    if (b.AddChild(group, DSRTypes::RT_contains, DSRTypes::VT_Image,
                   CODE_DCM_SourceOfMeasurement) != 0) {
      b.Check(b.item().setImageReference(DSRImageReferenceValue(
                  image.image.sop_class_uid.c_str(), image.image.sop_instance_uid.c_str())),
              "image reference");
    }
    for (const auto& finding : image.findings) {
      const size_t label =
          b.AddChild(group, DSRTypes::RT_contains, DSRTypes::VT_Text, CODE_DCM_Finding);
      if (label == 0) break;
      b.Check(b.item().setStringValue(finding.label.c_str()), "finding label");
      b.AddNumber(label, CODE_DCM_Probability, finding.probability);
      b.AddNumber(label, CODE_DCM_ThresholdValue, finding.threshold);
      if (b.AddChild(label, DSRTypes::RT_hasProperties, DSRTypes::VT_Code, DecisionConcept()) !=
          0) {
        b.Check(b.item().setCodeValue(finding.positive ? Positive() : Negative()), "decision");
      }
    }
  }
  return b.status();
}

}  // namespace

Status WriteFindingsSr(const FindingsReport& report, const std::string& output_path) {
  STRATA_RETURN_IF_ERROR(Validate(report));
  DcmFileFormat source;
  STRATA_ASSIGN_OR_RETURN(std::string charset,
                          LoadSource(report.source_path, !ReportTextIsAscii(report), source));
  DcmDataset& source_ds = *source.getDataset();

  DSRDocument doc(DSRTypes::DT_ComprehensiveSR);
  // Patient and General Study modules, as the source has them.
  OFCondition cond = doc.readStudyData(source_ds);
  if (cond.bad()) return DcmtkError("copying the source's study attributes", cond);
  if (!charset.empty()) {
    cond = doc.setSpecificCharacterSet(charset.c_str());
    if (cond.bad()) return InvalidArgument("source Specific Character Set: " + charset);
  }
  const DateTime content = UtcDateTime(report.content_time_ms);
  // LO holds 64 characters.
  const std::string description =
      internal::TruncateUtf8("AI findings: " + report.model_name + " " + report.model_version, 64);
  cond = doc.setContentDate(content.date.c_str());
  if (cond.good()) cond = doc.setContentTime(content.time.c_str());
  if (cond.good()) cond = doc.setManufacturer("Strata");
  if (cond.good()) cond = doc.setSeriesDescription(description.c_str(), /*check=*/OFFalse);
  if (cond.good()) cond = doc.setSeriesNumber(std::to_string(report.series_number).c_str());
  if (cond.good()) cond = doc.setInstanceNumber(std::to_string(report.instance_number).c_str());
  if (cond.good()) cond = doc.completeDocument();
  if (cond.bad()) return DcmtkError("SR header", cond);

  DSRCodingSchemeIdentificationList& schemes = doc.getCodingSchemeIdentification();
  cond = schemes.addItem(kPrivateScheme);
  if (cond.good()) cond = schemes.setCodingSchemeName("Strata private codes for AI findings");
  if (cond.good()) cond = schemes.setCodingSchemeResponsibleOrganization("Strata");
  if (cond.bad()) return DcmtkError("coding scheme identification", cond);

  // PS3.3 C.17.2.3: the instances this report was made from.
  OFString study_uid;
  (void)doc.getStudyInstanceUID(study_uid);
  for (const auto& image : report.images) {
    cond = doc.getCurrentRequestedProcedureEvidence().addItem(
        study_uid, image.image.series_instance_uid.c_str(), image.image.sop_class_uid.c_str(),
        image.image.sop_instance_uid.c_str());
    if (cond.bad()) return DcmtkError("evidence sequence", cond);
  }
  // PS3.3 C.17.2.3: the earlier reports whose content this one repeats (a revision).
  for (const auto& predecessor : report.predecessors) {
    cond = doc.getPredecessorDocuments().addItem(study_uid, predecessor.series_instance_uid.c_str(),
                                                 predecessor.sop_class_uid.c_str(),
                                                 predecessor.sop_instance_uid.c_str());
    if (cond.bad()) return DcmtkError("predecessor documents sequence", cond);
  }

  STRATA_RETURN_IF_ERROR(BuildTree(report, doc.getTree()));
  if (!doc.isValid()) return Internal("DCMTK considers the SR document invalid");

  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  cond = doc.write(ds);
  if (cond.bad()) return DcmtkError("writing the SR document", cond);
  // DSRDocument makes up its own SOP instance and series UIDs and stamps the creation time
  // with the clock; the caller's values replace them, so that a retry writes the same bytes.
  cond = ds.putAndInsertString(DCM_SOPInstanceUID, report.sop_instance_uid.c_str());
  if (cond.good()) {
    cond = ds.putAndInsertString(DCM_SeriesInstanceUID, report.series_instance_uid.c_str());
  }
  if (cond.good()) cond = ds.putAndInsertString(DCM_InstanceCreationDate, content.date.c_str());
  if (cond.good()) cond = ds.putAndInsertString(DCM_InstanceCreationTime, content.time.c_str());
  if (cond.bad()) return DcmtkError("SR identifiers", cond);
  // Strata, not DCMTK, creates this instance.
  (void)ds.findAndDeleteElement(DCM_InstanceCreatorUID);

  return internal::SaveAtomically(out, output_path);
}

}  // namespace strata::dicom
