"""DICOMweb bad input: each mistake gets the right 4xx with a readable reason, stores nothing,
and the server keeps serving."""

from __future__ import annotations

import socket
from pathlib import Path

import harness
from harness import E2ETestCase, StrataServer

MAX_BODY = 256 * 1024


class DicomWebBadInputTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = harness.temp_dir("strata-web-bad-")
        cls.files = harness.synth(cls.data / "tiny", preset="tiny", patients=1, seed=11)
        cls.server = StrataServer("dicomweb_bad_input.default",
                                  config={"http": {"max_body_bytes": MAX_BODY}}).start()
        cls.port = cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def post(self, body: bytes, content_type: str | None, path: str = "/dicomweb/studies",
             **headers) -> harness.HttpResult:
        if content_type is not None:
            headers["Content-Type"] = content_type
        return harness.http_request(self.port, "POST", path, body, headers)

    def assertRefused(self, r: harness.HttpResult, status: int, needle: str = "") -> None:
        self.assertEqual(r.status, status, r.body[:300])
        reason = r.json().get("reason", "")
        self.assertTrue(reason, r.body)
        self.assertIn(needle.lower(), reason.lower())

    def assertNothingStored(self) -> None:
        self.assertEqual(self.server.dicom_object_files(), [])
        self.assertEqual(self.server.staging_files(), [])
        self.assertEqual(harness.http_request(self.port, "GET", "/dicomweb/instances").json(), [])

    def assertStillServing(self) -> None:
        r = harness.http_request(self.port, "GET", "/dicomweb/studies")
        self.assertEqual(r.status, 200)
        self.assertToolOk(self.server.echo())

    def tearDown(self):
        self.assertNothingStored()
        self.assertStillServing()

    def test_wrong_content_type_is_415(self):
        payload = Path(self.files[0]).read_bytes()
        self.assertRefused(self.post(payload, "application/dicom"), 415, "multipart/related")
        self.assertRefused(self.post(payload, None), 415)
        body, _ = harness.multipart_related([payload])
        self.assertRefused(self.post(body, 'multipart/related; type="application/dicom+xml"; '
                                           'boundary=strata-e2e-boundary'), 415, "type")

    def test_malformed_multipart_is_400(self):
        payload = Path(self.files[0]).read_bytes()
        body, ctype = harness.multipart_related([payload])
        # Whole parts first, then a cut: those parts were already prepared while the body
        # arrived, and must be abandoned.
        several, _ = harness.multipart_related([Path(f).read_bytes() for f in self.files[:3]])
        cases = [
            (body[:-30], ctype, "closing boundary"),                 # cut before the end
            (several[:-30], ctype, "closing boundary"),
            (body, 'multipart/related; type="application/dicom"', "boundary"),  # no boundary
            (b"garbage without any boundary", ctype, "no boundary found"),
            (body.replace(b"Content-Type: application/dicom", b"No colon here"), ctype, "header"),
            (b"--strata-e2e-boundary--\r\n", ctype, "no parts"),
            (body, 'multipart/related; type="application/dicom"; boundary="unterminated', "quoted"),
        ]
        for data, content_type, needle in cases:
            with self.subTest(needle=needle):
                self.assertRefused(self.post(data, content_type), 400, needle)

    def test_oversized_body_is_413_before_storing(self):
        payloads = [Path(f).read_bytes() for f in self.files]
        body, ctype = harness.multipart_related(payloads * (MAX_BODY // len(b"".join(payloads)) + 1))
        self.assertGreater(len(body), MAX_BODY)
        self.assertRefused(self.post(body, ctype), 413, "exceeds")

    def test_oversized_chunked_body_is_413(self):
        payloads = [Path(f).read_bytes() for f in self.files]
        body, ctype = harness.multipart_related(payloads * (MAX_BODY // len(b"".join(payloads)) + 1))
        auth = harness.auth_header("writer")["Authorization"]
        request = (f"POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                   f"Authorization: {auth}\r\n"
                   f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        for i in range(0, len(body), 16384):
            piece = body[i:i + 16384]
            request += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        request += b"0\r\n\r\n"
        with socket.create_connection((harness.HOST, self.port), timeout=30) as sock:
            try:
                sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading everything
            response = b""
            while True:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                response += data
        self.assertTrue(response.startswith(b"HTTP/1.1 413"), response[:200])

    def test_invalid_uids_are_400(self):
        self.assertRefused(harness.http_request(self.port, "GET", "/dicomweb/studies/1.2.abc"),
                           400, "invalid")
        self.assertRefused(harness.http_request(
            self.port, "GET", "/dicomweb/studies/1.2.abc/series"), 400, "invalid")
        body, ctype = harness.multipart_related([Path(self.files[0]).read_bytes()])
        self.assertRefused(self.post(body, ctype, path="/dicomweb/studies/not..a.uid"), 400,
                           "invalid")

    def test_bad_query_parameters_are_400(self):
        for query, needle in [("limit=-3", "limit"), ("offset=x", "offset"),
                              ("NoSuchThing=1", "NoSuchThing"), ("StudyDate=2020-13-45", "StudyDate"),
                              ("fuzzymatching=perhaps", "fuzzymatching"),
                              ("includefield=Bogus", "includefield"),
                              ("SOPInstanceUID=1.2.3", "cannot be matched"),
                              ("StudyInstanceUID=1.2.x", "StudyInstanceUID"),
                              ("PatientID=%zz", "percent")]:
            with self.subTest(query=query):
                self.assertRefused(harness.http_request(
                    self.port, "GET", f"/dicomweb/studies?{query}"), 400, needle)

    def test_unparseable_part_fails_with_reason_and_409(self):
        body, ctype = harness.multipart_related([b"this is not DICOM at all" * 10])
        r = self.post(body, ctype)
        self.assertEqual(r.status, 409, r.body)
        failed = r.json()["00081198"]["Value"]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["00081197"]["Value"], [0xC000])
        self.assertIn("warning", r.headers)

    def test_instance_of_another_study_fails_on_scoped_stow(self):
        body, ctype = harness.multipart_related([Path(self.files[0]).read_bytes()])
        r = self.post(body, ctype, path="/dicomweb/studies/1.2.3.4.5")
        self.assertEqual(r.status, 409, r.body)
        failed = r.json()["00081198"]["Value"]
        self.assertEqual(failed[0]["00081197"]["Value"], [0xA900])
        self.assertIn("1.2.3.4.5", r.headers.get("warning", ""))

    def test_unknown_route_and_method(self):
        self.assertRefused(harness.http_request(self.port, "GET", "/dicomweb/nothing"), 404)
        self.assertRefused(harness.http_request(self.port, "DELETE", "/dicomweb/studies"), 405)


if __name__ == "__main__":
    harness.main()
