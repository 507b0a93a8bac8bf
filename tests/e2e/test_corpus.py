"""Ingest of pydicom's test corpus, one file at a time, through storescu.

For every file under pydicom's test_files and charset_files (recursively):
  1. storescu sends it to a bit-preserving storescp (+B). The association profile offers
     each (SOP class, transfer syntax) pair of the corpus as its own presentation context
     with exactly one syntax, so storescu sends every file in its own syntax; the storescp
     file holds the exact data set bytes storescu puts on the wire. If storescu will not send
     a file (not DICOM, no SOP instance, ...) it is "not sendable" (not a server failure).
  2. storescu sends the file alone to Strata with the same profile, so Strata receives the
     same bytes over the same presentation context (the context ID is compared).
  3. Stored (success/warning): C-MOVE it back to a storescp accepting only that SOP class in
     that syntax and require the data set bytes to equal what was sent.
     Refused with a failure status: the server's log must have a line about that instance
     giving a reason.
     Refused at negotiation (presentation context rejected): recorded; a failure when it is a
     standard storage SOP class in an uncompressed little-endian syntax, which Strata's
     DimseServer promises to accept.
  4. After every file the server still answers C-ECHO.
The test prints a table (one line per file) and a summary, and fails on any file that broke
a property; it holds no list of expected outcomes.

Files sharing a SOP Instance UID (the corpus has one image in many syntaxes) go to separate
rounds, each on a fresh server, so a retrieve by UID names exactly one object.

Run: python3 test_corpus.py [path/to/strata]
     STRATA_E2E_CORPUS_FILTER=JPEG2000 python3 test_corpus.py ...   (only matching paths)
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import pydicom

import harness
import robust_util as ru

CORPUS_ROOTS = [
    Path("/usr/lib/python3/dist-packages/pydicom/data/test_files"),
    Path("/usr/lib/python3/dist-packages/pydicom/data/charset_files"),
]
DEST_AE = "CORPUSDEST"

NOT_SENDABLE = "not sendable"
STORED = "stored+identical"
MISMATCH = "stored, retrieved DIFFERENT"
NOT_RETRIEVED = "stored, NOT retrievable"
REFUSED = "refused with reason"
REFUSED_NO_REASON = "refused WITHOUT logged reason"
CONTEXT_REJECTED = "presentation context rejected"
CONTEXT_REJECTED_BAD = "presentation context rejected (uncompressed standard class)"
NO_RESPONSE = "NO RESPONSE (association lost)"
SERVER_DOWN = "SERVER DOWN after this file"

FAILING = {MISMATCH, NOT_RETRIEVED, REFUSED_NO_REASON, CONTEXT_REJECTED_BAD, NO_RESPONSE, SERVER_DOWN}


def corpus_files() -> list[Path]:
    """Every corpus file; $STRATA_E2E_CORPUS_FILTER (a regex on the path) narrows it for
    debugging one file."""
    files = []
    for root in CORPUS_ROOTS:
        files += [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    pattern = os.environ.get("STRATA_E2E_CORPUS_FILTER")
    if pattern:
        files = [p for p in files if re.search(pattern, str(p))]
    return sorted(files)


class Identity:
    """What the test needs to know about a corpus file to build the one-syntax profile."""

    def __init__(self, path: Path):
        self.path = path
        self.name = str(path.relative_to(CORPUS_ROOTS[0].parent))
        self.sop_classes: list[str] = []
        self.sop_instance: str | None = None
        self.transfer_syntaxes: list[str] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(str(path), force=True, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - unreadable files are still handed to storescu
                ds = None
        if ds is None:
            return
        meta = getattr(ds, "file_meta", None)
        for value in (ds.get("SOPClassUID"), meta.get("MediaStorageSOPClassUID") if meta else None):
            if value is not None and str(value).strip() and str(value) not in self.sop_classes:
                self.sop_classes.append(str(value).strip())
        uid = ds.get("SOPInstanceUID")
        self.sop_instance = str(uid).strip() if uid is not None and str(uid).strip() else None
        ts = meta.get("TransferSyntaxUID") if meta else None
        if ts is not None and str(ts).strip():
            self.transfer_syntaxes = [str(ts).strip()]
        else:
            # No meta header: storescu picks the context whose syntax matches what DCMTK
            # detects; offer each uncompressed syntax in its own context.
            self.transfer_syntaxes = list(ru.UNCOMPRESSED_TS)

    def contexts(self) -> list[tuple[str, str]]:
        classes = self.sop_classes or [ru.CT_IMAGE_STORAGE]  # storescu will refuse it anyway
        return [(c, t) for c in classes for t in self.transfer_syntaxes]


def make_rounds(identities: list[Identity]) -> list[list[Identity]]:
    """Splits files so that no round holds two files with the same SOP Instance UID."""
    rounds: list[list[Identity]] = []
    used: list[set] = []
    for ident in identities:
        for i, r in enumerate(rounds):
            if ident.sop_instance is None or ident.sop_instance not in used[i]:
                r.append(ident)
                if ident.sop_instance:
                    used[i].add(ident.sop_instance)
                break
        else:
            rounds.append([ident])
            used.append({ident.sop_instance} if ident.sop_instance else set())
    return rounds


class Outcome:
    def __init__(self, ident: Identity, category: str, detail: str = ""):
        self.ident = ident
        self.category = category
        self.detail = detail


class CorpusTest(harness.E2ETestCase):
    def test_every_corpus_file(self):
        files = corpus_files()
        self.assertTrue(files, "pydicom test corpus not found")
        identities = [Identity(p) for p in files]
        rounds = make_rounds(identities)
        outcomes: list[Outcome] = []
        for n, members in enumerate(rounds):
            outcomes += self.run_round(n, members)
            if outcomes and outcomes[-1].category == SERVER_DOWN:
                break
        self.print_summary(outcomes, len(files))
        bad = [o for o in outcomes if o.category in FAILING]
        stored = [o for o in outcomes if o.category == STORED]
        self.assertGreater(len(stored), 0, "no corpus file was stored and retrieved")
        self.assertEqual(
            [], [f"{o.ident.name}: {o.category}: {o.detail}" for o in bad],
            f"{len(bad)} corpus files broke a property (see the summary above)")

    def run_round(self, n: int, members: list[Identity]) -> list[Outcome]:
        """One server; the round's files captured in one batch, then each file stored,
        retrieved and followed by a C-ECHO."""
        work = harness.out_dir(f"corpus.round{n}.work")
        contexts = sorted({c for ident in members for c in ident.contexts()})
        # One SCU profile for both receivers: every (class, syntax) pair as its own context, so
        # storescu picks the same context (the file's own syntax) for the capture and Strata.
        profile = ru.write_profile(work / "scu.cfg", contexts)
        wire = self.capture(n, members, contexts, profile)

        dest_port = harness.free_port()
        config = {"dimse": {"peers": [{"ae_title": DEST_AE, "host": harness.HOST, "port": dest_port}]}}
        outcomes = []
        dest: ru.ProfileSink | None = None
        dest_pair = None
        # Files with the same (class, syntax) share one C-MOVE destination.
        order = sorted(members, key=lambda i: wire[i.path][1:3] if i.path in wire else ("", ""))
        try:
            with harness.StrataServer(f"corpus.round{n}", config=config) as srv:
                for ident in order:
                    if ident.path not in wire:
                        outcomes.append(Outcome(ident, NOT_SENDABLE, self.unsendable[ident.path][:200]))
                        continue
                    wire_file, sop_class, wire_ts, context_id = wire[ident.path]
                    if dest_pair != (sop_class, wire_ts):
                        if dest:
                            dest.stop()
                        dest = ru.ProfileSink(f"corpus.round{n}.dest", [(sop_class, wire_ts)], ae_title=DEST_AE,
                                              port=dest_port).start()
                        dest_pair = (sop_class, wire_ts)
                    outcomes.append(self.run_file(srv, ident, profile, wire_file, wire_ts, context_id, dest))
                    echo = srv.echo()
                    if not echo.ok or not srv.running():
                        outcomes.append(Outcome(ident, SERVER_DOWN, f"C-ECHO failed after {ident.name}; log "
                                                                    f"tail:\n{srv.log_tail()}"))
                        break
        finally:
            if dest:
                dest.stop()
        return outcomes

    def capture(self, n: int, members: list[Identity], contexts, profile) -> dict:
        """Sends the round's files to a bit-preserving storescp accepting exactly `contexts`.
        Returns {path: (captured file, SOP class, transfer syntax, presentation context ID)} for
        the files storescu sent; the reasons for the others go to self.unsendable."""
        self.unsendable: dict[Path, str] = {}
        wire = {}
        paths = [i.path for i in members]
        with ru.ProfileSink(f"corpus.round{n}.capture", contexts) as sink:
            r = harness.storescu(sink.port, paths, called_ae="ANY-SCP", extra=["-xf", str(profile), "P", "-nh"],
                                 timeout=900)
        segments = ru.split_by_file(r.output, paths)
        for path in paths:
            seg = segments.get(path, "")
            rsp = ru.parse_store_responses(seg)
            captured = sink.file_for(rsp[0].sop_instance_uid) if rsp and rsp[0].succeeded else None
            if captured is None:
                errors = [e for e in ru.tool_errors(r.output) if str(path) in e] + ru.tool_errors(seg)
                self.unsendable[path] = "; ".join(dict.fromkeys(errors)) or "storescu did not send it"
                continue
            meta = harness.read_meta(captured)
            wire[path] = (captured, str(meta.SOPClassUID), str(meta.file_meta.TransferSyntaxUID),
                          rsp[0].context_id)
        return wire

    def run_file(self, srv: harness.StrataServer, ident: Identity, profile: Path, wire_file: Path, wire_ts: str,
                 context_id: int | None, dest: ru.ProfileSink) -> Outcome:
        wire = harness.read_meta(wire_file)
        sop_uid = str(wire.SOPInstanceUID)

        # The same bytes to Strata (same profile, so the same context unless Strata rejects it).
        result = srv.store([ident.path], extra=["-xf", str(profile), "P", "-nh"])
        responses = ru.parse_store_responses(result.output)
        standard_uncompressed = (ru.is_standard_storage_class(str(wire.SOPClassUID))
                                 and wire_ts in (ru.TS_EXPLICIT_LE, ru.TS_IMPLICIT_LE))
        if not responses:
            errors = ru.tool_errors(result.output)
            if any("No presentation context" in e for e in errors):
                category = CONTEXT_REJECTED_BAD if standard_uncompressed else CONTEXT_REJECTED
                return Outcome(ident, category, f"{wire_ts} / {wire.SOPClassUID}")
            return Outcome(ident, NO_RESPONSE, "; ".join(errors)[:300] or result.describe()[-500:])
        rsp = responses[0]
        if rsp.context_id != context_id:
            # Strata rejected the file's own context and storescu converted for another one.
            category = CONTEXT_REJECTED_BAD if standard_uncompressed else CONTEXT_REJECTED
            return Outcome(ident, category, f"{wire_ts} / {wire.SOPClassUID} rejected: storescu used context "
                                            f"{rsp.context_id} instead of {context_id}")
        if not rsp.succeeded:
            line, reason = ru.refusal_reason(srv.log_lines(), sop_uid)
            status = f"0x{rsp.status:04X}"
            if reason:
                return Outcome(ident, REFUSED, f"{status} comment={rsp.error_comment!r} log: {reason}"[:300])
            return Outcome(ident, REFUSED_NO_REASON,
                           f"{status} comment={rsp.error_comment!r}; log line: {line}"[:400])

        # Back out via C-MOVE to a receiver accepting only the syntax it was sent in.
        keys = {"StudyInstanceUID": str(wire.get("StudyInstanceUID", "")),
                "SeriesInstanceUID": str(wire.get("SeriesInstanceUID", "")),
                "SOPInstanceUID": sop_uid}
        dest.clear()
        moved = srv.move("IMAGE", keys, DEST_AE)
        back = dest.file_for(sop_uid)
        if back is None or moved.final_status != 0:
            return Outcome(ident, NOT_RETRIEVED,
                           f"C-MOVE status={moved.final_status} counts={moved.counts()} "
                           f"errors={ru.tool_errors(moved.tool.output)}"[:400])
        diff = harness.compare_dataset_bytes(wire_file, back)
        if diff:
            kept = harness.out_dir(f"corpus.mismatch.{ident.name}")
            shutil.copy(wire_file, kept / "sent.dcm")
            shutil.copy(back, kept / "retrieved.dcm")
            return Outcome(ident, MISMATCH, f"{diff} (copies in {kept})")
        return Outcome(ident, STORED, f"0x{rsp.status:04X} {wire_ts}")

    def print_summary(self, outcomes: list[Outcome], total: int) -> None:
        out = sys.stderr
        out.write(f"\n=== corpus ingest: {total} files ===\n")
        width = max(len(o.ident.name) for o in outcomes)
        for o in outcomes:
            out.write(f"{o.ident.name:<{width}}  {o.category:<32} {o.detail.splitlines()[0] if o.detail else ''}\n")
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.category] = counts.get(o.category, 0) + 1
        out.write("--- summary ---\n")
        for category, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            out.write(f"{n:5d}  {category}{'   <-- FAILURE' if category in FAILING else ''}\n")
        out.flush()


if __name__ == "__main__":
    harness.main()
