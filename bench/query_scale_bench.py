#!/usr/bin/python3
"""Query latency at scale: QIDO-RS and C-FIND with 50,000 and 500,000 instances in Strata.

The catalog is filled directly by bench/catalog_fill (the records `strata synth --preset tiny`
files would give through ingest, without the objects: QIDO-RS and C-FIND answer from the
catalog alone), so that reaching 500,000 instances takes minutes instead of the hour storescu
needs. Per size: fill up to the size, start `strata serve` on the data directory, time the
typical QIDO-RS queries over one keep-alive connection and the C-FIND queries on one
association (findscu's own log, as in ingest_bench.py), record peak RSS, stop the server.
Prints medians, p95, the ratio largest/smallest size, and the answer counts against what the
data set implies.

Standard library only; runs inside a private network namespace (loopback only) like
ingest_bench.py and dicomweb_bench.py, whose helpers it uses. Results JSON goes to
bench/out/query-scale-<time>.json.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dicomweb_bench as db  # noqa: E402
import ingest_bench as ib  # noqa: E402

NETNS_MARK = "QUERY_SCALE_BENCH_IN_NETNS"
DATE_RANGE = "20240301-20240307"
INCLUDE = "includefield=00081030,00080060,00080090,00100030"


class StrataTarget(db.Target):
    """dicomweb_bench's request helpers over an already started ingest_bench.StrataServer."""

    def __init__(self, server):  # the server is started by the caller
        self.name = "strata"
        self.server = server
        self.base = "/dicomweb"
        self.headers = {"Authorization": f"Bearer {ib.StrataServer.TOKEN}"}
        self.port = server.http_port


def first_value(answer, tag):
    return answer[tag]["Value"][0]


def pick_targets(target, seed, patient_index):
    """UIDs of one stage-1 patient, read over QIDO-RS: the first prior (accession ...01), as
    ingest_bench's C-FIND queries use, and its first series."""
    patient_id = "SYN%03d-%07d" % (seed % 1000, patient_index)
    accession = "A%03d%07d%02d" % (seed % 1000, patient_index, 1)
    conn = target.connection()
    try:
        status, data = target.request(conn, "GET", f"/studies?AccessionNumber={accession}",
                                      headers={"Accept": "application/dicom+json"})
        if status != 200:
            raise RuntimeError(f"no study with AccessionNumber {accession}: HTTP {status}")
        study = first_value(json.loads(data)[0], "0020000D")
        name = first_value(json.loads(data)[0], "00100010")["Alphabetic"]
        status, data = target.request(conn, "GET", f"/studies/{study}/series",
                                      headers={"Accept": "application/dicom+json"})
        series = sorted(first_value(a, "0020000E") for a in json.loads(data))[0]
    finally:
        conn.close()
    return {"patient_id": patient_id, "accession": accession, "study": study, "series": series,
            "name_prefix": name.split("^")[0][:4]}


def qido_queries(t):
    q = urllib.parse.quote
    return {
        "studies_by_patient_id": f"/studies?PatientID={q(t['patient_id'])}&{INCLUDE}",
        "studies_by_accession": f"/studies?AccessionNumber={q(t['accession'])}",
        "studies_by_name_prefix": f"/studies?PatientName={q(t['name_prefix'])}*&limit=25",
        "studies_date_range_7d": f"/studies?StudyDate={DATE_RANGE}&limit=101&offset=0",
        "series_of_study": f"/studies/{t['study']}/series",
        "instances_of_series": f"/studies/{t['study']}/series/{t['series']}/instances",
        "studies_page_ohif_25": f"/studies?limit=25&offset=0&fuzzymatching=false&{INCLUDE}",
    }


def find_queries(t):
    def keys(level, match, returns):
        return (["QueryRetrieveLevel=" + level] + [f"{k}={v}" for k, v in match.items()]
                + [k for k in returns if k not in match])

    return {
        "study_by_patient_id": keys("STUDY", {"PatientID": t["patient_id"]}, ib.STUDY_RETURN_KEYS),
        "study_by_accession": keys("STUDY", {"AccessionNumber": t["accession"]}, ib.STUDY_RETURN_KEYS),
        "series_of_study": keys("SERIES", {"StudyInstanceUID": t["study"]}, ib.SERIES_RETURN_KEYS),
        "study_date_range_7d": keys("STUDY", {"StudyDate": DATE_RANGE}, ib.STUDY_RETURN_KEYS),
    }


# Answer counts the data set implies whatever its size (None: grows with the size).
EXPECTED = {
    "qido": {"studies_by_patient_id": 3, "studies_by_accession": 1, "studies_by_name_prefix": 25,
             "studies_date_range_7d": None, "series_of_study": 2, "instances_of_series": 5,
             "studies_page_ohif_25": 25},
    "cfind": {"study_by_patient_id": 3, "study_by_accession": 1, "series_of_study": 2,
              "study_date_range_7d": None},
}


def fill(args, data_dir, start, end):
    argv = [args.fill_bin, "--data-dir", data_dir, "--from", str(start), "--to", str(end),
            "--seed", str(args.seed), "--batch", str(args.batch)]
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"catalog_fill failed: {' '.join(argv)}\n{res.stderr[-800:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    ib.log(f"  filled {out['inserted']} instances ({out['first_instance']}..{out['end_instance']}) in "
           f"{out['seconds']:.1f}s ({out['instances_per_second']:.0f}/s)")
    return out


def check(kind, measured, failures, size):
    for name, m in measured.items():
        want = EXPECTED[kind][name]
        m["expected_answers"] = want
        if want is not None and m["answers"] != want:
            failures.append(f"{kind} {name} at {size}: {m['answers']} answers, expected {want}")


def ratios(levels, kind, key):
    lo, hi = levels[0][kind], levels[-1][kind]
    return {name: round(hi[name][key] / lo[name][key], 2) for name in lo if lo[name][key]}


def run(args, root, results):
    workdir = os.path.join(root, "strata")
    os.makedirs(workdir)
    data_dir = os.path.join(workdir, "data")  # what ib.StrataServer's config names
    loaded, targets, levels, failures = 0, None, [], []
    results["levels"], results["failures"] = levels, failures
    for size in args.sizes:
        ib.log(f"== {size} instances")
        level = {"target_size": size, "fill": fill(args, data_dir, loaded, size),
                 "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
        loaded = level["fill"]["end_instance"]
        level["instances"] = loaded
        server = ib.StrataServer(workdir, args.strata_bin)
        try:
            target = StrataTarget(server)
            if targets is None:
                patients = loaded // ib.TINY_PER_PATIENT
                targets = pick_targets(target, args.seed, patients // 2)
                results["targets"] = targets
                results["qido_queries"] = qido_queries(targets)
                results["cfind_queries"] = find_queries(targets)
            level["qido"] = db.measure_qido(target, results["qido_queries"], args.runs)
            level["cfind"] = ib.measure_queries(server, results["cfind_queries"], args.runs, workdir)
            level["peak_rss_mib"] = server.peak_rss_mib()
            level["server_cpu_seconds"] = server.cpu_seconds()
        finally:
            server.stop()
        level["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        check("qido", level["qido"], failures, size)
        check("cfind", level["cfind"], failures, size)
        levels.append(level)
        for name, m in level["qido"].items():
            ib.log(f"  QIDO   {name:24s} p50 {m['p50_ms']:8.2f} ms  p95 {m['p95_ms']:8.2f} ms  answers {m['answers']}")
        for name, m in level["cfind"].items():
            ib.log(f"  C-FIND {name:24s} p50 {m['median_ms']:8.2f} ms  p95 {m['p95_ms']:8.2f} ms  "
                   f"answers {m['answers']}  (whole findscu run {m['findscu_process_median_ms']} ms)")
        ib.log(f"  peak RSS {level['peak_rss_mib']} MiB; load average {level['loadavg_before']} -> "
               f"{level['loadavg_after']}")
    if len(levels) >= 2:
        results["ratio_largest_over_smallest"] = {
            "between": [levels[0]["instances"], levels[-1]["instances"]],
            "qido_p50": ratios(levels, "qido", "p50_ms"), "qido_p95": ratios(levels, "qido", "p95_ms"),
            "cfind_median": ratios(levels, "cfind", "median_ms"),
            "cfind_p95": ratios(levels, "cfind", "p95_ms"),
        }


def default_fill_bin(strata_bin):
    build = os.path.dirname(os.path.dirname(os.path.dirname(strata_bin)))
    candidates = [os.path.join(build, "bench", "catalog_fill")]
    candidates.append(ib.default_bin("bench", "catalog_fill"))
    return next((c for c in candidates if c and os.access(c, os.X_OK)), candidates[0])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN") or ib.default_strata_bin())
    p.add_argument("--fill-bin", default=None, help="catalog_fill (default: next to --strata-bin's build)")
    p.add_argument("--sizes", default="50000,500000", help="instances, ascending")
    p.add_argument("--runs", type=int, default=20, help="timed runs per query after one warm-up")
    p.add_argument("--seed", type=int, default=ib.TINY_SEED)
    p.add_argument("--batch", type=int, default=10000, help="instances per catalog transaction")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--out", default=os.path.join(ib.REPO, "bench", "out"))
    p.add_argument("--no-unshare", action="store_true")
    args = p.parse_args()
    args.strata_bin = os.path.abspath(args.strata_bin)
    args.fill_bin = os.path.abspath(args.fill_bin or default_fill_bin(args.strata_bin))
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    return args


def main():
    args = parse_args()
    ib.require_optimised(args.strata_bin, args.fill_bin)
    ib.enter_private_netns(NETNS_MARK, __file__, args.no_unshare)
    os.environ["TCP_NODELAY"] = "1"
    root = tempfile.mkdtemp(prefix="strata-query-scale-")
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"started_utc": started.isoformat(timespec="seconds"),
               "host": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]},
               "args": vars(args)}
    ib.log(f"scratch: {root}; strata: {args.strata_bin}; fill: {args.fill_bin}")
    t0 = time.monotonic()
    try:
        run(args, root, results)
    except Exception as e:
        results["error"] = str(e)
        ib.log(f"ERROR {e}")
    finally:
        results["seconds"] = round(time.monotonic() - t0, 1)
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "query-scale-" + started.strftime("%Y%m%dT%H%M%SZ") + ".json")
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    r = results.get("ratio_largest_over_smallest")
    if r:
        ib.log(f"== ratio {r['between'][1]} / {r['between'][0]} instances (p50; p95)")
        for name, v in r["qido_p50"].items():
            ib.log(f"  QIDO   {name:24s} {v:6.2f}  {r['qido_p95'].get(name, float('nan')):6.2f}")
        for name, v in r["cfind_median"].items():
            ib.log(f"  C-FIND {name:24s} {v:6.2f}  {r['cfind_p95'].get(name, float('nan')):6.2f}")
    for f in results.get("failures", []):
        ib.log(f"  ANSWER MISMATCH: {f}")
    ib.log(f"results: {path} ({results['seconds']}s)")
    sys.exit(1 if results.get("error") or results.get("failures") else 0)


if __name__ == "__main__":
    main()
