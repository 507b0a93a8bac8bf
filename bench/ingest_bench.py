#!/usr/bin/python3
"""Ingest (C-STORE) and C-FIND latency benchmark: Strata vs Orthanc vs dcmtk storescp.

Standard library only. Runs itself inside a private network namespace (`unshare -n`, loopback
only) so that Orthanc and storescp, which cannot bind to 127.0.0.1 alone, are reachable from
nowhere else. See bench/README.md for what is measured and the fairness notes.
"""

import argparse
import datetime
import glob
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

NETNS_MARK = "INGEST_BENCH_IN_NETNS"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLING_AET = "BENCHSCU"
MAX_PDU = 131072
MB = 1e6

# Instances per patient of `strata synth --preset tiny` (3 studies x 2 series x 5 instances).
TINY_PER_PATIENT = 30
TINY_SEED = 7
MIXED_SEED = 1


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- process helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


def proc_status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 (utime, stime) counted from 1; here index 11 and 12 after ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def stop(proc, timeout=20):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def count_files(root, suffix=None):
    n = 0
    for _, _, files in os.walk(root):
        n += sum(1 for f in files if suffix is None or f.endswith(suffix))
    return n


# ---------------------------------------------------------------- servers


class Server:
    """A receiver under test: one or more processes listening on endpoints."""

    name = "?"
    aet = "ANY-SCP"

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def endpoints(self, associations):
        """One (port) per association to open."""
        return [self.port] * associations

    def peak_rss_mib(self):
        vals = [proc_status_kib(p.pid, "VmHWM") for p in self.procs]
        vals = [v for v in vals if v is not None]
        return round(sum(vals) / 1024.0, 1) if vals else None

    def cpu_seconds(self):
        vals = [proc_cpu_seconds(p.pid) for p in self.procs]
        vals = [v for v in vals if v is not None]
        return round(sum(vals), 2) if vals else None

    def stop(self):
        for p in self.procs:
            stop(p)

    def _spawn(self, argv, log_name):
        logf = open(os.path.join(self.workdir, log_name), "wb")
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=self.workdir)
        logf.close()
        self.procs.append(proc)
        return proc


class StrataServer(Server):
    name = "strata"
    aet = "STRATA"

    # The API token the benchmarks' HTTP clients use (Strata keeps only its SHA-256).
    TOKEN = "bench-token"

    def __init__(self, workdir, binary):
        super().__init__(workdir)
        self.port = free_port()
        self.http_port = free_port()
        self.data_dir = os.path.join(workdir, "data")
        config = os.path.join(workdir, "strata.toml")
        digest = hashlib.sha256(self.TOKEN.encode()).hexdigest()
        with open(config, "w") as f:
            f.write(
                "[server]\n"
                f'data_dir = "{self.data_dir}"\n'
                'log_level = "warn"\n'
                "[dimse]\n"
                f'ae_title = "{self.aet}"\n'
                'bind = "127.0.0.1"\n'
                f"port = {self.port}\n"
                f"max_pdu = {MAX_PDU}\n"
                "[http]\n"
                'bind = "127.0.0.1"\n'
                f"port = {self.http_port}\n"
                "[auth]\n"
                f'tokens = [{{ name = "bench", role = "admin", sha256 = "{digest}" }}]\n'
            )
        proc = self._spawn([binary, "serve", "--config", config], "strata.log")
        try:
            wait_for_port(self.port, proc, 30, "strata serve")
            wait_for_port(self.http_port, proc, 30, "strata serve HTTP")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{tail(os.path.join(workdir, 'strata.log'))}")

    def count_instances(self):
        return count_files(self.data_dir, ".dcm")


class OrthancServer(Server):
    name = "orthanc"
    aet = "ORTHANC"

    DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

    def __init__(self, workdir, dicom_threads, dicomweb=False):
        super().__init__(workdir)
        self.port = free_port()
        self.http_port = free_port()
        config = {
            "Name": "bench",
            "StorageDirectory": os.path.join(workdir, "storage"),
            "IndexDirectory": os.path.join(workdir, "index"),
            "StorageCompression": False,
            "SyncStorageArea": True,
            "Plugins": [],
            "LuaScripts": [],
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomThreadsCount": dicom_threads,
            "MaximumPduLength": MAX_PDU,
            "StorageAccessOnFind": "Never",
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "SaveJobs": False,
            "OverwriteInstances": False,
        }
        if dicomweb:
            config["Plugins"] = [self.DICOMWEB_PLUGIN]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}
        path = os.path.join(workdir, "orthanc.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=1)
        proc = self._spawn(["Orthanc", path], "orthanc.log")
        try:
            wait_for_port(self.port, proc, 60, "Orthanc")
            wait_for_port(self.http_port, proc, 60, "Orthanc HTTP")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{tail(os.path.join(workdir, 'orthanc.log'))}")

    def count_instances(self):
        url = f"http://127.0.0.1:{self.http_port}/statistics"
        with urllib.request.urlopen(url, timeout=60) as r:
            return json.load(r)["CountInstances"]


class StorescpServer(Server):
    """dcmtk storescp: the raw receive-and-write bound. storescp (single-process mode) serves
    one association at a time, so N concurrent associations get N storescp processes, each on
    its own port, all writing into one directory."""

    name = "storescp"
    aet = "STORESCP"

    def __init__(self, workdir, processes):
        super().__init__(workdir)
        self.out_dir = os.path.join(workdir, "received")
        os.makedirs(self.out_dir)
        self.ports = []
        for i in range(processes):
            port = free_port()
            proc = self._spawn(
                ["storescp", "-aet", self.aet, "-pdu", str(MAX_PDU), "-dhl", "+B", "-od", self.out_dir, str(port)],
                f"storescp{i}.log",
            )
            wait_for_port(port, proc, 30, "storescp")
            self.ports.append(port)

    def endpoints(self, associations):
        assert associations <= len(self.ports)
        return self.ports[:associations]

    def count_instances(self):
        return count_files(self.out_dir)


# ---------------------------------------------------------------- data


def run_synth(synth_bin, out, preset, seed, extra):
    argv = [synth_bin, "synth", "--preset", preset, "--seed", str(seed), "--out", out] + extra
    t0 = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"synth failed: {' '.join(argv)}\n{res.stderr}")
    log("  " + res.stdout.strip())
    return time.monotonic() - t0


def list_files(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".dcm"):
                p = os.path.join(d, f)
                out.append((p, os.path.getsize(p)))
    out.sort()
    return out


def split_contiguous(items, weights, parts):
    """Splits items (in order) into `parts` contiguous groups of about equal total weight."""
    total = sum(weights)
    groups = [[] for _ in range(parts)]
    acc = 0
    for item, w in zip(items, weights):
        idx = min(parts - 1, int(acc * parts / total)) if total else 0
        groups[idx].append(item)
        acc += w
    return [g for g in groups if g]


# ---------------------------------------------------------------- sending


def storescu_argv(port, aet, inputs, directories):
    argv = ["storescu", "-aet", CALLING_AET, "-aec", aet, "-pdu", str(MAX_PDU)]
    if directories:
        argv += ["+sd", "+r", "+sp", "*.dcm"]
    return argv + ["127.0.0.1", str(port)] + inputs


def send(server, groups, directories, logdir, tag, timeout=None):
    """Runs one storescu per group concurrently; returns (wall seconds, failures, timed_out)."""
    endpoints = server.endpoints(len(groups))
    procs = []
    t0 = time.monotonic()
    for i, (group, port) in enumerate(zip(groups, endpoints)):
        logf = open(os.path.join(logdir, f"storescu-{tag}-{i}.log"), "wb")
        procs.append(subprocess.Popen(storescu_argv(port, server.aet, group, directories), stdout=logf, stderr=subprocess.STDOUT))
        logf.close()
    timed_out = False
    for p in procs:
        remaining = None if timeout is None else max(0.1, timeout - (time.monotonic() - t0))
        try:
            p.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
            for q in procs:
                if q.poll() is None:
                    q.kill()
            for q in procs:
                q.wait()
            break
    wall = time.monotonic() - t0
    failures = sum(1 for p in procs if p.returncode != 0)
    return wall, failures, timed_out


def make_server(target, workdir, args, associations):
    if target == "strata":
        return StrataServer(workdir, args.strata_bin)
    if target == "orthanc":
        return OrthancServer(workdir, max(4, associations))
    if target == "storescp":
        return StorescpServer(workdir, associations)
    raise ValueError(target)


# ---------------------------------------------------------------- ingest benchmark


def settle_disk():
    """Lets the next run start on a quiet disk: writes back what the last one left dirty
    (storescp never syncs), then waits out ext4's recently-deleted window. Without a journal
    (as on the benchmark host) ext4 skips inodes freed in the last 5 seconds when it allocates
    new ones, so a run right after a deletion scanned past hundreds of them per file created."""
    os.sync()
    time.sleep(6)


def ingest_benchmark(args, root):
    log(f"== ingest: generating ~{args.ingest_bytes / MB:.0f} MB with --preset mixed")
    data = os.path.join(root, "mixed")
    gen_s = run_synth(args.synth_bin, data, "mixed", MIXED_SEED, ["--patients", "100000", "--max-bytes", str(args.ingest_bytes)])
    files = list_files(data)
    total_bytes = sum(s for _, s in files)
    log(f"  {len(files)} files, {total_bytes / MB:.1f} MB, generated in {gen_s:.1f}s")
    result = {"files": len(files), "bytes": total_bytes, "generate_seconds": round(gen_s, 2), "runs": []}
    # Targets take turns within each repetition, so that a slow spell of the shared host does
    # not fall on one of them only.
    for associations in (1, 4):
        for rep in range(args.repeat):
            for target in args.targets:
                workdir = os.path.join(root, f"ingest-{target}-{associations}-{rep}")
                os.makedirs(workdir)
                run = {"target": target, "associations": associations, "repeat": rep}
                server = None
                try:
                    server = make_server(target, workdir, args, associations)
                    groups = split_contiguous([p for p, _ in files], [s for _, s in files], associations)
                    wall, failures, _ = send(server, groups, False, workdir, "ingest")
                    run.update(
                        wall_seconds=round(wall, 3),
                        instances_per_second=round(len(files) / wall, 1),
                        mb_per_second=round(total_bytes / MB / wall, 1),
                        peak_rss_mib=server.peak_rss_mib(),
                        server_cpu_seconds=server.cpu_seconds(),
                        storescu_failures=failures,
                    )
                    stored = server.count_instances()
                    run["stored_instances"] = stored
                    if stored != len(files) or failures:
                        run["error"] = f"stored {stored} of {len(files)} instances; {failures} storescu failures"
                except Exception as e:  # a target that fails must not stop the others
                    run["error"] = str(e)
                finally:
                    if server is not None:
                        server.stop()
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
                settle_disk()
                log("  " + format_ingest_run(run))
                result["runs"].append(run)
    result["ratios"] = ingest_ratios(result["runs"])
    return result


def format_ingest_run(run):
    head = f"{run['target']:9s} assoc={run['associations']}"
    if "wall_seconds" not in run:
        return f"{head}  ERROR {run.get('error', '')}"
    s = (
        f"{head}  {run['instances_per_second']:8.1f} inst/s  {run['mb_per_second']:7.1f} MB/s  "
        f"wall {run['wall_seconds']:7.2f}s  peak RSS {run['peak_rss_mib']} MiB  server CPU {run['server_cpu_seconds']}s"
    )
    if "error" in run:
        s += f"  ERROR {run['error']}"
    return s


def best_runs(runs):
    """Best (fastest) successful run per (target, associations)."""
    best = {}
    for r in runs:
        if "error" in r or "wall_seconds" not in r:
            continue
        key = (r["target"], r["associations"])
        if key not in best or r["wall_seconds"] < best[key]["wall_seconds"]:
            best[key] = r
    return best


def ingest_ratios(runs):
    best = best_runs(runs)
    ratios = {}
    for other in ("orthanc", "storescp"):
        for assoc in (1, 4):
            s, o = best.get(("strata", assoc)), best.get((other, assoc))
            if s and o:
                ratios[f"strata/{other} assoc={assoc}"] = {
                    "throughput": round(s["mb_per_second"] / o["mb_per_second"], 3),
                    "peak_rss": round(s["peak_rss_mib"] / o["peak_rss_mib"], 3) if o["peak_rss_mib"] else None,
                }
    return ratios


# ---------------------------------------------------------------- C-FIND benchmark


def dcm_value(path, tag):
    res = subprocess.run(["dcmdump", "-q", "+P", tag, path], capture_output=True, text=True, check=True)
    line = res.stdout.strip().splitlines()[0]
    return line.split("[", 1)[1].split("]", 1)[0]


STUDY_RETURN_KEYS = [
    "PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
    "StudyDescription", "StudyInstanceUID", "ModalitiesInStudy",
]
SERIES_RETURN_KEYS = ["SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription"]


def find_queries(sample_file, seed, patient_index):
    patient_id = "SYN%03d-%07d" % (seed % 1000, patient_index)
    accession = "A%03d%07d%02d" % (seed % 1000, patient_index, 1)
    study_uid = dcm_value(sample_file, "0020,000d")

    def keys(level, match, returns):
        out = ["QueryRetrieveLevel=" + level]
        out += [f"{k}={v}" for k, v in match.items()]
        out += [k for k in returns if k not in match]
        return out

    return {
        "study_by_patient_id": keys("STUDY", {"PatientID": patient_id}, STUDY_RETURN_KEYS),
        "study_by_accession": keys("STUDY", {"AccessionNumber": accession}, STUDY_RETURN_KEYS),
        "series_of_study": keys("SERIES", {"StudyInstanceUID": study_uid}, SERIES_RETURN_KEYS),
        "study_date_range_7d": keys("STUDY", {"StudyDate": "20240301-20240307"}, STUDY_RETURN_KEYS),
    }


FINDSCU_LOG_CONFIG = """log4cplus.rootLogger = INFO, console
log4cplus.appender.console = log4cplus::ConsoleAppender
log4cplus.appender.console.layout = log4cplus::PatternLayout
log4cplus.appender.console.layout.ConversionPattern = %D{%H:%M:%S.%Q} %m%n
"""


def parse_clock(stamp):
    """'HH:MM:SS.mmm.uuu' (log4cplus %Q) -> seconds since midnight."""
    hms, ms, us = stamp.rsplit(".", 2)
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s + int(ms) / 1e3 + int(us) / 1e6


def findscu_argv(port, aet, keys, extra):
    argv = ["findscu", "-S", "-aet", CALLING_AET, "-aec", aet] + extra
    for k in keys:
        argv += ["-k", k]
    return argv + ["127.0.0.1", str(port)]


def run_find_repeated(port, aet, keys, repeats, log_config):
    """Runs `repeats` C-FINDs on one association; returns per-query latencies (ms) measured from
    findscu's own timestamped log (request sent -> final response received) and the answer count.
    This leaves out process start-up and association set-up, which dominate a findscu run."""
    argv = findscu_argv(port, aet, keys, ["--repeat", str(repeats), "-lc", log_config])
    res = subprocess.run(argv, capture_output=True, text=True)
    text = res.stdout + res.stderr
    if res.returncode != 0:
        raise RuntimeError(f"findscu failed ({res.returncode}): {text[-800:]}")
    latencies, answers, sent, pending = [], [], None, 0
    for line in text.splitlines():
        parts = line.split(" ", 1)
        if len(parts) != 2 or parts[0].count(":") != 2:
            continue
        stamp, msg = parts
        if msg.startswith("Sending Find Request"):
            sent, pending = parse_clock(stamp), 0
        elif msg.startswith("Find Response:") and "(Pending)" in msg:
            pending += 1
        elif msg.startswith("Received Final Find Response") and sent is not None:
            elapsed = parse_clock(stamp) - sent
            if elapsed < 0:
                elapsed += 86400
            latencies.append(elapsed * 1000.0)
            answers.append(pending)
            sent = None
    if len(latencies) != repeats:
        raise RuntimeError(f"findscu: parsed {len(latencies)} of {repeats} queries:\n{text[-800:]}")
    return latencies, answers


def run_find_process(port, aet, keys):
    t0 = time.monotonic()
    res = subprocess.run(findscu_argv(port, aet, keys, []), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"findscu failed ({res.returncode}): {res.stderr[-500:]}")
    return (time.monotonic() - t0) * 1000.0


def percentile(values, q):
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def measure_queries(server, queries, runs, workdir):
    log_config = os.path.join(workdir, "findscu-log.cfg")
    with open(log_config, "w") as f:
        f.write(FINDSCU_LOG_CONFIG)
    out = {}
    for name, keys in queries.items():
        latencies, answers = run_find_repeated(server.port, server.aet, keys, runs + 1, log_config)
        latencies = latencies[1:]  # the first query warms caches
        process = [run_find_process(server.port, server.aet, keys) for _ in range(5)]
        out[name] = {
            "median_ms": round(statistics.median(latencies), 3),
            "p95_ms": round(percentile(latencies, 0.95), 3),
            "answers": answers[-1],
            "findscu_process_median_ms": round(statistics.median(process), 1),
        }
    return out


def find_benchmark(args, root):
    result = {"sizes": {}, "servers": {}}
    all_sizes = sorted(set(args.find_sizes) | set(args.orthanc_find_sizes))
    # Stage k holds the patients that take the data set from size k-1 to size k.
    stages, prev_patients = [], 0
    log(f"== find: generating --preset tiny stages for sizes {all_sizes}")
    for size in all_sizes:
        patients = math.ceil(size / TINY_PER_PATIENT)
        out = os.path.join(root, f"tiny-{size}")
        run_synth(args.synth_bin, out, "tiny", TINY_SEED,
                  ["--first-patient", str(prev_patients), "--patients", str(patients - prev_patients)])
        dirs = sorted(os.path.join(out, d) for d in os.listdir(out))
        stages.append({"size": size, "instances": patients * TINY_PER_PATIENT, "dirs": dirs,
                       "new_instances": (patients - prev_patients) * TINY_PER_PATIENT})
        prev_patients = patients
        result["sizes"][str(size)] = patients * TINY_PER_PATIENT
    first_dir = stages[0]["dirs"][min(7, len(stages[0]["dirs"]) - 1)]
    patient_index = int(os.path.basename(first_dir).split("-")[1])
    sample = sorted(glob.glob(os.path.join(first_dir, "*", "*", "*.dcm")))
    # Accession ...01 is the patient's first prior (study index 1).
    sample = [p for p in sample if os.path.basename(os.path.dirname(os.path.dirname(p))).endswith("01")][0]
    queries = find_queries(sample, TINY_SEED, patient_index)
    result["queries"] = queries

    for target in [t for t in args.targets if t in ("strata", "orthanc")]:
        sizes = args.orthanc_find_sizes if target == "orthanc" else args.find_sizes
        workdir = os.path.join(root, f"find-{target}")
        os.makedirs(workdir)
        entry = {"levels": []}
        result["servers"][target] = entry
        server = None
        try:
            server = make_server(target, workdir, args, args.load_parallel)
            loaded = 0
            for stage in stages:
                if stage["size"] > max(sizes):
                    break
                groups = split_contiguous(stage["dirs"], [1] * len(stage["dirs"]), args.load_parallel)
                wall, failures, timed_out = send(server, groups, True, workdir, f"load{stage['size']}", timeout=args.load_timeout)
                count = server.count_instances()
                level = {
                    "target_size": stage["size"],
                    "instances": count,
                    "load_seconds": round(wall, 1),
                    "load_instances_per_second": round((count - loaded) / wall, 1),
                    "storescu_failures": failures,
                    "load_timed_out": timed_out,
                    "peak_rss_mib": server.peak_rss_mib(),
                }
                loaded = count
                log(f"  {target}: loaded {count} instances ({level['load_instances_per_second']} inst/s over "
                    f"{args.load_parallel} associations, {wall:.0f}s){' TIMED OUT' if timed_out else ''}")
                if stage["size"] in sizes or timed_out:
                    level["queries"] = measure_queries(server, queries, args.find_runs, workdir)
                    for name, q in level["queries"].items():
                        log(f"    {name:22s} median {q['median_ms']:8.2f} ms  p95 {q['p95_ms']:8.2f} ms  answers {q['answers']:4d}  "
                            f"(whole findscu run {q['findscu_process_median_ms']} ms)")
                entry["levels"].append(level)
                if timed_out:
                    entry["note"] = f"loading stopped after --load-timeout {args.load_timeout}s at {count} instances"
                    break
        except Exception as e:
            entry["error"] = str(e)
            log(f"  {target}: ERROR {e}")
        finally:
            if server is not None:
                server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        measured = [lv for lv in entry["levels"] if "queries" in lv]
        if len(measured) >= 2:
            lo, hi = measured[0], measured[-1]
            entry["latency_ratio"] = {
                "between": [lo["instances"], hi["instances"]],
                **{name: round(hi["queries"][name]["median_ms"] / lo["queries"][name]["median_ms"], 2)
                   for name in queries},
            }
    return result


# ---------------------------------------------------------------- report


def print_summary(results):
    log("\n================ summary ================")
    ing = results.get("ingest")
    if ing:
        log(f"ingest: {ing['files']} files, {ing['bytes'] / MB:.0f} MB (strata synth --preset mixed)")
        for run in ing["runs"]:
            log("  " + format_ingest_run(run))
        for k, v in ing["ratios"].items():
            log(f"  {k}: throughput x{v['throughput']}, peak RSS x{v['peak_rss']}")
    fnd = results.get("find")
    if fnd:
        log("find (per query on an open association, from findscu's log; median/p95 ms (answers)):")
        for target, entry in fnd["servers"].items():
            if "error" in entry:
                log(f"  {target}: ERROR {entry['error']}")
            for lv in entry["levels"]:
                if "queries" not in lv:
                    continue
                qs = "  ".join(f"{n}={q['median_ms']}/{q['p95_ms']}({q['answers']})" for n, q in lv["queries"].items())
                log(f"  {target} @{lv['instances']}: {qs}")
            if "latency_ratio" in entry:
                log(f"  {target} median ratio {entry['latency_ratio']}")
            if "note" in entry:
                log(f"  {target}: {entry['note']}")


def build_settings(binary):
    """The CMake cache of the build tree that holds `binary` ({} when there is none)."""
    directory = os.path.dirname(os.path.abspath(binary))
    while directory != os.path.dirname(directory):
        try:
            with open(os.path.join(directory, "CMakeCache.txt")) as f:
                return dict(re.findall(r"^(\w+):\w+=(.*)$", f.read(), re.M))
        except OSError:
            directory = os.path.dirname(directory)
    return {}


def instrumented(binary):
    """Why `binary` would measure something else than Strata (a Debug, sanitizer or fuzzing
    build, such as tools/check.sh leaves in build-asan and build-fuzz), or None."""
    settings = build_settings(binary)
    for option in ("STRATA_SANITIZE", "STRATA_FUZZ"):
        if settings.get(option, "OFF").upper() in ("ON", "TRUE", "1"):
            return f"built with {option}=ON"
    if settings.get("CMAKE_BUILD_TYPE", "Release") not in ("Release", "RelWithDebInfo"):
        return f"a build of type '{settings.get('CMAKE_BUILD_TYPE') or 'none'}'"
    return None


def default_bin(*rel):
    """The newest executable `build*/<rel>` of an optimised, uninstrumented build tree."""
    candidates = [os.path.join(tree, *rel) for tree in glob.glob(os.path.join(REPO, "build*"))]
    candidates = [c for c in candidates if os.access(c, os.X_OK) and not instrumented(c)]
    return max(candidates, key=os.path.getmtime) if candidates else None


def default_strata_bin():
    return default_bin("src", "app", "strata") or os.path.join(REPO, "build", "src", "app", "strata")


def require_optimised(*binaries):
    """Refuses to benchmark a Debug or sanitizer build: its figures would be the instrumentation's."""
    for binary in binaries:
        why = binary and instrumented(binary)
        if why:
            sys.exit(f"{binary} is {why}; benchmark an optimised build (RelWithDebInfo or Release)")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="~200 MB ingest, find sizes 5000,50000")
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN") or default_strata_bin())
    p.add_argument("--synth-bin", default=None, help="binary providing `synth` (default: --strata-bin)")
    p.add_argument("--targets", default="storescp,orthanc,strata", help="comma-separated subset")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-find", action="store_true")
    p.add_argument("--ingest-bytes", type=float, default=None, help="bytes of mixed data (default 1.1e9, quick 2e8)")
    p.add_argument("--repeat", type=int, default=1, help="ingest runs per target and association count (best kept)")
    p.add_argument("--find-sizes", default=None, help="Strata C-FIND sizes (default 50000,500000; quick 5000,50000)")
    p.add_argument("--orthanc-find-sizes", default=None, help="Orthanc C-FIND sizes (default: --find-sizes)")
    p.add_argument("--find-runs", type=int, default=20)
    p.add_argument("--load-parallel", type=int, default=8, help="storescu processes loading the C-FIND data")
    p.add_argument("--load-timeout", type=float, default=3600, help="seconds per loading stage before giving up")
    p.add_argument("--work-dir", default=None, help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out"))
    p.add_argument("--no-unshare", action="store_true", help="already isolated; do not enter a network namespace")
    args = p.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    args.synth_bin = args.synth_bin or args.strata_bin
    # Servers run with their scratch directory as working directory.
    args.strata_bin = os.path.abspath(args.strata_bin) if os.sep in args.strata_bin else args.strata_bin
    args.synth_bin = os.path.abspath(args.synth_bin) if os.sep in args.synth_bin else args.synth_bin
    if args.ingest_bytes is None:
        args.ingest_bytes = 2e8 if args.quick else 1.1e9
    args.ingest_bytes = int(args.ingest_bytes)
    sizes = args.find_sizes or ("5000,50000" if args.quick else "50000,500000")
    args.find_sizes = [int(s) for s in sizes.split(",")]
    args.orthanc_find_sizes = [int(s) for s in (args.orthanc_find_sizes or sizes).split(",")]
    return args



def enter_private_netns(mark, script, no_unshare):
    """Re-executes `script` under `unshare -n` (a network namespace with only loopback, which
    is then brought up) unless the environment variable `mark` says it runs there already or
    `no_unshare` says the caller is isolated by other means."""
    if no_unshare:
        return
    if os.environ.get(mark) != "1":
        env = dict(os.environ, **{mark: "1"})
        os.execvpe("unshare", ["unshare", "-n", "--", sys.executable, os.path.abspath(script)] + sys.argv[1:], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

def main():
    args = parse_args()
    require_optimised(args.strata_bin, args.synth_bin)
    enter_private_netns(NETNS_MARK, __file__, args.no_unshare)
    # Debian's DCMTK leaves Nagle on unless this is set; it applies to storescu/findscu/storescp
    # and to Orthanc, which uses the same DCMTK network layer.
    os.environ["TCP_NODELAY"] = "1"
    root = args.work_dir or tempfile.mkdtemp(prefix="strata-bench-")
    os.makedirs(root, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "started_utc": started.isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": os.uname().release},
        "args": {k: v for k, v in vars(args).items()},
        "tools": {
            "orthanc": subprocess.run(["Orthanc", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
            "dcmtk": subprocess.run(["storescu", "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip(),
        },
    }
    log(f"scratch: {root}; strata: {args.strata_bin}; targets: {args.targets}")
    try:
        if not args.skip_ingest:
            results["ingest"] = ingest_benchmark(args, root)
        if not args.skip_find:
            results["find"] = find_benchmark(args, root)
    finally:
        results["seconds"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1)
        os.makedirs(args.out, exist_ok=True)
        name = ("quick-" if args.quick else "full-") + started.strftime("%Y%m%dT%H%M%SZ") + ".json"
        out_path = os.path.join(args.out, name)
        with open(out_path, "w") as f:
            json.dump(results, f, indent=2)
        if not args.keep and not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    print_summary(results)
    log(f"\nresults: {out_path} ({results['seconds']}s)")


if __name__ == "__main__":
    main()
