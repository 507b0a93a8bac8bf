"""Crash safety of the AI pipeline: `strata serve` is killed (SIGKILL) while it is scoring a
batch of radiographs and writing their studies' reports (no settle time, so a study's second
image often comes after its first report and yields a revision); after a restart every eligible instance has exactly one result, each
study has a findings report covering all its instances, every SR in the archive is one the
pipeline recorded, and no SR was written twice with different bytes.
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
        server = StrataServer(self.id(), config={"ai": {"workers": 1, "max_batch": 1,
                                                        "report_settle_ms": 0}})
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(register_model(server).ok)
        out = harness.temp_dir("strata-ai-crash-")
        files = harness.synth(out, preset="demo", patients=12, seed=21,
                              extra=["--lesion-fraction", "0.5"])
        sources = {harness.sop_instance_uid(f) for f in files}
        studies = {}
        for f in files:
            studies.setdefault(str(harness.read_meta(f).StudyInstanceUID), set()).add(
                harness.sop_instance_uid(f))

        def results() -> list[dict]:
            r = http_request(server.http_port, "GET", "/ai/v1/results?limit=1000", role="reader")
            return r.json()["results"] if r.status == 200 else []

        stored = server.store(files)
        self.assertTrue(stored.ok, stored.describe())
        # Kill as soon as some images are scored and reported, not all.
        seen = wait_for(lambda: (lambda rs: len(rs) if any(
            r["report_sop_instance_uid"] for r in rs) else None)(results()), timeout=60,
            interval=0.01)
        self.assertIsNotNone(seen, server.log_tail())
        server.kill9()
        sys.stderr.write(f"[ai-crash] killed with {seen} of {len(files)} results recorded\n")
        self.assertLess(seen, len(files), "the pipeline finished before the kill; no crash tested")

        server.start()

        def covered() -> list[dict] | None:
            """The results once each study's results all name one report."""
            rs = results()
            by_study = {}
            for r in rs:
                by_study.setdefault(r["study_instance_uid"], set()).add(r["report_sop_instance_uid"])
            return rs if len(rs) >= len(files) and all(
                len(u) == 1 and "" not in u for u in by_study.values()) else None

        done = wait_for(covered, timeout=120)
        self.assertIsNotNone(done, f"{len(results())} results\n{server.log_tail()}")
        time.sleep(1)  # anything a duplicate job would add shows up by now
        final = results()
        by_source = {}
        for r in final:
            by_source.setdefault(r["sop_instance_uid"], []).append(r)
        self.assertEqual(set(by_source), sources)
        self.assertTrue(all(len(v) == 1 for v in by_source.values()), by_source)

        # Each study's latest report covers all its instances (an instance scored after the
        # study's first report gives a revision that repeats the earlier findings).
        logged = {}
        for e in server.log_events("ai_report_stored"):
            logged.setdefault(e["report_sop_instance_uid"], e)
        latest = {}
        for r in final:
            latest.setdefault(r["study_instance_uid"], r["report_sop_instance_uid"])
        self.assertEqual(set(latest), set(studies))
        for study, report in latest.items():
            self.assertIn(report, logged)
            self.assertEqual(logged[report]["study_instance_uid"], study)
            self.assertEqual(logged[report]["instances"], len(studies[study]))
        # Every SR in the archive is a report the pipeline recorded, each in a single version.
        found = http_request(server.http_port, "GET",
                             "/dicomweb/instances?Modality=SR&limit=1000", role="reader")
        self.assertEqual(found.status, 200, found.text())
        listed = [i["00080018"]["Value"][0] for i in found.json()]
        self.assertEqual(sorted(listed), sorted(logged))
        # One SR per study and generation: generations 0, 1, ... with no gap and no repeat.
        generations = {}
        for e in logged.values():
            generations.setdefault(e["study_instance_uid"], []).append(e["generation"])
        for study, gens in generations.items():
            self.assertEqual(sorted(gens), list(range(len(gens))), study)
        feed = http_request(server.http_port, "GET", "/changefeed?limit=1000", role="reader")
        changes = feed.json()["changes"]
        self.assertNotIn("instance.replaced", [c["kind"] for c in changes])
        stored_uids = [c.get("sop_instance_uid") for c in changes if c["kind"] == "instance.stored"]
        for uid in sources | set(listed):
            self.assertEqual(stored_uids.count(uid), 1, uid)
        sys.stderr.write(f"[ai-crash] {len(studies)} studies, {len(listed)} reports\n")
        for kind in ("ai.infer", "ai.report"):
            jobs = http_request(server.http_port, "GET", f"/ai/v1/jobs?kind={kind}&limit=1000").json()
            self.assertEqual({j["state"] for j in jobs["jobs"]}, {"succeeded"}, jobs)
        jobs = http_request(server.http_port, "GET", "/ai/v1/jobs?kind=ai.infer&limit=1000").json()
        self.assertEqual(len(jobs["jobs"]), len(files))


if __name__ == "__main__":
    harness.main()
