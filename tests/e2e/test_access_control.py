"""Access control and audit end to end: API tokens and roles on every DICOMweb route, CORS,
and the audit log of DICOMweb and DIMSE accesses read back with `strata audit`.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import shutil
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import pydicom

import harness
from harness import E2ETestCase, StrataServer

DICOM_JSON = "application/dicom+json"
VIEWER_ORIGIN = "https://viewer.example"


class AccessControlTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = harness.temp_dir("strata-access-data-")
        cls.files = harness.synth(cls.data / "tiny", preset="tiny", patients=1, seed=11)
        cls.server = StrataServer(
            "access_control", config={"auth": {"cors_allowed_origins": [VIEWER_ORIGIN]}}).start()
        cls.port = cls.server.http_port
        cls.studies = {pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID
                       for f in cls.files}
        cls.study = sorted(cls.studies)[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.data, ignore_errors=True)

    def stow(self, role: str | None, files=None, headers=None):
        body, ctype = harness.multipart_related([Path(f).read_bytes() for f in (files or self.files)])
        h = {"Content-Type": ctype, "Accept": DICOM_JSON}
        h.update(headers or {})
        return harness.http_request(self.port, "POST", "/dicomweb/studies", body, h, role=role)

    def audit(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([harness.strata_bin(), "audit", "--config",
                               str(self.server.config_path), *args],
                              capture_output=True, text=True, timeout=60)

    def audit_records(self, *args: str) -> list[dict]:
        # The writer commits in the background; wait until the newest request shows up.
        out = self.audit("--json", "--limit", "100000", *args)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def test_every_route_needs_credentials(self):
        for method, path in [("GET", "/dicomweb/studies"), ("GET", "/dicomweb/series"),
                             ("GET", f"/dicomweb/studies/{self.study}"),
                             ("GET", f"/dicomweb/studies/{self.study}/metadata"),
                             ("POST", "/dicomweb/studies")]:
            r = harness.http_request(self.port, method, path, b"" if method == "POST" else None,
                                     role=None)
            self.assertEqual(r.status, 401, f"{method} {path}")
            self.assertIn("Basic", r.headers.get("www-authenticate", ""))
            self.assertIn("credentials", r.text())
        wrong = harness.http_request(self.port, "GET", "/dicomweb/studies",
                                     headers={"Authorization": "Bearer not-a-token"}, role=None)
        self.assertEqual(wrong.status, 401)
        self.assertIn("invalid token", wrong.text())

    def test_roles(self):
        denied = self.stow("reader")
        self.assertEqual(denied.status, 403)
        self.assertIn("needs writer", denied.text())
        self.assertEqual(harness.http_request(self.port, "GET", "/dicomweb/studies",
                                              role="reader").status, 200)
        stored = self.stow("writer")
        self.assertEqual(stored.status, 200, stored.text())
        found = harness.http_request(self.port, "GET", f"/dicomweb/studies?StudyInstanceUID={self.study}",
                                     role="reader")
        self.assertEqual(len(found.json()), 1)
        self.assertEqual(harness.http_request(self.port, "GET", "/dicomweb/studies",
                                              role="writer").status, 200)

    def test_basic_credentials_as_a_browser_sends_them(self):
        good = base64.b64encode(b"e2e-reader:" + harness.TEST_TOKENS["reader"].encode()).decode()
        r = harness.http_request(self.port, "GET", "/dicomweb/studies",
                                 headers={"Authorization": f"Basic {good}"}, role=None)
        self.assertEqual(r.status, 200)
        other = base64.b64encode(b"e2e-admin:" + harness.TEST_TOKENS["reader"].encode()).decode()
        r = harness.http_request(self.port, "GET", "/dicomweb/studies",
                                 headers={"Authorization": f"Basic {other}"}, role=None)
        self.assertEqual(r.status, 401)

    def test_cors(self):
        pre = harness.http_request(self.port, "OPTIONS", "/dicomweb/studies", headers={
            "Origin": VIEWER_ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"}, role=None)
        self.assertEqual(pre.status, 204)
        self.assertIn("Authorization", pre.headers.get("access-control-allow-headers", ""))
        self.assertEqual(pre.headers.get("access-control-allow-origin"), VIEWER_ORIGIN)
        r = harness.http_request(self.port, "GET", "/dicomweb/studies",
                                 headers={"Origin": VIEWER_ORIGIN}, role="reader")
        self.assertEqual(r.headers.get("access-control-allow-origin"), VIEWER_ORIGIN)
        evil = harness.http_request(self.port, "OPTIONS", "/dicomweb/studies", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, role=None)
        self.assertEqual(evil.status, 403)
        self.assertNotIn("access-control-allow-origin", evil.headers)
        r = harness.http_request(self.port, "GET", "/dicomweb/studies",
                                 headers={"Origin": "https://evil.example"}, role="reader")
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_changefeed_pages_the_archive_history(self):
        self.assertEqual(self.stow("writer").status, 200)
        self.assertEqual(harness.http_request(self.port, "GET", "/changefeed", role=None).status,
                         401)
        seen, offset = [], 0
        while True:
            r = harness.http_request(self.port, "GET", f"/changefeed?offset={offset}&limit=2",
                                     role="reader")
            self.assertEqual(r.status, 200, r.text())
            page = r.json()
            self.assertLessEqual(len(page["changes"]), 2)
            seen += page["changes"]
            offset = page["next_offset"]
            if page["done"]:
                break
        seqs = [c["seq"] for c in seen]
        self.assertEqual(seqs, sorted(set(seqs)))
        stored = {c["sop_instance_uid"] for c in seen if c["kind"] == "instance.stored"}
        for f in self.files:
            self.assertIn(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID, stored)
        self.assertTrue(all(c["time"].endswith("Z") and "blob_key" not in c for c in seen))
        # A time window after everything is empty; bad parameters are 400 with a reason.
        late = harness.http_request(self.port, "GET", "/changefeed?since=2999-01-01T00:00:00Z",
                                    role="reader")
        self.assertEqual(late.json()["changes"], [])
        for bad in ["limit=0", "offset=-1", "since=yesterday", "colour=blue"]:
            r = harness.http_request(self.port, "GET", f"/changefeed?{bad}", role="reader")
            self.assertEqual(r.status, 400, bad)
            self.assertTrue(r.text(), bad)

    def test_admin_series_state(self):
        self.assertEqual(self.stow("writer").status, 200)
        ds = pydicom.dcmread(self.files[0], stop_before_pixels=True)
        path = f"/admin/v1/series/{ds.SeriesInstanceUID}/activity"
        self.assertEqual(harness.http_request(self.port, "GET", path, role=None).status, 401)
        self.assertEqual(harness.http_request(self.port, "GET", path, role="reader").status, 403)
        r = harness.http_request(self.port, "GET", path + "?quiet_seconds=0", role="admin")
        self.assertEqual(r.status, 200, r.text())
        state = r.json()
        self.assertEqual(state["study_instance_uid"], ds.StudyInstanceUID)
        self.assertEqual(state["modality"], ds.Modality)
        self.assertGreaterEqual(state["instances"], 1)
        self.assertTrue(state["last_received"].endswith("Z"))
        self.assertLessEqual(state["last_received_ms"], time.time() * 1000 + 1000)
        self.assertTrue(state["stable"])
        unknown = harness.http_request(self.port, "GET", "/admin/v1/series/9.9.9/activity",
                                       role="admin")
        self.assertEqual(unknown.status, 404)
        # Every series is stable for 0 s; none (received in this run) for a day.
        listed = harness.http_request(self.port, "GET", "/admin/v1/series?stable_for_seconds=0",
                                      role="admin").json()
        self.assertIn(ds.SeriesInstanceUID, [s["series_instance_uid"] for s in listed["series"]])
        day = harness.http_request(self.port, "GET", "/admin/v1/series?stable_for_seconds=86400",
                                   role="admin").json()
        self.assertEqual(day["series"], [])
        self.assertEqual(harness.http_request(self.port, "GET", "/admin/v1/series",
                                              role="admin").status, 400)
        for _ in range(50):  # audited like every route; the writer commits in the background
            if self.audit_records("--action", "admin.series_activity"):
                break
            time.sleep(0.1)
        self.assertTrue(self.audit_records("--action", "admin.series_activity"))

    def test_audit_records_dicomweb_and_dimse_accesses(self):
        self.assertEqual(self.stow("writer").status, 200)
        self.assertEqual(self.stow("reader").status, 403)
        r = harness.http_request(self.port, "GET", f"/dicomweb/studies/{self.study}/metadata",
                                 role="reader")
        self.assertEqual(r.status, 200)
        self.assertTrue(self.server.store(self.files[:1]).ok)
        self.assertTrue(self.server.echo().ok)

        records = []
        for _ in range(50):  # the audit writer commits within milliseconds; allow for load
            records = self.audit_records()
            if any(rec["action"] == "dimse.echo" for rec in records):
                break
            time.sleep(0.1)
        stores = [rec for rec in records if rec["action"] == "stow.store"
                  and rec["actor"] == "e2e-writer"]
        self.assertGreaterEqual(len(stores), len(self.files))
        self.assertTrue(all(rec["study_uid"] in self.studies and rec["instance_uid"]
                            and rec["source"] == "127.0.0.1" and rec["outcome"] == "success"
                            for rec in stores))
        denied = [rec for rec in records if rec["outcome"] == "denied"
                  and rec["actor"] == "e2e-reader" and rec["action"] == "stow.request"]
        self.assertTrue(denied)
        self.assertTrue(any(rec["action"] == "wado.metadata" and rec["study_uid"] == self.study
                            and rec["role"] == "reader" for rec in records))
        dimse = [rec for rec in records if rec["protocol"] == "dimse"]
        self.assertTrue(any(rec["action"] == "dimse.store" and
                            rec["actor"] == f"ae:{self.server.calling_ae}" for rec in dimse))
        anonymous = [rec for rec in records if rec["actor"] == "anonymous"]
        for rec in anonymous:
            self.assertEqual(rec["outcome"], "denied")

        # Filters and the human-readable form.
        only = self.audit_records("--actor", "e2e-writer", "--action", "stow.store")
        self.assertTrue(only and all(rec["actor"] == "e2e-writer" for rec in only))
        table = self.audit("--study", self.study)
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("stow.store", table.stdout)
        verify = self.audit("verify")
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        self.assertIn("intact", verify.stdout)


class HttpsTest(E2ETestCase):
    """HTTPS with a configured certificate: TLS 1.2+ only, plain HTTP and old TLS refused."""

    @classmethod
    def setUpClass(cls):
        cls.tls = harness.temp_dir("strata-tls-")
        cls.cert, cls.key = cls.tls / "cert.pem", cls.tls / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(cls.key), "-out", str(cls.cert)],
                       check=True, capture_output=True)
        cls.server = StrataServer("access_control.https", config={"http": {
            "tls_certificate": str(cls.cert), "tls_private_key": str(cls.key)}}).start()
        cls.port = cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tls, ignore_errors=True)

    def context(self, maximum=None):
        ctx = ssl.create_default_context(cafile=str(self.cert))
        if maximum:
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = maximum
            ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        return ctx

    def test_curl_over_https_with_token(self):
        out = subprocess.run(["curl", "-sS", "--cacert", str(self.cert), "-H",
                              f"Authorization: Bearer {harness.TEST_TOKENS['reader']}",
                              "-w", "\n%{http_code} %{ssl_verify_result}",
                              f"https://127.0.0.1:{self.port}/dicomweb/studies"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.endswith("200 0"), out.stdout[-200:])
        unauth = subprocess.run(["curl", "-sS", "--cacert", str(self.cert), "-o", "/dev/null",
                                 "-w", "%{http_code}", f"https://127.0.0.1:{self.port}/dicomweb/studies"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(unauth.stdout, "401")

    def test_keep_alive_requests_share_one_tls_connection(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(), timeout=30)
        try:
            for _ in range(3):
                conn.request("GET", "/dicomweb/studies", headers=harness.auth_header("reader"))
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200)
            self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
        finally:
            conn.close()

    def test_old_tls_and_plain_http_are_refused(self):
        # The same client settings up to TLS 1.2 connect, so the refusal below is the server's.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.context(ssl.TLSVersion.TLSv1_2).wrap_socket(
                    raw, server_hostname="127.0.0.1") as tls:
                self.assertEqual(tls.version(), "TLSv1.2")
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with self.context(ssl.TLSVersion.TLSv1_1).wrap_socket(
                        raw, server_hostname="127.0.0.1"):
                    pass
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{self.port}/dicomweb/studies"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.stdout, "200")
        # And it still serves.
        self.test_curl_over_https_with_token()


if __name__ == "__main__":
    harness.main()
