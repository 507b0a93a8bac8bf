"""Bad C-STORE input: the right failure status, nothing stored, and the server keeps serving.

What storescu is willing to send (a data set lacking Study/Series Instance UID, an invalid UID,
the readable prefix of a cut-off file) goes through storescu; what it refuses to send (garbage
bytes, a data set cut off mid-element, a command that disagrees with its data set, an
association aborted mid-transfer) goes through harness.RawAssociation.
"""

import json
import os
import shutil
import time
import warnings

import harness
from harness import E2ETestCase, RawAssociation, StrataServer


class BadInputTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("e2e-bad-")
        cls.server = StrataServer("bad_input.default")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        self.objects_before = self.server.object_files()

    def path(self, name):
        return self.work / self.artefact_name(name)

    def assertLoggedOnce(self, sop_uid):
        """Design contract 3: one warn/error log line about the refused object."""
        lines = [l for l in self.server.log_lines()
                 if l.get("level") in ("warn", "error") and sop_uid in json.dumps(l)]
        self.assertEqual(len(lines), 1, f"log lines about {sop_uid}: {lines}")

    def assertNothingStored(self, *sop_uids):
        """The server answers C-ECHO; no new object file; no staged leftovers; the catalog does
        not know the given SOP Instance UIDs."""
        self.assertToolOk(self.server.echo(), "server stopped answering after bad input")
        self.assertEqual(self.server.object_files(), self.objects_before)
        deadline = time.monotonic() + 5
        while self.server.staging_files() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.server.staging_files(), [], "staged file left behind")
        for sop in sop_uids:
            r = self.server.find("IMAGE", {"StudyInstanceUID": "", "SeriesInstanceUID": "",
                                           "SOPInstanceUID": sop})
            self.assertEqual(r.final_status, harness.SUCCESS, r.tool.describe())
            self.assertEqual(r.responses, [], f"{sop} is in the catalog")

    def assertStoreFails(self, path, status):
        sop = str(harness.read_meta(path).get("SOPInstanceUID", ""))
        r = self.server.store([path])
        self.assertEqual(r.statuses, [status], r.describe())
        self.assertNothingStored(*([sop] if sop else []))
        if sop:
            self.assertLoggedOnce(sop)

    # Through storescu ----------------------------------------------------------------------

    def test_missing_study_instance_uid(self):
        f = harness.derive_instance("CT_small.dcm", self.path("f.dcm"), StudyInstanceUID=None)
        self.assertStoreFails(f, harness.CANNOT_UNDERSTAND)

    def test_missing_series_instance_uid(self):
        f = harness.derive_instance("CT_small.dcm", self.path("f.dcm"), SeriesInstanceUID=None)
        self.assertStoreFails(f, harness.CANNOT_UNDERSTAND)

    def test_invalid_uid(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about the invalid UID
            f = harness.derive_instance("CT_small.dcm", self.path("f.dcm"),
                                        StudyInstanceUID="1.2.abc.4")
        self.assertStoreFails(f, harness.CANNOT_UNDERSTAND)

    def test_truncated_file(self):
        # storescu sends the readable prefix of a cut-off file: SOP Class/Instance UID are
        # there, Study/Series Instance UID and the pixels are not. The file is cut where the
        # StudyInstanceUID element starts (explicit VR little endian): a cut inside an element
        # makes storescu itself refuse the file, and where a fixed offset falls depends on the
        # lengths of the new UIDs.
        full = harness.derive_instance("CT_small.dcm", self.path("full.dcm"))
        data = full.read_bytes()
        cut = self.path("cut.dcm")
        cut.write_bytes(data[:data.index(b"\x20\x00\x0d\x00UI", 132)])
        meta = harness.read_meta(full)
        r = self.server.store([cut])
        self.assertEqual(r.statuses, [harness.CANNOT_UNDERSTAND], r.describe())
        self.assertNothingStored(str(meta.SOPInstanceUID))
        self.assertLoggedOnce(str(meta.SOPInstanceUID))

    def test_contradicts_stored_hierarchy(self):
        # A series already stored under one study must not show up under another.
        first = harness.make_study(self.path("s1"), instances=1)[0]
        self.assertEqual(self.server.store([first]).statuses, [harness.SUCCESS])
        self.objects_before = self.server.object_files()
        series = str(harness.read_meta(first).SeriesInstanceUID)
        other = harness.derive_instance("CT_small.dcm", self.path("f.dcm"),
                                        StudyInstanceUID=harness.new_uid(),
                                        SeriesInstanceUID=series)
        self.assertStoreFails(other, harness.DATASET_DOES_NOT_MATCH_SOP_CLASS)

    def test_good_store_still_works_after_bad_ones(self):
        bad = harness.derive_instance("CT_small.dcm", self.path("bad.dcm"),
                                      StudyInstanceUID=None)
        good = harness.derive_instance("CT_small.dcm", self.path("good.dcm"))
        r = self.server.store([bad, good], extra=["--no-halt"])
        self.assertEqual(r.statuses, [harness.CANNOT_UNDERSTAND, harness.SUCCESS], r.describe())
        sop = harness.sop_instance_uid(good)
        found = self.server.find("IMAGE", {"StudyInstanceUID": "", "SeriesInstanceUID": "",
                                           "SOPInstanceUID": sop})
        self.assertEqual([str(d.SOPInstanceUID) for d in found.responses], [sop])

    def test_log_is_json_lines(self):
        bad = harness.derive_instance("CT_small.dcm", self.path("bad.dcm"), SeriesInstanceUID=None)
        self.server.store([bad])
        lines = self.server.log_lines()
        self.assertTrue(lines, "strata wrote no log lines")
        raw = [l["raw"] for l in lines if "raw" in l]
        self.assertEqual(raw, [], "stderr lines that are not JSON objects")
        for line in lines:
            self.assertIn("event", line)
            self.assertIn("level", line)

    # Through a raw association -------------------------------------------------------------

    def raw(self):
        a = RawAssociation(self.server.port, harness.CT_IMAGE_STORAGE,
                           called_ae=self.server.ae_title)
        self.assertTrue(a.accepted, "CT Image Storage / explicit VR LE not accepted")
        return a

    def valid_dataset(self):
        f = harness.derive_instance("CT_small.dcm", self.path("valid.dcm"))
        return harness.read_meta(f), harness.dataset_bytes(f)

    def test_garbage_bytes(self):
        sop = harness.new_uid()
        with self.raw() as a:
            status = a.c_store(harness.CT_IMAGE_STORAGE, sop, os.urandom(4096))
            self.assertEqual(status, harness.CANNOT_UNDERSTAND)
            a.release()
        self.assertNothingStored(sop)
        self.assertLoggedOnce(sop)

    def test_data_set_cut_mid_element(self):
        meta, data = self.valid_dataset()
        sop = str(meta.SOPInstanceUID)
        with self.raw() as a:
            # Ends inside Pixel Data, whose length claims far more bytes.
            status = a.c_store(harness.CT_IMAGE_STORAGE, sop, data[:len(data) - 5000])
            self.assertEqual(status, harness.CANNOT_UNDERSTAND)
            a.release()
        self.assertNothingStored(sop)
        self.assertLoggedOnce(sop)

    def test_command_instance_uid_differs_from_data_set(self):
        meta, data = self.valid_dataset()
        other = harness.new_uid()
        with self.raw() as a:
            status = a.c_store(harness.CT_IMAGE_STORAGE, other, data)
            self.assertEqual(status, harness.DATASET_DOES_NOT_MATCH_SOP_CLASS)
            a.release()
        self.assertNothingStored(str(meta.SOPInstanceUID), other)
        self.assertLoggedOnce(other)

    def test_command_sop_class_differs_from_data_set(self):
        f = harness.derive_instance("MR_small.dcm", self.path("mr.dcm"))
        meta = harness.read_meta(f)
        with self.raw() as a:
            status = a.c_store(harness.CT_IMAGE_STORAGE, str(meta.SOPInstanceUID),
                               harness.dataset_bytes(f))
            self.assertEqual(status, harness.DATASET_DOES_NOT_MATCH_SOP_CLASS)
            a.release()
        self.assertNothingStored(str(meta.SOPInstanceUID))
        self.assertLoggedOnce(str(meta.SOPInstanceUID))

    def test_abort_mid_data_set(self):
        meta, data = self.valid_dataset()
        sop = str(meta.SOPInstanceUID)
        with self.raw() as a:
            a.send_pdv(a.store_command(harness.CT_IMAGE_STORAGE, sop), True, True)
            a.send_pdv(data[:20000], False, False)
            a.abort()
        self.assertNothingStored(sop)

    def test_connection_dropped_mid_data_set(self):
        meta, data = self.valid_dataset()
        sop = str(meta.SOPInstanceUID)
        with self.raw() as a:
            a.send_pdv(a.store_command(harness.CT_IMAGE_STORAGE, sop), True, True)
            a.send_pdv(data[:20000], False, False)
        self.assertNothingStored(sop)

    def test_raw_store_of_valid_data_set_succeeds(self):
        # The raw client itself is sound: the same path stores a valid data set.
        meta, data = self.valid_dataset()
        with self.raw() as a:
            self.assertEqual(a.c_store(harness.CT_IMAGE_STORAGE, str(meta.SOPInstanceUID), data),
                             harness.SUCCESS)
            a.release()
        stored = [p for p in self.server.dicom_object_files()
                  if p.name.startswith(str(meta.SOPInstanceUID))]
        self.assertEqual(len(stored), 1)
        self.assertEqual(harness.dataset_bytes(stored[0]), data)


if __name__ == "__main__":
    harness.main()
