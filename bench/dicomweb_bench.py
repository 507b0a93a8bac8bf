#!/usr/bin/python3
"""DICOMweb benchmark: Strata vs Orthanc with its DICOMweb plugin, same data, same run.

Measures, for each server: STOW-RS instances/s and MB/s (multipart bodies of --stow-batch
instances, over 1 and 4 concurrent connections), WADO-RS MB/s retrieving whole studies
(multipart/related application/dicom, transfer-syntax=*), QIDO-RS p50/p95 latency of typical
queries with the archive loaded to each of --qido-sizes instances (loaded over DIMSE with
storescu, which both servers accept), and peak RSS. Prints the ratios Strata/Orthanc.

STOW-RS and WADO-RS requests are sent by `curl` (one process per connection); the rest uses
the standard library only. Runs inside a private network namespace (loopback only) like
ingest_bench.py, whose server wrappers it shares. Results JSON goes to bench/out/.
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest_bench as ib  # noqa: E402

NETNS_MARK = "DICOMWEB_BENCH_IN_NETNS"
MB = 1e6
BOUNDARY = "strata-bench-boundary"


class Target:
    """One DICOMweb server under test: its wrapper from ingest_bench and its URL layout."""

    def __init__(self, name, workdir, args):
        self.name = name
        if name == "strata":
            self.server = ib.StrataServer(workdir, args.strata_bin)
            self.base = "/dicomweb"
            self.headers = {"Authorization": f"Bearer {ib.StrataServer.TOKEN}"}
        else:
            self.server = ib.OrthancServer(workdir, 4, dicomweb=True)
            self.base = "/dicom-web"
            self.headers = {}
        self.port = self.server.http_port

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def request(self, conn, method, path, body=None, headers=None):
        h = dict(self.headers)
        h.update(headers or {})
        conn.request(method, self.base + path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data


def write_stow_bodies(files, batch, outdir):
    """Writes each batch's multipart/related body to a file once, before any timing, so the
    timed runs only send bytes: both servers receive the same bodies."""
    os.makedirs(outdir)
    bodies = []
    for i in range(0, len(files), batch):
        path = os.path.join(outdir, f"{i // batch:05d}.multipart")
        with open(path, "wb") as out:
            for p, _ in files[i:i + batch]:
                with open(p, "rb") as f:
                    out.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
                    out.write(f.read())
                    out.write(b"\r\n")
            out.write(f"--{BOUNDARY}--\r\n".encode())
        bodies.append(path)
    return bodies


def curl_quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_curls(target, requests, connections, workdir, tag):
    """Deals `requests` out to `connections` `curl` processes, each sending its share over one
    keep-alive connection (a config file with `next` between requests). A client in C that
    streams response bodies to /dev/null keeps the two vCPUs for the servers: the earlier
    Python client took about a third of the CPU over four connections. Returns (seconds,
    statuses, bytes received)."""
    configs = []
    for index in range(connections):
        config = os.path.join(workdir, f"{tag}-{index}.curl")
        with open(config, "w") as f:
            for n, (method, path, headers, body) in enumerate(requests[index::connections]):
                if n:
                    f.write("next\n")
                f.write(f"url = {curl_quote(f'http://127.0.0.1:{target.port}{target.base}{path}')}\n")
                f.write(f"request = {method}\n")
                for k, v in {**target.headers, **headers}.items():
                    f.write(f"header = {curl_quote(f'{k}: {v}')}\n")
                if body:
                    # upload-file streams the body from its file (data-binary would first read
                    # it into memory 4 KB at a time, costing curl 0.8 s of CPU per 150 MB). No
                    # "Expect: 100-continue": Orthanc does not answer it, and curl would wait
                    # a second before sending each body.
                    f.write(f"upload-file = {curl_quote(body)}\nheader = \"Expect:\"\n")
                f.write("output = /dev/null\nsilent\n")
                f.write('write-out = "%{http_code} %{size_download}\\n"\n')
        configs.append(config)
    t0 = time.monotonic()
    running = [subprocess.Popen(["curl", "--config", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for c in configs]
    outputs = [p.communicate() for p in running]
    wall = time.monotonic() - t0
    statuses, received = [], 0
    for (out, err), p in zip(outputs, running):
        lines = out.decode().split()
        statuses += [int(code) for code in lines[0::2]]
        received += sum(int(size) for size in lines[1::2])
        if p.returncode != 0:
            statuses.append(f"curl exit {p.returncode}: {err.decode()[:200]}")
    return wall, statuses, received


def stow(target, files, bodies, connections, workdir):
    """POSTs every prepared body over `connections` keep-alive connections."""
    ctype = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    headers = {"Content-Type": ctype, "Accept": "application/dicom+json"}
    requests = [("POST", "/studies", headers, b) for b in bodies]
    wall, statuses, _ = run_curls(target, requests, connections, workdir, f"stow{connections}")
    failures = [s for s in statuses if s != 200]
    total = sum(s for _, s in files)
    return {"instances": len(files), "connections": connections, "requests": len(bodies),
            "seconds": round(wall, 2), "instances_per_second": round(len(files) / wall, 1),
            "mb_per_second": round(total / MB / wall, 1), "failed_requests": len(failures),
            "first_failure": repr(failures[0]) if failures else None}


def wado_studies(target, studies, connections, workdir):
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    requests = [("GET", f"/studies/{uid}", {"Accept": accept}, None) for uid in studies]
    wall, statuses, received = run_curls(target, requests, connections, workdir, f"wado{connections}")
    bad = [s for s in statuses if s != 200]
    return {"studies": len(studies), "connections": connections, "bytes": received,
            "seconds": round(wall, 2), "mb_per_second": round(received / MB / wall, 1),
            "failed": len(bad)}


def qido_queries(sample):
    """Typical viewer/worklist queries built from one loaded instance's attributes."""
    study, series = sample["study"], sample["series"]
    inc = "includefield=00081030,00080060,00080090,00100030"
    return {
        "studies_by_patient_id": f"/studies?PatientID={urllib.parse.quote(sample['patient_id'])}&{inc}",
        "studies_by_accession": f"/studies?AccessionNumber={urllib.parse.quote(sample['accession'])}",
        "studies_by_name_prefix": f"/studies?PatientName={urllib.parse.quote(sample['name_prefix'])}*&limit=25",
        "studies_date_range_7d": "/studies?StudyDate=20240301-20240307&limit=101&offset=0",
        "series_of_study": f"/studies/{study}/series",
        "instances_of_series": f"/studies/{study}/series/{series}/instances",
        "studies_page_ohif": f"/studies?limit=101&offset=0&fuzzymatching=false&{inc}",
    }


def measure_qido(target, queries, runs):
    conn = target.connection()
    out = {}
    try:
        for name, path in queries.items():
            lat = []
            answers = None
            for i in range(runs + 1):
                t0 = time.monotonic()
                status, data = target.request(conn, "GET", path, headers={"Accept": "application/dicom+json"})
                ms = (time.monotonic() - t0) * 1000
                if status not in (200, 204):
                    raise RuntimeError(f"{target.name} {path}: HTTP {status} {data[:200]!r}")
                if i:  # the first query warms caches
                    lat.append(ms)
                answers = len(json.loads(data)) if data else 0
            out[name] = {"p50_ms": round(statistics.median(lat), 3),
                         "p95_ms": round(ib.percentile(lat, 0.95), 3), "answers": answers}
    finally:
        conn.close()
    return out


def sample_of(path):
    def v(tag):
        return ib.dcm_value(path, tag)
    name = v("0010,0010")
    return {"study": v("0020,000d"), "series": v("0020,000e"), "patient_id": v("0010,0020"),
            "accession": v("0008,0050"), "name_prefix": name.split("^")[0][:4]}


def studies_of(files):
    uids = {}
    for p, _ in files:
        uids.setdefault(ib.dcm_value(p, "0020,000d"), 0)
    return list(uids)


def run_target(name, args, root, stow_files, stow_bodies, stow_studies, qido_stages):
    """Per connection count: a fresh server, STOW-RS of every file, WADO-RS of every study.
    The last server is then loaded over DIMSE and queried with QIDO-RS."""
    entry = {"stow": [], "wado": [], "qido": []}
    for round_index, conns in enumerate(args.connections):
        last = round_index == len(args.connections) - 1
        workdir = os.path.join(root, f"{name}-{conns}")
        os.makedirs(workdir)
        target = None
        try:
            # The previous round's writes are still being flushed by the kernel; let them
            # finish first so that they do not slow down the next server's writes.
            os.sync()
            target = Target(name, workdir, args)
            r = stow(target, stow_files, stow_bodies, conns, workdir)
            entry["stow"].append(r)
            ib.log(f"  {name}: STOW {r['instances']} inst over {conns} conn: {r['instances_per_second']} inst/s, "
                   f"{r['mb_per_second']} MB/s ({r['failed_requests']} failed requests)")
            w = wado_studies(target, stow_studies, conns, workdir)
            entry["wado"].append(w)
            ib.log(f"  {name}: WADO {w['studies']} studies over {conns} conn: {w['mb_per_second']} MB/s "
                   f"({w['failed']} failed)")
            if last:
                load_qido(name, target, args, workdir, qido_stages, entry)
            rss = target.server.peak_rss_mib()
            entry["peak_rss_mib"] = max(entry.get("peak_rss_mib") or 0, rss or 0)
        except Exception as e:  # keep the other target's figures
            entry["error"] = str(e)
            ib.log(f"  {name}: ERROR {e}")
        finally:
            if target is not None:
                target.server.stop()
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    return entry


def load_qido(name, target, args, workdir, qido_stages, entry):
    loaded_before = target.server.count_instances()
    for stage in qido_stages:
        if stage["size"] > args.max_qido_size.get(name, 10**12):
            break
        groups = ib.split_contiguous(stage["dirs"], [1] * len(stage["dirs"]), args.load_parallel)
        wall, failures, timed_out = ib.send(target.server, groups, True, workdir, f"load{stage['size']}",
                                            timeout=args.load_timeout)
        count = target.server.count_instances()
        level = {"target_size": stage["size"], "instances": count - loaded_before,
                 "load_seconds": round(wall, 1), "load_timed_out": timed_out,
                 "queries": measure_qido(target, stage["queries"], args.qido_runs)}
        entry["qido"].append(level)
        ib.log(f"  {name}: QIDO with {level['instances']} tiny instances loaded ({wall:.0f}s to load):")
        for q, m in level["queries"].items():
            ib.log(f"    {q:24s} p50 {m['p50_ms']:8.2f} ms  p95 {m['p95_ms']:8.2f} ms  answers {m['answers']}")
        if timed_out:
            break


def ratios(results):
    s, o = results.get("strata", {}), results.get("orthanc", {})
    out = {}
    for key in ("stow", "wado"):
        for a, b in zip(s.get(key, []), o.get(key, [])):
            metric = "instances_per_second" if key == "stow" else "mb_per_second"
            if b.get(metric):
                out[f"{key}_{a['connections']}conn_strata_over_orthanc"] = round(a[metric] / b[metric], 2)
    for a, b in zip(s.get("qido", []), o.get("qido", [])):
        for q in a["queries"]:
            if b["queries"].get(q, {}).get("p50_ms"):
                out[f"qido_{a['target_size']}_{q}_p50_strata_over_orthanc"] = round(
                    a["queries"][q]["p50_ms"] / b["queries"][q]["p50_ms"], 3)
    sq = s.get("qido", [])
    if len(sq) >= 2:
        for q in sq[0]["queries"]:
            out[f"strata_qido_{q}_p50_growth_{sq[0]['target_size']}_to_{sq[-1]['target_size']}"] = round(
                sq[-1]["queries"][q]["p50_ms"] / sq[0]["queries"][q]["p50_ms"], 2)
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="~150 MB STOW data, QIDO sizes 5000")
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN") or ib.default_strata_bin())
    p.add_argument("--targets", default="orthanc,strata")
    p.add_argument("--stow-bytes", type=float, default=None, help="bytes of mixed data (default 6e8, quick 1.5e8)")
    p.add_argument("--stow-batch", type=int, default=10, help="instances per STOW-RS request")
    p.add_argument("--connections", default="1,4")
    p.add_argument("--qido-sizes", default=None, help="instances loaded (default 50000; quick 5000)")
    p.add_argument("--orthanc-max-qido-size", type=int, default=None, help="stop loading Orthanc beyond this")
    p.add_argument("--qido-runs", type=int, default=30)
    p.add_argument("--load-parallel", type=int, default=4)
    p.add_argument("--load-timeout", type=float, default=3600)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--out", default=os.path.join(ib.REPO, "bench", "out"))
    p.add_argument("--no-unshare", action="store_true")
    args = p.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    args.strata_bin = os.path.abspath(args.strata_bin)
    args.stow_bytes = int(args.stow_bytes or (1.5e8 if args.quick else 6e8))
    args.connections = [int(c) for c in args.connections.split(",")]
    args.qido_sizes = [int(s) for s in (args.qido_sizes or ("5000" if args.quick else "50000")).split(",")]
    args.max_qido_size = {"orthanc": args.orthanc_max_qido_size} if args.orthanc_max_qido_size else {}
    return args


def main():
    args = parse_args()
    ib.require_optimised(args.strata_bin)
    ib.enter_private_netns(NETNS_MARK, __file__, args.no_unshare)
    os.environ["TCP_NODELAY"] = "1"
    root = tempfile.mkdtemp(prefix="strata-dicomweb-bench-")
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"started_utc": started.isoformat(timespec="seconds"), "args": vars(args)}
    try:
        ib.log(f"== data: ~{args.stow_bytes / MB:.0f} MB mixed for STOW/WADO, tiny stages {args.qido_sizes} for QIDO")
        ib.run_synth(args.strata_bin, os.path.join(root, "mixed"), "mixed", ib.MIXED_SEED,
                     ["--max-bytes", str(args.stow_bytes)])
        stow_files = ib.list_files(os.path.join(root, "mixed"))
        stow_studies = studies_of(stow_files)
        stow_bodies = write_stow_bodies(stow_files, args.stow_batch, os.path.join(root, "stow-bodies"))
        stages, prev = [], 0
        for size in sorted(args.qido_sizes):
            patients = -(-size // ib.TINY_PER_PATIENT)
            out = os.path.join(root, f"tiny-{size}")
            ib.run_synth(args.strata_bin, out, "tiny", ib.TINY_SEED,
                         ["--first-patient", str(prev), "--patients", str(patients - prev)])
            dirs = sorted(os.path.join(out, d) for d in os.listdir(out))
            sample = sorted(ib.list_files(dirs[len(dirs) // 2]))[0][0]
            stages.append({"size": size, "dirs": dirs, "queries": qido_queries(sample_of(sample))})
            prev = patients
        results["data"] = {"stow_instances": len(stow_files), "stow_bytes": sum(s for _, s in stow_files),
                           "stow_studies": len(stow_studies)}
        for name in args.targets:
            ib.log(f"== {name}")
            results[name] = run_target(name, args, root, stow_files, stow_bodies, stow_studies, stages)
        results["ratios"] = ratios(results)
        ib.log("== ratios (Strata / Orthanc; for latency lower is better)")
        for k, v in results["ratios"].items():
            ib.log(f"  {k}: {v}")
    finally:
        results["seconds"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1)
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "dicomweb-" + started.strftime("%Y%m%dT%H%M%SZ") + ".json")
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        shutil.rmtree(root, ignore_errors=True)
        ib.log(f"results: {path} ({results['seconds']}s)")


if __name__ == "__main__":
    main()
