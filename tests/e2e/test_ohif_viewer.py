"""OHIF on Strata: `strata serve` serves the prebuilt OHIF viewer at / (SPA fallback,
generated app-config.js) and a synthetic CT study stored over DIMSE is drawn by the viewer
in headless Chromium (npm playwright-core, Debian chromium).

Needs the viewer (`tools/setup_viewer.sh`, or $STRATA_VIEWER_DIR), /usr/bin/chromium (or
$STRATA_CHROMIUM), node and playwright-core in <repo>/node_modules. A missing piece is a
failure with the reason, never a skip: the viewer working is what this suite shows.
The screenshot is kept in the artefact folder (tests/e2e/out/ohif_viewer/viewer.png).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pydicom

import harness
from harness import E2ETestCase, StrataServer

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "ohif_viewer.mjs"


def viewer_dir() -> Path:
    return Path(os.environ.get("STRATA_VIEWER_DIR", REPO / ".deps" / "ohif" / "dist"))


def chromium_path() -> str:
    return os.environ.get("STRATA_CHROMIUM", "/usr/bin/chromium")


class OhifViewerTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.missing = []
        if not (viewer_dir() / "index.html").is_file():
            cls.missing.append(f"no OHIF viewer at {viewer_dir()} (run tools/setup_viewer.sh "
                               f"or set STRATA_VIEWER_DIR)")
        if not os.access(chromium_path(), os.X_OK):
            cls.missing.append(f"no chromium at {chromium_path()} (apt-get install chromium)")
        if not shutil.which("node"):
            cls.missing.append("no node on PATH")
        if not (REPO / "node_modules" / "playwright-core").is_dir():
            cls.missing.append("no playwright-core in node_modules (npm ci)")
        cls.server = None
        if cls.missing:
            return
        cls.data = harness.temp_dir("strata-ohif-data-")
        cls.files = harness.synth(cls.data / "ct", preset="ct", patients=1, seed=31,
                                  extra=["--studies-per-patient", "1", "--series-per-study", "1",
                                         "--instances-per-series", "4"])
        cls.study_uid = pydicom.dcmread(cls.files[0], stop_before_pixels=True).StudyInstanceUID
        # The same slices as a second study compressed with JPEG-LS: OHIF then gets the stored
        # bit streams (image/jls parts) and decodes them itself.
        cls.jls_study_uid = harness.new_uid()
        series_uid = harness.new_uid()
        cls.jls_files = []
        for i, path in enumerate(cls.files):
            native = harness.derive_instance(path, cls.data / "jls" / f"{i}.src.dcm",
                                             StudyInstanceUID=cls.jls_study_uid,
                                             SeriesInstanceUID=series_uid)
            out = cls.data / "jls" / f"{i}.dcm"
            harness.run_tool(["dcmcjpls", str(native), str(out)]).ok or cls.missing.append(
                "dcmcjpls failed")
            cls.jls_files.append(out)
        cls.server = StrataServer("ohif_viewer",
                                  config={"viewer": {"dir": str(viewer_dir())}}).start()
        cls.store = cls.server.store(cls.files)
        cls.jls_store = cls.server.store(cls.jls_files, extra=["-R", "-xt"])

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()
            shutil.rmtree(cls.data, ignore_errors=True)

    def setUp(self):
        if self.missing:
            self.fail("cannot run the OHIF viewer test: " + "; ".join(self.missing))

    def get(self, path: str, **headers) -> harness.HttpResult:
        return harness.http_request(self.server.http_port, "GET", path, headers=headers,
                                    role=None)

    def test_static_files_and_spa_fallback(self):
        index = (viewer_dir() / "index.html").read_bytes()
        for path in ("/", "/viewer", "/viewer/1.2.3.4", "/studies-list/x"):
            r = self.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.body, index, path)
            self.assertTrue(r.headers["content-type"].startswith("text/html"), path)
        wasm = sorted(viewer_dir().glob("*.wasm"))[0]
        r = self.get("/" + wasm.name)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/wasm")
        self.assertEqual(r.body, wasm.read_bytes())
        self.assertEqual(int(r.headers["content-length"]), wasm.stat().st_size)
        for pattern, media in (("app.bundle.*.js", "text/javascript"), ("*.css", "text/css"),
                               ("manifest.json", "application/json"), ("*.woff2", "font/woff2"),
                               ("*.svg", "image/svg+xml")):
            match = sorted(viewer_dir().glob(pattern))
            self.assertTrue(match, pattern)
            r = self.get("/" + match[0].name)
            self.assertEqual(r.status, 200, pattern)
            self.assertTrue(r.headers["content-type"].startswith(media),
                            (pattern, r.headers["content-type"]))
        # A missing asset is a 404, not index.html.
        self.assertEqual(self.get("/no-such-bundle.js").status, 404)
        # /dicomweb never falls back to the viewer.
        self.assertEqual(self.get("/dicomweb/no-such-route", **harness.auth_header()).status,
                         404)

    def test_path_traversal_is_refused(self):
        for path in ("/../strata.toml", "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fx",
                     "/.hidden", "/a%5c..%5cb"):
            r = self.get(path)
            self.assertIn(r.status, (400, 404), path)
            self.assertNotIn(b"root:", r.body)

    def test_generated_app_config_points_at_own_dicomweb(self):
        r = self.get("/app-config.js")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/javascript"))
        text = r.text()
        self.assertIn("window.location.origin + '/dicomweb'", text)
        self.assertIn("imageRendering: 'wadors'", text)
        self.assertNotIn("cloudfront", text.lower())
        self.assertNotEqual(r.body, (viewer_dir() / "app-config.js").read_bytes())

    def test_viewer_draws_the_stored_study(self):
        self.assertToolOk(self.store)
        self.open_in_viewer(self.study_uid, "viewer")

    def test_viewer_draws_a_jpeg_ls_study(self):
        self.assertToolOk(self.jls_store)
        uid = harness.sop_instance_uid(self.jls_files[0])
        stored = [p for p in self.server.dicom_object_files() if uid in p.name]
        self.assertEqual(len(stored), 1)
        self.assertEqual(harness.transfer_syntax(stored[0]), "1.2.840.10008.1.2.4.80")
        series = pydicom.dcmread(str(self.jls_files[0]), stop_before_pixels=True).SeriesInstanceUID
        r = harness.http_request(
            self.server.http_port, "GET",
            f"/dicomweb/studies/{self.jls_study_uid}/series/{series}/instances/{uid}/frames/1",
            headers={"Accept": 'multipart/related; type="application/octet-stream"; '
                               'transfer-syntax="*"'})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertIn(b"Content-Type: image/jls; transfer-syntax=1.2.840.10008.1.2.4.80",
                      r.body[:400])
        self.open_in_viewer(self.jls_study_uid, "viewer_jls")

    def open_in_viewer(self, study_uid: str, name: str):
        out = self.server.artefacts
        shot = out / f"{name}.png"
        url = (f"http://{harness.HOST}:{self.server.http_port}/viewer?"
               f"StudyInstanceUIDs={study_uid}")
        env = {"STRATA_CHROMIUM": chromium_path()}
        if "auth" in self.server.config:
            env["STRATA_E2E_HTTP_CREDENTIALS"] = f"e2e-reader:{harness.TEST_TOKENS['reader']}"
        result = harness.run_tool(["node", str(DRIVER), url, str(shot), "90"], timeout=180,
                                  cwd=REPO, env=env)
        (out / f"{name}.driver.log").write_text(result.output)
        self.assertEqual(result.returncode, 0, result.describe())
        report = json.loads(result.stdout.strip().splitlines()[-1])
        (out / f"{name}.report.json").write_text(json.dumps(report, indent=2))
        self.assertTrue(shot.is_file() and shot.stat().st_size > 10000, "no screenshot")
        summary = json.dumps({k: report[k] for k in ("canvas", "pageErrors", "framesAccept")},
                             indent=1)[:3000]
        self.assertTrue(report["drawn"], f"the image was not drawn; see {out}\n{summary}")
        self.assertEqual(report["pageErrors"], [], summary)
        # The canvas measured is the viewport's, not a study-browser thumbnail.
        self.assertGreaterEqual(report["canvas"]["shownWidth"], 400, summary)
        statuses = {}
        for r in report["requests"]:
            kind = ("frames" if "/frames/" in r["path"] else
                    "metadata" if r["path"].endswith("/metadata") else "other")
            statuses.setdefault(kind, set()).add(r["status"])
        self.assertEqual(statuses.get("frames"), {200}, report["requests"][-20:])
        self.assertEqual(statuses.get("metadata"), {200}, report["requests"][-20:])
        # OHIF asks for frames as stored (transfer-syntax=*), the path Strata must get right.
        self.assertTrue(report["framesAccept"], "no /frames request seen")
        self.assertIn("transfer-syntax", report["framesAccept"][0])
        events = self.server.log_events("http_request")
        self.assertTrue(any(e.get("route", "").endswith("/frames/{frames}")
                            and e.get("status") == 200 for e in events))


if __name__ == "__main__":
    harness.main()
