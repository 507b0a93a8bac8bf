"""The archiver end to end: `strata serve` copies every stored object to Azurite.

Stores a study with storescu, waits until `strata archive status` reports no lag, and checks
each blob in Azurite against what was stored (byte for byte) and sent (data set bytes), with
its UID metadata and tier. Then stops Azurite, stores another study (ingest must go on:
contract 6), starts Azurite again on the same port and checks that the backlog drains by
itself. Prints the measured archive throughput and drain time.

Azurite persists to a private folder here (not --inMemoryPersistence) so that restarting it
models an outage of the service, not the loss of the whole account.
"""

from __future__ import annotations

import sys
import time
import unittest
from pathlib import Path

import harness
from harness import AZURITE_KEY, Azurite, StrataServer

CONTAINER = "strata-archive"
KEY_ENV = "E2E_ARCHIVE_ACCOUNT_KEY"


def sop_uid_of(path: Path) -> tuple[str, str, str]:
    import pydicom

    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


class ArchiveToAzuriteTest(unittest.TestCase):
    def setUp(self):
        self.azurite = Azurite()
        self.azurite.start()
        self.addCleanup(self.azurite.close)
        config = {
            "archive": {
                "backend": "azure",
                "endpoint": self.azurite.endpoint,
                "account": harness.AZURITE_ACCOUNT,
                "container": CONTAINER,
                "credential": "shared_key",
                "credential_env": KEY_ENV,
                "create_container": True,
                "tier": "Cool",
                "batch_size": 50,
                "poll_interval_ms": 100,
                "max_backoff_ms": 1000,
                "status_log_interval_seconds": 1,
            }
        }
        self.server = StrataServer(self.id(), config=config, env={KEY_ENV: AZURITE_KEY})
        self.server.start()
        self.addCleanup(self.server.stop)

    def wait_drained(self, archived: int, timeout: float) -> tuple[dict, float]:
        start = time.monotonic()
        status = {}
        while time.monotonic() - start < timeout:
            status = self.server.archive_status()
            if status["pending_events"] == 0 and status["archived_objects"] >= archived:
                return status, time.monotonic() - start
            time.sleep(0.2)
        self.fail(f"archive did not drain within {timeout} s: {status}\n"
                  f"{self.server.log_text()[-3000:]}")

    def check_archived(self, files: list[Path]) -> None:
        blobs = self.azurite.list_blobs(CONTAINER)
        for path in files:
            study, series, sop = sop_uid_of(path)
            key = f"dicom/{study}/{series}/{sop}.dcm"
            self.assertIn(key, blobs)
            body, headers = self.azurite.get_blob(CONTAINER, key)
            stored = (self.server.objects_dir / key).read_bytes()
            self.assertEqual(body, stored, f"{key}: archived bytes differ from the stored object")
            sent = harness.dataset_bytes(path)
            archived = body[harness.meta_end(body):]
            self.assertEqual(archived, sent, f"{key}: archived data set differs from the sent one")
            self.assertEqual(headers.get("x-ms-meta-strata_sop_uid"), sop)
            self.assertEqual(headers.get("x-ms-meta-strata_study_uid"), study)
            self.assertEqual(blobs[key]["tier"], "Cool")
            self.assertEqual(blobs[key]["size"], len(stored))
            self.assertEqual(len(headers.get("x-ms-meta-strata_sha256", "")), 64)

    def test_archives_everything_and_survives_an_outage(self):
        out = harness.out_dir(self.id() + "_data")
        first = harness.make_study(out / "first", series=2, instances=10)
        t0 = time.monotonic()
        r = self.server.store(first)
        self.assertTrue(r.ok, r.describe())
        status, waited = self.wait_drained(len(first), timeout=120)
        elapsed = time.monotonic() - t0
        self.assertEqual(status["failed_objects"], 0)
        self.check_archived(first)
        total_bytes = sum(p.stat().st_size for p in first)
        sys.stderr.write(f"[archive] {len(first)} objects, {total_bytes} bytes stored and "
                         f"archived in {elapsed:.2f} s ({len(first) / elapsed:.1f} objects/s, "
                         f"{total_bytes / elapsed / 1e6:.2f} MB/s, store included)\n")
        lag_lines = self.server.log_events("archive_lag")
        self.assertTrue(lag_lines, "no periodic archive_lag log line")

        # Outage: ingest goes on, the backlog grows.
        self.azurite.stop()
        second = harness.make_study(out / "second", series=1, instances=8)
        r = self.server.store(second)
        self.assertTrue(r.ok, "ingest must not depend on the archive store\n" + r.describe())
        time.sleep(1.5)
        during = self.server.archive_status()
        self.assertEqual(during["pending_events"], len(second), during)
        self.assertGreater(during["oldest_pending_age_ms"], 0)
        self.assertTrue(self.server.log_events("archive_retry_later"),
                        "the archiver did not report the outage")

        # The store returns: the backlog drains by itself.
        self.azurite.start()
        status, drain = self.wait_drained(len(first) + len(second), timeout=120)
        sys.stderr.write(f"[archive] backlog of {len(second)} drained {drain:.2f} s after "
                         f"Azurite came back\n")
        self.assertEqual(status["failed_objects"], 0)
        self.assertEqual(status["archived_objects"], len(first) + len(second))
        self.check_archived(first + second)
        self.assertEqual(self.server.stop(), 0)
        self.assertTrue(self.server.log_events("archiver_stopped"))


if __name__ == "__main__":
    harness.main()
