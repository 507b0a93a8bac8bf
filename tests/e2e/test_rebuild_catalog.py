"""Disaster recovery end to end: the catalog rebuilt from the archive alone (Azurite).

A first `strata serve` archives two studies to Azurite and is stopped. A second one gets a
NEW, empty data directory with the same [archive] settings; `strata admin rebuild-catalog
--from-archive` fills its catalog from the archived objects, and the server then answers
C-FIND and QIDO-RS for every study and serves every instance over WADO-RS byte for byte: the
local store is empty, so each read is a hot-cache miss fetched back from the archive. Then
`strata admin cost` and `strata admin lifecycle --dry-run` read the rebuilt catalog. Prints
the measured rebuild rate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

import harness
from harness import AZURITE_KEY, Azurite, StrataServer, http_request

CONTAINER = "strata-dr"
KEY_ENV = "E2E_ARCHIVE_ACCOUNT_KEY"


class RebuildCatalogTest(unittest.TestCase):
    def setUp(self):
        self.azurite = Azurite()
        self.azurite.start()
        self.addCleanup(self.azurite.close)
        self.config = {
            "archive": {
                "backend": "azure",
                "endpoint": self.azurite.endpoint,
                "account": harness.AZURITE_ACCOUNT,
                "container": CONTAINER,
                "credential": "shared_key",
                "credential_env": KEY_ENV,
                "create_container": True,
                "tier": "Hot",
                "poll_interval_ms": 100,
                "max_backoff_ms": 1000,
            },
            "ai": {"enabled": False},
        }

    def strata(self, server: StrataServer, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        env[KEY_ENV] = AZURITE_KEY
        return subprocess.run([harness.strata_bin(), *args, "--config", str(server.config_path)],
                              capture_output=True, text=True, timeout=300, env=env)

    def json_of(self, r: subprocess.CompletedProcess) -> dict:
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def wait_archived(self, server: StrataServer, count: int) -> None:
        import time

        deadline = time.monotonic() + 120
        status = {}
        while time.monotonic() < deadline:
            status = self.json_of(self.strata(server, "archive", "status", "--json"))
            if status["pending_events"] == 0 and status["archived_objects"] >= count:
                self.assertEqual(status["failed_objects"], 0)
                return
            time.sleep(0.2)
        self.fail(f"not archived: {status}\n{server.log_tail()}")

    def test_rebuilt_catalog_serves_every_study_from_the_archive(self):
        out = harness.out_dir(self.id() + "_data")
        # STRATA_E2E_REBUILD_SCALE=N makes the second study N times larger (rate measurement).
        scale = int(os.environ.get("STRATA_E2E_REBUILD_SCALE", "1"))
        studies = [harness.make_study(out / "a", series=1, instances=3),
                   harness.make_study(out / "b", series=2, instances=2 * scale)]
        files = [f for study in studies for f in study]

        # The site before the disaster.
        first = StrataServer(self.id() + "_before", config=self.config,
                             env={KEY_ENV: AZURITE_KEY})
        first.start()
        self.addCleanup(first.close)
        r = first.store(files)
        self.assertTrue(r.ok, r.describe())
        self.wait_archived(first, len(files))
        stored = {p.relative_to(first.objects_dir).as_posix(): p.read_bytes()
                  for p in first.dicom_object_files()}
        self.assertEqual(len(stored), len(files))
        self.assertEqual(first.stop(), 0)

        # A new data directory, the same archive.
        second = StrataServer(self.id() + "_after", config=self.config,
                              env={KEY_ENV: AZURITE_KEY})
        self.addCleanup(second.close)
        second.write_config()
        report = self.json_of(self.strata(second, "admin", "rebuild-catalog", "--from-archive",
                                          "--json"))
        self.assertEqual(report["listed"], len(files), report)
        self.assertEqual(report["recorded"], len(files), report)
        self.assertEqual(report["failed"], 0, report)
        self.assertEqual(report["bytes"], sum(len(b) for b in stored.values()))
        sys.stderr.write(f"[rebuild] {report['recorded']} objects, {report['bytes']} bytes in "
                         f"{report['seconds']:.3f} s ({report['objects_per_second']:.1f} "
                         f"objects/s, {report['mib_per_second']:.2f} MiB/s) from Azurite\n")
        # Only into an empty catalog.
        again = self.strata(second, "admin", "rebuild-catalog", "--from-archive")
        self.assertEqual(again.returncode, 1)
        self.assertIn("already has", again.stderr)

        second.start()
        self.assertEqual(second.dicom_object_files(), [])
        for study in studies:
            meta = harness.read_meta(study[0])
            study_uid = str(meta.StudyInstanceUID)
            found = second.find("STUDY", {"StudyInstanceUID": study_uid,
                                          "NumberOfStudyRelatedInstances": ""})
            self.assertEqual(found.final_status, 0, found.tool.describe())
            self.assertEqual(len(found.responses), 1)
            self.assertEqual(int(found.responses[0].NumberOfStudyRelatedInstances), len(study))
            q = http_request(second.http_port, "GET",
                             f"/dicomweb/studies?StudyInstanceUID={study_uid}", role="reader",
                             headers={"Accept": "application/dicom+json"})
            self.assertEqual(q.status, 200, q.text())
            self.assertEqual(len(json.loads(q.body)), 1)
            for path in study:
                ds = harness.read_meta(path)
                key = (f"dicom/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/"
                       f"{ds.SOPInstanceUID}.dcm")
                w = http_request(second.http_port, "GET",
                                 f"/dicomweb/studies/{ds.StudyInstanceUID}/series/"
                                 f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
                                 role="reader",
                                 headers={"Accept": "multipart/related; "
                                                    "type=\"application/dicom\""})
                self.assertEqual(w.status, 200, w.text())
                parts = harness.parse_multipart(w.body, w.headers["content-type"])
                self.assertEqual(parts[0][1], stored[key], f"{key}: bytes differ")
                self.assertEqual(parts[0][1][harness.meta_end(parts[0][1]):],
                                 harness.dataset_bytes(path))

        # The rebuilt catalog's archive records feed cost and lifecycle.
        cost = self.json_of(self.strata(second, "admin", "cost", "--json"))
        self.assertEqual(cost["archive"][0]["tier"], "Hot", cost)
        self.assertEqual(cost["archive"][0]["objects"], len(files), cost)
        plan = self.json_of(self.strata(second, "admin", "lifecycle", "--dry-run", "--json"))
        self.assertTrue(plan["dry_run"])
        self.assertEqual(plan["examined"], len(files), plan)
        self.assertEqual(plan["moves"], [], plan)  # nothing is 30 days old yet
        self.assertEqual(second.stop(), 0)


if __name__ == "__main__":
    harness.main()
