"""Prefetch of prior studies into the hot cache, end to end.

`strata serve` archives to a filesystem archive store (tiers emulated) and keeps a hot cache
bounded far below one study, so every archived object is evicted at once. A prior study of a
patient is stored, archived and evicted; then a new study of the same patient arrives by
C-STORE. The prefetcher must bring the prior back into the local store by itself and keep it
there (pinned) while everything else is evicted; a WADO-RS read of the prior then counts as a
prefetch hit in GET /admin/v1/status. With the archive copies in the Archive tier, the prior
becomes local by itself once the (short) rehydration delay has passed.
"""

from __future__ import annotations

import datetime
import json
import time
import unittest
from pathlib import Path

import harness
from harness import StrataServer, http_request

PATIENT = "PREFETCH-E2E-7731"


def study_date(days_ago: int) -> str:
    return (datetime.date.today() - datetime.timedelta(days=days_ago)).strftime("%Y%m%d")


class PrefetchTest(unittest.TestCase):
    def start(self, tier: str, rehydration_delay: int = 0) -> StrataServer:
        config = harness.evicting_archive_config(tier, rehydration_delay)
        config["prefetch"] = {"max_priors": 2, "max_age_years": 5, "poll_interval_ms": 200}
        server = StrataServer(self.id(), config=config)
        server.start()
        self.addCleanup(server.stop)
        return server

    def status(self, server: StrataServer) -> dict:
        r = http_request(server.http_port, "GET", "/admin/v1/status", role="admin")
        self.assertEqual(r.status, 200, r.text())
        self.assertIn("application/json", r.headers.get("content-type", ""))
        return json.loads(r.body)

    def local_files(self, server: StrataServer, study_uid: str) -> list[Path]:
        folder = server.objects_dir / "dicom" / study_uid
        return sorted(p for p in folder.rglob("*.dcm")) if folder.exists() else []

    def store_and_wait_evicted(self, server: StrataServer, files: list[Path]) -> None:
        r = server.store(files)
        self.assertTrue(r.ok, r.describe())
        study = str(harness.read_meta(files[0]).StudyInstanceUID)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = server.archive_status()
            if (status["pending_events"] == 0 and status["archived_objects"] >= len(files)
                    and not self.local_files(server, study)):
                return
            time.sleep(0.2)
        self.fail(f"not archived and evicted: {server.archive_status()}\n"
                  f"{server.log_tail()}")

    def wait_local(self, server: StrataServer, study: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.local_files(server, study)) == count:
                return
            time.sleep(0.2)
        self.fail(f"prior {study} not prefetched: {self.status(server)}\n{server.log_tail()}")

    def make_prior_and_new(self) -> tuple[list[Path], list[Path]]:
        prior = harness.make_study(harness.temp_dir("strata-prefetch-prior-"), series=1,
                                   instances=2, PatientID=PATIENT, StudyDate=study_date(400))
        new = harness.make_study(harness.temp_dir("strata-prefetch-new-"), series=1,
                                 instances=1, PatientID=PATIENT, StudyDate=study_date(0))
        return prior, new

    def wado_instance(self, server: StrataServer, path: Path) -> harness.HttpResult:
        ds = harness.read_meta(path)
        target = (f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                  f"/instances/{ds.SOPInstanceUID}")
        return http_request(server.http_port, "GET", target, role="reader",
                            headers={"Accept": "multipart/related; type=\"application/dicom\""})

    def test_new_study_brings_evicted_prior_back_and_reads_hit(self):
        server = self.start("Hot")
        prior, new = self.make_prior_and_new()
        prior_uid = str(harness.read_meta(prior[0]).StudyInstanceUID)
        new_uid = str(harness.read_meta(new[0]).StudyInstanceUID)
        self.store_and_wait_evicted(server, prior)
        self.assertEqual(self.status(server)["prefetch"]["prefetched_objects"], 0)

        r = server.store(new)
        self.assertTrue(r.ok, r.describe())
        self.wait_local(server, prior_uid, len(prior), timeout=30)
        status = self.status(server)
        self.assertTrue(status["prefetch"]["enabled"])
        self.assertEqual(status["prefetch"]["prefetched_objects"], len(prior), status)
        self.assertEqual(status["prefetch"]["fetch_backs"], len(prior), status)
        self.assertEqual(status["prefetch"]["hits"], 0, status)
        self.assertEqual(status["cache"]["misses"], 0, "prefetch opens are not reader misses")

        # Pinned: the new study is archived and evicted meanwhile, the prior stays.
        deadline = time.monotonic() + 30
        while self.local_files(server, new_uid) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.local_files(server, new_uid), [], "eviction is running")
        time.sleep(3)  # past min_idle_seconds and a few eviction passes
        self.assertEqual(len(self.local_files(server, prior_uid)), len(prior))

        for path in prior:
            r = self.wado_instance(server, path)
            self.assertEqual(r.status, 200, r.text())
        status = self.status(server)
        self.assertEqual(status["prefetch"]["hits"], len(prior), status)
        self.assertEqual(status["prefetch"]["unread"], 0, status)
        self.assertEqual(status["prefetch"]["hit_ratio"], 1.0, status)
        self.assertGreaterEqual(status["cache"]["hits"], len(prior), status)
        self.assertEqual(status["cache"]["misses"], 0, status)
        self.assertEqual(status["cache"]["hit_ratio"], 1.0, status)
        self.assertEqual(status["prefetch"]["jobs"]["succeeded"], 1, status)
        self.assertEqual(status["prefetch"]["backlog_events"], 0, status)

        # Admin only, and audited like every route.
        denied = http_request(server.http_port, "GET", "/admin/v1/status", role="reader")
        self.assertEqual(denied.status, 403, denied.text())
        # Structured logs name UIDs, never the patient.
        self.assertNotIn(PATIENT, server.log_text())

    def test_archive_tier_prior_becomes_local_after_rehydration(self):
        server = self.start("Archive", rehydration_delay=3)
        prior, new = self.make_prior_and_new()
        prior_uid = str(harness.read_meta(prior[0]).StudyInstanceUID)
        self.store_and_wait_evicted(server, prior)

        r = server.store(new)
        self.assertTrue(r.ok, r.describe())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = self.status(server)
            if status["prefetch"]["jobs_rescheduled"] >= 1:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(status["prefetch"]["jobs_rescheduled"], 1, status)
        self.assertEqual(self.local_files(server, prior_uid), [], "still being rehydrated")

        # Nobody reads it: the rescheduled job fetches it once the rehydration is done.
        self.wait_local(server, prior_uid, len(prior), timeout=30)
        status = self.status(server)
        self.assertEqual(status["prefetch"]["jobs"]["succeeded"], 1, status)
        self.assertEqual(status["prefetch"]["jobs"]["pending"], 0, status)
        self.assertEqual(status["prefetch"]["fetch_backs"], len(prior), status)
        for path in prior:
            self.assertEqual(self.wado_instance(server, path).status, 200)
        self.assertEqual(self.status(server)["prefetch"]["hits"], len(prior))


if __name__ == "__main__":
    harness.main()
