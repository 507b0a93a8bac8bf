#include "dimse/query_identifier.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <gtest/gtest.h>

#include "dicom/tags.h"

namespace strata::dimse {
namespace {

namespace tags = dicom::tags;

std::string KeyValue(const catalog::Query& q, dicom::Tag tag, bool* found = nullptr) {
  for (const auto& k : q.keys) {
    if (k.tag == tag) {
      if (found) *found = true;
      return k.value;
    }
  }
  if (found) *found = false;
  return "";
}

TEST(IdentifierToQueryTest, StudyRootStudyLevelKeepsRawValuesAndSkipsReturnOnlyKeys) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  id.putAndInsertString(DCM_PatientName, "DOE^J*");
  id.putAndInsertString(DCM_StudyDate, "20200101-20201231");
  id.putAndInsertString(DCM_ModalitiesInStudy, "CT\\MR");
  id.insertEmptyElement(DCM_StudyInstanceUID);
  id.insertEmptyElement(DCM_SpecificCharacterSet);
  id.insertEmptyElement(DCM_RetrieveAETitle);
  id.insert(new DcmSequenceOfItems(DCM_ReferencedStudySequence));
  auto q = IdentifierToQuery(id, QueryModel::kStudyRoot, IdentifierUse::kFind);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->level, catalog::QueryLevel::kStudy);
  EXPECT_EQ(KeyValue(*q, tags::kPatientName), "DOE^J*");
  EXPECT_EQ(KeyValue(*q, tags::kStudyDate), "20200101-20201231");
  EXPECT_EQ(KeyValue(*q, tags::kModalitiesInStudy), "CT\\MR");
  bool found = false;
  EXPECT_EQ(KeyValue(*q, tags::kStudyInstanceUid, &found), "");
  EXPECT_TRUE(found);  // universal match, still a key
  KeyValue(*q, tags::kSpecificCharacterSet, &found);
  EXPECT_FALSE(found);
  KeyValue(*q, tags::kRetrieveAeTitle, &found);
  EXPECT_FALSE(found);
  KeyValue(*q, tags::kQueryRetrieveLevel, &found);
  EXPECT_FALSE(found);
  EXPECT_EQ(q->keys.size(), 4u);  // sequence ignored
}

TEST(IdentifierToQueryTest, LevelIsRequiredAndChecked) {
  DcmDataset none;
  none.putAndInsertString(DCM_PatientID, "X");
  EXPECT_EQ(IdentifierToQuery(none, QueryModel::kStudyRoot, IdentifierUse::kFind).status().code(),
            StatusCode::kInvalidArgument);
  DcmDataset bad;
  bad.putAndInsertString(DCM_QueryRetrieveLevel, "FRAME");
  EXPECT_EQ(IdentifierToQuery(bad, QueryModel::kStudyRoot, IdentifierUse::kFind).status().code(),
            StatusCode::kInvalidArgument);
  DcmDataset patient;
  patient.putAndInsertString(DCM_QueryRetrieveLevel, "PATIENT");
  EXPECT_EQ(
      IdentifierToQuery(patient, QueryModel::kStudyRoot, IdentifierUse::kFind).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_TRUE(IdentifierToQuery(patient, QueryModel::kPatientRoot, IdentifierUse::kFind).ok());
  DcmDataset image;
  image.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
  auto q = IdentifierToQuery(image, QueryModel::kStudyRoot, IdentifierUse::kFind);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->level, catalog::QueryLevel::kInstance);
}

TEST(IdentifierToQueryTest, PatientRootNeedsUniqueKeysAbove) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
  id.putAndInsertString(DCM_StudyInstanceUID, "1.2.3");
  id.insertEmptyElement(DCM_Modality);
  EXPECT_EQ(IdentifierToQuery(id, QueryModel::kPatientRoot, IdentifierUse::kFind).status().code(),
            StatusCode::kInvalidArgument);
  id.putAndInsertString(DCM_PatientID, "PAT*");  // wildcard is not a unique key value
  EXPECT_EQ(IdentifierToQuery(id, QueryModel::kPatientRoot, IdentifierUse::kFind).status().code(),
            StatusCode::kInvalidArgument);
  id.putAndInsertString(DCM_PatientID, "PAT1");
  EXPECT_TRUE(IdentifierToQuery(id, QueryModel::kPatientRoot, IdentifierUse::kFind).ok());
  // Study Root allows relational queries below the study.
  DcmDataset relational;
  relational.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
  relational.putAndInsertString(DCM_Modality, "CT");
  EXPECT_TRUE(IdentifierToQuery(relational, QueryModel::kStudyRoot, IdentifierUse::kFind).ok());
}

TEST(IdentifierToQueryTest, RetrieveNeedsUniqueKeyOfItsLevelAndAcceptsLists) {
  DcmDataset id;
  id.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
  id.putAndInsertString(DCM_StudyInstanceUID, "1.2.3");
  EXPECT_EQ(IdentifierToQuery(id, QueryModel::kStudyRoot, IdentifierUse::kRetrieve).status().code(),
            StatusCode::kInvalidArgument);
  id.putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.4\\1.2.3.5");
  auto q = IdentifierToQuery(id, QueryModel::kStudyRoot, IdentifierUse::kRetrieve);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(KeyValue(*q, tags::kSeriesInstanceUid), "1.2.3.4\\1.2.3.5");
}

TEST(BuildFindResponseTest, ReturnsExactlyTheRequestedKeys) {
  DcmDataset request;
  request.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  request.insertEmptyElement(DCM_StudyInstanceUID);
  request.putAndInsertString(DCM_PatientName, "D*");
  request.insertEmptyElement(DCM_StudyDescription);  // not in the row: zero length
  request.insertEmptyElement(DCM_ModalitiesInStudy);
  request.insertEmptyElement(DCM_NumberOfStudyRelatedInstances);
  request.insertEmptyElement(DCM_RetrieveAETitle);
  request.insert(new DcmSequenceOfItems(DCM_ReferencedStudySequence));
  catalog::QueryRow row;
  row.attributes[tags::kStudyInstanceUid] = "1.2.3";
  row.attributes[tags::kPatientName] = "DOE^JOHN";
  row.attributes[tags::kPatientId] = "NOT-ASKED";
  row.attributes[tags::kModalitiesInStudy] = "CT\\MR";
  row.attributes[tags::kNumberOfStudyRelatedInstances] = "42";
  auto response = BuildFindResponse(request, row, "STRATA");
  OFString value;
  EXPECT_TRUE(response->findAndGetOFString(DCM_QueryRetrieveLevel, value).good());
  EXPECT_EQ(value, "STUDY");
  EXPECT_TRUE(response->findAndGetOFString(DCM_StudyInstanceUID, value).good());
  EXPECT_EQ(value, "1.2.3");
  EXPECT_TRUE(response->findAndGetOFString(DCM_PatientName, value).good());
  EXPECT_EQ(value, "DOE^JOHN");
  EXPECT_TRUE(response->findAndGetOFStringArray(DCM_ModalitiesInStudy, value).good());
  EXPECT_EQ(value, "CT\\MR");
  EXPECT_TRUE(response->findAndGetOFString(DCM_NumberOfStudyRelatedInstances, value).good());
  EXPECT_EQ(value, "42");
  EXPECT_TRUE(response->findAndGetOFString(DCM_RetrieveAETitle, value).good());
  EXPECT_EQ(value, "STRATA");
  DcmElement* description = nullptr;
  ASSERT_TRUE(response->findAndGetElement(DCM_StudyDescription, description).good());
  EXPECT_EQ(description->getLength(), 0u);
  EXPECT_TRUE(response->tagExists(DCM_ReferencedStudySequence));
  EXPECT_FALSE(response->tagExists(DCM_PatientID));
  EXPECT_FALSE(response->tagExists(DCM_SpecificCharacterSet));
  EXPECT_EQ(response->card(), request.card());
}

TEST(BuildFindResponseTest, AddsCharacterSetWhenTheRowHasOne) {
  DcmDataset request;
  request.putAndInsertString(DCM_QueryRetrieveLevel, "PATIENT");
  request.insertEmptyElement(DCM_PatientName);
  catalog::QueryRow row;
  row.attributes[tags::kPatientName] = "M\xc3\xbcller";
  row.attributes[tags::kSpecificCharacterSet] = "ISO_IR 192";
  auto response = BuildFindResponse(request, row, "STRATA");
  OFString value;
  EXPECT_TRUE(response->findAndGetOFString(DCM_SpecificCharacterSet, value).good());
  EXPECT_EQ(value, "ISO_IR 192");
}

}  // namespace
}  // namespace strata::dimse
