"""Black-box test harness for Strata: the real `strata` binary driven by dcmtk tools.

Every suite in this folder is a plain unittest script whose `__main__` calls `harness.main()`.
That helper re-executes the script inside a private, loopback-only network namespace
(`unshare -n`), because dcmtk's storescp (our C-MOVE destination) cannot bind to loopback only;
every process a test starts therefore lives in that namespace and can only talk over `lo`.

API summary (see README.md in this folder for the full contract):
  main()                         run the calling script's unittest suites (inside a netns)
  strata_bin()                   path of the binary under test (argv[1] or $STRATA_BIN)
  out_dir(name)                  a fresh per-test artefact folder under $STRATA_E2E_OUT
  free_port()                    a currently unused TCP port on 127.0.0.1
  StrataServer                   `strata serve` with a generated config, as a context manager
  StoreScp                       dcmtk storescp as a C-STORE destination (for C-MOVE)
  run_tool(), echoscu(), storescu(), findscu(), movescu(), getscu(), dcmdump()
  ToolResult                     exit code, output, DIMSE statuses parsed from `-d` output
  RawAssociation                 a minimal DICOM UL client for input dcmtk refuses to send
  synth(), derive_instance(), make_study()   test data (synthetic, or from pydicom's corpus)
  capture_wire()                 what storescu really sends for some files
  dataset_bytes(), compare_dataset_bytes(), compare_datasets()   DICOM comparisons
  stop_all()                     stops every process the harness started (also at exit)

Thread-safety: the tool helpers may be called from several threads at once (for parallel
associations); StrataServer/StoreScp objects must be controlled from one thread. Children
are started with PR_SET_PDEATHSIG=SIGKILL, so a child dies with the thread that started it:
start long-lived servers from the main thread.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

HOST = "127.0.0.1"
DEFAULT_AE = "STRATA"
CALLING_AE = "E2E-SCU"
PYDICOM_TEST_FILES = Path("/usr/lib/python3/dist-packages/pydicom/data/test_files")

_NETNS_MARKER = "STRATA_E2E_NETNS"
_HERE = Path(__file__).resolve().parent

# DIMSE status codes the suites assert on (PS3.4 / PS3.7 Annex C).
SUCCESS = 0x0000
WARNING_SUBOPS_FAILED = 0xB000
PENDING = 0xFF00
PENDING_WARNING = 0xFF01
OUT_OF_RESOURCES = 0xA700
MOVE_DESTINATION_UNKNOWN = 0xA801
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
DUPLICATE_SOP_INSTANCE = 0x0111
REFUSED_NOT_AUTHORIZED = 0x0124
PROCESSING_FAILURE = 0x0110
UNABLE_TO_PROCESS = 0xC001  # Strata's "processing failure" (a Cxxx error)


def is_failure_status(status: int) -> bool:
    """True for DIMSE failure statuses (not success, warning, pending or cancel)."""
    if status in (SUCCESS, PENDING, PENDING_WARNING, 0xFE00):
        return False
    if status == 0x0001 or (status & 0xF000) == 0xB000 or status == 0x0107 or status == 0x0116:
        return False  # warnings
    return True


# ---------------------------------------------------------------------------------------------
# Process bookkeeping: nothing may be left running.

_live_lock = threading.Lock()
_live: set[subprocess.Popen] = set()
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _spawn(args: Sequence[str], **kwargs) -> subprocess.Popen:
    """Starts a child that is tracked (stop_all) and killed if this process dies."""
    env = kwargs.pop("env", None)
    if env is None:
        env = dict(os.environ)
    env.setdefault("TCP_NODELAY", "1")
    proc = subprocess.Popen([str(a) for a in args], env=env, preexec_fn=_die_with_parent, **kwargs)
    with _live_lock:
        _live.add(proc)
    return proc


def _reap(proc: subprocess.Popen) -> None:
    with _live_lock:
        _live.discard(proc)


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after `timeout` seconds; waits and returns the exit code."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode
    finally:
        _reap(proc)


def kill9(proc: subprocess.Popen) -> int:
    try:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        return proc.returncode
    finally:
        _reap(proc)


def stop_all() -> None:
    """Kills every process the harness started that is still running (by PID)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        kill9(proc)


# Folders from temp_dir, removed at exit after the processes that may write into them are gone
# (atexit runs the handlers registered last first).
_temp_dirs: list[Path] = []


def _remove_temp_dirs() -> None:
    if os.environ.get("STRATA_E2E_KEEP") == "1":
        return
    for path in _temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_remove_temp_dirs)
atexit.register(stop_all)


# ---------------------------------------------------------------------------------------------
# Entry point, network namespace, paths.


def _in_private_netns() -> bool:
    """True when the only network interface is `lo` (a fresh `unshare -n` namespace)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return False
    names = [line.split(":", 1)[0].strip() for line in lines]
    return names == ["lo"]


def ensure_private_netns() -> None:
    """Re-executes this process under `unshare -n` unless already in a loopback-only netns.

    Inside, brings `lo` up. Exits the process on failure (a test run without isolation would
    expose storescp on every interface).
    """
    if not _in_private_netns():
        if os.environ.get(_NETNS_MARKER) == "1":
            sys.exit("e2e: re-executed under unshare -n but still not in a private netns")
        env = dict(os.environ)
        env[_NETNS_MARKER] = "1"
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        os.execve(unshare, [unshare, "-n", "--", sys.executable, *sys.argv], env)
    subprocess.run([shutil.which("ip") or "/usr/sbin/ip", "link", "set", "lo", "up"], check=True)


def strata_bin() -> str:
    """Path of the `strata` binary under test: $STRATA_BIN (main() sets it from argv[1])."""
    path = os.environ.get("STRATA_BIN", "")
    if not path:
        guess = _HERE.parent.parent / "build" / "src" / "app" / "strata"
        path = str(guess)
    return path


def out_root() -> Path:
    """Artefact root: $STRATA_E2E_OUT, else tests/e2e/out (gitignored)."""
    root = Path(os.environ.get("STRATA_E2E_OUT", _HERE / "out"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def out_dir(name: str) -> Path:
    """A fresh (emptied) artefact folder for one test, e.g. out_dir(self.id())."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = out_root() / safe
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def temp_dir(prefix: str = "strata-e2e-") -> Path:
    """A temporary folder under $TMPDIR, removed when the test process exits (kept with
    STRATA_E2E_KEEP=1); a caller may remove it earlier."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _temp_dirs.append(path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def wait_port_open(port: int, timeout: float = 10.0, host: str = HOST) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of every suite: `python3 test_x.py [STRATA_BIN] [unittest args...]`."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and not argv[1].startswith("-") and os.path.isfile(argv[1]):
        os.environ["STRATA_BIN"] = os.path.abspath(argv[1])
        del argv[1]
        sys.argv = argv
    ensure_private_netns()
    if not os.access(strata_bin(), os.X_OK):
        sys.exit(f"e2e: strata binary not found or not executable: {strata_bin()!r}")
    try:
        program = unittest.main(module="__main__", argv=argv, verbosity=2, exit=False)
        ok = program.result.wasSuccessful()
    finally:
        stop_all()
    sys.exit(0 if ok else 1)


# ---------------------------------------------------------------------------------------------
# dcmtk tools.

_STATUS_RE = re.compile(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})")
_COUNT_RE = re.compile(r"(Remaining|Completed|Failed|Warning) Suboperations\s*:\s*(\d+)")
_RSP_RE = re.compile(r"Message Type\s*:\s*C-(MOVE|GET) RSP")


@dataclasses.dataclass
class ToolResult:
    """Outcome of one dcmtk tool run. `statuses` are DIMSE statuses seen in `-d` output, in
    order (for C-STORE one per file; for C-FIND/C-MOVE/C-GET the last is the final one)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def statuses(self) -> list[int]:
        return [int(m.group(1), 16) for m in _STATUS_RE.finditer(self.output)]

    @property
    def final_status(self) -> int | None:
        s = self.statuses
        return s[-1] if s else None

    @property
    def association_rejected(self) -> bool:
        return "Association Rejected" in self.output

    def describe(self) -> str:
        tail = self.output[-4000:]
        return (f"$ {' '.join(self.args)}\nexit={self.returncode} timed_out={self.timed_out} "
                f"statuses={[hex(s) for s in self.statuses]}\n--- output tail ---\n{tail}")


def run_tool(args: Sequence[str], timeout: float = 60.0, cwd: str | Path | None = None,
             env: Mapping[str, str] | None = None) -> ToolResult:
    """Runs a command to completion (killed by PID after `timeout`), capturing its output."""
    full_env = dict(os.environ)
    full_env["TCP_NODELAY"] = "1"
    if env:
        full_env.update(env)
    args = [str(a) for a in args]
    start = time.monotonic()
    proc = _spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=full_env)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    finally:
        _reap(proc)
    return ToolResult(args, proc.returncode, out.decode(errors="replace"),
                      err.decode(errors="replace"), time.monotonic() - start, timed_out)


def _keys_args(keys: Mapping[str, str] | Iterable[str]) -> list[str]:
    """{"PatientID": "P1", "StudyDate": ""} or ["PatientID=P1"] -> ["-k", "PatientID=P1", ...]."""
    out: list[str] = []
    if isinstance(keys, Mapping):
        items = [f"{k}={v}" if v is not None else k for k, v in keys.items()]
    else:
        items = list(keys)
    for item in items:
        out += ["-k", item]
    return out


def echoscu(port: int, called_ae: str = DEFAULT_AE, calling_ae: str = CALLING_AE,
            timeout: float = 15.0, extra: Sequence[str] = ()) -> ToolResult:
    return run_tool(["echoscu", "-d", "-to", "5", "-ta", "5", "-td", "10", "-aet", calling_ae,
                     "-aec", called_ae, *extra, HOST, str(port)], timeout=timeout)


def storescu(port: int, files: Sequence[str | Path], called_ae: str = DEFAULT_AE,
             calling_ae: str = CALLING_AE, timeout: float = 120.0,
             extra: Sequence[str] = ()) -> ToolResult:
    """C-STORE `files` on one association. `-d` so that every response status is parsed."""
    return run_tool(["storescu", "-d", "-to", "5", "-ta", "10", "-td", "60", "-aet", calling_ae,
                     "-aec", called_ae, *extra, HOST, str(port), *files], timeout=timeout)


def _model_flag(model: str) -> str:
    return {"patient": "-P", "study": "-S"}[model]


@dataclasses.dataclass
class FindResult:
    tool: ToolResult
    responses: list  # pydicom Datasets, in arrival order

    @property
    def final_status(self) -> int | None:
        return self.tool.final_status


def findscu(port: int, level: str, keys: Mapping[str, str] | Iterable[str], model: str = "study",
            called_ae: str = DEFAULT_AE, calling_ae: str = CALLING_AE, timeout: float = 60.0,
            extra: Sequence[str] = ()) -> FindResult:
    """C-FIND at `level` (PATIENT/STUDY/SERIES/IMAGE) with `keys` (empty value = return key).

    Responses are extracted with `-X` and read back with pydicom.
    """
    import pydicom

    work = temp_dir("strata-find-")
    try:
        args = ["findscu", "-d", "-to", "5", "-ta", "10", "-td", "60", _model_flag(model),
                "-aet", calling_ae, "-aec", called_ae, "-X", "-od", str(work),
                "-k", f"QueryRetrieveLevel={level}", *_keys_args(keys), *extra, HOST, str(port)]
        result = run_tool(args, timeout=timeout)
        responses = [pydicom.dcmread(str(p)) for p in sorted(work.glob("rsp*.dcm"))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return FindResult(result, responses)


@dataclasses.dataclass
class RetrieveResult:
    tool: ToolResult

    @property
    def final_status(self) -> int | None:
        return self.tool.final_status

    def counts(self) -> dict[str, int]:
        """Sub-operation counts of the final response: Remaining/Completed/Failed/Warning."""
        out = self.tool.output
        last = None
        for last in _RSP_RE.finditer(out):
            pass
        if last is None:
            return {}
        final = out[last.start():].split("END DIMSE MESSAGE", 1)[0]
        # A counter shown as "none" (absent) is left out.
        return {m.group(1): int(m.group(2)) for m in _COUNT_RE.finditer(final)}


def movescu(port: int, level: str, keys: Mapping[str, str] | Iterable[str], dest_ae: str,
            model: str = "study", called_ae: str = DEFAULT_AE, calling_ae: str = CALLING_AE,
            timeout: float = 120.0, extra: Sequence[str] = ()) -> RetrieveResult:
    """C-MOVE to `dest_ae` (which Strata must know as a peer)."""
    args = ["movescu", "-d", "-to", "5", "-ta", "10", "-td", "60", _model_flag(model),
            "-aet", calling_ae, "-aec", called_ae, "-aem", dest_ae,
            "-k", f"QueryRetrieveLevel={level}", *_keys_args(keys), *extra, HOST, str(port)]
    return RetrieveResult(run_tool(args, timeout=timeout))


def getscu(port: int, level: str, keys: Mapping[str, str] | Iterable[str], out: str | Path,
           model: str = "study", called_ae: str = DEFAULT_AE, calling_ae: str = CALLING_AE,
           timeout: float = 120.0, extra: Sequence[str] = ()) -> RetrieveResult:
    """C-GET into folder `out` (bit-preserving). getscu accepts uncompressed syntaxes only
    unless `extra` holds a +x? preference."""
    args = ["getscu", "-d", "-to", "5", "-ta", "10", "-td", "60", _model_flag(model),
            "-aet", calling_ae, "-aec", called_ae, "-od", str(out), "+B",
            "-k", f"QueryRetrieveLevel={level}", *_keys_args(keys), *extra, HOST, str(port)]
    return RetrieveResult(run_tool(args, timeout=timeout))


def dcmdump(path: str | Path, extra: Sequence[str] = ()) -> str:
    r = run_tool(["dcmdump", *extra, str(path)], timeout=30)
    return r.output


# ---------------------------------------------------------------------------------------------
# Strata.


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(config: Mapping[str, Mapping]) -> str:
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def merge_config(base: Mapping[str, Mapping], overrides: Mapping[str, Mapping] | None) -> dict:
    merged = {section: dict(table) for section, table in base.items()}
    for section, table in (overrides or {}).items():
        merged.setdefault(section, {}).update(table)
    return merged


class ServerError(RuntimeError):
    pass


def evicting_archive_config(tier: str, rehydration_delay: int = 0) -> dict:
    """Config of a server that archives to a filesystem archive (at `tier`, rehydrating after
    `rehydration_delay` seconds) and evicts every archived object from its cache within seconds,
    with the AI pipeline off."""
    return {
        "archive": {"backend": "filesystem", "path": str(temp_dir("strata-archive-fs-")),
                    "tier": tier, "rehydration_delay_seconds": rehydration_delay,
                    "poll_interval_ms": 100, "max_backoff_ms": 500},
        "cache": {"max_bytes": 1, "pin_recent_hours": 0, "min_idle_seconds": 2,
                  "eviction_interval_seconds": 1},
        "ai": {"enabled": False},
    }


class StrataServer:
    """`strata serve` on 127.0.0.1 with a generated TOML config, as a context manager.

        with StrataServer("test_x", config={"storage": {"duplicates": "reject"}}) as srv:
            echoscu(srv.port, srv.ae_title)

    Attributes: name, data_dir (Path), objects_dir (Path), port, ae_title, config (dict),
    config_path, log_path (stderr: JSON lines, appended across restarts), artefacts (Path).
    The data dir is a fresh temp folder (removed on exit unless keep_data or $STRATA_E2E_KEEP)
    unless `data_dir` is given (then it is never removed). `config` overrides are merged per
    section over the defaults written by base_config(). Not thread-safe: one controlling
    thread. The process is always stopped (by PID) on __exit__.
    """

    def __init__(self, name: str, config: Mapping[str, Mapping] | None = None,
                 data_dir: str | Path | None = None, port: int | None = None,
                 ae_title: str = DEFAULT_AE, env: Mapping[str, str] | None = None,
                 keep_data: bool = False, start_timeout: float = 30.0,
                 calling_ae: str = CALLING_AE):
        self.name = name
        self.calling_ae = calling_ae
        self.artefacts = out_dir(name)
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else temp_dir("strata-data-")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.http_port = free_port()
        self.ae_title = ae_title
        self.extra_env = dict(env or {})
        self.keep_data = keep_data or os.environ.get("STRATA_E2E_KEEP") == "1"
        self.start_timeout = start_timeout
        self.config = merge_config(self.base_config(), config)
        self.config_path = self.artefacts / "strata.toml"
        self.log_path = self.artefacts / "strata.log"
        self.stdout_path = self.artefacts / "strata.stdout"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._run_log_offset = 0

    def base_config(self) -> dict:
        return {
            "server": {"data_dir": str(self.data_dir), "log_level": "debug"},
            # Low enough that a nearly full CI disk does not refuse stores; test_full_disk
            # overrides it.
            "storage": {"min_free_bytes": 1 << 20},
            "dimse": {"ae_title": self.ae_title, "bind": HOST, "port": self.port},
            # Never the default 0.0.0.0:8080: servers may run side by side.
            "http": {"bind": HOST, "port": self.http_port},
            "auth": {"tokens": test_token_config()},
        }

    @property
    def objects_dir(self) -> Path:
        path = self.config.get("storage", {}).get("path")
        return Path(path) if path else self.data_dir / "objects"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_config(self) -> None:
        self.config_path.write_text(to_toml(self.config))

    def start(self, wait: bool = True) -> "StrataServer":
        """Starts the process; with `wait`, blocks until it answers C-ECHO (ServerError if it
        exits or does not answer within start_timeout)."""
        if self.running():
            raise ServerError("already running")
        self.write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        env.update(self.extra_env)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            self._run_log_offset = log.tell()
        log = open(self.log_path, "ab")
        out = open(self.stdout_path, "ab")
        try:
            self.proc = _spawn([strata_bin(), "serve", "--config", str(self.config_path)],
                               stdout=out, stderr=log, stdin=subprocess.DEVNULL, env=env)
        finally:
            log.close()
            out.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        last = None
        while time.monotonic() < deadline:
            if not self.running():
                raise ServerError(f"strata exited with {self.proc.returncode} during start-up; "
                                  f"log tail:\n{self.log_tail()}")
            last = echoscu(self.port, self.ae_title, self.calling_ae, timeout=10)
            if last.ok:
                return
            time.sleep(0.1)
        raise ServerError(f"strata did not answer C-ECHO on port {self.port} within the "
                          f"timeout; last echoscu:\n{last.describe() if last else 'none'}\n"
                          f"log tail:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, SIGKILL after `timeout`; returns the exit code (None if not started)."""
        if self.proc is None:
            return None
        return terminate(self.proc, timeout)

    def kill9(self) -> int | None:
        if self.proc is None:
            return None
        return kill9(self.proc)

    def restart(self, config: Mapping[str, Mapping] | None = None, wait: bool = True,
                graceful: bool = True) -> "StrataServer":
        """Stops (SIGTERM, or SIGKILL with graceful=False) and starts again on the same data
        dir and port, with optional extra config overrides."""
        if graceful:
            self.stop()
        else:
            self.kill9()
        if config:
            self.config = merge_config(self.config, config)
        return self.start(wait=wait)

    def echo(self, calling_ae: str | None = None) -> ToolResult:
        return echoscu(self.port, self.ae_title, calling_ae or self.calling_ae)

    def archive_status(self) -> dict:
        """`strata archive status --json` for this server's config."""
        r = subprocess.run([strata_bin(), "archive", "status", "--json", "--config",
                            str(self.config_path)], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"strata archive status failed: {r.stderr}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    # The helpers below call the dcmtk tool with this server's port and AE title and, unless
    # given, self.calling_ae; other keyword arguments go to the tool helper.

    def store(self, files: Sequence[str | Path], **kwargs) -> ToolResult:
        kwargs.setdefault("calling_ae", self.calling_ae)
        return storescu(self.port, files, called_ae=self.ae_title, **kwargs)

    def find(self, level: str, keys, **kwargs) -> FindResult:
        kwargs.setdefault("calling_ae", self.calling_ae)
        return findscu(self.port, level, keys, called_ae=self.ae_title, **kwargs)

    def move(self, level: str, keys, dest_ae: str, **kwargs) -> RetrieveResult:
        kwargs.setdefault("calling_ae", self.calling_ae)
        return movescu(self.port, level, keys, dest_ae, called_ae=self.ae_title, **kwargs)

    def get(self, level: str, keys, out: str | Path, **kwargs) -> RetrieveResult:
        kwargs.setdefault("calling_ae", self.calling_ae)
        return getscu(self.port, level, keys, out, called_ae=self.ae_title, **kwargs)

    # Logs ---------------------------------------------------------------------------------

    def log_text(self, current_run_only: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if current_run_only:
            data = data[self._run_log_offset:]
        return data.decode(errors="replace")

    def log_lines(self, current_run_only: bool = False) -> list[dict]:
        """stderr lines parsed as JSON; a line that is not a JSON object becomes
        {"raw": line} (tests can assert there are none)."""
        out = []
        for line in self.log_text(current_run_only).splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(obj if isinstance(obj, dict) else {"raw": line})
            except ValueError:
                out.append({"raw": line})
        return out

    def log_events(self, event: str, current_run_only: bool = False) -> list[dict]:
        return [l for l in self.log_lines(current_run_only) if l.get("event") == event]

    def wait_for_log(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # Storage inspection -------------------------------------------------------------------

    def object_files(self) -> list[Path]:
        """Every regular file under the object store, staging folders excluded."""
        root = self.objects_dir
        if not root.exists():
            return []
        files = []
        for p in root.rglob("*"):
            if p.is_file() and not any(part.startswith((".", "staging", "tmp"))
                                       for part in p.relative_to(root).parts):
                files.append(p)
        return sorted(files)

    def staging_files(self) -> list[Path]:
        """Files left in the object store's staging folder (<objects>/.staging)."""
        root = self.objects_dir / ".staging"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def dicom_object_files(self) -> list[Path]:
        """Stored objects under <objects>/dicom/ (the vendor-neutral layout)."""
        return [p for p in self.object_files() if p.relative_to(self.objects_dir).parts[0] == "dicom"]

    # Context manager ----------------------------------------------------------------------

    def __enter__(self) -> "StrataServer":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._own_data_dir and not self.keep_data:
                shutil.rmtree(self.data_dir, ignore_errors=True)


class StoreScp:
    """dcmtk storescp as a C-STORE destination (e.g. for C-MOVE), in a fresh folder.

    accept: "uncompressed" (storescp's default: explicit/implicit little/big endian only),
    "all" (+xa), or "implicit" (+xi). Files are written bit-preserving (+B) so the data set
    bytes are exactly what came over the wire. Not thread-safe; stopped by PID on exit.
    """

    def __init__(self, name: str, ae_title: str = "E2EDEST", port: int | None = None,
                 accept: str = "uncompressed", extra: Sequence[str] = ()):
        self.name = name
        self.ae_title = ae_title
        self.port = port or free_port()
        self.accept = accept
        self.extra = list(extra)
        self.artefacts = out_dir(name)
        self.dir = self.artefacts / "received"
        self.dir.mkdir()
        self.log_path = self.artefacts / "storescp.log"
        self.proc: subprocess.Popen | None = None

    def peer(self) -> dict:
        """This destination as a [dimse] peers entry."""
        return {"ae_title": self.ae_title, "host": HOST, "port": self.port}

    def start(self) -> "StoreScp":
        flags = {"uncompressed": [], "all": ["+xa"], "implicit": ["+xi"]}[self.accept]
        with open(self.log_path, "ab") as log:
            self.proc = _spawn(["storescp", "-v", "-aet", self.ae_title, "-od", str(self.dir),
                                "+B", "-dhl", *flags, *self.extra, str(self.port)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_port_open(self.port, 10):
            self.stop()
            raise ServerError(f"storescp did not listen on {self.port}")
        return self

    def files(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if p.is_file())

    def clear(self) -> None:
        for p in self.files():
            p.unlink()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 5)

    def __enter__(self) -> "StoreScp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def capture_wire(name: str, files: Sequence[str | Path], extra: Sequence[str] = ()) -> dict:
    """What storescu actually sends for `files` (dcmtk may re-encode: e.g. trailing padding
    dropped, encapsulated Pixel Data as OB): stores them into a bit-preserving storescp that
    accepts every syntax, with storescu options `extra`, and returns SOP Instance UID ->
    captured file (under out_dir(name))."""
    with StoreScp(name, ae_title="CAPTURE", accept="all") as scp:
        r = storescu(scp.port, files, called_ae="CAPTURE", extra=extra)
        if not r.ok or r.statuses != [SUCCESS] * len(files):
            raise ServerError(f"capturing wire bytes failed:\n{r.describe()}")
        captured = {sop_instance_uid(f): f for f in scp.files()}
    if len(captured) != len(set(map(str, files))):
        raise ServerError(f"captured {len(captured)} objects for {len(files)} files")
    return captured


def synth(out: str | Path, preset: str = "tiny", patients: int = 1, seed: int = 1,
          extra: Sequence[str] = (), timeout: float = 120.0) -> list[Path]:
    """Runs `strata synth` into `out` and returns the Part 10 files it wrote (sorted)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r = run_tool([strata_bin(), "synth", "--out", str(out), "--preset", preset,
                  "--patients", str(patients), "--seed", str(seed), *extra], timeout=timeout)
    if not r.ok:
        raise ServerError(f"strata synth failed:\n{r.describe()}")
    files = sorted(p for p in out.rglob("*") if p.is_file() and is_part10(p))
    if not files:
        raise ServerError(f"strata synth wrote no DICOM files into {out}:\n{r.describe()}")
    return files


# ---------------------------------------------------------------------------------------------
# A raw DICOM upper-layer client, for what dcmtk's SCUs refuse to send (garbage or truncated
# data sets, mismatched command UIDs). Only what the bad-input tests need: one presentation
# context, C-ECHO/C-STORE, release and abort.

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _uid_bytes(uid: str) -> bytes:
    b = uid.encode()
    return b + b"\0" if len(b) % 2 else b


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _ae(title: str) -> bytes:
    return title.encode().ljust(16)[:16]


def _implicit_element(group: int, elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, elem, len(value)) + value


def encode_command(fields: Sequence[tuple[int, bytes]]) -> bytes:
    """A command set (implicit VR LE, group 0000) with its group length first."""
    body = b"".join(_implicit_element(0x0000, e, v) for e, v in sorted(fields))
    return _implicit_element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def parse_command(data: bytes) -> dict[int, bytes]:
    """Element number -> raw value of a group-0000 command set."""
    out, pos = {}, 0
    while pos + 8 <= len(data):
        _g, e, n = struct.unpack_from("<HHI", data, pos)
        out[e] = data[pos + 8:pos + 8 + n]
        pos += 8 + n
    return out


class RawAssociation:
    """One association over a plain socket. Not thread-safe. Raises ConnectionError when the
    peer rejects, aborts or closes."""

    def __init__(self, port: int, abstract_syntax: str, transfer_syntax: str = EXPLICIT_LE,
                 called_ae: str = DEFAULT_AE, calling_ae: str = CALLING_AE,
                 timeout: float = 30.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.max_pdv = 16384 - 6
        self.message_id = 0
        pc = _item(0x30, _uid_bytes(abstract_syntax))
        pc += _item(0x40, _uid_bytes(transfer_syntax))
        user = _item(0x51, struct.pack(">I", 16384)) + _item(0x52, _uid_bytes("1.2.826.0.1.3680043.9.7433.1"))
        body = (struct.pack(">HH", 1, 0) + _ae(called_ae) + _ae(calling_ae) + bytes(32)
                + _item(0x10, b"1.2.840.10008.3.1.1.1")
                + _item(0x20, bytes([1, 0, 0, 0]) + pc) + _item(0x50, user))
        self._send_pdu(0x01, body)
        pdu_type, data = self._read_pdu()
        if pdu_type != 0x02:
            self.sock.close()
            raise ConnectionError(f"association not accepted (PDU type {pdu_type:#x})")
        # Find the presentation context result (item 0x21: id, 0, result, 0).
        pos, self.accepted = 68, False
        while pos + 4 <= len(data):
            item_type, _, length = struct.unpack_from(">BBH", data, pos)
            if item_type == 0x21:
                self.accepted = data[pos + 6] == 0
            pos += 4 + length

    def _send_pdu(self, pdu_type: int, body: bytes) -> None:
        self.sock.sendall(struct.pack(">BBI", pdu_type, 0, len(body)) + body)

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            buf += chunk
        return buf

    def _read_pdu(self) -> tuple[int, bytes]:
        pdu_type, _, length = struct.unpack(">BBI", self._recv_exact(6))
        return pdu_type, self._recv_exact(length)

    def send_pdv(self, data: bytes, is_command: bool, last: bool) -> None:
        """Sends `data` as P-DATA-TF PDVs of at most max_pdv bytes on context 1."""
        chunks = [data[i:i + self.max_pdv] for i in range(0, len(data), self.max_pdv)] or [b""]
        for i, chunk in enumerate(chunks):
            header = (1 if is_command else 0) | (2 if last and i == len(chunks) - 1 else 0)
            pdv = struct.pack(">IB", len(chunk) + 2, 1) + bytes([header]) + chunk
            self._send_pdu(0x04, pdv)

    def read_response(self) -> dict[int, bytes]:
        """Reads PDUs until a complete command set; returns it parsed (see parse_command)."""
        command = b""
        while True:
            pdu_type, data = self._read_pdu()
            if pdu_type != 0x04:
                raise ConnectionError(f"expected P-DATA, got PDU type {pdu_type:#x}")
            pos = 0
            while pos + 6 <= len(data):
                (length,) = struct.unpack_from(">I", data, pos)
                header = data[pos + 5]
                if header & 1:
                    command += data[pos + 6:pos + 4 + length]
                    if header & 2:
                        return parse_command(command)
                pos += 4 + length

    def store_command(self, sop_class: str, sop_instance: str) -> bytes:
        self.message_id += 1
        return encode_command([
            (0x0002, _uid_bytes(sop_class)), (0x0100, struct.pack("<H", 0x0001)),
            (0x0110, struct.pack("<H", self.message_id)), (0x0700, struct.pack("<H", 0)),
            (0x0800, struct.pack("<H", 0x0000)), (0x1000, _uid_bytes(sop_instance))])

    def c_store(self, sop_class: str, sop_instance: str, dataset: bytes) -> int:
        """Sends a C-STORE-RQ with `dataset` (raw bytes, any content) and returns the
        response status."""
        self.send_pdv(self.store_command(sop_class, sop_instance), True, True)
        self.send_pdv(dataset, False, True)
        rsp = self.read_response()
        return struct.unpack("<H", rsp[0x0900])[0]

    def c_echo(self) -> int:
        self.message_id += 1
        self.send_pdv(encode_command([
            (0x0002, _uid_bytes(VERIFICATION)), (0x0100, struct.pack("<H", 0x0030)),
            (0x0110, struct.pack("<H", self.message_id)),
            (0x0800, struct.pack("<H", 0x0101))]), True, True)
        return struct.unpack("<H", self.read_response()[0x0900])[0]

    def release(self) -> None:
        try:
            self._send_pdu(0x05, bytes(4))
            self._read_pdu()
        finally:
            self.sock.close()

    def abort(self) -> None:
        try:
            self._send_pdu(0x07, bytes(4))
        finally:
            self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawAssociation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# DICOM comparison.


def is_part10(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def meta_end(data: bytes) -> int:
    """Offset of the first data set byte after the Part 10 preamble and file meta group
    (group 0002, always explicit VR little endian). ValueError if not a Part 10 file."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise ValueError("not a DICOM Part 10 file (no DICM prefix)")
    pos = 132
    while pos + 8 <= len(data):
        group, _elem = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR"):
            (length,) = struct.unpack_from("<I", data, pos + 8)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8 + length
    return pos


def dataset_bytes(path: str | Path) -> bytes:
    """The encoded data set of a Part 10 file: everything after the file meta information."""
    data = Path(path).read_bytes()
    return data[meta_end(data):]


def transfer_syntax(path: str | Path) -> str:
    import pydicom
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).file_meta.TransferSyntaxUID)


def compare_dataset_bytes(a: str | Path, b: str | Path) -> str | None:
    """None if the data sets of `a` and `b` are byte-identical, else a description of the
    first difference."""
    da, db = dataset_bytes(a), dataset_bytes(b)
    if da == db:
        return None
    n = min(len(da), len(db))
    first = next((i for i in range(n) if da[i] != db[i]), n)
    return (f"data sets differ: {a} ({len(da)} bytes) vs {b} ({len(db)} bytes), first "
            f"difference at data set offset {first}: {da[first:first + 16].hex()} vs "
            f"{db[first:first + 16].hex()}")


def compare_datasets(a, b, ignore: Iterable[int | str] = ()) -> list[str]:
    """Element-level differences between two data sets (paths or pydicom Datasets), file meta
    excluded; `ignore` takes tags or keywords. Empty list when equal."""
    import pydicom
    from pydicom.tag import Tag

    da = a if isinstance(a, pydicom.Dataset) else pydicom.dcmread(str(a))
    db = b if isinstance(b, pydicom.Dataset) else pydicom.dcmread(str(b))
    skip = {Tag(t) for t in ignore}
    diffs = []
    for tag in sorted(set(da.keys()) | set(db.keys())):
        if tag in skip or tag.group == 0x0002:
            continue
        if tag not in da:
            diffs.append(f"{tag} missing in first")
        elif tag not in db:
            diffs.append(f"{tag} missing in second")
        elif da[tag].value != db[tag].value:
            va, vb = repr(da[tag].value), repr(db[tag].value)
            diffs.append(f"{tag} {da[tag].keyword}: {va[:80]} != {vb[:80]}")
    return diffs


def sop_instance_uid(path: str | Path) -> str:
    import pydicom
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).SOPInstanceUID)


def read_meta(path: str | Path):
    """Header-only pydicom read (no pixel data)."""
    import pydicom
    return pydicom.dcmread(str(path), stop_before_pixels=True)


def new_uid() -> str:
    """A fresh UID (2.25.<uuid>)."""
    from pydicom.uid import generate_uid
    return generate_uid(prefix=None)


def derive_instance(template: str | Path, out: str | Path, **attrs) -> Path:
    """Writes a copy of `template` (a name in pydicom's corpus, or a path) with `attrs`
    (keyword=value; None deletes the element), without trailing padding, and fresh file meta. A SOPInstanceUID not given
    in attrs is replaced by a new one. Returns `out`."""
    import pydicom

    src = Path(template)
    if not src.is_absolute() and not src.exists():
        src = PYDICOM_TEST_FILES / template
    ds = pydicom.dcmread(str(src))
    attrs.setdefault("SOPInstanceUID", new_uid())
    # dcmtk drops Data Set Trailing Padding when sending, so a fixture with it would never be
    # byte-identical to what crossed the wire.
    if 0xFFFCFFFC in ds:
        del ds[0xFFFCFFFC]
    for keyword, value in attrs.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    if "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "SOPClassUID" in ds:
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(out), write_like_original=False)
    return out


def make_study(out: str | Path, template: str = "CT_small.dcm", series: int = 1,
               instances: int = 2, series_attrs: Sequence[Mapping] = (), **study_attrs) -> list[Path]:
    """Writes one study (fresh Study/Series/SOP UIDs) of `series` x `instances` files derived
    from `template` into folder `out`. `study_attrs` apply to every file; `series_attrs[i]`
    to series i (e.g. Modality; the key "template" picks another template for that series).
    Returns the files in order."""
    out = Path(out)
    study_attrs.setdefault("StudyInstanceUID", new_uid())
    files = []
    for s in range(series):
        attrs = dict(study_attrs)
        attrs.setdefault("SeriesNumber", s + 1)
        if s < len(series_attrs):
            attrs.update(series_attrs[s])
        series_template = attrs.pop("template", template)
        attrs.setdefault("SeriesInstanceUID", new_uid())
        for i in range(instances):
            uid = new_uid()
            files.append(derive_instance(series_template, out / f"{uid}.dcm",
                                         SOPInstanceUID=uid, InstanceNumber=i + 1, **attrs))
    return files


class E2ETestCase(unittest.TestCase):
    """Base class: per-test artefact naming and a few DICOM assertions."""

    def artefact_name(self, suffix: str = "") -> str:
        return self.id().split(".", 1)[-1] + (f".{suffix}" if suffix else "")

    def assertToolOk(self, result: ToolResult, msg: str = "") -> None:
        self.assertTrue(result.ok, f"{msg}\n{result.describe()}")

    def assertSameDatasetBytes(self, a, b) -> None:
        diff = compare_dataset_bytes(a, b)
        self.assertIsNone(diff, diff)

    def assertSameDataset(self, a, b, ignore: Iterable[int | str] = ()) -> None:
        diffs = compare_datasets(a, b, ignore)
        self.assertEqual(diffs, [], "\n".join(diffs[:20]))


# ---------------------------------------------------------------------------------------------
# DICOMweb helpers (standard library only): HTTP requests and multipart/related bodies.

@dataclasses.dataclass
class HttpResult:
    status: int
    headers: dict  # lower-cased names; repeated headers joined with ", "
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


# API tokens every StrataServer is configured with (test fixtures, not real secrets): the
# secret per role, and its name in the server's [auth] tokens.
TEST_TOKENS = {"reader": "e2e-reader-secret", "writer": "e2e-writer-secret",
               "admin": "e2e-admin-secret"}


def test_token_config() -> list[dict]:
    return [{"name": f"e2e-{role}", "role": role,
             "sha256": hashlib.sha256(secret.encode()).hexdigest()}
            for role, secret in TEST_TOKENS.items()]


def auth_header(role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_TOKENS[role]}"}


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 60.0,
                 role: str | None = "admin") -> HttpResult:
    """One request to 127.0.0.1:`port`; any HTTP status is returned, not raised. It carries
    the test token of `role` unless `headers` has an Authorization or `role` is None."""
    import http.client

    all_headers = dict(headers or {})
    if role and not any(k.lower() == "authorization" for k in all_headers):
        all_headers.update(auth_header(role))
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        merged: dict[str, str] = {}
        for name, value in resp.getheaders():
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return HttpResult(resp.status, merged, resp.read())
    finally:
        conn.close()


def multipart_related(parts: Sequence[bytes], boundary: str = "strata-e2e-boundary",
                      part_type: str = "application/dicom") -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/related body with one part per payload."""
    body = b""
    for payload in parts:
        body += (f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n").encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="{part_type}"; boundary={boundary}'


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict, bytes]]:
    """Splits a multipart body into (headers, payload) pairs, using the boundary parameter."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError(f"no boundary in {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(b"\r\n" + delimiter)[0:]:
        if chunk.startswith(delimiter):
            chunk = chunk[len(delimiter):]
        if chunk.startswith(b"--"):
            break
        if not chunk.startswith(b"\r\n"):
            continue
        head, _, payload = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, payload))
    return parts


# ---------------------------------------------------------------------------------------------
# Azurite (Azure Blob emulator) for the archive suites.

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); not a secret.
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")
_AZURE_API_VERSION = "2021-12-02"


class Azurite:
    """Azurite's blob service from the repository's node_modules on 127.0.0.1, stopped by PID.

    By default it persists to a private folder (`--location`), so stop() then start() on the
    same port looks like an outage and its end, not like a new, empty account; in_memory=True
    gives `--inMemoryPersistence` instead. Not thread-safe: one controlling thread.
    """

    def __init__(self, port: int | None = None, in_memory: bool = False):
        self.port = port or free_port()
        self.in_memory = in_memory
        self.workdir = temp_dir("strata-azurite-")
        self.proc: subprocess.Popen | None = None
        self.binary = _HERE.parent.parent / "node_modules" / ".bin" / "azurite-blob"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}/{AZURITE_ACCOUNT}"

    def start(self, timeout: float = 30.0) -> "Azurite":
        if not os.access(self.binary, os.X_OK):
            raise ServerError(f"Azurite not found at {self.binary} (run tools/setup.sh)")
        args = [self.binary, "--blobHost", HOST, "--blobPort", str(self.port),
                "--disableTelemetry", "--silent"]
        args += ["--inMemoryPersistence"] if self.in_memory else ["--location", self.workdir / "data"]
        self.proc = _spawn(args, cwd=self.workdir, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"Azurite exited with {self.proc.returncode} during start-up")
            if wait_port_open(self.port, timeout=0.2):
                return self
        raise ServerError(f"Azurite did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=5)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Azurite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # Shared Key requests (path-style URLs, so the account appears twice in the resource).

    def _request(self, method: str, path: str, query: Mapping[str, str] | None = None,
                 timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        import base64
        import email.utils
        import hmac
        import http.client
        import urllib.parse

        query = dict(query or {})
        headers = {"x-ms-date": email.utils.formatdate(usegmt=True),
                   "x-ms-version": _AZURE_API_VERSION}
        url_path = f"/{AZURITE_ACCOUNT}{urllib.parse.quote(path)}"
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
        resource = f"/{AZURITE_ACCOUNT}{url_path}" + "".join(
            f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
        string_to_sign = method + "\n" * 12 + canonical_headers + resource
        signature = base64.b64encode(hmac.new(base64.b64decode(AZURITE_KEY),
                                              string_to_sign.encode(), "sha256").digest())
        headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{signature.decode()}"
        target = url_path + ("?" + urllib.parse.urlencode(query) if query else "")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()

    def list_blobs(self, container: str) -> dict[str, dict]:
        """Every blob in `container` -> {"size": bytes, "tier": access tier or None}
        (follows NextMarker)."""
        import xml.etree.ElementTree as ET

        blobs: dict[str, dict] = {}
        marker = ""
        while True:
            query = {"restype": "container", "comp": "list"}
            if marker:
                query["marker"] = marker
            status, _, body = self._request("GET", f"/{container}", query)
            if status != 200:
                raise ServerError(f"List Blobs answered {status}: {body[:300]!r}")
            root = ET.fromstring(body)
            for blob in root.iter("Blob"):
                blobs[blob.findtext("Name")] = {
                    "size": int(blob.findtext("Properties/Content-Length")),
                    "tier": blob.findtext("Properties/AccessTier")}
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return blobs

    def get_blob(self, container: str, name: str) -> tuple[bytes, dict[str, str]]:
        """The blob's bytes and its response headers (x-ms-meta-*, x-ms-access-tier, ...)."""
        status, headers, body = self._request("GET", f"/{container}/{name}")
        if status != 200:
            raise ServerError(f"Get Blob {name} answered {status}: {body[:300]!r}")
        return body, headers


# ---------------------------------------------------------------------------------------------
# Orthanc (Debian package) as the hospital's PACS.


class Orthanc:
    """Orthanc with DICOM and REST on loopback ports of the suite's private network namespace
    (Orthanc cannot bind 127.0.0.1 alone; the namespace has nothing else), stopped by PID.
    Accepts C-STORE from any AE. Not thread-safe: one controlling thread."""

    aet = "ORTHANC"
    DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

    def __init__(self, dicomweb: bool = False):
        """With `dicomweb`, Orthanc's DICOMweb plugin (Debian orthanc-dicomweb) serves
        `dicomweb_url` (STOW-RS, QIDO-RS, WADO-RS)."""
        self.dicomweb = dicomweb
        self.port = free_port()
        self.http_port = free_port()
        self.workdir = temp_dir("strata-orthanc-")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "Orthanc":
        binary = shutil.which("Orthanc")
        if not binary:
            raise ServerError("Orthanc not found (Debian package orthanc; run tools/setup.sh)")
        config = {
            "Name": "strata-e2e-pacs",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "Plugins": [], "LuaScripts": [],
            "HttpServerEnabled": True, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "OrthancExplorerEnabled": False, "WebDavEnabled": False,
            "DicomServerEnabled": True, "DicomAet": self.aet, "DicomPort": self.port,
            "DicomCheckCalledAet": False, "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True, "SaveJobs": False,
        }
        if self.dicomweb:
            config["Plugins"] = [self.DICOMWEB_PLUGIN]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
        path = self.workdir / "orthanc.json"
        path.write_text(json.dumps(config))
        log = open(self.workdir / "orthanc.log", "ab")
        try:
            self.proc = _spawn([binary, str(path)], cwd=self.workdir, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"Orthanc exited with {self.proc.returncode} during start-up")
            if wait_port_open(self.port, timeout=0.2) and wait_port_open(self.http_port, 0.2):
                return self
        raise ServerError(f"Orthanc did not listen within {timeout} s")

    @property
    def dicomweb_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/dicom-web"

    def rest(self, method: str, path: str, body: bytes | None = None) -> HttpResult:
        return http_request(self.http_port, method, path, body=body, role=None)

    def find_instance(self, sop_instance_uid: str) -> str | None:
        """Orthanc's id of the instance with this SOP Instance UID, or None."""
        query = {"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}}
        r = self.rest("POST", "/tools/find", json.dumps(query).encode())
        ids = r.json() if r.status == 200 else []
        return ids[0] if ids else None

    def instance_file(self, orthanc_id: str) -> bytes:
        r = self.rest("GET", f"/instances/{orthanc_id}/file")
        if r.status != 200:
            raise ServerError(f"Orthanc GET file: {r.status}")
        return r.body

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
