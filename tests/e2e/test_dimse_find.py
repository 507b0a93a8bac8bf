"""C-FIND (Patient Root and Study Root) through dcmtk's findscu against `strata serve`.

A small, fully known data set is stored once; every query's responses are read back with
pydicom (findscu -X) and compared with the exact values that were sent.
"""

import shutil

import harness
from harness import E2ETestCase, StrataServer

PATIENT_A = {"PatientID": "FINDP1", "PatientName": "ALPHA^ANNA",
             "PatientBirthDate": "19700101", "PatientSex": "F"}
PATIENT_B = {"PatientID": "FINDP2", "PatientName": "BETA^BOB",
             "PatientBirthDate": "19800202", "PatientSex": "M"}


def values(ds, keyword):
    """A (possibly multi-valued) attribute as a set of strings."""
    if keyword not in ds:
        return None
    v = ds[keyword].value
    if v is None or v == "":
        return set()
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return {str(x) for x in v}
    return {x for x in str(v).split("\\")}


def single(ds, keyword):
    v = values(ds, keyword)
    if v is None:
        return None
    return next(iter(v)) if len(v) == 1 else ("" if not v else sorted(v))


class FindTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("e2e-find-")
        cls.a1 = harness.make_study(
            cls.work / "a1", series=2, instances=2, **PATIENT_A, StudyDate="20200105",
            StudyTime="101500", AccessionNumber="ACC1", StudyDescription="HEAD", StudyID="1",
            series_attrs=[{"template": "CT_small.dcm", "Modality": "CT", "SeriesNumber": 1},
                          {"template": "MR_small.dcm", "Modality": "MR", "SeriesNumber": 2}])
        cls.a2 = harness.make_study(
            cls.work / "a2", template="CT_small.dcm", series=1, instances=1, **PATIENT_A,
            StudyDate="20210610", StudyTime="080000", AccessionNumber="ACC2",
            StudyDescription="CHEST", StudyID="2", Modality="CT")
        cls.b1 = harness.make_study(
            cls.work / "b1", template="MR_small.dcm", series=1, instances=3, **PATIENT_B,
            StudyDate="20200220", StudyTime="143000", AccessionNumber="ACC3",
            StudyDescription="KNEE", StudyID="3", Modality="MR")
        cls.meta = {str(f): harness.read_meta(f) for f in cls.a1 + cls.a2 + cls.b1}
        cls.A1, cls.A2, cls.B1 = (str(harness.read_meta(s[0]).StudyInstanceUID)
                                  for s in (cls.a1, cls.a2, cls.b1))
        cls.server = StrataServer("find.default")
        cls.server.start()
        r = cls.server.store(cls.a1 + cls.a2 + cls.b1)
        if r.statuses != [harness.SUCCESS] * len(cls.meta):
            cls.server.close()
            shutil.rmtree(cls.work, ignore_errors=True)
            raise AssertionError(f"storing the query fixture failed:\n{r.describe()}")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def find(self, level, keys, model="study"):
        r = self.server.find(level, keys, model=model)
        self.assertEqual(r.final_status, harness.SUCCESS, r.tool.describe())
        return r.responses

    def study_uids(self, keys, model="study"):
        query = {"StudyInstanceUID": ""}
        query.update(keys)
        responses = self.find("STUDY", query, model=model)
        uids = [str(d.StudyInstanceUID) for d in responses]
        self.assertEqual(len(uids), len(set(uids)), f"a study returned twice: {uids}")
        return set(uids)

    def series_of(self, files):
        out = {}
        for f in files:
            m = self.meta[str(f)]
            out.setdefault(str(m.SeriesInstanceUID), []).append(m)
        return out

    # STUDY level, Study Root ---------------------------------------------------------------

    def test_single_value_match(self):
        self.assertEqual(self.study_uids({"PatientID": "FINDP1"}), {self.A1, self.A2})
        self.assertEqual(self.study_uids({"AccessionNumber": "ACC3"}), {self.B1})
        self.assertEqual(self.study_uids({"PatientID": "NOBODY"}), set())

    def test_wildcards(self):
        self.assertEqual(self.study_uids({"PatientName": "ALPHA*"}), {self.A1, self.A2})
        self.assertEqual(self.study_uids({"PatientName": "BET?^BOB"}), {self.B1})
        self.assertEqual(self.study_uids({"PatientName": "*"}), {self.A1, self.A2, self.B1})
        self.assertEqual(self.study_uids({"StudyDescription": "?NEE"}), {self.B1})
        self.assertEqual(self.study_uids({"PatientName": "B?TA"}), set())

    def test_date_range(self):
        self.assertEqual(self.study_uids({"StudyDate": "20200101-20200331"}), {self.A1, self.B1})
        self.assertEqual(self.study_uids({"StudyDate": "20210101-"}), {self.A2})
        self.assertEqual(self.study_uids({"StudyDate": "-20200110"}), {self.A1})
        self.assertEqual(self.study_uids({"StudyDate": "20200220"}), {self.B1})
        self.assertEqual(self.study_uids({"StudyDate": "19990101-19991231"}), set())

    def test_uid_list(self):
        self.assertEqual(self.study_uids({"StudyInstanceUID": f"{self.A1}\\{self.B1}"}),
                         {self.A1, self.B1})
        self.assertEqual(self.study_uids({"StudyInstanceUID": f"{self.A2}\\1.2.3.4"}),
                         {self.A2})

    def test_return_keys_filled(self):
        responses = self.find("STUDY", {
            "AccessionNumber": "ACC3", "StudyInstanceUID": "", "PatientName": "",
            "PatientID": "", "PatientBirthDate": "", "PatientSex": "", "StudyDate": "",
            "StudyTime": "", "StudyDescription": "", "StudyID": ""})
        self.assertEqual(len(responses), 1)
        d = responses[0]
        self.assertEqual(str(d.StudyInstanceUID), self.B1)
        self.assertEqual(str(d.PatientName), "BETA^BOB")
        self.assertEqual(str(d.PatientID), "FINDP2")
        self.assertEqual(str(d.PatientBirthDate), "19800202")
        self.assertEqual(str(d.PatientSex), "M")
        self.assertEqual(str(d.StudyDate), "20200220")
        self.assertEqual(str(d.StudyTime), "143000")
        self.assertEqual(str(d.StudyDescription), "KNEE")
        self.assertEqual(str(d.StudyID), "3")
        self.assertEqual(str(d.AccessionNumber), "ACC3")

    def test_computed_study_attributes(self):
        responses = self.find("STUDY", {
            "PatientID": "FINDP1", "StudyInstanceUID": "", "NumberOfStudyRelatedSeries": "",
            "NumberOfStudyRelatedInstances": "", "ModalitiesInStudy": ""})
        by_uid = {str(d.StudyInstanceUID): d for d in responses}
        self.assertEqual(set(by_uid), {self.A1, self.A2})
        a1, a2 = by_uid[self.A1], by_uid[self.A2]
        self.assertEqual(int(a1.NumberOfStudyRelatedSeries), 2)
        self.assertEqual(int(a1.NumberOfStudyRelatedInstances), 4)
        self.assertEqual(values(a1, "ModalitiesInStudy"), {"CT", "MR"})
        self.assertEqual(int(a2.NumberOfStudyRelatedSeries), 1)
        self.assertEqual(int(a2.NumberOfStudyRelatedInstances), 1)
        self.assertEqual(values(a2, "ModalitiesInStudy"), {"CT"})

    def test_modalities_in_study_matching(self):
        self.assertEqual(self.study_uids({"ModalitiesInStudy": "MR"}), {self.A1, self.B1})
        self.assertEqual(self.study_uids({"ModalitiesInStudy": "CT"}), {self.A1, self.A2})

    # SERIES and IMAGE levels, Study Root ---------------------------------------------------

    def test_series_level(self):
        responses = self.find("SERIES", {
            "StudyInstanceUID": self.A1, "SeriesInstanceUID": "", "Modality": "",
            "SeriesNumber": "", "NumberOfSeriesRelatedInstances": ""})
        expected = self.series_of(self.a1)
        self.assertEqual({str(d.SeriesInstanceUID) for d in responses}, set(expected))
        for d in responses:
            sent = expected[str(d.SeriesInstanceUID)]
            self.assertEqual(str(d.Modality), str(sent[0].Modality))
            self.assertEqual(int(d.SeriesNumber), int(sent[0].SeriesNumber))
            self.assertEqual(int(d.NumberOfSeriesRelatedInstances), len(sent))
        mr = self.find("SERIES", {"StudyInstanceUID": self.A1, "SeriesInstanceUID": "",
                                  "Modality": "MR"})
        self.assertEqual([str(d.SeriesInstanceUID) for d in mr],
                         [s for s, m in expected.items() if str(m[0].Modality) == "MR"])

    def test_image_level(self):
        expected = self.series_of(self.a1)
        series_uid = next(iter(expected))
        responses = self.find("IMAGE", {
            "StudyInstanceUID": self.A1, "SeriesInstanceUID": series_uid, "SOPInstanceUID": "",
            "SOPClassUID": "", "InstanceNumber": ""})
        got = {str(d.SOPInstanceUID): d for d in responses}
        sent = {str(m.SOPInstanceUID): m for m in expected[series_uid]}
        self.assertEqual(set(got), set(sent))
        for uid, d in got.items():
            self.assertEqual(str(d.SOPClassUID), str(sent[uid].SOPClassUID))
            self.assertEqual(int(d.InstanceNumber), int(sent[uid].InstanceNumber))
        one = next(iter(sent))
        single_hit = self.find("IMAGE", {"StudyInstanceUID": self.A1,
                                         "SeriesInstanceUID": series_uid, "SOPInstanceUID": one})
        self.assertEqual([str(d.SOPInstanceUID) for d in single_hit], [one])

    # Patient Root --------------------------------------------------------------------------

    def test_patient_root_patient_level(self):
        responses = self.find("PATIENT", {
            "PatientID": "FINDP*", "PatientName": "", "PatientBirthDate": "", "PatientSex": "",
            "NumberOfPatientRelatedStudies": ""}, model="patient")
        by_id = {str(d.PatientID): d for d in responses}
        self.assertEqual(set(by_id), {"FINDP1", "FINDP2"})
        for want, studies in ((PATIENT_A, 2), (PATIENT_B, 1)):
            d = by_id[want["PatientID"]]
            self.assertEqual(str(d.PatientName), want["PatientName"])
            self.assertEqual(str(d.PatientBirthDate), want["PatientBirthDate"])
            self.assertEqual(str(d.PatientSex), want["PatientSex"])
            self.assertEqual(int(d.NumberOfPatientRelatedStudies), studies)
        named = self.find("PATIENT", {"PatientID": "", "PatientName": "BETA^BOB"},
                          model="patient")
        self.assertEqual([str(d.PatientID) for d in named], ["FINDP2"])

    def test_patient_root_lower_levels(self):
        self.assertEqual(self.study_uids({"PatientID": "FINDP1"}, model="patient"),
                         {self.A1, self.A2})
        self.assertEqual(self.study_uids({"PatientID": "FINDP1", "StudyDate": "20210101-"}, model="patient"),
                         {self.A2})
        series = self.find("SERIES", {"PatientID": "FINDP1", "StudyInstanceUID": self.A1,
                                      "SeriesInstanceUID": "", "Modality": ""}, model="patient")
        self.assertEqual({str(d.SeriesInstanceUID) for d in series}, set(self.series_of(self.a1)))
        b_series = next(iter(self.series_of(self.b1)))
        images = self.find("IMAGE", {"PatientID": "FINDP2", "StudyInstanceUID": self.B1,
                                     "SeriesInstanceUID": b_series, "SOPInstanceUID": ""},
                           model="patient")
        self.assertEqual({str(d.SOPInstanceUID) for d in images},
                         {str(self.meta[str(f)].SOPInstanceUID) for f in self.b1})


if __name__ == "__main__":
    harness.main()
