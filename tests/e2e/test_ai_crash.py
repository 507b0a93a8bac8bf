"""Crash safety of the AI pipeline: `strata serve` is killed (SIGKILL) while it is scoring a
batch of radiographs; after a restart every eligible instance has exactly one result and one
findings report, and nothing was scored twice into a second report version.
"""

from __future__ import annotations

import sys
import time
import unittest

import harness
from harness import StrataServer, http_request
from test_ai_pipeline import register_model, wait_for


class AiCrashTest(unittest.TestCase):
    def test_kill_mid_inference_then_exactly_one_result_each(self):
        server = StrataServer(self.id(), config={"ai": {"workers": 1, "max_batch": 1}})
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(register_model(server).ok)
        out = harness.temp_dir("strata-ai-crash-")
        files = harness.synth(out, preset="demo", patients=12, seed=21,
                              extra=["--lesion-fraction", "0.5"])
        sources = {harness.sop_instance_uid(f) for f in files}

        def results() -> list[dict]:
            r = http_request(server.http_port, "GET", "/ai/v1/results?limit=1000", role="reader")
            return r.json()["results"] if r.status == 200 else []

        stored = server.store(files)
        self.assertTrue(stored.ok, stored.describe())
        # Kill as soon as some, not all, images are scored.
        seen = wait_for(lambda: len(results()) or None, timeout=60, interval=0.01)
        self.assertIsNotNone(seen, server.log_tail())
        server.kill9()
        sys.stderr.write(f"[ai-crash] killed with {seen} of {len(files)} results recorded\n")
        self.assertLess(seen, len(files), "the pipeline finished before the kill; no crash tested")

        server.start()
        done = wait_for(lambda: (lambda rs: rs if len(rs) >= len(files) and
                                 all(r["report_sop_instance_uid"] for r in rs) else None)(
                                     results()), timeout=120)
        self.assertIsNotNone(done, f"{len(results())} results\n{server.log_tail()}")
        time.sleep(1)  # anything a duplicate job would add shows up by now
        final = results()
        by_source = {}
        for r in final:
            by_source.setdefault(r["sop_instance_uid"], []).append(r)
        self.assertEqual(set(by_source), sources)
        self.assertTrue(all(len(v) == 1 for v in by_source.values()), by_source)

        # One SR per source in the archive, each in a single version.
        reports = {r["report_sop_instance_uid"] for r in final}
        self.assertEqual(len(reports), len(files))
        found = http_request(server.http_port, "GET",
                             "/dicomweb/instances?Modality=SR&limit=1000", role="reader")
        self.assertEqual(found.status, 200, found.text())
        listed = [i["00080018"]["Value"][0] for i in found.json()]
        self.assertEqual(sorted(listed), sorted(reports))
        # No report was written twice with different bytes (that would be a new version).
        feed = http_request(server.http_port, "GET", "/changefeed?limit=1000", role="reader")
        kinds = [c["kind"] for c in feed.json()["changes"]]
        self.assertEqual(kinds.count("instance.stored"), 2 * len(files))
        self.assertNotIn("instance.replaced", kinds)
        jobs = http_request(server.http_port, "GET", "/ai/v1/jobs?kind=ai.infer&limit=1000").json()
        self.assertEqual(len(jobs["jobs"]), len(files))
        self.assertEqual({j["state"] for j in jobs["jobs"]}, {"succeeded"})


if __name__ == "__main__":
    harness.main()
