"""Retention, legal hold and soft delete end to end (DESIGN.md contract 2: nothing under
retention or legal hold is deleted or overwritten; deletes are recoverable first).

One `strata serve` with [retention] default_years = 10 and soft_delete_days = 0. A study
stored with storescu whose StudyDate is today is retained by default, so:
- DELETE /dicomweb/studies/{study} answers 409 naming the retention, and the study stays;
- a changed object under the same SOP Instance UID is refused (C-STORE failure, STOW 409);
- after `strata admin retention set --until <yesterday>`, DELETE answers 200 and the study is
  gone from QIDO-RS, C-FIND, WADO-RS (404) and C-GET; `strata admin restore` brings it back
  byte-identical (C-GET);
- a legal hold blocks the delete even though retention expired (HTTP and CLI);
- `strata admin purge` removes the soft-deleted study's files; it cannot be restored after;
- the change feed shows study.deleted / study.restored / study.purged, and the audit log
  every action.
Run: /usr/bin/python3 tests/e2e/test_retention.py build-retention/src/app/strata
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import unittest
from pathlib import Path

import harness
from harness import StrataServer, http_request

DICOM_JSON = "application/dicom+json"


def today(delta_days: int = 0) -> str:
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=delta_days)
    return day.strftime("%Y%m%d")


class RetentionTest(harness.E2ETestCase):
    def setUp(self):
        config = {
            "retention": {"default_years": 10, "soft_delete_days": 0},
            "ai": {"enabled": False},
        }
        self.server = StrataServer(self.id(), config=config)
        self.server.start()
        self.addCleanup(self.server.close)
        self.port = self.server.http_port
        self.work = harness.temp_dir("strata-retention-e2e-")
        self.files = harness.make_study(self.work / "study", instances=2, StudyDate=today(),
                                        PatientID="RET-1")
        import pydicom
        self.study = str(pydicom.dcmread(str(self.files[0]), stop_before_pixels=True)
                         .StudyInstanceUID)
        self.assertToolOk(self.server.store(self.files))

    # Helpers ------------------------------------------------------------------------------

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([harness.strata_bin(), "admin", *args, "--config",
                               str(self.server.config_path), "--by", "e2e-operator"],
                              capture_output=True, text=True, timeout=60)

    def delete(self, role: str = "admin"):
        return http_request(self.port, "DELETE", f"/dicomweb/studies/{self.study}", role=role)

    def qido_count(self) -> int:
        r = http_request(self.port, "GET", f"/dicomweb/studies?StudyInstanceUID={self.study}",
                         headers={"Accept": DICOM_JSON}, role="reader")
        self.assertIn(r.status, (200, 204), r.text())
        return len(r.json() or []) if r.status == 200 else 0

    def cfind_count(self) -> int:
        found = self.server.find("STUDY", {"StudyInstanceUID": self.study})
        self.assertToolOk(found.tool)
        return len(found.responses)

    def wado_status(self) -> int:
        return http_request(self.port, "GET", f"/dicomweb/studies/{self.study}",
                            headers={"Accept": 'multipart/related; type="application/dicom"'},
                            role="reader").status

    def cget(self, name: str) -> list[Path]:
        out = self.work / name
        out.mkdir()
        result = self.server.get("STUDY", {"StudyInstanceUID": self.study}, out)
        self.assertIsNotNone(result.final_status, result.tool.describe())
        return sorted(out.iterdir())

    def audit_actions(self) -> list[dict]:
        records = []
        for _ in range(50):
            out = subprocess.run([harness.strata_bin(), "audit", "--config",
                                  str(self.server.config_path), "--json", "--limit", "100000"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
            if any(r["action"] == "study.purge" for r in records):
                break
            time.sleep(0.1)
        return [r for r in records if r["action"].startswith("study.")]

    def changes(self) -> list[str]:
        r = http_request(self.port, "GET", "/changefeed?limit=1000", role="reader")
        self.assertEqual(r.status, 200, r.text())
        return [c["kind"] for c in r.json()["changes"]
                if c.get("study_instance_uid") == self.study]

    def study_files(self) -> list[Path]:
        return [p for p in self.server.dicom_object_files() if self.study in p.parts]

    # The scenario -------------------------------------------------------------------------

    def test_retention_hold_delete_restore_purge(self):
        # Retained by default (StudyDate today + 10 years).
        protection = json.loads(self.admin("protection", "--study", self.study, "--json").stdout)
        self.assertEqual(protection["retention_until"], str(int(today()[:4]) + 10) + today()[4:])
        self.assertTrue(protection["retained"])

        # Only admins may delete.
        self.assertEqual(self.delete(role="writer").status, 403)
        refused = self.delete()
        self.assertEqual(refused.status, 409, refused.text())
        self.assertIn("retention until", refused.json()["reason"])
        self.assertEqual(self.qido_count(), 1)
        self.assertEqual(self.cfind_count(), 1)

        # Not overwritten: a changed object under the same SOP Instance UID is refused.
        import pydicom
        original = pydicom.dcmread(str(self.files[0]))
        changed = harness.derive_instance(self.files[0], self.work / "changed.dcm",
                                          SOPInstanceUID=str(original.SOPInstanceUID),
                                          StudyDescription="changed after the fact")
        stored = self.server.store([changed])
        self.assertTrue(stored.statuses and harness.is_failure_status(stored.statuses[-1]),
                        stored.describe())
        self.assertEqual(stored.statuses[-1], 0xA900, stored.describe())
        body, ctype = harness.multipart_related([changed.read_bytes()])
        stow = http_request(self.port, "POST", f"/dicomweb/studies/{self.study}", body,
                            {"Content-Type": ctype, "Accept": DICOM_JSON}, role="writer")
        self.assertEqual(stow.status, 409, stow.text())
        before = self.cget("before")
        self.assertEqual(len(before), len(self.files))

        # Retention expired yesterday: the delete goes through, softly.
        set_ = self.admin("retention", "set", "--study", self.study, "--until", today(-1))
        self.assertEqual(set_.returncode, 0, set_.stderr)
        deleted = self.delete()
        self.assertEqual(deleted.status, 200, deleted.text())
        self.assertEqual(deleted.json()["state"], "deleted")
        self.assertEqual(self.qido_count(), 0)
        self.assertEqual(self.cfind_count(), 0)
        self.assertEqual(self.wado_status(), 404)
        self.assertEqual(self.cget("while-deleted"), [])
        self.assertEqual(len(self.study_files()), len(self.files))  # nothing removed yet
        self.assertEqual(self.delete().status, 404)  # already deleted

        # Restore: back, byte-identical.
        restored = self.admin("restore", "--study", self.study)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        self.assertEqual(self.qido_count(), 1)
        self.assertEqual(self.wado_status(), 200)
        after = self.cget("after")
        self.assertEqual(len(after), len(before))
        by_uid = {harness.sop_instance_uid(p): p for p in after}
        for f in self.files:
            self.assertSameDatasetBytes(f, by_uid[harness.sop_instance_uid(f)])

        # A legal hold blocks the delete although retention has expired.
        hold = self.admin("hold", "set", "--study", self.study, "--reason", "litigation 2026-17")
        self.assertEqual(hold.returncode, 0, hold.stderr)
        held = self.delete()
        self.assertEqual(held.status, 409, held.text())
        self.assertIn("legal hold (litigation 2026-17", held.json()["reason"])
        cli_delete = self.admin("delete", "--study", self.study)
        self.assertEqual(cli_delete.returncode, 4, cli_delete.stderr)
        self.assertIn("legal hold", cli_delete.stderr)
        self.assertEqual(self.qido_count(), 1)
        clear = self.admin("hold", "clear", "--study", self.study, "--reason", "case closed")
        self.assertEqual(clear.returncode, 0, clear.stderr)

        # Delete from the CLI, then purge (soft_delete_days = 0): the files go.
        cli_delete = self.admin("delete", "--study", self.study)
        self.assertEqual(cli_delete.returncode, 0, cli_delete.stderr)
        dry = self.admin("purge", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn(f"would purge {self.study}", dry.stdout)
        self.assertEqual(len(self.study_files()), len(self.files))
        purge = self.admin("purge")
        self.assertEqual(purge.returncode, 0, purge.stderr)
        self.assertIn(f"purged {self.study}", purge.stdout)
        self.assertEqual(self.study_files(), [])
        gone = self.admin("restore", "--study", self.study)
        self.assertEqual(gone.returncode, 3, gone.stderr)
        self.assertEqual(self.qido_count(), 0)

        # The change feed and the audit trail.
        self.assertEqual([k for k in self.changes() if k.startswith("study.")],
                         ["study.protection_changed",  # retention set
                          "study.deleted", "study.restored",
                          "study.protection_changed",  # hold set
                          "study.protection_changed",  # hold cleared
                          "study.deleted", "study.purged"])
        actions = [(r["action"], r["outcome"], r["protocol"]) for r in self.audit_actions()
                   if r["study_uid"] == self.study]
        for expected in [("study.delete", "failure", "http"),
                         ("study.delete", "success", "http"),
                         ("study.retention.set", "success", "cli"),
                         ("study.restore", "success", "cli"),
                         ("study.hold.set", "success", "cli"),
                         ("study.delete", "failure", "cli"),
                         ("study.hold.clear", "success", "cli"),
                         ("study.delete", "success", "cli"),
                         ("study.purge", "success", "cli"),
                         ("study.restore", "failure", "cli")]:
            self.assertIn(expected, actions)
        cli = [r for r in self.audit_actions() if r["protocol"] == "cli"]
        self.assertTrue(all(r["actor"] == "e2e-operator" for r in cli))


class ArchiveProtectionTest(harness.E2ETestCase):
    """`[archive] protect_copies`: the archive store itself refuses to delete or overwrite the
    copies of a retained or held study (the filesystem archive emulates Azure's immutability
    policies and legal holds in its tier sidecars)."""

    def setUp(self):
        self.archive_dir = harness.temp_dir("strata-worm-archive-")
        config = {
            "archive": {"backend": "filesystem", "path": str(self.archive_dir),
                        "protect_copies": True, "poll_interval_ms": 100, "max_backoff_ms": 500},
            "retention": {"default_years": 10},
            "ai": {"enabled": False},
        }
        self.server = StrataServer(self.id(), config=config)
        self.server.start()
        self.addCleanup(self.server.close)
        self.files = harness.make_study(harness.temp_dir("strata-worm-in-"), instances=2,
                                        StudyDate=today(), PatientID="WORM-1")
        import pydicom
        self.study = str(pydicom.dcmread(str(self.files[0]), stop_before_pixels=True)
                         .StudyInstanceUID)
        self.assertToolOk(self.server.store(self.files))

    def admin(self, *args: str) -> None:
        r = subprocess.run([harness.strata_bin(), "admin", *args, "--config",
                            str(self.server.config_path), "--by", "e2e-operator"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def sidecars(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in (self.archive_dir / ".tiers").rglob("*.json")
                if self.study in p.parts]

    def wait_for(self, what: str, check) -> list[dict]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = self.sidecars()
            if len(states) == len(self.files) and all(check(s) for s in states):
                return states
            time.sleep(0.2)
        self.fail(f"archive copies never {what}: {self.sidecars()}\n{self.server.log_tail()}")

    def test_archive_copies_carry_retention_and_hold(self):
        end_of_retention = datetime.datetime.strptime(
            str(int(today()[:4]) + 10) + today()[4:], "%Y%m%d").replace(
                tzinfo=datetime.timezone.utc) + datetime.timedelta(days=1)
        until_ms = int(end_of_retention.timestamp() * 1000)
        self.wait_for("retained", lambda s: s.get("retain_until_ms") == until_ms)

        self.admin("hold", "set", "--study", self.study, "--reason", "litigation 2026-18")
        self.wait_for("held", lambda s: s.get("legal_hold") is True)

        self.admin("hold", "clear", "--study", self.study, "--reason", "case closed")
        self.admin("retention", "set", "--study", self.study, "--until", today(-1))
        yesterday_end = int((datetime.datetime.strptime(today(), "%Y%m%d").replace(
            tzinfo=datetime.timezone.utc)).timestamp() * 1000)
        self.wait_for("released", lambda s: "legal_hold" not in s
                      and s.get("retain_until_ms") == yesterday_end)


if __name__ == "__main__":
    harness.main()
