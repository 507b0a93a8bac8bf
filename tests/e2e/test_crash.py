"""Crash test: `kill -9` of strata serve in the middle of a C-STORE stream.

Three cycles on one data dir. Each cycle streams a fresh 320-instance CT study (two series)
with storescu and SIGKILLs the server after N acknowledgements plus 0-50 ms (N and the delay
drawn from a seeded RNG, different each cycle; seed from $STRATA_E2E_SEED, default below).
After each restart on the same data dir:
  - every instance storescu saw acknowledged is found by C-FIND (acknowledged = durable);
  - nothing is found that was never sent;
  - NumberOfStudyRelatedSeries/Instances and NumberOfSeriesRelatedInstances equal what the
    IMAGE level finds;
  - every instance found comes back by C-MOVE, byte-identical to what storescu sent;
  - every object file outside the staging area is a readable DICOM file the catalog knows,
    and the staging area is empty after restart (orphans cleaned);
  - the server accepts new stores.
At the end the whole data (all cycles) is sent again: every store succeeds (idempotent
duplicates) and the catalog holds each instance exactly once.

Run: python3 test_crash.py [path/to/strata]
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import harness
import robust_util as ru

SEED = int(os.environ.get("STRATA_E2E_SEED", "20261128"))
INSTANCES = 320
CYCLES = 3
DEST_AE = "CRASHDEST"
CT_EXPLICIT = [(ru.CT_IMAGE_STORAGE, ru.TS_EXPLICIT_LE)]


class CrashTest(harness.E2ETestCase):
    def setUp(self):
        self.work = harness.out_dir("crash.work")
        self.profile = ru.write_profile(self.work / "ct.cfg", CT_EXPLICIT)
        self.report: list[str] = []

    def tearDown(self):
        sys.stderr.write("\n=== crash test report ===\n" + "\n".join(self.report) + "\n")

    def note(self, text: str) -> None:
        self.report.append(text)
        sys.stderr.write(f"[crash] {text}\n")
        sys.stderr.flush()

    def capture_wire_bytes(self, name: str, files: list[Path]) -> dict[str, Path]:
        """Sends `files` to a bit-preserving storescp with the same one-syntax profile used for
        Strata; returns {SOPInstanceUID: captured file} (the exact bytes storescu sends)."""
        with ru.ProfileSink(name, CT_EXPLICIT) as capture:
            r = harness.storescu(capture.port, files, called_ae="ANY-SCP",
                                 extra=["-xf", str(self.profile), "P", "-nh"], timeout=600)
            self.assertToolOk(r, "capturing the wire bytes failed")
            captured = {p.name.split(".", 1)[1]: p for p in capture.files()}
        self.assertEqual(len(captured), len(files), "capture storescp did not receive every file")
        return captured

    def test_kill9_mid_stream(self):
        rng = random.Random(SEED)
        kill_points = sorted(rng.sample(range(10, INSTANCES - 10), CYCLES))
        rng.shuffle(kill_points)
        # A small extra delay after the N-th acknowledgement, so the kill does not always land
        # in the same phase of the next store (receiving, placing the object, committing).
        delays = [rng.uniform(0.0, 0.05) for _ in kill_points]
        self.note(f"seed={SEED} kill after acknowledgements: {kill_points}, then "
                  f"{[round(d * 1000) for d in delays]} ms")

        wire: dict[str, Path] = {}  # every instance ever sent -> its wire bytes
        all_files: list[Path] = []
        acknowledged: set[str] = set()
        with harness.StoreScp("crash.dest", ae_title=DEST_AE) as dest, \
                harness.StrataServer("crash", config={"dimse": {"peers": [dest.peer()]}}) as srv:
            for cycle, (kill_after, delay) in enumerate(zip(kill_points, delays)):
                files = ru.make_ct_series(self.work / f"cycle{cycle}", INSTANCES, seed=SEED + cycle,
                                          series_count=2, patient_id=f"CRASH-{cycle}")
                wire.update(self.capture_wire_bytes(f"crash.capture{cycle}", files))
                all_files += files

                stream = ru.StreamingStore(srv.port, files, called_ae=srv.ae_title, profile=self.profile,
                                           log_path=self.work / f"storescu.cycle{cycle}.log")
                seen = stream.wait_for_acks(kill_after, timeout=300)
                time.sleep(delay)
                srv.kill9()
                killed_at = time.monotonic()
                stream.finish(timeout=120)
                acked = {r.sop_instance_uid for r in stream.responses() if r.succeeded}
                failed = [r for r in stream.responses() if not r.succeeded]
                self.assertGreaterEqual(
                    seen, kill_after,
                    f"storescu stopped after {seen} acknowledgements, before the kill point "
                    f"{kill_after}; output tail:\n{stream.output[-3000:]}\nserver log:\n{srv.log_tail()}")
                self.assertEqual([], failed, "stores failed before the kill")
                acknowledged |= acked
                self.note(f"cycle {cycle}: killed after {seen} acks seen ({len(acked)} acknowledged in this cycle, "
                          f"{len(files) - len(acked)} not acknowledged)")

                srv.start()
                self.note(f"cycle {cycle}: restarted, C-ECHO answered {time.monotonic() - killed_at:.1f}s after the kill")
                self.verify(srv, dest, wire, acknowledged, f"after crash {cycle}")

                # New stores are accepted after the restart.
                probe = ru.make_ct_series(self.work / f"probe{cycle}", 2, seed=SEED + 1000 + cycle,
                                          patient_id=f"PROBE-{cycle}")
                wire.update(self.capture_wire_bytes(f"crash.probe{cycle}", probe))
                all_files += probe
                r = srv.store(probe, extra=["-xf", str(self.profile), "P", "-nh"])
                rsp = ru.parse_store_responses(r.output)
                self.assertEqual([True, True], [x.succeeded for x in rsp],
                                 f"stores after restart failed: {rsp}\n{r.describe()}")
                acknowledged |= {x.sop_instance_uid for x in rsp}

            # Everything again: duplicates of stored instances succeed, the rest is filled in.
            r = srv.store(all_files, extra=["-xf", str(self.profile), "P", "-nh"], timeout=1800)
            rsp = ru.parse_store_responses(r.output)
            bad = [x for x in rsp if not x.succeeded]
            self.assertEqual(len(all_files), len(rsp), f"not every resend got a response\n{r.describe()}")
            self.assertEqual([], bad, "resending the series after the crashes failed")
            self.note(f"resend of all {len(all_files)} instances: all succeeded "
                      f"(statuses {sorted({hex(x.status) for x in rsp})})")
            found = self.verify(srv, dest, wire, set(wire), "after the full resend")
            self.assertEqual(set(wire), set(found), "after the resend the catalog must hold every instance once")

    def verify(self, srv: harness.StrataServer, dest: harness.StoreScp, wire: dict[str, Path],
               acknowledged: set[str], when: str) -> dict[str, tuple[str, str]]:
        """Checks the catalog and object store; each group of properties is a subTest, so one
        broken property does not hide the others."""
        found = ru.find_instances(srv)
        with self.subTest(f"{when}: acknowledged means durable"):
            missing = sorted(acknowledged - set(found))
            self.assertEqual([], missing, f"{when}: {len(missing)} acknowledged instances are not found by "
                                          f"C-FIND")
            phantom = sorted(set(found) - set(wire))
            self.assertEqual([], phantom, f"{when}: C-FIND returns instances that were never sent")
        with self.subTest(f"{when}: catalog counts"):
            self.assertEqual([], ru.check_counts(srv, found), f"{when}: catalog counts disagree")

        with self.subTest(f"{when}: every instance found is retrievable, byte-identical"):
            per_series: dict[tuple[str, str], set[str]] = {}
            for sop, key in found.items():
                per_series.setdefault(key, set()).add(sop)
            for (study, series), sops in sorted(per_series.items()):
                dest.clear()
                self.assertEqual([], ru.retrieve_series(srv, dest, study, series, len(sops)), f"{when}: retrieve")
                received = {p.name.split(".", 1)[1]: p for p in dest.files()}
                self.assertEqual(sops, set(received), f"{when}: C-MOVE of series {series} returned other instances")
                for sop, path in received.items():
                    self.assertSameDatasetBytes(wire[sop], path)

        # The object store: nothing half-written, nothing the catalog does not know.
        stored, staging = ru.object_inventory(srv.objects_dir)
        owner = {p: ru.sop_uid_of_object(p) for p in stored}
        unreadable = [str(p) for p, sop in owner.items() if sop is None]
        unknown = [str(p.relative_to(srv.objects_dir)) for p, sop in owner.items()
                   if sop is not None and sop not in found]
        copies: dict[str, list[str]] = {}
        for p, sop in owner.items():
            copies.setdefault(sop, []).append(str(p.relative_to(srv.objects_dir)))
        extra_copies = {sop: paths for sop, paths in copies.items() if sop and len(paths) > 1}
        self.note(f"{when}: {len(found)} instances found ({len(acknowledged)} acknowledged), "
                  f"{len(stored)} object files, {len(staging)} files in staging "
                  f"{[str(p.relative_to(srv.objects_dir)) for p in staging[:5]]}")
        if unknown:
            acked_note = ["acknowledged" if owner[srv.objects_dir / u] in acknowledged else "never acknowledged"
                          for u in unknown]
            self.note(f"{when}: object files the catalog does not know: {list(zip(unknown, acked_note))[:5]}")
        if extra_copies:
            self.note(f"{when}: instances with several object files: {list(extra_copies.items())[:3]}")
        with self.subTest(f"{when}: object store consistent with the catalog"):
            self.assertEqual([], unreadable, f"{when}: object files that are not readable DICOM (half-written?)")
            self.assertEqual([], unknown, f"{when}: object files outside staging that the catalog does not know")
            self.assertEqual({}, dict(list(extra_copies.items())[:5]),
                             f"{when}: {len(extra_copies)} instances have more than one object file (identical "
                             f"resends must be idempotent; an uncommitted copy is an orphan)")
        with self.subTest(f"{when}: staging cleaned at restart"):
            self.assertEqual([], [str(p) for p in staging], f"{when}: staging area not cleaned at restart")
        return found

if __name__ == "__main__":
    harness.main()
