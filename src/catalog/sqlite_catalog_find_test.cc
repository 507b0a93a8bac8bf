#include <gtest/gtest.h>

#include "catalog/catalog_test_util.h"
#include "catalog/sqlite_catalog.h"

namespace strata::catalog {
namespace {

namespace t = dicom::tags;
using testing::Column;
using testing::FindIn;
using testing::LocateIn;
using testing::MakeQuery;
using testing::MakeRecord;
using testing::MustFind;
using testing::OpenMemory;
using testing::Put;
using testing::VersionsIn;
using Strings = std::vector<std::string>;

// Two patients, three studies, four series, seven instances with distinct attributes.
class SqliteCatalogFindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog_ = OpenMemory();
    auto add = [&](const std::string& patient, const std::string& study, const std::string& series,
                   const std::string& sop, auto&& edit) {
      InstanceRecord r = MakeRecord(patient, study, series, sop, "sha-" + sop);
      edit(r.metadata);
      ASSERT_EQ(*Put(*catalog_, r), PutOutcome::kStored);
    };
    auto doe = [](dicom::InstanceMetadata& m) {
      m.patient_name = "Doe^John";
      m.patient_birth_date = "19700101";
      m.patient_sex = "M";
    };
    auto study1 = [&](dicom::InstanceMetadata& m) {
      doe(m);
      m.study_date = "20240110";
      m.study_time = "101500";
      m.accession_number = "ACC1";
      m.study_description = "CT Chest";
      m.referring_physician_name = "Smith^Anna";
    };
    for (int n = 1; n <= 3; ++n) {
      add("PID1", "1.1", "1.1.1", "1.1.1." + std::to_string(n), [&](auto& m) {
        study1(m);
        m.instance_number = std::to_string(n);
        m.content_time = "10150" + std::to_string(n);
      });
    }
    add("PID1", "1.1", "1.1.2", "1.1.2.1", [&](auto& m) {
      study1(m);
      m.modality = "SR";
      m.series_number = "2";
      m.sop_class_uid = testing::kBasicTextSr;
    });
    for (int n = 1; n <= 2; ++n) {
      add("PID1", "1.2", "1.2.1", "1.2.1." + std::to_string(n), [&](auto& m) {
        doe(m);
        m.study_date = "20240215";
        m.accession_number = "ACC2";
        m.modality = "MR";
        m.sop_class_uid = testing::kMrImageStorage;
      });
    }
    add("PID2", "1.3", "1.3.1", "1.3.1.1", [&](auto& m) {
      m.patient_name = "Roe^Jane";
      m.study_date = "20231231";
      m.accession_number = "AC[1]";
      m.study_description = "X-ray";
      m.modality = "CR";
    });
  }

  std::vector<QueryRow> Find(QueryLevel level, std::vector<MatchKey> keys, bool fuzzy = false) {
    Query query = MakeQuery(level, std::move(keys));
    query.fuzzy_matching = fuzzy;
    return MustFind(*catalog_, query);
  }

  std::unique_ptr<Catalog> catalog_;
};

TEST_F(SqliteCatalogFindTest, PatientLevelWithComputedCounts) {
  std::vector<QueryRow> rows = Find(QueryLevel::kPatient, {});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(Column(rows, t::kPatientId), (Strings{"PID1", "PID2"}));
  EXPECT_EQ(rows[0].attributes.at(t::kPatientName), "Doe^John");
  EXPECT_EQ(rows[0].attributes.at(t::kPatientBirthDate), "19700101");
  EXPECT_EQ(rows[0].attributes.at(t::kNumberOfPatientRelatedStudies), "2");
  EXPECT_EQ(rows[0].attributes.at(t::kNumberOfPatientRelatedSeries), "3");
  EXPECT_EQ(rows[0].attributes.at(t::kNumberOfPatientRelatedInstances), "6");
  EXPECT_EQ(rows[0].attributes.count(t::kStudyInstanceUid), 0u);
  EXPECT_EQ(Column(Find(QueryLevel::kPatient, {{t::kPatientId, "PID2"}}), t::kPatientName),
            (Strings{"Roe^Jane"}));
}

TEST_F(SqliteCatalogFindTest, PersonNameCaseAndFuzzyMatching) {
  EXPECT_EQ(Column(Find(QueryLevel::kPatient, {{t::kPatientName, "Doe*"}}), t::kPatientId),
            (Strings{"PID1"}));
  EXPECT_TRUE(Find(QueryLevel::kPatient, {{t::kPatientName, "doe*"}}).empty());
  EXPECT_TRUE(Find(QueryLevel::kPatient, {{t::kPatientName, "DOE^JOHN"}}).empty());
  EXPECT_EQ(Column(Find(QueryLevel::kPatient, {{t::kPatientName, "doe*"}}, true), t::kPatientId),
            (Strings{"PID1"}));
  EXPECT_EQ(
      Column(Find(QueryLevel::kPatient, {{t::kPatientName, "DOE^JOHN"}}, true), t::kPatientId),
      (Strings{"PID1"}));
  EXPECT_EQ(Column(Find(QueryLevel::kPatient, {{t::kPatientName, "?oe^*"}}), t::kPatientId),
            (Strings{"PID1", "PID2"}));
}

TEST_F(SqliteCatalogFindTest, StudyLevelDateRangesAndComputedAttributes) {
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyDate, "20240101-20240131"}}),
                   t::kStudyInstanceUid),
            (Strings{"1.1"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyDate, "-20231231"}}), t::kStudyInstanceUid),
            (Strings{"1.3"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyDate, "20240111-"}}), t::kStudyInstanceUid),
            (Strings{"1.2"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyDate, "20240215\\20231231"}}),
                   t::kStudyInstanceUid),
            (Strings{"1.2", "1.3"}));
  // The upper bound is inclusive to the precision given: 10:15:00 is within "-1015".
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyTime, "-1015"}}), t::kStudyInstanceUid),
            (Strings{"1.1"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kStudyTime, "1100-"}}), t::kStudyInstanceUid),
            (Strings{"1.2", "1.3"}));

  std::vector<QueryRow> rows = Find(QueryLevel::kStudy, {{t::kStudyInstanceUid, "1.1"}});
  ASSERT_EQ(rows.size(), 1u);
  const auto& a = rows[0].attributes;
  EXPECT_EQ(a.at(t::kModalitiesInStudy), "CT\\SR");
  EXPECT_EQ(a.at(t::kSopClassesInStudy),
            std::string(testing::kCtImageStorage) + "\\" + testing::kBasicTextSr);
  EXPECT_EQ(a.at(t::kNumberOfStudyRelatedSeries), "2");
  EXPECT_EQ(a.at(t::kNumberOfStudyRelatedInstances), "4");
  EXPECT_EQ(a.at(t::kAccessionNumber), "ACC1");
  EXPECT_EQ(a.at(t::kStudyDescription), "CT Chest");
  EXPECT_EQ(a.at(t::kReferringPhysicianName), "Smith^Anna");
  EXPECT_EQ(a.at(t::kPatientName), "Doe^John");  // the level above
  EXPECT_EQ(a.count(t::kSeriesInstanceUid), 0u);
}

TEST_F(SqliteCatalogFindTest, StudyLevelModalitiesAndSopClassesMatch) {
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kModalitiesInStudy, "SR"}}), t::kStudyInstanceUid),
            (Strings{"1.1"}));
  EXPECT_EQ(
      Column(Find(QueryLevel::kStudy, {{t::kModalitiesInStudy, "MR\\CR"}}), t::kStudyInstanceUid),
      (Strings{"1.2", "1.3"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kModalitiesInStudy, "C*"}}), t::kStudyInstanceUid),
            (Strings{"1.1", "1.3"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kSopClassesInStudy, testing::kMrImageStorage}}),
                   t::kStudyInstanceUid),
            (Strings{"1.2"}));
}

TEST_F(SqliteCatalogFindTest, WildcardsTakeBracketsLiterally) {
  EXPECT_EQ(
      Column(Find(QueryLevel::kStudy, {{t::kAccessionNumber, "AC[1]"}}), t::kStudyInstanceUid),
      (Strings{"1.3"}));
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kAccessionNumber, "AC[*"}}), t::kStudyInstanceUid),
            (Strings{"1.3"}));
  EXPECT_EQ(
      Column(Find(QueryLevel::kStudy, {{t::kAccessionNumber, "AC?1]"}}), t::kStudyInstanceUid),
      (Strings{"1.3"}));
  // In GLOB, "AC[C]1" would match ACC1; as DICOM matching it is literal.
  EXPECT_TRUE(Find(QueryLevel::kStudy, {{t::kAccessionNumber, "AC[C]*"}}).empty());
  EXPECT_EQ(Column(Find(QueryLevel::kStudy, {{t::kAccessionNumber, "ACC*"}}), t::kStudyInstanceUid),
            (Strings{"1.1", "1.2"}));
}

TEST_F(SqliteCatalogFindTest, UidListsAndUniversalAndUnsupportedKeys) {
  EXPECT_EQ(
      Column(Find(QueryLevel::kStudy, {{t::kStudyInstanceUid, "1.3\\1.1"}}), t::kStudyInstanceUid),
      (Strings{"1.1", "1.3"}));
  // Universal keys and keys the catalog does not know do not filter.
  EXPECT_EQ(Find(QueryLevel::kStudy, {{t::kStudyDate, ""},
                                      {t::kPatientName, "*"},
                                      {t::kRetrieveAeTitle, "XYZ"},
                                      {t::kSeriesInstanceUid, "9.9"}})
                .size(),
            3u);
  Result<std::vector<QueryRow>> bad =
      FindIn(*catalog_, MakeQuery(QueryLevel::kStudy, {{t::kStudyInstanceUid, "1.1\\1.x"}}));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  bad = FindIn(*catalog_, MakeQuery(QueryLevel::kStudy, {{t::kStudyDate, "20240231-2024"}}));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteCatalogFindTest, SeriesLevel) {
  std::vector<QueryRow> rows = Find(QueryLevel::kSeries, {{t::kStudyInstanceUid, "1.1"}});
  EXPECT_EQ(Column(rows, t::kSeriesInstanceUid), (Strings{"1.1.1", "1.1.2"}));
  EXPECT_EQ(Column(rows, t::kModality), (Strings{"CT", "SR"}));
  EXPECT_EQ(Column(rows, t::kNumberOfSeriesRelatedInstances), (Strings{"3", "1"}));
  EXPECT_EQ(Column(rows, t::kAccessionNumber), (Strings{"ACC1", "ACC1"}));
  EXPECT_EQ(Column(rows, t::kPatientId), (Strings{"PID1", "PID1"}));
  EXPECT_EQ(rows[0].attributes.count(t::kSopInstanceUid), 0u);
  EXPECT_EQ(Column(Find(QueryLevel::kSeries, {{t::kStudyInstanceUid, "1.1"}, {t::kModality, "SR"}}),
                   t::kSeriesInstanceUid),
            (Strings{"1.1.2"}));
  EXPECT_EQ(Column(Find(QueryLevel::kSeries, {{t::kModality, "CT\\CR"}}), t::kSeriesInstanceUid),
            (Strings{"1.1.1", "1.3.1"}));
  EXPECT_EQ(Column(Find(QueryLevel::kSeries, {{t::kPatientId, "PID1"}, {t::kSeriesNumber, "2"}}),
                   t::kSeriesInstanceUid),
            (Strings{"1.1.2"}));
}

TEST_F(SqliteCatalogFindTest, InstanceLevel) {
  std::vector<QueryRow> rows = Find(QueryLevel::kInstance, {{t::kSeriesInstanceUid, "1.1.1"}});
  EXPECT_EQ(Column(rows, t::kSopInstanceUid), (Strings{"1.1.1.1", "1.1.1.2", "1.1.1.3"}));
  EXPECT_EQ(Column(rows, t::kInstanceNumber), (Strings{"1", "2", "3"}));
  EXPECT_EQ(Column(rows, t::kAvailableTransferSyntaxUid),
            (Strings(3, testing::kExplicitVrLittleEndian)));
  EXPECT_EQ(Column(rows, t::kSopClassUid), (Strings(3, testing::kCtImageStorage)));
  EXPECT_EQ(Column(rows, t::kRows), (Strings(3, "512")));
  EXPECT_EQ(Column(rows, t::kModalitiesInStudy), (Strings(3, "CT\\SR")));
  EXPECT_EQ(Column(rows, t::kStudyDate), (Strings(3, "20240110")));
  EXPECT_EQ(
      Column(Find(QueryLevel::kInstance, {{t::kSopInstanceUid, "1.2.1.2"}}), t::kSeriesInstanceUid),
      (Strings{"1.2.1"}));
  EXPECT_EQ(
      Column(Find(QueryLevel::kInstance, {{t::kContentTime, "101502-101503"}}), t::kSopInstanceUid),
      (Strings{"1.1.1.2", "1.1.1.3"}));
  EXPECT_EQ(Column(Find(QueryLevel::kInstance,
                        {{t::kStudyInstanceUid, "1.1"}, {t::kSopClassUid, testing::kBasicTextSr}}),
                   t::kSopInstanceUid),
            (Strings{"1.1.2.1"}));
}

TEST_F(SqliteCatalogFindTest, OffsetAndLimitPageUnderAFilter) {
  Query query = MakeQuery(QueryLevel::kInstance, {{t::kPatientId, "PID1"}});
  std::vector<std::string> all = Column(MustFind(*catalog_, query), t::kSopInstanceUid);
  ASSERT_EQ(all, (Strings{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.2.1", "1.2.1.1", "1.2.1.2"}));
  std::vector<std::string> paged;
  for (size_t offset = 0; offset < 8; offset += 4) {
    query.offset = offset;
    query.limit = 4;
    std::vector<std::string> page = Column(MustFind(*catalog_, query), t::kSopInstanceUid);
    EXPECT_LE(page.size(), 4u);
    paged.insert(paged.end(), page.begin(), page.end());
  }
  EXPECT_EQ(paged, all);
  query.offset = 1;
  query.limit = 2;
  EXPECT_EQ(Column(MustFind(*catalog_, query), t::kSopInstanceUid),
            (Strings{"1.1.1.2", "1.1.1.3"}));
  query.offset = 6;
  EXPECT_TRUE(MustFind(*catalog_, query).empty());
}

TEST_F(SqliteCatalogFindTest, LocateAndVersions) {
  std::vector<InstanceLocation> study = LocateIn(*catalog_, "1.1", "", "");
  ASSERT_EQ(study.size(), 4u);
  EXPECT_EQ(study[0].sop_instance_uid, "1.1.1.1");
  EXPECT_EQ(study[3].sop_instance_uid, "1.1.2.1");
  EXPECT_EQ(study[3].sop_class_uid, testing::kBasicTextSr);
  EXPECT_EQ(study[0].series_instance_uid, "1.1.1");
  EXPECT_EQ(study[0].transfer_syntax_uid, testing::kExplicitVrLittleEndian);
  EXPECT_EQ(study[0].blob_key, "dicom/1.1/1.1.1/1.1.1.1.dcm");
  EXPECT_EQ(study[0].sha256_hex, "sha-1.1.1.1");
  EXPECT_EQ(study[0].size_bytes, 1000u);
  EXPECT_EQ(LocateIn(*catalog_, "1.2", "1.2.1", "").size(), 2u);
  std::vector<InstanceLocation> one = LocateIn(*catalog_, "1.2", "1.2.1", "1.2.1.2");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].study_instance_uid, "1.2");
  EXPECT_TRUE(LocateIn(*catalog_, "1.2", "1.1.1", "").empty());  // series of another study
  EXPECT_TRUE(LocateIn(*catalog_, "9.9", "", "").empty());
  Status status = catalog_->Read([](ReadTxn& txn) { return txn.Locate("", "", "").status(); });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(VersionsIn(*catalog_, "9.9").empty());
  EXPECT_EQ(VersionsIn(*catalog_, "1.3.1.1").size(), 1u);
}

TEST_F(SqliteCatalogFindTest, LaterInstancesOnlyFillBlankUpperAttributes) {
  InstanceRecord r = MakeRecord("PID2", "1.3", "1.3.1", "1.3.1.2", "other");
  r.metadata.patient_name = "Changed^Name";
  r.metadata.patient_birth_date = "19800101";  // was empty
  r.metadata.study_description = "Changed";
  r.metadata.study_date = "20231231";
  ASSERT_EQ(*Put(*catalog_, r), PutOutcome::kStored);
  std::vector<QueryRow> rows = Find(QueryLevel::kStudy, {{t::kStudyInstanceUid, "1.3"}});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attributes.at(t::kPatientName), "Roe^Jane");
  EXPECT_EQ(rows[0].attributes.at(t::kPatientBirthDate), "19800101");
  EXPECT_EQ(rows[0].attributes.at(t::kStudyDescription), "X-ray");
  EXPECT_EQ(rows[0].attributes.at(t::kNumberOfStudyRelatedInstances), "2");
}

}  // namespace
}  // namespace strata::catalog
