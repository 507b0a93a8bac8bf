"""The local store as a bounded cache in front of the archive, end to end.

`strata serve` archives to a filesystem archive store (tiers emulated) and keeps a hot cache
bounded far below one study, so every archived object is evicted at once. Then:
- WADO-RS and C-GET of the evicted study fetch it back transparently, byte for byte;
- with the archive copies in the Archive tier, a read starts a rehydration and is answered
  503 with Retry-After (WADO-RS) or a failed sub-operation (C-GET), and succeeds by itself
  once the (short) rehydration delay has passed.
Prints the cache-miss WADO-RS latency against the cached one.
"""

from __future__ import annotations

import sys
import time
import unittest
from pathlib import Path

import harness
from harness import StrataServer, http_request


def same_dataset(part: bytes, path: Path) -> bool:
    """The retrieved object holds the data set that was sent (Strata writes its own preamble
    and file meta information around the received data set)."""
    import io

    import pydicom
    return pydicom.dcmread(io.BytesIO(part)) == pydicom.dcmread(str(path))


def wado_instance(server: StrataServer, path: Path) -> harness.HttpResult:
    ds = harness.read_meta(path)
    target = (f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
              f"/instances/{ds.SOPInstanceUID}")
    return http_request(server.http_port, "GET", target, role="reader",
                        headers={"Accept": "multipart/related; type=\"application/dicom\"",
                                 **harness.auth_header("reader")})


class HotCacheTest(unittest.TestCase):
    def start(self, tier: str, rehydration_delay: int = 0) -> StrataServer:
        config = harness.evicting_archive_config(tier, rehydration_delay)
        server = StrataServer(self.id(), config=config)
        server.start()
        self.addCleanup(server.stop)
        return server

    def store_and_wait_evicted(self, server: StrataServer, files: list[Path]) -> None:
        r = server.store(files)
        self.assertTrue(r.ok, r.describe())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = server.archive_status()
            if (status["archived_objects"] >= len(files) and status["pending_events"] == 0
                    and not server.dicom_object_files()):
                return
            time.sleep(0.2)
        self.fail(f"not archived and evicted: {server.archive_status()}, local files "
                  f"{server.dicom_object_files()}\n{server.log_tail()}")

    def test_evicted_objects_are_fetched_back(self):
        server = self.start("Hot")
        files = harness.make_study(harness.temp_dir("strata-cache-in-"), series=1, instances=4)
        self.store_and_wait_evicted(server, files)

        miss_times, hit_times = [], []
        for path in files:
            start = time.monotonic()
            r = wado_instance(server, path)
            miss_times.append(time.monotonic() - start)
            self.assertEqual(r.status, 200, r.text())
            parts = harness.parse_multipart(r.body, r.headers["content-type"])
            self.assertTrue(same_dataset(parts[0][1], path))
            start = time.monotonic()
            self.assertEqual(wado_instance(server, path).status, 200)
            hit_times.append(time.monotonic() - start)
        miss, hit = sorted(miss_times)[len(files) // 2], sorted(hit_times)[len(files) // 2]
        sys.stderr.write(f"[cache] WADO-RS instance p50: miss (fetch-back) {miss * 1000:.1f} ms, "
                         f"hit {hit * 1000:.1f} ms, ratio {miss / hit:.2f}\n")

        # Evicted again on the next pass; C-GET fetches back too.
        deadline = time.monotonic() + 30
        while server.dicom_object_files() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(server.dicom_object_files(), [])
        study = str(harness.read_meta(files[0]).StudyInstanceUID)
        out = harness.temp_dir("strata-cache-get-")
        got = server.get("STUDY", {"StudyInstanceUID": study}, out)
        self.assertEqual(got.final_status, 0, got.tool.describe())
        received = sorted(p for p in out.rglob("*") if p.is_file())
        self.assertEqual(len(received), len(files))

    def test_archive_tier_reads_wait_for_rehydration(self):
        server = self.start("Archive", rehydration_delay=3)
        files = harness.make_study(harness.temp_dir("strata-cache-in-"), series=1, instances=2)
        self.store_and_wait_evicted(server, files)

        first = wado_instance(server, files[0])
        self.assertEqual(first.status, 503, first.text())
        retry_after = int(first.headers.get("retry-after", "0"))
        self.assertTrue(1 <= retry_after <= 3, first.headers)
        self.assertIn("rehydrat", first.text())
        # C-GET while rehydrating: the sub-operation fails, nothing is sent.
        study = str(harness.read_meta(files[0]).StudyInstanceUID)
        out = harness.temp_dir("strata-cache-get-")
        got = server.get("STUDY", {"StudyInstanceUID": study}, out)
        # 0xA702: refused, out of resources, unable to perform sub-operations (PS3.4 C.4.3.1.4).
        self.assertEqual(got.final_status, 0xA702, got.tool.describe())
        self.assertEqual(got.counts().get("Failed"), len(files), got.tool.describe())
        self.assertEqual(list(out.rglob("*.dcm")) + [p for p in out.rglob("*") if p.is_file()],
                         [])

        time.sleep(retry_after + 0.5)
        for path in files:
            r = wado_instance(server, path)
            if r.status == 503:  # the second object's rehydration started with the C-GET
                time.sleep(int(r.headers.get("retry-after", "1")) + 0.5)
                r = wado_instance(server, path)
            self.assertEqual(r.status, 200, r.text())
            parts = harness.parse_multipart(r.body, r.headers["content-type"])
            self.assertTrue(same_dataset(parts[0][1], path))


if __name__ == "__main__":
    harness.main()
