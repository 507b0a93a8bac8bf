"""The remote inference back end against a real KServe v2 server: Strata itself.

Strata A runs the demo model locally and serves it on /v2 (KServe v2 / Open Inference
Protocol). Strata B has `ai.engine = "kserve-v2"` pointed at A with a bearer token, so every
inference of B's pipeline is an HTTP call to A. A radiograph stored in B must get B's result
(engine "kserve-v2") with the same probability A's own online endpoint gives for the file. Also
checks A's /v2 routes directly: health, metadata, a malformed request (400 with the protocol's
{"error": ...}), and that they require a token.
"""

from __future__ import annotations

import json
import time
import unittest
from pathlib import Path

import harness
from harness import StrataServer, http_request
from test_ai_pipeline import MODEL, register_model, wait_for

TOKEN_ENV = "E2E_REMOTE_INFERENCE_TOKEN"


class RemoteEngineTest(unittest.TestCase):
    def test_pipeline_scores_through_a_remote_kserve_server(self):
        server_a = StrataServer(self.id() + ".a")
        server_a.start()
        self.addCleanup(server_a.stop)
        self.assertTrue(register_model(server_a).ok)

        # A's KServe routes.
        self.assertEqual(http_request(server_a.http_port, "GET", "/v2/health/ready",
                                      role=None).status, 200)
        self.assertEqual(http_request(server_a.http_port, "GET", f"/v2/models/{MODEL}",
                                      role=None).status, 401)
        meta = http_request(server_a.http_port, "GET", f"/v2/models/{MODEL}", role="reader")
        self.assertEqual(meta.status, 200, meta.text())
        self.assertEqual(meta.json()["inputs"][0]["shape"], [-1, 1, 64, 64])
        self.assertEqual(meta.json()["versions"], ["1.0.0"])
        bad = http_request(server_a.http_port, "POST", f"/v2/models/{MODEL}/infer",
                           body=b'{"inputs": [{"name": "input", "shape": [1, 1, 64, 64], '
                                b'"datatype": "FP32", "data": [1, 2, 3]}]}', role="reader")
        self.assertEqual(bad.status, 400, bad.text())
        self.assertIn("error", bad.json())

        server_b = StrataServer(self.id() + ".b", config={
            "ai": {"engine": "kserve-v2", "remote_url": f"http://{harness.HOST}:{server_a.http_port}",
                   "remote_token_env": TOKEN_ENV, "report_settle_ms": 200}},
            env={TOKEN_ENV: harness.TEST_TOKENS["reader"]})
        server_b.start()
        self.addCleanup(server_b.stop)
        self.assertTrue(register_model(server_b).ok)

        out = harness.temp_dir("strata-ai-remote-")
        files = harness.synth(out, preset="demo", seed=5, extra=["--lesion-fraction", "0.5"])
        stored = server_b.store(files)
        self.assertTrue(stored.ok, stored.describe())
        study = str(harness.read_meta(files[0]).StudyInstanceUID)

        def results():
            r = http_request(server_b.http_port, "GET", f"/ai/v1/results?study={study}",
                             role="reader").json()["results"]
            return r if len(r) == len(files) and all(x["report_sop_instance_uid"] for x in r) \
                else None

        done = wait_for(results, timeout=60)
        self.assertIsNotNone(done, server_b.log_tail())
        for result in done:
            self.assertEqual(result["engine"], "kserve-v2")
            path = next(f for f in files if harness.sop_instance_uid(f) == result["sop_instance_uid"])
            local = http_request(server_a.http_port, "POST", f"/ai/v1/models/{MODEL}/infer",
                                 body=path.read_bytes(), role="reader")
            self.assertEqual(local.status, 200, local.text())
            self.assertAlmostEqual(result["findings"][0]["probability"],
                                   local.json()["findings"][0]["probability"], places=5)
        # A served B's calls, audited as B's token.
        audit = harness.run_tool([harness.strata_bin(), "audit", "--config",
                                  str(server_a.config_path), "--action", "kserve.infer", "--json"])
        events = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
        self.assertTrue(events and all(e["actor"] == "e2e-reader" for e in events), audit.stdout)


if __name__ == "__main__":
    harness.main()
