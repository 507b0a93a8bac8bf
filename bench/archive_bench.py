#!/usr/bin/python3
"""Archive benchmark: Strata's archiver uploading to Azurite vs the @azure/storage-blob SDK,
and cache-miss WADO-RS latency with the archive on Azurite.

Upload throughput: the same files go to a fresh Azurite (in memory, started for each run) once
through Strata's real archive path (bench/archive_upload_bench.cc: catalog + local store ->
archive::Archiver -> blob::AzureBlobStore, `parallel_uploads = N`, timed until the backlog is
archived and verified) and once through a plain parallel upload with Microsoft's SDK
(bench/archive_sdk_upload.mjs, N files in flight, the same 4 MiB single-put limit and block
size), at each of --concurrency. Data sets: `strata synth --preset mixed` (CT, MR slices and
CR/DX radiographs; the radiographs exceed 4 MiB and go up as blocks) and a "large" set of
--large-mib multi-frame objects (block upload only). Prints objects/s, MB/s, Strata/SDK.

Cache-miss latency: `strata serve` with `[archive] backend = "azure"` at Azurite and a hot
cache bounded to 1 byte; instances are stored over STOW-RS, archived and evicted, then each is
retrieved over WADO-RS twice in a row: the first is a miss (fetched back from Azurite), the
second a hit. p50/p95 of each.

Standard library only. Needs node, the repository's node_modules (tools/setup.sh: Azurite and
@azure/storage-blob), `strata` and `archive_upload_bench` (ninja strata archive_upload_bench),
and dcmdump (dcmtk) to read the UIDs of the latency sample. Results JSON goes to bench/out/.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest_bench as ib  # noqa: E402

REPO = ib.REPO
MB = 1e6
MIB = 1 << 20
AZURITE_BIN = os.path.join(REPO, "node_modules", ".bin", "azurite-blob")
SDK_SCRIPT = os.path.join(REPO, "bench", "archive_sdk_upload.mjs")
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); not a secret.
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")
KEY_ENV = "STRATA_BENCH_ACCOUNT_KEY"
TOKEN = "bench-token"
SINGLE_PUT_LIMIT = 4 * MIB  # AzureBlobOptions::single_put_limit_bytes

log = ib.log


# ---------------------------------------------------------------- Azurite


class Azurite:
    """Azurite's blob service on 127.0.0.1, in memory, API version check off (the SDK sends a
    newer x-ms-version than Azurite 3.35 accepts). Stopped by PID."""

    def __init__(self, workdir):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = ib.free_port()
        self.log_path = os.path.join(workdir, "azurite.log")
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--inMemoryPersistence", "--disableTelemetry", "--silent", "--skipApiVersionCheck"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)
        logf.close()
        ib.wait_for_port(self.port, self.proc, 30, "azurite")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def rss_mib(self):
        kib = ib.proc_status_kib(self.proc.pid, "VmHWM")
        return round(kib / 1024, 1) if kib else None

    def stop(self):
        ib.stop(self.proc)


# ---------------------------------------------------------------- data


def element(group, elem, vr, value):
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB", b"OW") else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def write_large(path, index, frames, rows=512, cols=512):
    """A multi-frame grayscale (16-bit) secondary capture, Explicit VR Little Endian, of
    frames*rows*cols*2 bytes of pixel data. Deterministic per index."""
    sop_class = b"1.2.840.10008.5.1.4.1.1.7.3"
    root = "2.25.4242"
    sop = f"{root}.3.{index}".encode()
    meta = (element(0x0002, 0x0001, b"OB", b"\0\1") + element(0x0002, 0x0002, b"UI", sop_class)
            + element(0x0002, 0x0003, b"UI", sop)
            + element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1")
            + element(0x0002, 0x0012, b"UI", b"2.25.4242.9"))
    us = lambda v: struct.pack("<H", v)  # noqa: E731
    ds = (element(0x0008, 0x0016, b"UI", sop_class) + element(0x0008, 0x0018, b"UI", sop)
          + element(0x0008, 0x0020, b"DA", b"20240301") + element(0x0008, 0x0060, b"CS", b"OT")
          + element(0x0010, 0x0010, b"PN", b"BENCH^LARGE") + element(0x0010, 0x0020, b"LO", b"LARGE-1")
          + element(0x0020, 0x000D, b"UI", f"{root}.1".encode())
          + element(0x0020, 0x000E, b"UI", f"{root}.2".encode())
          + element(0x0020, 0x0011, b"IS", b"1") + element(0x0020, 0x0013, b"IS", str(index + 1).encode())
          + element(0x0028, 0x0002, b"US", us(1)) + element(0x0028, 0x0004, b"CS", b"MONOCHROME2")
          + element(0x0028, 0x0008, b"IS", str(frames).encode())
          + element(0x0028, 0x0010, b"US", us(rows)) + element(0x0028, 0x0011, b"US", us(cols))
          + element(0x0028, 0x0100, b"US", us(16)) + element(0x0028, 0x0101, b"US", us(16))
          + element(0x0028, 0x0102, b"US", us(15)) + element(0x0028, 0x0103, b"US", us(0)))
    pixel_bytes = frames * rows * cols * 2
    with open(path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM")
        f.write(element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta + ds)
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, pixel_bytes))
        block = hashlib.sha256(str(index).encode()).digest() * (MIB // 32)
        for _ in range(pixel_bytes // len(block)):
            f.write(block)
        f.write(block[:pixel_bytes % len(block)])


def make_data(args, root):
    sets = {}
    if args.mixed_bytes > 0:
        mixed = os.path.join(root, "data-mixed")
        log(f"generating mixed data ({args.mixed_bytes / MB:.0f} MB)")
        ib.run_synth(args.strata_bin, mixed, "mixed", ib.MIXED_SEED, ["--max-bytes", str(int(args.mixed_bytes))])
        sets["mixed"] = mixed
    if args.large_count > 0:
        large = os.path.join(root, "data-large")
        os.makedirs(large, exist_ok=True)
        frames = max(1, args.large_mib * MIB // (512 * 512 * 2))
        for i in range(args.large_count):
            write_large(os.path.join(large, f"large-{i:03d}.dcm"), i, frames)
        log(f"  large: {args.large_count} files of {frames * 512 * 512 * 2 / MIB:.0f} MiB in {large}")
        sets["large"] = large
    return sets


def describe(files):
    sizes = [s for _, s in files]
    blocks = [s for s in sizes if s > SINGLE_PUT_LIMIT]
    return {"objects": len(sizes), "bytes": sum(sizes), "mean_bytes": round(statistics.mean(sizes)),
            "max_bytes": max(sizes), "objects_above_single_put_limit": len(blocks),
            "bytes_above_single_put_limit": sum(blocks)}


# ---------------------------------------------------------------- upload runs


def run_json(argv, env, timeout, what):
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed ({res.returncode}): {' '.join(argv)}\n{res.stdout}{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def upload_run(args, path, name, data_dir, strata_dir, concurrency, workdir, tag):
    """One timed upload on a fresh Azurite; returns the run's figures."""
    env = dict(os.environ, **{KEY_ENV: ACCOUNT_KEY})
    azurite = Azurite(os.path.join(workdir, f"azurite-{tag}"))
    container = f"bench-{path}-{name}-{concurrency}"
    try:
        if path == "strata":
            out = run_json([args.bench_bin, "run", "--work-dir", strata_dir, "--endpoint", azurite.endpoint,
                            "--account", ACCOUNT, "--key-env", KEY_ENV, "--container", container,
                            "--parallel", str(concurrency), "--batch", str(args.batch)],
                           env, args.timeout, "archive_upload_bench")
            if not out.get("complete"):
                raise RuntimeError(f"archive_upload_bench did not archive everything: {out}")
        else:
            out = run_json([args.node, SDK_SCRIPT, "--endpoint", azurite.endpoint, "--account", ACCOUNT,
                            "--key-env", KEY_ENV, "--container", container, "--concurrency", str(concurrency),
                            data_dir], env, args.timeout, "archive_sdk_upload.mjs")
        out["azurite_peak_rss_mib"] = azurite.rss_mib()
    finally:
        azurite.stop()
        shutil.rmtree(azurite.workdir, ignore_errors=True)
    secs = out["seconds"]
    out.update({"path": path, "concurrency": concurrency,
                "objects_per_second": round(out["objects"] / secs, 1),
                "mb_per_second": round(out["bytes"] / MB / secs, 1), "seconds": round(secs, 3)})
    return out


def upload_benchmark(args, root, sets):
    results = {}
    for name, data_dir in sets.items():
        files = ib.list_files(data_dir)
        info = describe(files)
        log(f"\n== upload: {name}: {info['objects']} objects, {info['bytes'] / MB:.0f} MB "
            f"({info['objects_above_single_put_limit']} above the 4 MiB single-put limit)")
        strata_dir = os.path.join(root, f"strata-{name}")
        prep = run_json([args.bench_bin, "prepare", "--work-dir", strata_dir, data_dir], os.environ,
                        args.timeout, "archive_upload_bench prepare")
        if prep["objects"] != info["objects"]:
            raise RuntimeError(f"prepare ingested {prep['objects']} of {info['objects']} objects")
        runs = []
        for rep in range(args.repeat):
            for conc in args.concurrency:
                # Alternate which path goes first, so neither always meets a warmer host.
                order = ["sdk", "strata"] if (rep + conc) % 2 == 0 else ["strata", "sdk"]
                for path in order:
                    run = upload_run(args, path, name, data_dir, strata_dir, conc, root, f"{name}-{rep}-{conc}-{path}")
                    run["repeat"] = rep
                    runs.append(run)
                    log(f"  {path:6s} c={conc}: {run['objects']} objects in {run['seconds']:.2f} s, "
                        f"{run['objects_per_second']:.1f} obj/s, {run['mb_per_second']:.1f} MB/s")
        shutil.rmtree(strata_dir, ignore_errors=True)
        summary = {}
        for conc in args.concurrency:
            row = {}
            for path in ("strata", "sdk"):
                mine = [r for r in runs if r["path"] == path and r["concurrency"] == conc]
                best = min(mine, key=lambda r: r["seconds"])
                row[path] = {"best_mb_per_second": best["mb_per_second"],
                             "best_objects_per_second": best["objects_per_second"],
                             "median_mb_per_second": round(statistics.median(r["mb_per_second"] for r in mine), 1),
                             "seconds": [r["seconds"] for r in mine]}
            row["ratio_strata_over_sdk_best"] = round(row["strata"]["best_mb_per_second"] / row["sdk"]["best_mb_per_second"], 2)
            row["ratio_strata_over_sdk_median"] = round(
                row["strata"]["median_mb_per_second"] / row["sdk"]["median_mb_per_second"], 2)
            summary[str(conc)] = row
        results[name] = {"data": info, "runs": runs, "summary": summary}
    return results


# ---------------------------------------------------------------- cache-miss latency


class ArchiveServer(ib.Server):
    """`strata serve` archiving to Azurite, with a hot cache bounded to 1 byte."""

    name = "strata"

    def __init__(self, workdir, args, azurite):
        super().__init__(workdir)
        self.strata_bin = args.strata_bin
        self.port = ib.free_port()
        self.http_port = ib.free_port()
        self.data_dir = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "strata.toml")
        self.log_path = os.path.join(workdir, "strata.log")
        digest = hashlib.sha256(TOKEN.encode()).hexdigest()
        with open(self.config, "w") as f:
            f.write(
                "[server]\n"
                f'data_dir = "{self.data_dir}"\n'
                'log_level = "warn"\n'
                "[dimse]\n"
                'bind = "127.0.0.1"\n'
                f"port = {self.port}\n"
                "[http]\n"
                'bind = "127.0.0.1"\n'
                f"port = {self.http_port}\n"
                "[auth]\n"
                f'tokens = [{{ name = "bench", role = "admin", sha256 = "{digest}" }}]\n'
                "[archive]\n"
                'backend = "azure"\n'
                f'endpoint = "{azurite.endpoint}"\n'
                f'account = "{ACCOUNT}"\n'
                'container = "strata-archive"\n'
                f'credential_env = "{KEY_ENV}"\n'
                "create_container = true\n"
                "poll_interval_ms = 100\n"
                "max_backoff_ms = 500\n"
                "[cache]\n"
                "max_bytes = 1\n"
                "pin_recent_hours = 0\n"
                # A read keeps its object for this long, so the hit right after a miss is a hit.
                f"min_idle_seconds = {args.min_idle_seconds}\n"
                "eviction_interval_seconds = 1\n"
                "[ai]\n"
                "enabled = false\n"
            )
        env = dict(os.environ, **{KEY_ENV: ACCOUNT_KEY})
        logf = open(self.log_path, "wb")
        proc = subprocess.Popen([args.strata_bin, "serve", "--config", self.config], stdout=logf,
                                stderr=subprocess.STDOUT, cwd=workdir, env=env)
        logf.close()
        self.procs.append(proc)
        try:
            ib.wait_for_port(self.http_port, proc, 30, "strata serve HTTP")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{ib.tail(self.log_path)}")

    def request(self, method, path, body=None, headers=None, timeout=120):
        h = {"Authorization": f"Bearer {TOKEN}"}
        h.update(headers or {})
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, headers=h,
                                     method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()

    def archive_status(self):
        res = subprocess.run([self.strata_bin, "archive", "status", "--json", "--config", self.config],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"strata archive status failed: {res.stderr}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    def local_objects(self):
        """Instances in the local store (<data_dir>/objects/dicom)."""
        return ib.count_files(os.path.join(self.data_dir, "objects", "dicom"), ".dcm")


def stow(server, path):
    boundary = "strata-archive-bench"
    with open(path, "rb") as f:
        body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f.read()
                + f"\r\n--{boundary}--\r\n".encode())
    status, data = server.request("POST", "/dicomweb/studies", body, {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json"})
    if status != 200:
        raise RuntimeError(f"STOW-RS of {path}: {status} {data[:300]!r}")


def wado(server, target):
    t0 = time.monotonic()
    status, data = server.request("GET", target, headers={"Accept": 'multipart/related; type="application/dicom"'})
    return time.monotonic() - t0, status, len(data)


def wait_archived_and_evicted(server, count, timeout):
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = server.archive_status()
        if (status["archived_objects"] >= count and status["pending_events"] == 0
                and server.local_objects() == 0):
            return
        time.sleep(0.2)
    raise RuntimeError(f"not archived and evicted within {timeout}s: {status}, "
                       f"{server.local_objects()} local objects\n{ib.tail(server.log_path)}")


def latency_sample(files, count):
    """`count` files spread evenly over the (path-ordered) data set, so every modality shows."""
    if count >= len(files):
        return files
    step = len(files) / count
    return [files[int(i * step)] for i in range(count)]


def latency_benchmark(args, root, sets):
    files = ib.list_files(sets.get("mixed") or next(iter(sets.values())))
    sample = latency_sample(files, args.latency_instances)
    workdir = os.path.join(root, "latency")
    azurite = Azurite(os.path.join(workdir, "azurite"))
    server = None
    try:
        server = ArchiveServer(workdir, args, azurite)
        targets = []
        for path, size in sample:
            stow(server, path)
            uids = [ib.dcm_value(path, t) for t in ("0020,000d", "0020,000e", "0008,0018")]
            targets.append((f"/dicomweb/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}", size))
        log(f"\n== cache-miss WADO-RS: {len(targets)} instances stored over STOW-RS, "
            f"{sum(s for _, s in targets) / MB:.1f} MB")
        samples = []
        for rnd in range(args.latency_rounds):
            wait_archived_and_evicted(server, len(targets), args.timeout)
            for target, size in targets:
                miss, status_miss, got = wado(server, target)
                hit, status_hit, _ = wado(server, target)
                if status_miss != 200 or status_hit != 200 or got < size * 0.9:
                    raise RuntimeError(f"WADO-RS {target}: {status_miss}/{status_hit}, {got} bytes of {size}")
                samples.append({"round": rnd, "bytes": size, "miss_ms": round(miss * 1000, 2),
                                "hit_ms": round(hit * 1000, 2)})
            log(f"  round {rnd + 1}/{args.latency_rounds} done")

        def stats(rows):
            miss = [r["miss_ms"] for r in rows]
            hit = [r["hit_ms"] for r in rows]
            return {"n": len(rows), "miss_p50_ms": round(ib.percentile(miss, 0.5), 1),
                    "miss_p95_ms": round(ib.percentile(miss, 0.95), 1),
                    "hit_p50_ms": round(ib.percentile(hit, 0.5), 1),
                    "hit_p95_ms": round(ib.percentile(hit, 0.95), 1),
                    "miss_over_hit_p50": round(ib.percentile(miss, 0.5) / ib.percentile(hit, 0.5), 2)}

        small = [r for r in samples if r["bytes"] <= SINGLE_PUT_LIMIT]
        large = [r for r in samples if r["bytes"] > SINGLE_PUT_LIMIT]
        out = {"instances": len(targets), "rounds": args.latency_rounds, "all": stats(samples), "samples": samples}
        if small:
            out["up_to_4mib"] = stats(small) | {"mean_bytes": round(statistics.mean(r["bytes"] for r in small))}
        if large:
            out["above_4mib"] = stats(large) | {"mean_bytes": round(statistics.mean(r["bytes"] for r in large))}
        out["server_peak_rss_mib"] = server.peak_rss_mib()
        return out
    finally:
        if server:
            server.stop()
        azurite.stop()


# ---------------------------------------------------------------- report


def print_summary(results):
    log("\n== summary")
    for name, res in results.get("upload", {}).items():
        d = res["data"]
        log(f"upload {name} ({d['objects']} objects, {d['bytes'] / MB:.0f} MB, mean {d['mean_bytes'] / MB:.2f} MB):")
        log(f"  {'N':>3}  {'strata obj/s':>12} {'MB/s':>7}  {'sdk obj/s':>10} {'MB/s':>7}  {'strata/sdk':>10}")
        for conc, row in res["summary"].items():
            s, k = row["strata"], row["sdk"]
            log(f"  {conc:>3}  {s['best_objects_per_second']:>12.1f} {s['best_mb_per_second']:>7.1f}  "
                f"{k['best_objects_per_second']:>10.1f} {k['best_mb_per_second']:>7.1f}  "
                f"{row['ratio_strata_over_sdk_best']:>10.2f}")
    lat = results.get("latency")
    if lat:
        log(f"WADO-RS instance ({lat['instances']} instances x {lat['rounds']} rounds):")
        for key in ("all", "up_to_4mib", "above_4mib"):
            if key in lat:
                s = lat[key]
                log(f"  {key:11s} n={s['n']:3d}  miss p50 {s['miss_p50_ms']:7.1f} ms  p95 {s['miss_p95_ms']:7.1f} ms"
                    f"   hit p50 {s['hit_p50_ms']:6.1f} ms  p95 {s['hit_p95_ms']:6.1f} ms   miss/hit {s['miss_over_hit_p50']:.2f}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN") or ib.default_bin("src", "app", "strata"))
    p.add_argument("--bench-bin", default=os.environ.get("ARCHIVE_UPLOAD_BENCH_BIN") or ib.default_bin("bench", "archive_upload_bench"),
                   help="archive_upload_bench binary (ninja archive_upload_bench)")
    p.add_argument("--node", default="node")
    p.add_argument("--quick", action="store_true", help="small data, one repeat: about 2 minutes")
    p.add_argument("--concurrency", default="1,4,8", help="files in flight (Strata: parallel_uploads)")
    p.add_argument("--repeat", type=int, default=None, help="runs per path and concurrency (default 3, --quick 1)")
    p.add_argument("--mixed-bytes", type=float, default=None, help="size of the mixed set (default 1e9, --quick 1e8)")
    p.add_argument("--large-count", type=int, default=None, help="objects in the large set (default 8, --quick 3; 0: none)")
    p.add_argument("--large-mib", type=int, default=64, help="size of each large object")
    p.add_argument("--batch", type=int, default=100, help="archiver batch size ([archive] batch_size)")
    p.add_argument("--latency-instances", type=int, default=None, help="instances in the latency sample (default 40, --quick 16)")
    p.add_argument("--latency-rounds", type=int, default=None, help="evict-and-read rounds (default 3, --quick 2)")
    p.add_argument("--min-idle-seconds", type=int, default=5, help="[cache] min_idle_seconds of the latency server")
    p.add_argument("--skip-upload", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for one run")
    p.add_argument("--work-dir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out"))
    args = p.parse_args()
    quick = args.quick
    defaults = {"repeat": (3, 1), "mixed_bytes": (1e9, 1e8), "large_count": (8, 3),
                "latency_instances": (40, 16), "latency_rounds": (3, 2)}
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    for name in ("strata_bin", "bench_bin"):
        v = getattr(args, name)
        if not v or not os.access(v, os.X_OK):
            p.error(f"--{name.replace('_', '-')}: no executable ({v}); build it first")
        setattr(args, name, os.path.abspath(v))
    if not os.access(AZURITE_BIN, os.X_OK) or not os.path.isdir(os.path.join(REPO, "node_modules", "@azure", "storage-blob")):
        p.error("node_modules lacks Azurite or @azure/storage-blob: run tools/setup.sh (npm ci)")
    return args


def main():
    args = parse_args()
    ib.require_optimised(args.strata_bin, args.bench_bin)
    root = args.work_dir or tempfile.mkdtemp(prefix="strata-archive-bench-")
    os.makedirs(root, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "started_utc": started.isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": os.uname().release, "loadavg": os.getloadavg()},
        "args": {k: v for k, v in vars(args).items()},
        "tools": {"node": subprocess.run([args.node, "--version"], capture_output=True, text=True).stdout.strip(),
                  "storage_blob": json.load(open(os.path.join(REPO, "node_modules", "@azure", "storage-blob",
                                                              "package.json")))["version"],
                  "azurite": json.load(open(os.path.join(REPO, "node_modules", "azurite", "package.json")))["version"]},
    }
    log(f"scratch: {root}; strata: {args.strata_bin}; bench: {args.bench_bin}")
    try:
        sets = make_data(args, root)
        if not args.skip_upload:
            results["upload"] = upload_benchmark(args, root, sets)
        if not args.skip_latency:
            results["latency"] = latency_benchmark(args, root, sets)
    finally:
        results["seconds"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1)
        results["host"]["loadavg_end"] = os.getloadavg()
        os.makedirs(args.out, exist_ok=True)
        name = "archive-" + ("quick-" if args.quick else "") + started.strftime("%Y%m%dT%H%M%SZ") + ".json"
        out_path = os.path.join(args.out, name)
        with open(out_path, "w") as f:
            json.dump(results, f, indent=2)
        if not args.keep and not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    print_summary(results)
    log(f"\nresults: {out_path} ({results['seconds']}s)")


if __name__ == "__main__":
    main()
