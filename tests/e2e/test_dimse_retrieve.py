"""C-MOVE (movescu into a storescp) and C-GET (getscu) against `strata serve`.

Retrieved objects must carry exactly the data set that was sent; compressed objects sent to
a receiver that accepts only uncompressed syntaxes must arrive decompressed with the same
pixels.
"""

import shutil

import numpy

import harness
from harness import E2ETestCase, StoreScp, StrataServer

NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
# storescu's option proposing each (with the uncompressed syntaxes).
PROPOSE = {JPEG_LOSSLESS_SV1: "-xs", J2K_LOSSLESS: "-xv", RLE_LOSSLESS: "-xr"}


def by_sop(files):
    return {harness.sop_instance_uid(f): f for f in files}


def pixels(path):
    import pydicom
    return pydicom.dcmread(str(path)).pixel_array


class RetrieveTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("e2e-retrieve-")
        cls.dest = StoreScp("retrieve.dest_uncompressed", ae_title="E2EDEST").start()
        cls.dest_all = StoreScp("retrieve.dest_all", ae_title="E2EALL", accept="all").start()
        cls.server = StrataServer("retrieve.default", config={
            "dimse": {"peers": [cls.dest.peer(), cls.dest_all.peer()]}})
        try:
            cls.server.start()
        except BaseException:
            cls.dest.stop()
            cls.dest_all.stop()
            raise
        # Two studies of one patient (one synthetic), one of another patient.
        cls.study1 = harness.make_study(cls.work / "s1", series=2, instances=2,
                                        PatientID="RETP1", PatientName="RET^ONE")
        cls.study2 = harness.make_study(cls.work / "s2", template="MR_small.dcm", series=1,
                                        instances=1, PatientID="RETP1", PatientName="RET^ONE")
        cls.synthetic = harness.synth(cls.work / "synth", preset="ct", patients=1, seed=11,
                                      extra=["--studies-per-patient", "1",
                                             "--series-per-study", "2",
                                             "--instances-per-series", "2"])
        cls.sent = by_sop(cls.study1 + cls.study2 + cls.synthetic)
        # Retrieved objects are compared with what crossed the wire when they were stored.
        cls.wire = harness.capture_wire("retrieve.capture", list(cls.sent.values()))
        r = cls.server.store(list(cls.sent.values()))
        if r.statuses != [harness.SUCCESS] * len(cls.sent):
            cls.tearDownClass()
            raise AssertionError(f"storing the retrieve fixture failed:\n{r.describe()}")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.dest.stop()
        cls.dest_all.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        self.dest.clear()
        self.dest_all.clear()

    def uid(self, f, keyword):
        return str(getattr(harness.read_meta(f), keyword))

    def assertReceivedExactly(self, received, expected_files):
        got = by_sop(received)
        want = {harness.sop_instance_uid(f) for f in expected_files}
        self.assertEqual(set(got), want)
        self.assertEqual(len(received), len(want), "an instance was received twice")
        for sop in want:
            self.assertSameDatasetBytes(got[sop], self.wire[sop])

    def move(self, level, keys, dest="E2EDEST", model="study"):
        return self.server.move(level, keys, dest, model=model)

    def assertMoveOk(self, r, count):
        self.assertEqual(r.final_status, harness.SUCCESS, r.tool.describe())
        counts = r.counts()
        self.assertEqual(counts.get("Completed"), count, r.tool.describe())
        self.assertEqual(counts.get("Failed", 0), 0, r.tool.describe())

    # C-MOVE --------------------------------------------------------------------------------

    def test_move_study(self):
        r = self.move("STUDY", {"StudyInstanceUID": self.uid(self.study1[0], "StudyInstanceUID")})
        self.assertMoveOk(r, len(self.study1))
        self.assertReceivedExactly(self.dest.files(), self.study1)

    def test_move_synthetic_study(self):
        study = self.uid(self.synthetic[0], "StudyInstanceUID")
        expected = [f for f in self.synthetic if self.uid(f, "StudyInstanceUID") == study]
        r = self.move("STUDY", {"StudyInstanceUID": study})
        self.assertMoveOk(r, len(expected))
        self.assertReceivedExactly(self.dest.files(), expected)

    def test_move_series(self):
        f = self.study1[-1]
        series = self.uid(f, "SeriesInstanceUID")
        expected = [x for x in self.study1 if self.uid(x, "SeriesInstanceUID") == series]
        self.assertEqual(len(expected), 2)
        r = self.move("SERIES", {"StudyInstanceUID": self.uid(f, "StudyInstanceUID"),
                                 "SeriesInstanceUID": series})
        self.assertMoveOk(r, 2)
        self.assertReceivedExactly(self.dest.files(), expected)

    def test_move_instance(self):
        f = self.study1[1]
        r = self.move("IMAGE", {"StudyInstanceUID": self.uid(f, "StudyInstanceUID"),
                                "SeriesInstanceUID": self.uid(f, "SeriesInstanceUID"),
                                "SOPInstanceUID": self.uid(f, "SOPInstanceUID")})
        self.assertMoveOk(r, 1)
        self.assertReceivedExactly(self.dest.files(), [f])

    def test_move_patient_root_patient_level(self):
        r = self.move("PATIENT", {"PatientID": "RETP1"}, model="patient")
        self.assertMoveOk(r, len(self.study1) + len(self.study2))
        self.assertReceivedExactly(self.dest.files(), self.study1 + self.study2)

    def test_move_unknown_destination(self):
        r = self.move("STUDY", {"StudyInstanceUID": self.uid(self.study1[0], "StudyInstanceUID")},
                      dest="NOWHERE")
        self.assertEqual(r.final_status, harness.MOVE_DESTINATION_UNKNOWN, r.tool.describe())
        self.assertEqual(self.dest.files(), [])
        self.assertToolOk(self.server.echo())

    def test_move_no_match(self):
        r = self.move("STUDY", {"StudyInstanceUID": "1.2.3.4.5.6.7.8.9"})
        self.assertEqual(r.final_status, harness.SUCCESS, r.tool.describe())
        self.assertEqual(r.counts().get("Completed", 0), 0)
        self.assertEqual(self.dest.files(), [])

    # C-GET ---------------------------------------------------------------------------------

    def test_get_study_and_instance(self):
        out = harness.out_dir(self.artefact_name("get-study"))
        study = self.uid(self.study1[0], "StudyInstanceUID")
        r = self.server.get("STUDY", {"StudyInstanceUID": study}, out)
        self.assertMoveOk(r, len(self.study1))
        self.assertReceivedExactly(sorted(out.iterdir()), self.study1)

        out = harness.out_dir(self.artefact_name("get-instance"))
        f = self.study2[0]
        r = self.server.get("IMAGE", {"StudyInstanceUID": self.uid(f, "StudyInstanceUID"),
                                      "SeriesInstanceUID": self.uid(f, "SeriesInstanceUID"),
                                      "SOPInstanceUID": self.uid(f, "SOPInstanceUID")}, out)
        self.assertMoveOk(r, 1)
        self.assertReceivedExactly(sorted(out.iterdir()), [f])

    # Transcoding ---------------------------------------------------------------------------

    def compressed_fixtures(self):
        """(stored file, transfer syntax, reference uncompressed file) triples."""
        fixtures = []
        jpeg_src = self.work / "jpeg-src.dcm"
        harness.derive_instance("CT_small.dcm", jpeg_src, StudyInstanceUID=harness.new_uid(),
                                SeriesInstanceUID=harness.new_uid())
        jpeg = self.work / "jpeg-ll.dcm"
        r = harness.run_tool(["dcmcjpeg", "+e1", jpeg_src, jpeg])
        self.assertToolOk(r)
        fixtures.append((jpeg, JPEG_LOSSLESS_SV1, jpeg_src))
        for name in ("MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"):
            f = harness.derive_instance(name, self.work / f"tc-{name}",
                                        StudyInstanceUID=harness.new_uid(),
                                        SeriesInstanceUID=harness.new_uid())
            fixtures.append((f, harness.transfer_syntax(f),
                             harness.PYDICOM_TEST_FILES / "MR_small.dcm"))
        self.assertEqual([ts for _, ts, _ in fixtures],
                         [JPEG_LOSSLESS_SV1, J2K_LOSSLESS, RLE_LOSSLESS])
        return fixtures

    def assertDecompressedCopy(self, received, stored, reference):
        ts = harness.transfer_syntax(received)
        self.assertIn(ts, NATIVE_SYNTAXES, f"{received} arrived in {ts}")
        numpy.testing.assert_array_equal(pixels(received), pixels(reference))
        # Everything but the pixel encoding is unchanged.
        self.assertSameDataset(received, stored,
                               ignore=["PixelData", "PhotometricInterpretation",
                                       "LossyImageCompression"])

    def test_transcode_to_uncompressed_receivers(self):
        for stored, ts, reference in self.compressed_fixtures():
            with self.subTest(transfer_syntax=ts):
                self.dest.clear()
                self.dest_all.clear()
                # storescu proposes a compressed syntax only when told which one.
                store_options = ["-R", PROPOSE[ts]]
                [wire] = harness.capture_wire(self.artefact_name(f"capture-{ts}"), [stored],
                                              store_options).values()
                self.assertEqual(harness.transfer_syntax(wire), ts)
                r = self.server.store([stored], extra=store_options)
                self.assertEqual(r.statuses, [harness.SUCCESS], r.describe())
                keys = {"StudyInstanceUID": self.uid(stored, "StudyInstanceUID"),
                        "SeriesInstanceUID": self.uid(stored, "SeriesInstanceUID"),
                        "SOPInstanceUID": self.uid(stored, "SOPInstanceUID")}

                # A receiver accepting everything gets the object as stored.
                r = self.move("IMAGE", keys, dest="E2EALL")
                self.assertMoveOk(r, 1)
                [as_stored] = self.dest_all.files()
                self.assertEqual(harness.transfer_syntax(as_stored), ts)
                self.assertSameDatasetBytes(as_stored, wire)

                # storescp's default: uncompressed syntaxes only.
                r = self.move("IMAGE", keys)
                self.assertMoveOk(r, 1)
                [moved] = self.dest.files()
                self.assertDecompressedCopy(moved, stored, reference)

                # getscu accepts uncompressed syntaxes only by default.
                out = harness.out_dir(self.artefact_name(f"get-{ts}"))
                r = self.server.get("IMAGE", keys, out)
                self.assertMoveOk(r, 1)
                [got] = sorted(out.iterdir())
                self.assertDecompressedCopy(got, stored, reference)


if __name__ == "__main__":
    harness.main()
