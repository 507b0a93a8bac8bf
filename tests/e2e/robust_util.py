"""Helpers for the robustness suites (test_corpus, test_crash, test_full_disk).

Adds what harness.py does not have:
  write_profile()            a DCMTK association profile proposing/accepting exactly one
                             transfer syntax per presentation context (storescu/storescp -xf)
  ProfileSink                harness.StoreScp restricted to such a profile (+B: wire bytes)
  parse_store_responses()    every C-STORE response of a storescu -d run: SOP Instance UID,
                             status, error comment, presentation context
  split_by_file()            a storescu log cut into the part about each file
  StreamingStore             storescu -d as a child whose acknowledgements are counted live
                             (to kill the server after exactly N acknowledgements)
  make_ct_series()           small synthetic CT instances written with pydicom
  refusal_reason()           the server's JSON log line explaining a refused instance
  object_inventory()         stored object files vs. staging files of the object store
  find_instances(), check_counts(), retrieve_series()
                             catalog checks over DIMSE
  private_tmpfs(), free_bytes()
                             a small tmpfs in a private mount namespace

Thread-safety: none; each test drives its processes from its main thread (StreamingStore
reads its child's output on a thread of its own).
"""

from __future__ import annotations

import ctypes
import os
import random
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Iterable, Sequence

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import harness

TS_IMPLICIT_LE = "1.2.840.10008.1.2"
TS_EXPLICIT_LE = "1.2.840.10008.1.2.1"
TS_DEFLATED_LE = "1.2.840.10008.1.2.1.99"
TS_EXPLICIT_BE = "1.2.840.10008.1.2.2"
UNCOMPRESSED_TS = (TS_EXPLICIT_LE, TS_IMPLICIT_LE, TS_EXPLICIT_BE)
VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def is_standard_storage_class(uid: str) -> bool:
    """True for a storage SOP class of the DICOM standard (pydicom's UID dictionary)."""
    from pydicom._uid_dict import UID_dictionary

    entry = UID_dictionary.get(uid)
    return bool(entry) and entry[1] == "SOP Class" and "Storage" in entry[0] and entry[3] != "Retired"


# ---------------------------------------------------------------------------------------------
# Association profiles.


def write_profile(path: str | Path, contexts: Sequence[tuple[str, str]], for_scp: bool = False) -> Path:
    """Writes a DCMTK association configuration file (format: DCMTK's asconfig.txt) with a
    profile "P" for the (SOP class, transfer syntax) pairs in `contexts`, plus Verification.

    For an SCU (storescu -xf) each pair is its own presentation context proposing exactly
    that one syntax. For an SCP (storescp -xf, which wants one entry per SOP class) the pairs
    are grouped per SOP class, so it accepts exactly the listed syntaxes.
    """
    path = Path(path)
    groups: list[tuple[str, tuple[str, ...]]] = []
    if for_scp:
        per_class: dict[str, list[str]] = {}
        for sop, ts in contexts:
            per_class.setdefault(sop, [])
            if ts not in per_class[sop]:
                per_class[sop].append(ts)
        groups = [(sop, tuple(ts)) for sop, ts in per_class.items()]
    else:
        groups = [(sop, (ts,)) for sop, ts in contexts]
    lines = ["[[TransferSyntaxes]]"]
    keys: dict[tuple[str, ...], str] = {}
    for _, ts_list in groups:
        if ts_list not in keys:
            keys[ts_list] = f"TS{len(keys) + 1}"
            lines.append(f"[{keys[ts_list]}]")
            lines += [f"TransferSyntax{i + 1} = {ts}" for i, ts in enumerate(ts_list)]
    lines += ["[TSECHO]", f"TransferSyntax1 = {TS_IMPLICIT_LE}", f"TransferSyntax2 = {TS_EXPLICIT_LE}"]
    lines += ["[[PresentationContexts]]", "[PCS]"]
    for n, (sop, ts_list) in enumerate(groups, start=1):
        lines.append(f"PresentationContext{n} = {sop}\\{keys[ts_list]}")
    lines.append(f"PresentationContext{len(groups) + 1} = {VERIFICATION}\\TSECHO")
    lines += ["[[Profiles]]", "[P]", "PresentationContexts = PCS", ""]
    path.write_text("\n".join(lines))
    return path


class ProfileSink(harness.StoreScp):
    """A storescp (+B, so files hold the exact data set bytes that came over the wire) that
    accepts only the presentation contexts of one profile. Same contract as StoreScp."""

    def __init__(self, name: str, contexts: Sequence[tuple[str, str]], ae_title: str = "SINK",
                 port: int | None = None):
        super().__init__(name, ae_title=ae_title, port=port)
        profile = write_profile(self.artefacts / "profile.cfg", contexts, for_scp=True)
        self.extra = ["-xf", str(profile), "P"]

    def file_for(self, sop_instance_uid: str) -> Path | None:
        for p in self.files():
            if p.name.split(".", 1)[-1] == sop_instance_uid:
                return p
        return None


# ---------------------------------------------------------------------------------------------
# storescu output.


class StoreResponse:
    """One C-STORE response as storescu -d printed it."""

    def __init__(self, sop_instance_uid: str | None, status: int, error_comment: str | None,
                 context_id: int | None = None):
        self.sop_instance_uid = sop_instance_uid
        self.status = status
        self.error_comment = error_comment
        self.context_id = context_id  # presentation context the exchange used

    @property
    def succeeded(self) -> bool:
        return self.status == 0 or (self.status & 0xF000) == 0xB000

    def __repr__(self) -> str:
        return f"StoreResponse({self.sop_instance_uid}, 0x{self.status:04X}, {self.error_comment!r})"


_RSP_BLOCK = re.compile(r"Message Type\s+: C-STORE RSP(.*?)END DIMSE MESSAGE", re.S)
_RSP_SOP = re.compile(r"Affected SOP Instance UID\s+: (\S+)")
_RSP_STATUS = re.compile(r"DIMSE Status\s+: 0x([0-9A-Fa-f]{4})")
_RSP_CONTEXT = re.compile(r"Presentation Context ID\s+: (\d+)")
_ERROR_COMMENT = re.compile(r"\(0000,0902\) LO \[(.*?)\]")


def parse_store_responses(output: str) -> list[StoreResponse]:
    """C-STORE responses in a storescu -d log, in order. The error comment, if the SCP sent
    one, is in the "Status Detail" dump between a response and the next file."""
    responses = []
    blocks = list(_RSP_BLOCK.finditer(output))
    for i, m in enumerate(blocks):
        status = _RSP_STATUS.search(m.group(1))
        if not status:
            continue
        sop = _RSP_SOP.search(m.group(1))
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(output)
        tail = output[m.end():end].split("Sending file:")[0]
        comment = _ERROR_COMMENT.search(tail)
        context = _RSP_CONTEXT.search(m.group(1))
        responses.append(StoreResponse(sop.group(1) if sop else None, int(status.group(1), 16),
                                       comment.group(1) if comment else None,
                                       int(context.group(1)) if context else None))
    return responses


def tool_errors(output: str) -> list[str]:
    """A dcmtk tool's own E:/F: lines."""
    return [l for l in output.splitlines() if l.startswith(("E: ", "F: "))]


def split_by_file(output: str, paths: Sequence[Path]) -> dict[Path, str]:
    """Splits a storescu log into the part about each file ("Sending file: <path>" up to the
    next such line). Files storescu never started to send have no entry."""
    by_name = {str(p): p for p in paths}
    out: dict[Path, str] = {}
    parts = re.split(r"^I: Sending file: (.*)$", output, flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2]):
        path = by_name.get(name.strip())
        if path is not None:
            out[path] = body
    return out


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class StreamingStore:
    """storescu -d -nh sending `files` in the background; counts success responses as they
    arrive, so a test can act after exactly N acknowledgements.

    Call wait_for_acks(n) then finish(); `output` then holds the whole log. The child is killed
    (by PID) if this process dies or finish() times out.
    """

    def __init__(self, port: int, files: Sequence[str | Path], called_ae: str = harness.DEFAULT_AE,
                 profile: str | Path | None = None, log_path: str | Path | None = None):
        args = ["storescu", "-d", "-nh", "-to", "5", "-ta", "10", "-td", "30", "-aet", harness.CALLING_AE,
                "-aec", called_ae]
        if profile:
            args += ["-xf", str(profile), "P"]
        args += [harness.HOST, str(port), *[str(f) for f in files]]
        env = dict(os.environ)
        env["TCP_NODELAY"] = "1"
        self.log_path = Path(log_path) if log_path else None
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_die_with_parent)
        self._lines: list[str] = []
        self._acks = 0
        self._cond = threading.Condition()
        self._in_rsp = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                if "Message Type" in line and "C-STORE RSP" in line:
                    self._in_rsp = True
                elif self._in_rsp and "DIMSE Status" in line:
                    self._in_rsp = False
                    m = _RSP_STATUS.search(line)
                    if m and (int(m.group(1), 16) == 0 or (int(m.group(1), 16) & 0xF000) == 0xB000):
                        self._acks += 1
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def acks(self) -> int:
        with self._cond:
            return self._acks

    def wait_for_acks(self, n: int, timeout: float = 120.0) -> int:
        """Blocks until n success responses were printed (or storescu ended / timeout);
        returns the count seen."""
        with self._cond:
            self._cond.wait_for(lambda: self._acks >= n or not self._reader.is_alive(), timeout=timeout)
            return self._acks

    def finish(self, timeout: float = 120.0) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        if self.log_path:
            self.log_path.write_text(self.output)
        return self.proc.returncode

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    def responses(self) -> list[StoreResponse]:
        return parse_store_responses(self.output)


# ---------------------------------------------------------------------------------------------
# Synthetic data.


_LOW_NIBBLE = bytes(b & 0x0F for b in range(256))


def make_ct_series(out: str | Path, count: int, seed: int, rows: int = 32, cols: int = 32,
                   series_count: int = 1, study_uid: str | None = None,
                   patient_id: str = "ROBUST-1") -> list[Path]:
    """Writes `count` small CT instances (explicit VR little endian, 16-bit pixels) of one
    study split over `series_count` series; deterministic for a seed. Returns the paths in
    sending order."""
    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = "1.2.826.0.1.3680043.8.498."
    study_uid = study_uid or generate_uid(prefix, entropy_srcs=[f"study-{seed}"])
    series_uids = [generate_uid(prefix, entropy_srcs=[f"series-{seed}-{s}"]) for s in range(series_count)]
    paths = []
    for i in range(count):
        s = i % series_count
        sop_uid = generate_uid(prefix, entropy_srcs=[f"sop-{seed}-{i}"])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = prefix + "1"
        ds = Dataset()
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uids[s]
        ds.PatientID = patient_id
        ds.PatientName = "Robust^Test"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyDate = "20260101"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = f"ACC{seed}"
        ds.Modality = "CT"
        ds.SeriesNumber = s + 1
        ds.InstanceNumber = i // series_count + 1
        ds.ImagePositionPatient = [0, 0, i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = generate_uid(prefix, entropy_srcs=[f"for-{seed}"])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        pixels = bytearray(rng.randbytes(rows * cols * 2))
        pixels[1::2] = pixels[1::2].translate(_LOW_NIBBLE)  # 12 bits stored
        ds.PixelData = bytes(pixels)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        path = out / f"ct_{seed}_{i:05d}.dcm"
        ds.save_as(str(path), write_like_original=False)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# A private tmpfs.

_CLONE_NEWNS = 0x00020000


def private_tmpfs(mountpoint: Path, size: str) -> Path:
    """Moves this process into a new mount namespace with private propagation and mounts a
    tmpfs of `size` (e.g. "16m") at `mountpoint`. The mount exists only in this namespace:
    it disappears with the last process in it, so nothing is left mounted on the host.
    REQUIRES: root (CAP_SYS_ADMIN) and a single-threaded process (unshare(CLONE_NEWNS)).
    Raises OSError/CalledProcessError when that is not possible."""
    if threading.active_count() != 1:
        raise OSError("private_tmpfs needs a single-threaded process")
    if _libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)], check=True)
    return mountpoint


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# ---------------------------------------------------------------------------------------------
# Server log.

_REASON_KEYS = ("reason", "error", "message", "detail", "details", "comment", "error_comment", "cause", "why",
                "status_message", "what")


def refusal_reason(log_lines: Iterable[dict], sop_instance_uid: str) -> tuple[dict | None, str | None]:
    """The server's log line about a refused instance and the reason text it gives.

    A line is about the instance when any field value contains its SOP Instance UID and its
    level is warn/error (or its event names a rejection/failure). The reason is the first
    non-empty text field among the usual names (reason, error, message, ...). Returns
    (line, reason); (line, None) when a line exists but gives no reason; (None, None) when none.
    """
    candidate = None
    for line in log_lines:
        if not any(isinstance(v, str) and sop_instance_uid in v for v in line.values()):
            continue
        level = str(line.get("level", "")).lower()
        event = str(line.get("event", "")).lower()
        if level not in ("warn", "warning", "error") and not re.search(r"reject|refus|fail|denied|invalid", event):
            continue
        for key in _REASON_KEYS:
            value = line.get(key)
            if isinstance(value, str) and value.strip():
                return line, value
        candidate = candidate or line
    return candidate, None


# ---------------------------------------------------------------------------------------------
# Object store inspection.

_STAGING_PARTS = ("staging", "tmp", ".staging", ".tmp", "incoming")


def object_inventory(objects_dir: Path) -> tuple[list[Path], list[Path]]:
    """(stored files, staging files) under the object store. A file is staging when one of
    its folders (relative to the root) is named like a staging area or starts with '.'."""
    stored, staging = [], []
    if not objects_dir.exists():
        return stored, staging
    for p in sorted(objects_dir.rglob("*")):
        if not p.is_file():
            continue
        parts = p.relative_to(objects_dir).parts[:-1]
        if any(part.startswith(".") or part.lower() in _STAGING_PARTS for part in parts):
            staging.append(p)
        else:
            stored.append(p)
    return stored, staging


def sop_uid_of_object(path: Path) -> str | None:
    """SOP Instance UID of a stored object file as read from its content (None if unreadable)."""
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        return str(ds.SOPInstanceUID)
    except Exception:  # noqa: BLE001 - any unreadable file is reported by the caller
        return None


# ---------------------------------------------------------------------------------------------
# Catalog checks over DIMSE.


class CatalogError(AssertionError):
    pass


def find_instances(srv: harness.StrataServer, study_uid: str | None = None) -> dict[str, tuple[str, str]]:
    """C-FIND at IMAGE level (study root; per study, as study root requires); returns
    {SOPInstanceUID: (StudyInstanceUID, SeriesInstanceUID)}. Raises CatalogError on failure
    or when an instance is returned twice."""
    studies = [study_uid] if study_uid else list(find_studies(srv))
    found: dict[str, tuple[str, str]] = {}
    for st in studies:
        for se in find_series(srv, st):
            r = srv.find("IMAGE", {"StudyInstanceUID": st, "SeriesInstanceUID": se, "SOPInstanceUID": ""})
            if r.final_status != 0:
                raise CatalogError(f"C-FIND IMAGE failed:\n{r.tool.describe()}")
            for ds in r.responses:
                uid = str(ds.get("SOPInstanceUID", ""))
                if uid in found:
                    raise CatalogError(f"C-FIND returned SOP Instance {uid} twice")
                found[uid] = (st, se)
    return found


def find_studies(srv: harness.StrataServer) -> dict[str, dict]:
    """{StudyInstanceUID: {"series": n, "instances": n}} from C-FIND STUDY with the
    NumberOfStudyRelated* return keys."""
    r = srv.find("STUDY", {"StudyInstanceUID": "", "NumberOfStudyRelatedSeries": "",
                           "NumberOfStudyRelatedInstances": ""})
    if r.final_status != 0:
        raise CatalogError(f"C-FIND STUDY failed:\n{r.tool.describe()}")
    out = {}
    for ds in r.responses:
        out[str(ds.StudyInstanceUID)] = {
            "series": _int_or_none(ds.get("NumberOfStudyRelatedSeries")),
            "instances": _int_or_none(ds.get("NumberOfStudyRelatedInstances")),
        }
    return out


def find_series(srv: harness.StrataServer, study_uid: str) -> dict[str, int | None]:
    """{SeriesInstanceUID: NumberOfSeriesRelatedInstances} of one study."""
    r = srv.find("SERIES", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": "",
                            "NumberOfSeriesRelatedInstances": ""})
    if r.final_status != 0:
        raise CatalogError(f"C-FIND SERIES failed:\n{r.tool.describe()}")
    return {str(ds.SeriesInstanceUID): _int_or_none(ds.get("NumberOfSeriesRelatedInstances"))
            for ds in r.responses}


def _int_or_none(value) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    return int(value)


def check_counts(srv: harness.StrataServer, instances: dict[str, tuple[str, str]]) -> list[str]:
    """Compares the NumberOf*Related* counts of C-FIND STUDY/SERIES with the instances found
    at IMAGE level; returns the mismatches."""
    problems = []
    per_study: dict[str, set] = {}
    per_series: dict[tuple[str, str], int] = {}
    for st, se in instances.values():
        per_study.setdefault(st, set()).add(se)
        per_series[(st, se)] = per_series.get((st, se), 0) + 1
    studies = find_studies(srv)
    for st, counts in studies.items():
        want_series = len(per_study.get(st, ()))
        want_instances = sum(n for (s, _), n in per_series.items() if s == st)
        if counts["series"] != want_series:
            problems.append(f"study {st}: NumberOfStudyRelatedSeries={counts['series']}, IMAGE level found "
                            f"{want_series} series")
        if counts["instances"] != want_instances:
            problems.append(f"study {st}: NumberOfStudyRelatedInstances={counts['instances']}, IMAGE level "
                            f"found {want_instances}")
        for se, n in find_series(srv, st).items():
            if n != per_series.get((st, se), 0):
                problems.append(f"series {se}: NumberOfSeriesRelatedInstances={n}, IMAGE level found "
                                f"{per_series.get((st, se), 0)}")
    for st in per_study:
        if st not in studies:
            problems.append(f"study {st} has instances but C-FIND STUDY does not return it")
    return problems


def retrieve_series(srv: harness.StrataServer, sink: harness.StoreScp, study_uid: str, series_uid: str,
                    expected: int) -> list[str]:
    """C-MOVE one series to `sink` (a peer of srv); returns problems (empty when the move
    succeeded with `expected` completed and no failed sub-operations)."""
    r = srv.move("SERIES", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}, sink.ae_title)
    counts = r.counts()
    problems = []
    if r.final_status != 0:
        problems.append(f"C-MOVE series {series_uid}: final status "
                        f"{'none' if r.final_status is None else hex(r.final_status)} counts={counts}")
    if counts.get("Completed") != expected or counts.get("Failed", 0) != 0:
        problems.append(f"C-MOVE series {series_uid}: expected {expected} completed, got {counts}")
    return problems
