"""A full disk and the min_free_bytes guard.

The suite moves itself into a private mount namespace and mounts a 16 MB tmpfs there (gone
when the process exits: nothing stays mounted on the host). Strata's data dir (catalog and
object store) lives on it.

  test_disk_fills: with min_free_bytes = 0, stores until the file system is full. Every
    C-STORE gets a response; the failures carry an 0xA7xx (out of resources) status and a
    logged reason; the server still answers C-ECHO and C-FIND; what C-FIND returns is
    exactly what was acknowledged and comes back byte-identical by C-MOVE; no refused
    instance left an object file. After freeing space (a ballast file), stores succeed again.
  test_min_free_bytes_above_free_space: min_free_bytes above the free space refuses every
    store with 0xA7xx and a reason, stores nothing, keeps serving; with the guard lowered
    (restart) the same stores succeed.
  test_min_free_bytes_threshold: min_free_bytes a little below the free space: stores
    succeed until the free space reaches it, then every later one is refused (0xA7xx), and
    the file system never fills.

Run: python3 test_full_disk.py [path/to/strata]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import harness
import robust_util as ru

TMPFS_SIZE = 16 << 20
BALLAST = 3 << 20
ROWS = COLS = 256  # 128 KiB of pixels per instance
INSTANCE_BYTES = ROWS * COLS * 2
DEST_AE = "DISKDEST"
CT_EXPLICIT = [(ru.CT_IMAGE_STORAGE, ru.TS_EXPLICIT_LE)]


def is_out_of_resources(status: int) -> bool:
    return 0xA700 <= status <= 0xA7FF


class FullDiskTest(harness.E2ETestCase):
    mnt: Path

    @classmethod
    def setUpClass(cls):
        cls.mnt = ru.private_tmpfs(harness.temp_dir("strata-e2e-tmpfs-") / "mnt", f"{TMPFS_SIZE >> 20}m")

    @classmethod
    def tearDownClass(cls):
        # The namespace dies with the process anyway; unmount now to be tidy.
        subprocess.run(["umount", str(cls.mnt)], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(cls.mnt.parent, ignore_errors=True)

    def setUp(self):
        self.work = harness.out_dir(self.artefact_name("work"))
        self.profile = ru.write_profile(self.work / "ct.cfg", CT_EXPLICIT)
        self.data_dir = self.mnt / self._testMethodName
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def series(self, name: str, count: int, seed: int) -> tuple[list[Path], dict[str, Path]]:
        """`count` CT instances and the exact bytes storescu sends for each."""
        files = ru.make_ct_series(self.work / name, count, seed=seed, rows=ROWS, cols=COLS,
                                  patient_id=f"DISK-{seed}")
        with ru.ProfileSink(self.artefact_name(f"{name}.capture"), CT_EXPLICIT) as capture:
            r = harness.storescu(capture.port, files, called_ae="ANY-SCP",
                                 extra=["-xf", str(self.profile), "P", "-nh"], timeout=600)
            self.assertToolOk(r, "capturing the wire bytes failed")
            wire = {p.name.split(".", 1)[1]: p for p in capture.files()}
        self.assertEqual(len(files), len(wire))
        return files, wire

    def store(self, srv: harness.StrataServer, files: list[Path]) -> list[ru.StoreResponse]:
        r = srv.store(files, extra=["-xf", str(self.profile), "P", "-nh"], timeout=900)
        rsp = ru.parse_store_responses(r.output)
        self.assertEqual(len(files), len(rsp),
                         f"not every C-STORE got a response (association lost?)\n{r.describe()}\n"
                         f"server log:\n{srv.log_tail()}")
        return rsp

    def assert_refusals_explained(self, srv: harness.StrataServer, refused: list[ru.StoreResponse]) -> None:
        """Every refusal: an 0xA7xx status and a server log line about that instance with a reason."""
        wrong = [f"0x{r.status:04X} ({r.error_comment})" for r in refused if not is_out_of_resources(r.status)]
        self.assertEqual([], wrong[:5], f"{len(wrong)} refused stores lack an out-of-resources (0xA7xx) status")
        lines = srv.log_lines()
        unexplained = []
        for r in refused:
            line, reason = ru.refusal_reason(lines, r.sop_instance_uid)
            if not reason:
                unexplained.append(f"{r}: log line {line}")
        self.assertEqual([], unexplained[:3], f"{len(unexplained)} of {len(refused)} refusals have no log line "
                                              f"giving a reason")
        example = refused[0]
        sys.stderr.write(f"[full disk] refusal example: 0x{example.status:04X} comment="
                         f"{example.error_comment!r} log reason="
                         f"{ru.refusal_reason(lines, example.sop_instance_uid)[1]!r}\n")

    def assert_serving(self, srv: harness.StrataServer) -> dict[str, tuple[str, str]]:
        self.assertTrue(srv.running(), f"server died\n{srv.log_tail()}")
        self.assertToolOk(srv.echo(), "C-ECHO failed")
        return ru.find_instances(srv)

    def assert_retrievable(self, srv, dest, found, wire) -> None:
        per_series: dict[tuple[str, str], set[str]] = {}
        for sop, key in found.items():
            per_series.setdefault(key, set()).add(sop)
        for (study, series), sops in per_series.items():
            dest.clear()
            self.assertEqual([], ru.retrieve_series(srv, dest, study, series, len(sops)))
            received = {p.name.split(".", 1)[1]: p for p in dest.files()}
            self.assertEqual(sops, set(received))
            for sop, path in received.items():
                self.assertSameDatasetBytes(wire[sop], path)

    def assert_no_stray_objects(self, srv, found) -> None:
        stored, staging = ru.object_inventory(srv.objects_dir)
        unreadable = [str(p) for p in stored if ru.sop_uid_of_object(p) is None]
        unknown = [str(p) for p in stored if ru.sop_uid_of_object(p) not in found]
        self.assertEqual([], unreadable, "half-written object files")
        self.assertEqual([], unknown, "object files the catalog does not know")
        sys.stderr.write(f"[full disk] {len(stored)} object files, {len(staging)} in staging\n")

    def store_until_answered(self, srv: harness.StrataServer, files: list[Path]) -> tuple[list[ru.StoreResponse], int]:
        """Sends `files`; when the server drops the association, sends the unanswered rest on a
        new one. Returns (one response per file, in file order; number of associations lost)."""
        sop_of = {f: ru.sop_uid_of_object(f) for f in files}
        answered: dict[str, ru.StoreResponse] = {}
        lost = 0
        pending = list(files)
        while pending:
            r = srv.store(pending, extra=["-xf", str(self.profile), "P", "-nh"], timeout=900)
            rsp = ru.parse_store_responses(r.output)
            for x in rsp:
                answered[x.sop_instance_uid] = x
            if len(rsp) < len(pending):
                lost += 1
                if lost == 1:
                    sys.stderr.write(f"[full disk] association lost after {len(rsp)} responses; storescu: "
                                     f"{ru.tool_errors(r.output)[:3]}\nserver log tail:\n{srv.log_tail(5)}\n")
            if not rsp:
                break
            pending = [f for f in pending if sop_of[f] not in answered]
        missing = [f.name for f in files if sop_of[f] not in answered]
        self.assertEqual([], missing[:5], f"{len(missing)} stores never got a response")
        return [answered[sop_of[f]] for f in files], lost

    def test_disk_fills(self):
        count = (TMPFS_SIZE - BALLAST) // INSTANCE_BYTES + 24
        files, wire = self.series("fill", count, seed=71)
        self.data_dir.mkdir()
        ballast = self.mnt / "ballast"
        ballast.write_bytes(os.urandom(BALLAST))
        self.addCleanup(lambda: ballast.unlink(missing_ok=True))
        with harness.StoreScp(self.artefact_name("dest"), ae_title=DEST_AE) as dest, \
                harness.StrataServer(self.artefact_name("strata"), data_dir=self.data_dir,
                                     config={"storage": {"min_free_bytes": 0},
                                             "dimse": {"peers": [dest.peer()]}}) as srv:
            rsp, lost = self.store_until_answered(srv, files)
            acked = {r.sop_instance_uid for r in rsp if r.succeeded}
            refused = [r for r in rsp if not r.succeeded]
            sys.stderr.write(f"[full disk] {len(acked)} stored, {len(refused)} refused, {lost} associations "
                             f"lost, free now {ru.free_bytes(self.mnt)} bytes\n")
            self.assertTrue(acked, "nothing could be stored on an empty file system")
            self.assertTrue(refused, f"the {TMPFS_SIZE >> 20} MB file system never filled")
            # The remaining properties are checked even when one fails (subTest).
            with self.subTest("a refused store does not cost the association"):
                self.assertEqual(0, lost, f"the server dropped {lost} associations instead of answering "
                                          f"each refused store and going on")
            with self.subTest("refusals: 0xA7xx and a logged reason"):
                self.assert_refusals_explained(srv, refused)
            with self.subTest("still serving; the catalog holds exactly the acknowledged instances"):
                found = self.assert_serving(srv)
                self.assertEqual(acked, set(found), "C-FIND must return exactly the acknowledged instances")
                self.assert_retrievable(srv, dest, found, wire)
                self.assert_no_stray_objects(srv, found)

            with self.subTest("after freeing space, stores succeed again"):
                ballast.unlink()
                refused_sops = {r.sop_instance_uid for r in refused}
                retry = [f for f in files if ru.sop_uid_of_object(f) in refused_sops]
                retry = retry[:(BALLAST // INSTANCE_BYTES) // 2]
                rsp = self.store(srv, retry)
                self.assertEqual([], [r for r in rsp if not r.succeeded], "stores after freeing space failed")
                found = self.assert_serving(srv)
                self.assertEqual(acked | {r.sop_instance_uid for r in rsp}, set(found))
                self.assert_retrievable(srv, dest, found, wire)

    def test_min_free_bytes_above_free_space(self):
        files, wire = self.series("guard", 3, seed=72)
        self.data_dir.mkdir()
        guard = TMPFS_SIZE * 4  # more than the file system can ever have free
        with harness.StoreScp(self.artefact_name("dest"), ae_title=DEST_AE) as dest, \
                harness.StrataServer(self.artefact_name("strata"), data_dir=self.data_dir,
                                     config={"storage": {"min_free_bytes": guard},
                                             "dimse": {"peers": [dest.peer()]}}) as srv:
            rsp = self.store(srv, files)
            self.assertEqual([], [r for r in rsp if r.succeeded], "stores below min_free_bytes must be refused")
            self.assert_refusals_explained(srv, rsp)
            self.assertEqual({}, self.assert_serving(srv), "refused stores must change nothing")
            self.assert_no_stray_objects(srv, {})

            srv.restart(config={"storage": {"min_free_bytes": 0}})
            rsp = self.store(srv, files)
            self.assertEqual([], [r for r in rsp if not r.succeeded], "stores with the guard lowered failed")
            found = self.assert_serving(srv)
            self.assertEqual({r.sop_instance_uid for r in rsp}, set(found))
            self.assert_retrievable(srv, dest, found, wire)

    def audit_path(self):
        return harness.temp_dir("strata-audit-") / "audit.sqlite"

    def test_min_free_bytes_threshold(self):
        files, wire = self.series("threshold", 40, seed=73)
        self.data_dir.mkdir()
        with harness.StoreScp(self.artefact_name("dest"), ae_title=DEST_AE) as dest, \
                harness.StrataServer(self.artefact_name("strata"), data_dir=self.data_dir,
                                     config={"storage": {"min_free_bytes": 0},
                                             "dimse": {"peers": [dest.peer()]},
                                             # The audit log's growth is not what this measures.
                                             "audit": {"path": str(self.audit_path())}}) as srv:
            # Measure what the running server leaves free, then put the guard 2 MB below it.
            guard = ru.free_bytes(self.mnt) - (2 << 20)
            srv.restart(config={"storage": {"min_free_bytes": guard}})
            rsp = self.store(srv, files)
            ok = [r.succeeded for r in rsp]
            self.assertIn(True, ok, "nothing stored although 2 MB were above the guard")
            self.assertIn(False, ok, "the guard never refused a store")
            first_refusal = ok.index(False)
            self.assertNotIn(True, ok[first_refusal:], "a store succeeded after one was refused for space")
            self.assert_refusals_explained(srv, [r for r in rsp if not r.succeeded])
            free = ru.free_bytes(self.mnt)
            sys.stderr.write(f"[full disk] guard {guard}: {first_refusal} stored, free now {free}\n")
            self.assertGreaterEqual(free, guard - 2 * INSTANCE_BYTES,
                                    "stores went on well past min_free_bytes")
            found = self.assert_serving(srv)
            self.assertEqual({r.sop_instance_uid for r in rsp if r.succeeded}, set(found))
            self.assert_retrievable(srv, dest, found, wire)


if __name__ == "__main__":
    harness.main()
