"""DICOMweb end to end: STOW-RS, QIDO-RS and WADO-RS against the real `strata serve`.

Synthetic studies are stored over STOW-RS (and one over DIMSE); QIDO answers are compared with
findscu's C-FIND answers from the same server at every level, WADO-RS returns the stored bytes,
and objects cross between the DIMSE and DICOMweb doors in both directions.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pydicom

import harness
from harness import E2ETestCase, StrataServer

EXPLICIT_LE = "1.2.840.10008.1.2.1"
DICOM_JSON = "application/dicom+json"


def qido_values(obj: dict, tag: str) -> list[str]:
    """A QIDO attribute as a list of strings (PN as its alphabetic group)."""
    values = obj.get(tag, {}).get("Value", [])
    out = []
    for v in values:
        if isinstance(v, dict):
            out.append(v.get("Alphabetic", ""))
        elif v is None:
            out.append("")
        else:
            out.append(str(v))
    return out


def dimse_values(ds, keyword: str) -> list[str]:
    if keyword not in ds or ds[keyword].value in (None, ""):
        return []
    value = ds[keyword].value
    if isinstance(value, pydicom.multival.MultiValue):
        return [str(v) for v in value]
    return [str(value)]


class DicomWebRoundTripTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = harness.temp_dir("strata-web-data-")
        cls.files = harness.synth(cls.data / "tiny", preset="tiny", patients=1, seed=7)
        cls.by_uid = {harness.sop_instance_uid(f): f for f in cls.files}
        cls.server = StrataServer("dicomweb_roundtrip.default").start()
        cls.port = cls.server.http_port
        body, ctype = harness.multipart_related([Path(f).read_bytes() for f in cls.files])
        cls.stow = harness.http_request(cls.port, "POST", "/dicomweb/studies", body,
                                        {"Content-Type": ctype, "Accept": DICOM_JSON})
        cls.studies = sorted({pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID
                              for f in cls.files})

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def get(self, path: str, **headers) -> harness.HttpResult:
        return harness.http_request(self.port, "GET", path, headers=headers)

    def qido(self, path: str, params: dict | list | None = None) -> list:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        r = self.get(path + ("?" + query if query else ""), Accept=DICOM_JSON)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["content-type"].startswith(DICOM_JSON))
        return r.json()

    def test_stow_stored_every_instance(self):
        self.assertEqual(self.stow.status, 200, self.stow.body)
        self.assertTrue(self.stow.headers["content-type"].startswith(DICOM_JSON))
        refs = self.stow.json()["00081199"]["Value"]
        self.assertEqual(sorted(qido_values(r, "00081155")[0] for r in refs), sorted(self.by_uid))
        self.assertNotIn("00081198", self.stow.json())
        stored = self.qido("/dicomweb/instances", {"SOPInstanceUID": ",".join(self.by_uid)})
        self.assertEqual(sorted(qido_values(o, "00080018")[0] for o in stored),
                         sorted(self.by_uid))
        events = self.server.log_events("http_request")
        self.assertTrue(any(e.get("route") == "/dicomweb/studies" and e.get("status") == 200
                            and e.get("method") == "POST" for e in events), events[-5:])

    def test_qido_studies_agree_with_cfind(self):
        keys = {"PatientID": "", "PatientName": "", "StudyInstanceUID": "", "StudyDate": "",
                "AccessionNumber": "", "ModalitiesInStudy": "", "NumberOfStudyRelatedSeries": "",
                "NumberOfStudyRelatedInstances": ""}
        find = self.server.find("STUDY", keys)
        self.assertEqual(find.final_status, harness.SUCCESS, find.tool.describe())
        qido = self.qido("/dicomweb/studies")
        self.assertEqual(len(qido), len(find.responses))
        self.assertLessEqual(set(self.studies), {qido_values(o, "0020000D")[0] for o in qido})
        by_uid = {qido_values(o, "0020000D")[0]: o for o in qido}
        tags = {"PatientID": "00100020", "PatientName": "00100010", "StudyDate": "00080020",
                "AccessionNumber": "00080050", "ModalitiesInStudy": "00080061",
                "NumberOfStudyRelatedSeries": "00201206",
                "NumberOfStudyRelatedInstances": "00201208"}
        for ds in find.responses:
            obj = by_uid[ds.StudyInstanceUID]
            for keyword, tag in tags.items():
                self.assertEqual(qido_values(obj, tag), dimse_values(ds, keyword), keyword)

    def test_qido_matching_agrees_with_cfind(self):
        first = pydicom.dcmread(self.files[0], stop_before_pixels=True)
        cases = [
            ({"PatientID": first.PatientID}, {"PatientID": first.PatientID}),
            ({"00100020": first.PatientID[:3] + "*"}, {"PatientID": first.PatientID[:3] + "*"}),
            ({"StudyDate": "19000101-" + first.StudyDate},
             {"StudyDate": "19000101-" + first.StudyDate}),
            ({"StudyInstanceUID": ",".join(self.studies[:2])},
             {"StudyInstanceUID": "\\".join(self.studies[:2])}),
            ({"AccessionNumber": "NO-SUCH"}, {"AccessionNumber": "NO-SUCH"}),
        ]
        for params, keys in cases:
            qido = self.qido("/dicomweb/studies", params)
            find = self.server.find("STUDY", {"StudyInstanceUID": "", **keys})
            self.assertEqual(find.final_status, harness.SUCCESS, find.tool.describe())
            self.assertEqual(sorted(qido_values(o, "0020000D")[0] for o in qido),
                             sorted(ds.StudyInstanceUID for ds in find.responses), params)
        self.assertEqual(self.qido("/dicomweb/studies", {"AccessionNumber": "NO-SUCH"}), [])

    def test_qido_series_and_instances_agree_with_cfind(self):
        study = self.studies[0]
        series = self.qido(f"/dicomweb/studies/{study}/series")
        find = self.server.find("SERIES", {"StudyInstanceUID": study, "SeriesInstanceUID": "",
                                           "Modality": "", "SeriesNumber": "",
                                           "NumberOfSeriesRelatedInstances": ""})
        self.assertEqual(sorted(qido_values(o, "0020000E")[0] for o in series),
                         sorted(ds.SeriesInstanceUID for ds in find.responses))
        by_uid = {qido_values(o, "0020000E")[0]: o for o in series}
        for ds in find.responses:
            obj = by_uid[ds.SeriesInstanceUID]
            self.assertEqual(qido_values(obj, "00080060"), dimse_values(ds, "Modality"))
            self.assertEqual(qido_values(obj, "00200011"), dimse_values(ds, "SeriesNumber"))
            self.assertEqual(qido_values(obj, "00201209"),
                             dimse_values(ds, "NumberOfSeriesRelatedInstances"))
        one = qido_values(series[0], "0020000E")[0]
        instances = self.qido(f"/dicomweb/studies/{study}/series/{one}/instances")
        ifind = self.server.find("IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": one,
                                           "SOPInstanceUID": "", "InstanceNumber": "",
                                           "SOPClassUID": ""})
        self.assertEqual(sorted((qido_values(o, "00080018")[0], qido_values(o, "00200013")[0],
                                 qido_values(o, "00080016")[0]) for o in instances),
                         sorted((ds.SOPInstanceUID, str(ds.InstanceNumber), ds.SOPClassUID)
                                for ds in ifind.responses))
        # Unscoped /series and /instances, filtered by a study.
        self.assertEqual(len(self.qido("/dicomweb/series", {"StudyInstanceUID": study})),
                         len(series))
        all_instances = self.qido("/dicomweb/instances", {"StudyInstanceUID": study})
        self.assertEqual(len(all_instances), sum(
            1 for f in self.files
            if pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID == study))

    def test_qido_paging_and_includefield(self):
        everything = self.qido("/dicomweb/instances")
        self.assertGreaterEqual(len(everything), len(self.files))
        pages = []
        for offset in range(0, len(everything), 4):
            pages += self.qido("/dicomweb/instances", {"limit": 4, "offset": offset})
        self.assertEqual([qido_values(o, "00080018") for o in pages],
                         [qido_values(o, "00080018") for o in everything])
        plain = self.qido("/dicomweb/studies", {"limit": 1})[0]
        self.assertNotIn("00081030", plain)
        with_desc = self.qido("/dicomweb/studies",
                              [("limit", 1), ("includefield", "00081030,StudyDescription")])[0]
        self.assertIn("00081030", with_desc)
        every = self.qido("/dicomweb/studies", {"limit": 1, "includefield": "all",
                                                "fuzzymatching": "false"})[0]
        self.assertIn("00081030", every)
        self.assertEqual(every["00100010"]["vr"], "PN")

    def test_wado_returns_the_bytes_sent(self):
        study = self.studies[0]
        r = self.get(f"/dicomweb/studies/{study}",
                     Accept='multipart/related; type="application/dicom"; transfer-syntax=*')
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertTrue(r.headers["content-type"].startswith("multipart/related"))
        parts = harness.parse_multipart(r.body, r.headers["content-type"])
        expected = [f for f in self.files
                    if pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID == study]
        self.assertEqual(len(parts), len(expected))
        for headers, payload in parts:
            self.assertTrue(headers["content-type"].startswith("application/dicom"))
            uid = pydicom.dcmread(pydicom.filebase.DicomBytesIO(payload)).SOPInstanceUID
            self.assertEqual(payload, Path(self.by_uid[uid]).read_bytes(), uid)

        one = pydicom.dcmread(expected[0], stop_before_pixels=True)
        path = (f"/dicomweb/studies/{study}/series/{one.SeriesInstanceUID}"
                f"/instances/{one.SOPInstanceUID}")
        r = self.get(path)
        parts = harness.parse_multipart(r.body, r.headers["content-type"])
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0][1], Path(expected[0]).read_bytes())
        series = self.get(f"/dicomweb/studies/{study}/series/{one.SeriesInstanceUID}")
        self.assertEqual(series.status, 200)
        self.assertEqual(len(harness.parse_multipart(series.body, series.headers["content-type"])),
                         sum(1 for f in expected if pydicom.dcmread(
                             f, stop_before_pixels=True).SeriesInstanceUID == one.SeriesInstanceUID))

    def test_wado_unknown_uids_are_404(self):
        r = self.get("/dicomweb/studies/1.2.3.999")
        self.assertEqual(r.status, 404)
        self.assertIn("1.2.3.999", r.json()["reason"])
        study = self.studies[0]
        self.assertEqual(self.get(f"/dicomweb/studies/{study}/series/1.2.3.4").status, 404)
        # A real instance under the wrong study is not found either.
        other = pydicom.dcmread(self.files[-1], stop_before_pixels=True)
        wrong = self.studies[0] if other.StudyInstanceUID != self.studies[0] else self.studies[1]
        self.assertEqual(self.get(f"/dicomweb/studies/{wrong}/series/{other.SeriesInstanceUID}"
                                  f"/instances/{other.SOPInstanceUID}").status, 404)

    def test_wado_explicit_le_transcodes_or_406(self):
        src = harness.derive_instance("JPEG2000.dcm", self.data / "j2k.dcm",
                                     StudyInstanceUID=harness.new_uid(),
                                     SeriesInstanceUID=harness.new_uid())
        body, ctype = harness.multipart_related([src.read_bytes()])
        stored = harness.http_request(self.port, "POST", "/dicomweb/studies", body,
                                      {"Content-Type": ctype})
        self.assertEqual(stored.status, 200, stored.body)
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        path = (f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}")
        r = self.get(path, Accept=f'multipart/related; type="application/dicom"; '
                                  f'transfer-syntax={EXPLICIT_LE}')
        self.assertEqual(r.status, 200, r.body[:300])
        headers, payload = harness.parse_multipart(r.body, r.headers["content-type"])[0]
        self.assertIn(EXPLICIT_LE, headers["content-type"])
        out = pydicom.dcmread(pydicom.filebase.DicomBytesIO(payload))
        self.assertEqual(out.file_meta.TransferSyntaxUID, EXPLICIT_LE)
        self.assertEqual(out.SOPInstanceUID, ds.SOPInstanceUID)
        r = self.get(path, Accept='multipart/related; type="application/dicom"; '
                                  'transfer-syntax=1.2.840.10008.1.2.4.50')
        self.assertEqual(r.status, 406)
        self.assertIn("reason", r.json())
        r = self.get(path, Accept="application/octet-stream")
        self.assertEqual(r.status, 406)

    def test_dimse_stored_instance_is_read_over_dicomweb(self):
        src = harness.derive_instance("CT_small.dcm", self.data / "dimse.dcm",
                                     StudyInstanceUID=harness.new_uid(),
                                     SeriesInstanceUID=harness.new_uid())
        self.assertToolOk(self.server.store([src]))
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        found = self.qido("/dicomweb/instances", {"SOPInstanceUID": ds.SOPInstanceUID})
        self.assertEqual(len(found), 1)
        self.assertEqual(qido_values(found[0], "0020000D"), [ds.StudyInstanceUID])
        r = self.get(f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                     f"/instances/{ds.SOPInstanceUID}")
        self.assertEqual(r.status, 200)
        payload = harness.parse_multipart(r.body, r.headers["content-type"])[0][1]
        got = self.data / "dimse_back.dcm"
        got.write_bytes(payload)
        self.assertSameDataset(src, got)

    def test_stow_stored_instance_is_found_by_cfind_and_scoped_stow(self):
        src = harness.derive_instance("CT_small.dcm", self.data / "stow.dcm",
                                     StudyInstanceUID=harness.new_uid(),
                                     SeriesInstanceUID=harness.new_uid())
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        body, ctype = harness.multipart_related([src.read_bytes()])
        r = harness.http_request(self.port, "POST", f"/dicomweb/studies/{ds.StudyInstanceUID}",
                                 body, {"Content-Type": ctype})
        self.assertEqual(r.status, 200, r.body)
        find = self.server.find("IMAGE", {"StudyInstanceUID": ds.StudyInstanceUID,
                                          "SeriesInstanceUID": ds.SeriesInstanceUID,
                                          "SOPInstanceUID": ""})
        self.assertEqual([x.SOPInstanceUID for x in find.responses], [ds.SOPInstanceUID])

    def test_metadata_is_dicom_json_with_bulk_data_uris(self):
        study = self.studies[0]
        expected = [pydicom.dcmread(f, stop_before_pixels=True) for f in self.files]
        expected = [ds for ds in expected if ds.StudyInstanceUID == study]
        r = self.get(f"/dicomweb/studies/{study}/metadata", Accept=DICOM_JSON)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertTrue(r.headers["content-type"].startswith(DICOM_JSON))
        objects = r.json()
        self.assertEqual(sorted(qido_values(o, "00080018")[0] for o in objects),
                         sorted(ds.SOPInstanceUID for ds in expected))
        one = expected[0]
        path = (f"/dicomweb/studies/{study}/series/{one.SeriesInstanceUID}"
                f"/instances/{one.SOPInstanceUID}")
        [obj] = self.get(path + "/metadata").json()
        self.assertEqual(qido_values(obj, "00100020"), [one.PatientID])
        self.assertEqual(qido_values(obj, "00100010"), [str(one.PatientName)])
        self.assertEqual(obj["00280010"]["Value"], [one.Rows])
        self.assertNotIn("00020010", obj)  # file meta information is not part of it
        pixel = obj["7FE00010"]
        self.assertNotIn("InlineBinary", pixel)
        self.assertEqual(pixel["BulkDataURI"], path + "/bulkdata/7FE00010")
        series = self.get(f"/dicomweb/studies/{study}/series/{one.SeriesInstanceUID}/metadata")
        self.assertEqual(len(series.json()), sum(
            1 for ds in expected if ds.SeriesInstanceUID == one.SeriesInstanceUID))
        self.assertEqual(self.get("/dicomweb/studies/1.2.3.999/metadata").status, 404)
        self.assertEqual(self.get("/dicomweb/studies/1.x/metadata").status, 400)

    def test_partly_failed_stow_is_202(self):
        good = harness.derive_instance("CT_small.dcm", self.data / "good.dcm",
                                     StudyInstanceUID=harness.new_uid(),
                                     SeriesInstanceUID=harness.new_uid())
        body, ctype = harness.multipart_related([good.read_bytes(), b"not DICOM" * 20])
        r = harness.http_request(self.port, "POST", "/dicomweb/studies", body,
                                 {"Content-Type": ctype})
        self.assertEqual(r.status, 202, r.body)
        result = r.json()
        self.assertEqual([qido_values(x, "00081155")[0] for x in result["00081199"]["Value"]],
                         [harness.sop_instance_uid(good)])
        self.assertEqual(result["00081198"]["Value"][0]["00081197"]["Value"], [0xC000])
        self.assertEqual(self.server.staging_files(), [])


if __name__ == "__main__":
    harness.main()
