"""C-ECHO and C-STORE through dcmtk's echoscu/storescu against a real `strata serve`."""

import shutil
import threading

import harness
from harness import E2ETestCase, StrataServer


def small_synth(series, instances):
    """`strata synth` options for one study of `series` x `instances`."""
    return ["--studies-per-patient", "1", "--series-per-study", str(series),
            "--instances-per-series", str(instances)]


def stored_versions(server: StrataServer, sop_uid: str) -> list:
    """Object files in the store whose name starts with the SOP Instance UID."""
    return [p for p in server.dicom_object_files() if p.name.startswith(sop_uid)]


class EchoStoreTest(E2ETestCase):
    """One server shared by the tests that need only the default configuration."""

    @classmethod
    def setUpClass(cls):
        cls.server = StrataServer("echo_store.default")
        cls.server.start()
        cls.work = harness.temp_dir("e2e-echo-store-")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def find_instances(self, **keys):
        """IMAGE-level C-FIND (Study Root) with SOPInstanceUID as return key."""
        query = {"StudyInstanceUID": "", "SeriesInstanceUID": "", "SOPInstanceUID": ""}
        query.update(keys)
        r = self.server.find("IMAGE", query)
        self.assertEqual(r.final_status, harness.SUCCESS, r.tool.describe())
        return r.responses

    def test_echo(self):
        r = self.server.echo()
        self.assertToolOk(r)
        self.assertIn("Received Echo Response (Success)", r.output, r.describe())

    def test_store_synthetic_studies(self):
        # Small shapes (CR images are ~10 MB each); one seed per preset, since synth derives
        # UIDs from the seed alone.
        shapes = {"ct": (7, 2, 3), "cr": (8, 1, 1), "mr": (9, 2, 3)}
        for preset, (seed, series, instances) in shapes.items():
            with self.subTest(preset=preset):
                files = harness.synth(self.work / f"synth-{preset}", preset=preset, patients=1,
                                      seed=seed, extra=small_synth(series, instances))
                r = self.server.store(files)
                self.assertToolOk(r)
                self.assertEqual(r.statuses, [harness.SUCCESS] * len(files), r.describe())
                by_study = {}
                for f in files:
                    meta = harness.read_meta(f)
                    by_study.setdefault(str(meta.StudyInstanceUID), set()).add(
                        str(meta.SOPInstanceUID))
                for study_uid, sops in by_study.items():
                    found = self.find_instances(StudyInstanceUID=study_uid)
                    self.assertEqual({str(d.SOPInstanceUID) for d in found}, sops)
                # Stored as received: the object store holds each data set unchanged.
                for f in files:
                    sop = harness.sop_instance_uid(f)
                    versions = stored_versions(self.server, sop)
                    self.assertEqual(len(versions), 1, f"{sop}: {versions}")
                    self.assertSameDataset(versions[0], f)

    def test_same_file_twice_is_one_instance(self):
        f = harness.make_study(self.work / "twice", instances=1)[0]
        first = self.server.store([f])
        second = self.server.store([f])
        self.assertEqual(first.statuses, [harness.SUCCESS], first.describe())
        self.assertEqual(second.statuses, [harness.SUCCESS], second.describe())
        sop = harness.sop_instance_uid(f)
        found = self.find_instances(SOPInstanceUID=sop)
        self.assertEqual([str(d.SOPInstanceUID) for d in found], [sop])
        self.assertEqual(len(stored_versions(self.server, sop)), 1)

    def test_same_file_twice_in_one_association(self):
        f = harness.make_study(self.work / "twice-one-assoc", instances=1)[0]
        r = self.server.store([f, f])
        self.assertEqual(r.statuses, [harness.SUCCESS, harness.SUCCESS], r.describe())
        sop = harness.sop_instance_uid(f)
        self.assertEqual(len(self.find_instances(SOPInstanceUID=sop)), 1)

    def test_modified_object_is_kept_as_new_version(self):
        original = harness.make_study(self.work / "version", instances=1,
                                      ImageComments="first")[0]
        meta = harness.read_meta(original)
        sop = str(meta.SOPInstanceUID)
        modified = harness.derive_instance(original, self.work / "version2" / "m.dcm",
                                           SOPInstanceUID=sop, ImageComments="second")
        self.assertEqual(self.server.store([original]).statuses, [harness.SUCCESS])
        r = self.server.store([modified])
        self.assertEqual(r.statuses, [harness.SUCCESS], r.describe())
        found = self.find_instances(SOPInstanceUID=sop)
        self.assertEqual(len(found), 1, "a new version must not be a second instance")
        versions = stored_versions(self.server, sop)
        self.assertEqual(len(versions), 2, f"both versions kept: {versions}")
        comments = sorted(str(harness.read_meta(v).ImageComments) for v in versions)
        self.assertEqual(comments, ["first", "second"])

    def test_parallel_associations(self):
        studies = [harness.make_study(self.work / f"par{i}", instances=3,
                                      PatientID=f"PAR{i}") for i in range(8)]
        results = [None] * len(studies)

        def send(i):
            results[i] = self.server.store(studies[i], calling_ae=f"PAR{i}")

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(studies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, r in enumerate(results):
            self.assertEqual(r.statuses, [harness.SUCCESS] * 3, r.describe())
        for files in studies:
            study_uid = str(harness.read_meta(files[0]).StudyInstanceUID)
            found = self.find_instances(StudyInstanceUID=study_uid)
            self.assertEqual({str(d.SOPInstanceUID) for d in found},
                             {harness.sop_instance_uid(f) for f in files})

    def test_wrong_called_ae_is_rejected(self):
        r = harness.echoscu(self.server.port, called_ae="NOT-STRATA")
        self.assertFalse(r.ok, r.describe())
        self.assertTrue(r.association_rejected, r.describe())
        # The listener keeps serving.
        self.assertToolOk(self.server.echo())


class DuplicateRejectTest(E2ETestCase):
    def test_modified_object_refused_with_reject_policy(self):
        work = harness.temp_dir("e2e-reject-")
        try:
            with StrataServer("echo_store.reject",
                              config={"storage": {"duplicates": "reject"}}) as server:
                original = harness.make_study(work, instances=1, ImageComments="first")[0]
                sop = harness.sop_instance_uid(original)
                modified = harness.derive_instance(original, work / "m" / "m.dcm",
                                                   SOPInstanceUID=sop, ImageComments="second")
                self.assertEqual(server.store([original]).statuses, [harness.SUCCESS])
                # An identical resend is still fine (idempotent retry).
                self.assertEqual(server.store([original]).statuses, [harness.SUCCESS])
                r = server.store([modified])
                self.assertEqual(r.statuses, [harness.DUPLICATE_SOP_INSTANCE], r.describe())
                versions = stored_versions(server, sop)
                self.assertEqual(len(versions), 1, versions)
                self.assertEqual(str(harness.read_meta(versions[0]).ImageComments), "first")
                self.assertToolOk(server.echo())
        finally:
            shutil.rmtree(work, ignore_errors=True)


class RestartTest(E2ETestCase):
    def test_stored_instances_survive_restart(self):
        work = harness.temp_dir("e2e-restart-")
        try:
            with StrataServer("echo_store.restart") as server:
                files = harness.make_study(work, instances=3)
                self.assertEqual(server.store(files).statuses, [harness.SUCCESS] * 3)
                self.assertEqual(server.stop(), 0, f"unclean exit on SIGTERM\n{server.log_tail()}")
                server.start()
                self.assertEqual(server.starts, 2)
                study = str(harness.read_meta(files[0]).StudyInstanceUID)
                r = server.find("IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": "",
                                          "SOPInstanceUID": ""})
                self.assertEqual({str(d.SOPInstanceUID) for d in r.responses},
                                 {harness.sop_instance_uid(f) for f in files})
                self.assertTrue(server.log_lines(current_run_only=True))
        finally:
            shutil.rmtree(work, ignore_errors=True)


class CallingAeAllowListTest(E2ETestCase):
    def test_unknown_calling_ae_rejected_allowed_accepted(self):
        work = harness.temp_dir("e2e-allow-")
        config = {"dimse": {"accept_any_calling_ae": False, "allowed_calling_aes": ["GOODSCU"]}}
        try:
            # Start-up waits for a C-ECHO from GOODSCU, so the allowed AE is accepted.
            with StrataServer("echo_store.allow_list", config=config,
                              calling_ae="GOODSCU") as server:
                self.assertToolOk(server.echo())
                bad = server.echo(calling_ae="BADSCU")
                self.assertFalse(bad.ok, bad.describe())
                self.assertTrue(bad.association_rejected, bad.describe())
                f = harness.make_study(work, instances=1)[0]
                r = server.store([f], calling_ae="BADSCU")
                self.assertTrue(r.association_rejected, r.describe())
                self.assertEqual(r.statuses, [], r.describe())
                r = server.store([f])
                self.assertEqual(r.statuses, [harness.SUCCESS], r.describe())
                found = server.find("IMAGE", {"StudyInstanceUID": "", "SeriesInstanceUID": "",
                                              "SOPInstanceUID": harness.sop_instance_uid(f)})
                self.assertEqual(len(found.responses), 1, found.tool.describe())
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    harness.main()
