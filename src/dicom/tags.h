// DICOM attribute tags Strata indexes, as plain numbers (group << 16 | element).
//
// Kept free of DCMTK so that every module can name attributes.
#pragma once

#include <cstdint>

namespace strata::dicom {

using Tag = uint32_t;

constexpr Tag MakeTag(uint16_t group, uint16_t element) {
  return (static_cast<Tag>(group) << 16) | element;
}

namespace tags {
// Patient
constexpr Tag kPatientName = MakeTag(0x0010, 0x0010);
constexpr Tag kPatientId = MakeTag(0x0010, 0x0020);
constexpr Tag kIssuerOfPatientId = MakeTag(0x0010, 0x0021);
constexpr Tag kPatientBirthDate = MakeTag(0x0010, 0x0030);
constexpr Tag kPatientSex = MakeTag(0x0010, 0x0040);
constexpr Tag kNumberOfPatientRelatedStudies = MakeTag(0x0020, 0x1200);
constexpr Tag kNumberOfPatientRelatedSeries = MakeTag(0x0020, 0x1202);
constexpr Tag kNumberOfPatientRelatedInstances = MakeTag(0x0020, 0x1204);
// Study
constexpr Tag kStudyInstanceUid = MakeTag(0x0020, 0x000D);
constexpr Tag kStudyDate = MakeTag(0x0008, 0x0020);
constexpr Tag kStudyTime = MakeTag(0x0008, 0x0030);
constexpr Tag kAccessionNumber = MakeTag(0x0008, 0x0050);
constexpr Tag kStudyId = MakeTag(0x0020, 0x0010);
constexpr Tag kStudyDescription = MakeTag(0x0008, 0x1030);
constexpr Tag kReferringPhysicianName = MakeTag(0x0008, 0x0090);
constexpr Tag kModalitiesInStudy = MakeTag(0x0008, 0x0061);
constexpr Tag kSopClassesInStudy = MakeTag(0x0008, 0x0062);
constexpr Tag kNumberOfStudyRelatedSeries = MakeTag(0x0020, 0x1206);
constexpr Tag kNumberOfStudyRelatedInstances = MakeTag(0x0020, 0x1208);
// Series
constexpr Tag kSeriesInstanceUid = MakeTag(0x0020, 0x000E);
constexpr Tag kModality = MakeTag(0x0008, 0x0060);
constexpr Tag kSeriesNumber = MakeTag(0x0020, 0x0011);
constexpr Tag kSeriesDescription = MakeTag(0x0008, 0x103E);
constexpr Tag kSeriesDate = MakeTag(0x0008, 0x0021);
constexpr Tag kSeriesTime = MakeTag(0x0008, 0x0031);
constexpr Tag kBodyPartExamined = MakeTag(0x0018, 0x0015);
constexpr Tag kNumberOfSeriesRelatedInstances = MakeTag(0x0020, 0x1209);
// Instance
constexpr Tag kSopClassUid = MakeTag(0x0008, 0x0016);
constexpr Tag kSopInstanceUid = MakeTag(0x0008, 0x0018);
constexpr Tag kInstanceNumber = MakeTag(0x0020, 0x0013);
constexpr Tag kContentDate = MakeTag(0x0008, 0x0023);
constexpr Tag kContentTime = MakeTag(0x0008, 0x0033);
constexpr Tag kRows = MakeTag(0x0028, 0x0010);
constexpr Tag kColumns = MakeTag(0x0028, 0x0011);
constexpr Tag kNumberOfFrames = MakeTag(0x0028, 0x0008);
constexpr Tag kTransferSyntaxUid = MakeTag(0x0002, 0x0010);
constexpr Tag kAvailableTransferSyntaxUid = MakeTag(0x0008, 0x3002);
// Query/retrieve
constexpr Tag kQueryRetrieveLevel = MakeTag(0x0008, 0x0052);
constexpr Tag kSpecificCharacterSet = MakeTag(0x0008, 0x0005);
constexpr Tag kRetrieveAeTitle = MakeTag(0x0008, 0x0054);
constexpr Tag kInstanceAvailability = MakeTag(0x0008, 0x0056);
}  // namespace tags

}  // namespace strata::dicom
