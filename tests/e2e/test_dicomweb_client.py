"""DICOMweb end to end with the npm dicomweb-client (node, xhr2 polyfill): QIDO, WADO
instance/series/study, metadata, frames, bulk data, rendered, thumbnail and STOW-RS against
the real `strata serve`, checked against the stored files. A study stored over DIMSE
(storescu) is read over DICOMweb, and a study stored over DICOMweb (the client's STOW-RS) is
read back over DIMSE (findscu, getscu).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom

import harness
from harness import E2ETestCase, StrataServer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "dicomweb_client_check.mjs"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DicomWebClientTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("strata-dwc-")
        cls.dimse_files = harness.synth(cls.work / "dimse", preset="mr", patients=1, seed=41,
                                        extra=["--studies-per-patient", "1",
                                               "--series-per-study", "1",
                                               "--instances-per-series", "3"])
        cls.stow_files = harness.synth(cls.work / "stow", preset="tiny", patients=1, seed=43,
                                       extra=["--studies-per-patient", "1",
                                              "--series-per-study", "1",
                                              "--instances-per-series", "2"])
        first = pydicom.dcmread(str(cls.dimse_files[0]))
        cls.first = first
        cls.server = StrataServer("dicomweb_client").start()
        cls.store = cls.server.store(cls.dimse_files)
        request = {"url": f"http://{harness.HOST}:{cls.server.http_port}/dicomweb",
                   "token": harness.TEST_TOKENS["admin"],
                   "study": first.StudyInstanceUID, "series": first.SeriesInstanceUID,
                   "instance": first.SOPInstanceUID,
                   "stow": [str(p) for p in cls.stow_files]}
        request_path = cls.server.artefacts / "client_request.json"
        request_path.write_text(json.dumps(request))
        cls.client_run = harness.run_tool(["node", str(SCRIPT), str(request_path)], timeout=120,
                                   cwd=REPO)
        (cls.server.artefacts / "client_output.txt").write_text(cls.client_run.output)
        try:
            cls.report = json.loads(cls.client_run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            cls.report = {}

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def step(self, name: str) -> dict:
        self.assertTrue(self.report, f"the node client printed no report:\n{self.client_run.describe()}")
        result = self.report.get(name)
        self.assertIsNotNone(result, name)
        self.assertTrue(result["ok"], f"{name}: {result.get('error')}")
        return result

    def test_dimse_store_worked(self):
        self.assertToolOk(self.store)
        self.assertEqual(self.store.statuses, [harness.SUCCESS] * len(self.dimse_files))

    def test_qido(self):
        self.assertIn(self.first.StudyInstanceUID, self.step("searchForStudies")["studies"])
        self.assertEqual(self.step("searchForSeries")["series"], [self.first.SeriesInstanceUID])
        self.assertEqual(sorted(self.step("searchForInstances")["instances"]),
                         sorted(harness.sop_instance_uid(p) for p in self.dimse_files))

    def test_metadata(self):
        meta = self.step("retrieveInstanceMetadata")
        self.assertEqual(meta["sop"], self.first.SOPInstanceUID)
        self.assertEqual((meta["rows"], meta["columns"]), (self.first.Rows, self.first.Columns))
        self.assertIn("/bulkdata/7FE00010", meta["pixelBulkDataUri"])
        self.assertEqual(self.step("retrieveSeriesMetadata")["count"], len(self.dimse_files))
        self.assertEqual(self.step("retrieveStudyMetadata")["count"], len(self.dimse_files))

    def test_wado_instance_series_study_read_what_dimse_stored(self):
        stored = {sha256(p.read_bytes()) for p in self.server.dicom_object_files()}
        instance = self.step("retrieveInstance")
        self.assertEqual(instance["dicm"], "DICM")
        self.assertIn(instance["sha256"], stored)
        # The object read over DICOMweb is the data set sent over DIMSE.
        objects = {harness.sop_instance_uid(p): p for p in self.server.dicom_object_files()}
        self.assertSameDataset(self.dimse_files[0], objects[self.first.SOPInstanceUID])
        series = self.step("retrieveSeries")
        self.assertEqual(series["count"], len(self.dimse_files))
        self.assertLessEqual(set(series["sha256"]), stored)
        self.assertEqual(self.step("retrieveStudy")["count"], len(self.dimse_files))

    def test_frames_and_bulkdata_are_the_pixels(self):
        pixels = np.ascontiguousarray(self.first.pixel_array,
                                      dtype=self.first.pixel_array.dtype.newbyteorder("<"))
        expected = sha256(pixels.tobytes())
        frames = self.step("retrieveInstanceFrames")
        self.assertEqual((frames["count"], frames["sha256"]), (1, expected))
        bulk = self.step("retrieveBulkData")
        self.assertEqual((bulk["count"], bulk["sha256"]), (1, expected))

    def test_rendered_and_thumbnail(self):
        self.assertEqual(self.step("retrieveInstanceRendered")["magic"], "ffd8")
        self.assertEqual(self.step("retrieveInstanceFramesRendered")["magic"], "PNG")
        self.assertEqual(self.step("retrieveInstanceThumbnail")["magic"], "ffd8")

    def test_stow_then_read_over_dimse(self):
        stow = self.step("storeInstances")
        uids = sorted(harness.sop_instance_uid(p) for p in self.stow_files)
        self.assertEqual(sorted(stow["stored"]), uids)
        self.assertIsNone(stow["failed"])
        study = pydicom.dcmread(str(self.stow_files[0]), stop_before_pixels=True).StudyInstanceUID
        find = self.server.find("IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": "",
                                          "SOPInstanceUID": ""})
        self.assertEqual(find.final_status, harness.SUCCESS, find.tool.describe())
        self.assertEqual(sorted(ds.SOPInstanceUID for ds in find.responses), uids)
        out = self.server.artefacts / "getscu"
        out.mkdir(exist_ok=True)
        got = self.server.get("STUDY", {"StudyInstanceUID": study}, out)
        self.assertEqual(got.final_status, harness.SUCCESS, got.tool.describe())
        received = {harness.sop_instance_uid(p): p for p in out.iterdir() if p.is_file()}
        self.assertEqual(sorted(received), uids)
        for path in self.stow_files:
            self.assertSameDatasetBytes(path, received[harness.sop_instance_uid(path)])


if __name__ == "__main__":
    harness.main()
