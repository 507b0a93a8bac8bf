"""The AI pipeline end to end: chest radiographs stored with storescu get one DICOM SR of the
model's findings per study, stored in Strata and delivered to the PACS (Orthanc, started here)
by C-STORE and to a second one by STOW-RS (Orthanc with its DICOMweb plugin).

Registers the demo model with `strata model register` while `strata serve` runs, stores two of
a study's three chest views (with synthetic lesions) over DIMSE, then checks:
- /ai/v1/results: one result per image, positive, all naming the study's one report;
- the SR in Strata (QIDO-RS lists it) and in Orthanc (REST API), where it parses with pydicom
  and dsrdump and references both source instances;
- the third view, stored later, yields a revised SR with all three images that names the first
  in its Predecessor Documents Sequence, delivered too;
- the online endpoint (POST /ai/v1/models/{name}/infer) agrees with the stored result;
- a radiologist's review and the agreement statistics; the audit trail of the registration.
Prints the store-to-delivery latency.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import unittest
from pathlib import Path

import harness
from harness import Orthanc, StrataServer, http_request, wait_for

MODEL_DIR = Path(__file__).resolve().parent.parent.parent / "models" / "demo-chest-anomaly"
MODEL = "demo-chest-anomaly"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def register_model(server: StrataServer) -> harness.ToolResult:
    return harness.run_tool([harness.strata_bin(), "model", "register", "--config",
                             str(server.config_path), "--onnx", str(MODEL_DIR / "model.onnx"),
                             "--card", str(MODEL_DIR / "model_card.json"), "--by", "e2e-admin"])


class AiPipelineTest(unittest.TestCase):
    def setUp(self):
        self.pacs = Orthanc().start()
        self.addCleanup(self.pacs.close)
        # A second PACS that takes the reports over DICOMweb (STOW-RS).
        self.web_pacs = Orthanc(dicomweb=True).start()
        self.addCleanup(self.web_pacs.close)
        config = {
            "dimse": {"peers": [{"ae_title": Orthanc.aet, "host": harness.HOST,
                                 "port": self.pacs.port}]},
            "ai": {"notify": [Orthanc.aet], "notify_stow": [self.web_pacs.dicomweb_url],
                   "workers": 1, "report_settle_ms": 300},
        }
        self.server = StrataServer(self.id(), config=config)
        self.server.start()
        self.addCleanup(self.server.stop)

    def results(self, study: str) -> list[dict]:
        r = http_request(self.server.http_port, "GET", f"/ai/v1/results?study={study}",
                         role="reader")
        self.assertEqual(r.status, 200, r.text())
        return r.json()["results"]

    def in_one_report(self, study: str, count: int, not_in: set[str] = frozenset()):
        """The study's results once there are `count` and all name one report (not one of
        `not_in`); else None."""
        rs = self.results(study)
        uids = {r["report_sop_instance_uid"] for r in rs}
        return rs if len(rs) == count and len(uids) == 1 and not uids & (not_in | {""}) else None

    def test_radiograph_to_report_in_the_pacs(self):
        reg = register_model(self.server)
        self.assertTrue(reg.ok, reg.describe())
        self.assertIn("registered demo-chest-anomaly", reg.stdout)
        models = http_request(self.server.http_port, "GET", "/ai/v1/models", role="reader").json()
        self.assertEqual([m["name"] for m in models["models"]], [MODEL])
        self.assertTrue(models["models"][0]["active"])

        out = harness.temp_dir("strata-ai-e2e-")
        all_files = harness.synth(out, preset="demo", seed=11,
                                  extra=["--lesion-fraction", "1", "--series-per-study", "3"])
        self.assertEqual(len(all_files), 3)
        files, late_file = all_files[:2], all_files[2]
        import pydicom
        sources = {}
        for f in files:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
            sources[str(ds.SOPInstanceUID)] = ds
        study = str(next(iter(sources.values())).StudyInstanceUID)
        started = time.monotonic()
        stored = self.server.store(files)
        self.assertTrue(stored.ok, stored.describe())

        # One result per image, all in the study's one report.
        done = wait_for(lambda: self.in_one_report(study, len(files)), timeout=60)
        self.assertIsNotNone(done, f"results: {self.results(study)}\n{self.server.log_tail()}")
        by_source = {r["sop_instance_uid"]: r for r in done}
        self.assertEqual(set(by_source), set(sources))
        for r in done:
            self.assertEqual(r["model"], MODEL)
            self.assertTrue(r["positive"], r)  # every image carries a synthetic lesion
            self.assertEqual(r["findings"][0]["label"], "synthetic_lesion")
        report_uid = done[0]["report_sop_instance_uid"]
        logged = [e for e in self.server.log_events("ai_report_stored")
                  if e.get("report_sop_instance_uid") == report_uid]
        self.assertTrue(logged, self.server.log_tail())
        self.assertEqual((logged[0]["study_instance_uid"], logged[0]["instances"],
                          logged[0]["generation"]), (study, 2, 0))

        # In the PACS: the report arrives, parses, and references both source images.
        orthanc_id = wait_for(lambda: self.pacs.find_instance(report_uid), timeout=60)
        self.assertIsNotNone(orthanc_id, "report not delivered to Orthanc:\n" +
                             self.server.log_tail())
        web_id = wait_for(lambda: self.web_pacs.find_instance(report_uid), timeout=60)
        self.assertIsNotNone(web_id, "report not delivered by STOW-RS:\n" + self.server.log_tail())
        self.assertEqual(self.web_pacs.instance_file(web_id), self.pacs.instance_file(orthanc_id),
                         "the same report bytes by C-STORE and by STOW-RS")
        latency = time.monotonic() - started
        sys.stderr.write(f"[ai] {len(files)} radiographs: C-STORE to SR in the PACS "
                         f"in {latency:.2f} s (settle 0.3 s)\n")
        sr = self.check_report(out, orthanc_id, report_uid, sources)
        self.assertNotIn("PredecessorDocumentsSequence", sr)

        # In Strata: the report is an instance like any other.
        qido = http_request(self.server.http_port, "GET",
                            f"/dicomweb/studies/{study}/instances?Modality=SR", role="reader")
        self.assertEqual(qido.status, 200, qido.text())
        self.assertEqual({i["00080018"]["Value"][0] for i in qido.json()}, {report_uid})

        # A late view of the study: a revised report with all three images, naming the first.
        late = pydicom.dcmread(str(late_file), stop_before_pixels=True)
        stored = self.server.store([late_file])
        self.assertTrue(stored.ok, stored.describe())
        revised = wait_for(lambda: self.in_one_report(study, 3, {report_uid}), timeout=60)
        self.assertIsNotNone(revised, f"{self.results(study)}\n{self.server.log_tail()}")
        revised_uid = revised[0]["report_sop_instance_uid"]
        revised_id = wait_for(lambda: self.pacs.find_instance(revised_uid), timeout=60)
        self.assertIsNotNone(revised_id, self.server.log_tail())
        sr = self.check_report(out, revised_id, revised_uid,
                               {**sources, str(late.SOPInstanceUID): late})
        self.assertEqual(sr.InstanceNumber, 2)
        self.assertEqual([str(i.ReferencedSOPInstanceUID)
                          for e in sr.PredecessorDocumentsSequence
                          for s in e.ReferencedSeriesSequence
                          for i in s.ReferencedSOPSequence], [report_uid])
        self.assertIsNotNone(wait_for(lambda: self.web_pacs.find_instance(revised_uid), timeout=60))

        # The online endpoint gives the stored result's findings for the same image.
        some_uid, some_file = next((str(pydicom.dcmread(str(f), stop_before_pixels=True)
                                        .SOPInstanceUID), f) for f in files)
        online = http_request(self.server.http_port, "POST", f"/ai/v1/models/{MODEL}/infer",
                              body=some_file.read_bytes(),
                              headers={"Content-Type": "application/dicom",
                                       **harness.auth_header("reader")})
        self.assertEqual(online.status, 200, online.text())
        self.assertAlmostEqual(online.json()["findings"][0]["probability"],
                               by_source[some_uid]["findings"][0]["probability"], places=5)
        garbage = http_request(self.server.http_port, "POST", f"/ai/v1/models/{MODEL}/infer",
                               body=b"not dicom", role="reader")
        self.assertEqual(garbage.status, 400, garbage.text())
        unknown = http_request(self.server.http_port, "POST", "/ai/v1/models/nope/infer",
                               body=some_file.read_bytes(), role="reader")
        self.assertEqual(unknown.status, 404, unknown.text())

        # A radiologist reviews a result; the statistics count it.
        rid = by_source[some_uid]["id"]
        review = http_request(self.server.http_port, "POST", f"/ai/v1/results/{rid}/review",
                              body=json.dumps({"agree": True, "comment": "nodule seen"}).encode(),
                              headers={"Content-Type": "application/json",
                                       **harness.auth_header("reader")})
        self.assertEqual(review.status, 201, review.text())
        self.assertEqual(review.json()["reviewer"], "e2e-reader")
        bad = http_request(self.server.http_port, "POST", f"/ai/v1/results/{rid}/review",
                           body=b'{"agree": "yes"}', role="reader")
        self.assertEqual(bad.status, 400)
        missing = http_request(self.server.http_port, "POST", "/ai/v1/results/99999/review",
                               body=b'{"agree": true}', role="reader")
        self.assertEqual(missing.status, 404)
        stats = http_request(self.server.http_port, "GET", "/ai/v1/stats", role="reader").json()
        row = stats["models"][0]
        self.assertEqual((row["results"], row["reviewed"], row["agreed"]), (3, 1, 1))
        detail = http_request(self.server.http_port, "GET", f"/ai/v1/results/{rid}",
                              role="reader").json()
        self.assertEqual(detail["reviews"][0]["comment"], "nodule seen")

        # Deliveries are visible to admins, and only to them.
        jobs = http_request(self.server.http_port, "GET", "/ai/v1/jobs?kind=ai.notify")
        self.assertEqual(jobs.status, 200, jobs.text())
        self.assertEqual({j["state"] for j in jobs.json()["jobs"]}, {"succeeded"}, jobs.text())
        self.assertEqual(http_request(self.server.http_port, "GET", "/ai/v1/jobs",
                                      role="reader").status, 403)
        # Only a failed job can be retried; the refusal says why.
        done_job = jobs.json()["jobs"][0]["id"]
        retry = http_request(self.server.http_port, "POST", f"/ai/v1/jobs/{done_job}/retry")
        self.assertEqual(retry.status, 409, retry.text())
        self.assertIn("not failed", retry.text())
        self.assertEqual(http_request(self.server.http_port, "POST", "/ai/v1/jobs/999999/retry").status,
                         404)
        self.assertEqual(http_request(self.server.http_port, "POST", f"/ai/v1/jobs/{done_job}/retry",
                                      role="reader").status, 403)
        self.assertEqual(http_request(self.server.http_port, "GET", "/ai/v1/results",
                                      role=None).status, 401)

        # The registration is in the audit trail.
        audit = harness.run_tool([harness.strata_bin(), "audit", "--config",
                                  str(self.server.config_path), "--action", "model.register",
                                  "--json"])
        self.assertTrue(audit.ok, audit.describe())
        events = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
        self.assertEqual(len(events), 1, audit.stdout)
        self.assertEqual(events[0]["actor"], "e2e-admin")
        self.assertEqual(events[0]["outcome"], "success")

    def check_report(self, out: Path, orthanc_id: str, report_uid: str, sources: dict):
        """The report as Orthanc holds it: parsed with pydicom and dsrdump, in the sources'
        study, listing exactly `sources` (SOP Instance UID -> data set) as evidence."""
        import pydicom
        path = out / f"{report_uid}.dcm"
        path.write_bytes(self.pacs.instance_file(orthanc_id))
        sr = pydicom.dcmread(str(path))
        self.assertEqual(sr.SOPClassUID, COMPREHENSIVE_SR)
        self.assertEqual(sr.Modality, "SR")
        source = next(iter(sources.values()))
        self.assertEqual(sr.StudyInstanceUID, source.StudyInstanceUID)
        self.assertEqual(sr.PatientID, source.PatientID)
        referenced = {str(item.ReferencedSOPInstanceUID)
                      for e in sr.CurrentRequestedProcedureEvidenceSequence
                      for s in e.ReferencedSeriesSequence
                      for item in s.ReferencedSOPSequence}
        self.assertEqual(referenced, set(sources))
        text = sr_text(sr)
        self.assertIn(MODEL, text)
        self.assertEqual(text.count("synthetic_lesion"), len(sources))
        dump = subprocess.run(["dsrdump", "+Pu", str(path)], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        for uid in sources:
            self.assertIn(uid, dump.stdout)
        return sr


def sr_text(ds) -> str:
    """Every text, code meaning and number of the SR content tree, flattened."""
    parts = []

    def walk(items):
        for item in items:
            for attr in ("TextValue", "UID"):
                if attr in item:
                    parts.append(str(item.get(attr)))
            if "ConceptCodeSequence" in item:
                parts.append(str(item.ConceptCodeSequence[0].CodeMeaning))
            if "ConceptNameCodeSequence" in item:
                parts.append(str(item.ConceptNameCodeSequence[0].CodeMeaning))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(ds.ContentSequence)
    return "\n".join(parts)


if __name__ == "__main__":
    harness.main()
