#!/usr/bin/python3
"""AI pipeline benchmark: images/s from C-STORE to findings SR stored, against raw inference.

For each repetition, on the same chest radiographs (`strata synth --preset demo`, chest CR with
synthetic lesions):

  raw        bench/ai_raw_bench (target ai_raw_bench): one process that only preprocesses the
             files (inference::PreprocessDicomFile, the pipeline's code) and scores them with
             the same engine, worker threads, engine threads and batch size; images/s with
             preprocessing ("end_to_end") and on tensors prepared in advance ("inference_only").
  throughput a fresh `strata serve` (empty store, model registered with `strata model register`,
             warmed up with three full batches per worker): all N images are sent with
             storescu; the time runs from starting storescu to the server's
             `ai_report_stored` log line of the last report
             (server-side timestamps, so polling granularity does not count). Reports are per
             study, written once a study had no new result for ai.report_settle_ms
             (--report-settle-ms, 100 by default here); an image's report is the one
             /ai/v1/results names for it once every image has one.
  latency    then L further images, one at a time with a pause between them: store
             acknowledged (storescu exited) -> `ai_report_stored` of the first report covering
             it (settle time included); p50/p95. The result's own time (inference recorded)
             splits it in two.

Prints the ratio pipeline/raw per repetition and the spread. Standard library only; runs
inside a private network namespace (loopback only) like ingest_bench.py, whose helpers it
uses. Results JSON goes to bench/out/ (git-ignored). See bench/README.md, "AI pipeline".
"""

import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest_bench as ib  # noqa: E402

NETNS_MARK = "AI_BENCH_IN_NETNS"
REPO = ib.REPO
DEMO_MODEL_DIR = os.path.join(REPO, "models", "demo-chest-anomaly")
TOKEN = "ai-bench-token"
AET = "STRATA"
SEED = 21


def log(msg):
    print(msg, flush=True)


def parse_ts(text):
    """The server log's "ts" / the API's "time" (UTC ISO 8601, ms) -> Unix seconds."""
    text = text.rstrip("Z")
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def percentile(values, q):
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "values": [round(v, 3) for v in values]}


# ---------------------------------------------------------------- data


def generate(args, root):
    """Writes the chest radiographs: throughput set, warm-up pair and latency set, from disjoint
    patients of one seed. Returns {name: [(path, sop_uid, lesion)]}."""
    sets = {}
    first = 0
    # demo: 2 chest views per patient; cr: 2 chest radiographs among 8 files per patient.
    # Warm-up: three full batches per worker, as ai_raw_bench warms up before it measures.
    warmup = 3 * args.workers * args.max_batch
    for name, count in (("warmup", warmup), ("throughput", args.images), ("latency", args.latency_images)):
        out = os.path.join(root, name)
        # cr: not every patient has chest radiographs; retry with more patients until enough.
        patients = max(1, math.ceil(count / 2)) * (1 if args.preset == "demo" else 2)
        while True:
            shutil.rmtree(out, ignore_errors=True)
            argv = [args.strata_bin, "synth", "--preset", args.preset, "--seed", str(SEED), "--out", out,
                    "--first-patient", str(first), "--patients", str(patients),
                    "--lesion-fraction", str(args.lesion_fraction)]
            res = subprocess.run(argv, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"synth failed: {' '.join(argv)}\n{res.stderr}")
            rows = []
            with open(os.path.join(out, "lesion_manifest.csv")) as f:
                for row in csv.DictReader(f):
                    rows.append((os.path.join(out, row["file"]), row["sop_instance_uid"], row["lesion"] == "1"))
            if len(rows) >= count or patients > 64 * max(count, 1):
                break
            patients *= 2
        first += patients
        rows.sort()
        if len(rows) < count:
            raise RuntimeError(f"synth wrote {len(rows)} chest radiographs for {name}, wanted {count}")
        keep = {p for p, _, _ in rows[:count]}
        # Files that are not chest radiographs (preset cr) or beyond the count are not sent.
        for d, _, files in os.walk(out):
            for fn in files:
                p = os.path.join(d, fn)
                if fn.endswith(".dcm") and p not in keep:
                    os.unlink(p)
        sets[name] = rows[:count]
    sizes = [os.path.getsize(p) for p, _, _ in sets["throughput"]]
    dims = subprocess.run(["dcmdump", "+P", "0028,0010", "+P", "0028,0011", sets["throughput"][0][0]],
                          capture_output=True, text=True).stdout.split()
    rows_cols = [dims[i + 1] for i, t in enumerate(dims) if t == "US"][:2]
    return sets, {"file_bytes_mean": round(statistics.mean(sizes)), "rows_columns": rows_cols}


# ---------------------------------------------------------------- server


class AiServer(ib.Server):
    name = "strata"

    def __init__(self, workdir, args, ai=True):
        super().__init__(workdir)
        self.aet = AET
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
                'log_level = "info"\n'
                "[dimse]\n"
                f'ae_title = "{AET}"\n'
                'bind = "127.0.0.1"\n'
                f"port = {self.port}\n"
                f"max_pdu = {ib.MAX_PDU}\n"
                "[http]\n"
                'bind = "127.0.0.1"\n'
                f"port = {self.http_port}\n"
                "[auth]\n"
                f'tokens = [{{ name = "bench", role = "admin", sha256 = "{digest}" }}]\n'
                "[ai]\n"
                f"enabled = {'true' if ai else 'false'}\n"
                f'engine = "{args.engine}"\n'
                f"workers = {args.workers}\n"
                f"engine_threads = {args.engine_threads}\n"
                f"max_batch = {args.max_batch}\n"
                f"report_settle_ms = {args.report_settle_ms}\n"
            )
        proc = self._spawn([args.strata_bin, "serve", "--config", self.config], "strata.log")
        try:
            ib.wait_for_port(self.port, proc, 30, "strata serve")
            ib.wait_for_port(self.http_port, proc, 30, "strata serve HTTP")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{ib.tail(self.log_path)}")
        self.log_offset = 0
        self.events = []

    def register_model(self, strata_bin, model_dir, heatmaps):
        # The raw figures score images only, so by default the card's heat map (G*G + 1
        # inferences and a Secondary Capture per image) is left out to compare the same work.
        with open(os.path.join(model_dir, "model_card.json")) as f:
            card = json.load(f)
        if not heatmaps:
            card.pop("heatmap", None)
        card_path = os.path.join(os.path.dirname(self.config), "model_card.json")
        with open(card_path, "w") as f:
            json.dump(card, f)
        res = subprocess.run([strata_bin, "model", "register", "--config", self.config,
                              "--onnx", os.path.join(model_dir, "model.onnx"),
                              "--card", card_path, "--by", "ai-bench"],
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"model register failed: {res.stdout}{res.stderr}")

    def get(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def results(self, query=""):
        """Every result (or those matching `query`, e.g. "instance=<uid>&"), by source SOP
        Instance UID."""
        out, offset = {}, 0
        while True:
            page = self.get(f"/ai/v1/results?{query}limit=1000&offset={offset}")
            for r in page["results"]:
                out[r["sop_instance_uid"]] = r
            if page["done"] or not page["results"]:
                return out
            offset = page["next_offset"]

    def new_events(self):
        """JSON log lines appended since the last call."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.log_offset += end
        for line in data[:end].splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                self.events.append(obj)
        return self.events

    def report_times(self):
        """Report SOP Instance UID -> server time (Unix s) of its first ai_report_stored line
        (a retried report job logs its report again)."""
        out = {}
        for e in self.new_events():
            if e.get("event") == "ai_report_stored":
                out.setdefault(e["report_sop_instance_uid"], parse_ts(e["ts"]))
        return out

    def wait_reports(self, uids, timeout, poll=0.05, since=0):
        """Source SOP Instance UID -> server time of the report /ai/v1/results names for it,
        once every one of `uids` has a stored report. Results are read only when a new report
        was logged and the reports logged from event `since` on (a mark taken before the images
        were sent) cover as many instances as awaited. For a single image polled at once this is
        the first report covering it; for many, the time the last of them was covered is the
        largest value."""
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            times = self.report_times()
            # Reading every result costs the server more than a log line; read them only once
            # the reports logged from event `since` on cover as many instances as awaited.
            covered = {}
            for e in self.events[since:]:
                if e.get("event") == "ai_report_stored":
                    study = e.get("study_instance_uid")
                    covered[study] = max(covered.get(study, 0), e.get("instances", 0))
            if len(times) != seen and sum(covered.values()) >= len(uids):
                seen = len(times)
                query = f"instance={uids[0]}&" if len(uids) == 1 else ""
                results = self.results(query)
                named = {u: results.get(u, {}).get("report_sop_instance_uid") for u in uids}
                if all(named.values()) and all(r in times for r in named.values()):
                    return {u: times[r] for u, r in named.items()}
            if time.monotonic() > deadline:
                raise RuntimeError(f"reports of {len(uids)} images not stored within {timeout}s\n"
                                   f"{ib.tail(self.log_path, 30)}")
            if self.procs[0].poll() is not None:
                raise RuntimeError(f"strata exited with {self.procs[0].returncode}\n{ib.tail(self.log_path, 30)}")
            time.sleep(poll)


def storescu(server, files, logpath):
    argv = ib.storescu_argv(server.port, AET, files, False)
    with open(logpath, "ab") as logf:
        return subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)


def store_all(server, groups, workdir, tag):
    procs = [storescu(server, g, os.path.join(workdir, f"storescu-{tag}-{i}.log")) for i, g in enumerate(groups)]
    for p in procs:
        p.wait()
    failures = sum(1 for p in procs if p.returncode != 0)
    if failures:
        raise RuntimeError(f"{failures} storescu runs failed ({tag}); see {workdir}")


# ---------------------------------------------------------------- measurements


def run_raw(args, files):
    """ai_raw_bench on `files` with the pipeline's configuration (and --raw-alt); `passes` over the
    files chosen so that the preprocess+inference phase lasts about --raw-min-seconds."""
    def once(passes, workers, engine_threads):
        argv = [args.raw_bin, "--model-dir", args.model_dir, "--engine", args.engine, "--workers", str(workers),
                "--engine-threads", str(engine_threads), "--batch", str(args.max_batch), "--passes", str(passes)] + files
        res = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if res.returncode != 0:
            raise RuntimeError(f"ai_raw_bench failed: {res.stderr}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    out = {}
    configs = {"same_as_pipeline": (args.workers, args.engine_threads)}
    if args.raw_alt:
        w, t = (int(x) for x in args.raw_alt.split("x"))
        configs[f"alt_{w}x{t}"] = (w, t)
    for name, (workers, threads) in configs.items():
        probe = once(1, workers, threads)
        # Sized on the end-to-end phase; the inference-only phase is then much shorter.
        wall = probe["end_to_end"]["wall_s"]
        passes = max(1, min(500, math.ceil(args.raw_min_seconds / max(wall, 1e-3))))
        out[name] = once(passes, workers, threads) if passes > 1 else probe
        out[name]["passes"] = passes
    return out


def measure_ingest_only(args, sets, workdir):
    """The same C-STOREs into a server with the AI pipeline off: the ceiling that ingest alone
    puts on the pipeline's throughput."""
    os.makedirs(workdir)
    server = AiServer(workdir, args, ai=False)
    try:
        store_all(server, [[p for p, _, _ in sets["warmup"]]], workdir, "warmup")
        files = [p for p, _, _ in sets["throughput"]]
        parts = ib.split_contiguous(files, [1] * len(files), args.associations)
        t0 = time.time()
        store_all(server, parts, workdir, "throughput")
        wall = time.time() - t0
        return {"wall_seconds": round(wall, 3), "images_per_second": round(len(files) / wall, 2)}
    finally:
        server.stop()


def measure_drain(args, sets, workdir):
    """The AI stage alone: the images are stored with the pipeline off, the model is registered,
    and the server is restarted with the pipeline on; its router then finds the whole backlog in
    the outbox. Time from the `ai_pipeline_started` log line to the last `ai_report_stored` (the
    model is loaded by the first job, inside that window)."""
    os.makedirs(workdir)
    server = AiServer(workdir, args, ai=False)
    images = sets["warmup"] + sets["throughput"]
    try:
        store_all(server, [[p for p, _, _ in images]], workdir, "backlog")
    finally:
        server.stop()
    server.register_model(args.strata_bin, args.model_dir, args.heatmaps)
    server = AiServer(workdir, args, ai=True)
    try:
        uids = [u for _, u, _ in images]
        times = server.wait_reports(uids, timeout=args.timeout)
        started = [parse_ts(e["ts"]) for e in server.events if e.get("event") == "ai_pipeline_started"][-1]
        wall = max(times.values()) - started
        return {"images": len(images), "wall_seconds": round(wall, 3),
                "images_per_second": round(len(images) / wall, 2)}
    finally:
        server.stop()


def measure_pipeline(args, sets, workdir):
    server = AiServer(workdir, args)
    try:
        server.register_model(args.strata_bin, args.model_dir, args.heatmaps)
        # Warm-up: the first job loads the model into the engine; full batches prepare the
        # runtime's memory for the batch shape.
        warm = sets["warmup"]
        store_all(server, [[p for p, _, _ in warm]], workdir, "warmup")
        server.wait_reports([u for _, u, _ in warm], timeout=120)
        cpu0 = server.cpu_seconds()

        # Throughput.
        files = sets["throughput"]
        uids = [u for _, u, _ in files]
        parts = ib.split_contiguous([p for p, _, _ in files], [1] * len(files), args.associations)
        mark = len(server.new_events())
        t0 = time.time()
        store_all(server, parts, workdir, "throughput")
        t_acked = time.time()
        times = server.wait_reports(uids, timeout=args.timeout, since=mark)
        cpu1 = server.cpu_seconds()
        t_last = max(times[u] for u in uids)
        t_first = min(t for t in server.report_times().values() if t >= t0)
        results = server.results()
        missing = [u for u in uids if not results.get(u, {}).get("report_sop_instance_uid")]
        if missing:
            raise RuntimeError(f"{len(missing)} results without report")
        wrong = sum(1 for _, u, lesion in files if results[u]["positive"] != lesion)
        # Results of one batch share latency_ms (the batch's preprocess+inference time / size)
        # and the worker's clock: group them to recover the batch sizes.
        batches = {}
        for u in uids:
            r = results[u]
            batches.setdefault(r["latency_ms"], []).append(u)
        infer_ms_total = sum(results[u]["latency_ms"] for u in uids)
        result_times = [parse_ts(results[u]["time"]) for u in uids]
        wall = t_last - t0
        thr = {
            "images": len(files),
            "associations": args.associations,
            "wall_seconds": round(wall, 3),
            "images_per_second": round(len(files) / wall, 2),
            "store_seconds": round(t_acked - t0, 3),
            "store_images_per_second": round(len(files) / (t_acked - t0), 2),
            "first_report_after_s": round(t_first - t0, 3),
            "reports": len(set(results[u]["report_sop_instance_uid"] for u in uids)),
            "last_result_after_s": round(max(result_times) - t0, 3),
            "last_report_after_ack_s": round(t_last - t_acked, 3),
            "batches": len(batches),
            "mean_batch": round(len(files) / len(batches), 2),
            "preprocess_inference_ms_per_image": round(infer_ms_total / len(files), 3),
            # Share of the workers' time (workers x wall) spent preprocessing and scoring.
            "preprocess_inference_share_of_worker_time": round(infer_ms_total / 1000 / (args.workers * wall), 3),
            "server_cpu_seconds": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None,
            "wrong_decisions_vs_ground_truth": wrong,
        }

        # Latency: one image at a time.
        lat = []
        # Pauses drawn from [0.5, 1.5] x --latency-pause so that arrivals do not lock onto the
        # period of the router's poll.
        rng = random.Random(7)
        for i, (path, uid, _) in enumerate(sets["latency"]):
            time.sleep(args.latency_pause * rng.uniform(0.5, 1.5))
            p = storescu(server, [path], os.path.join(workdir, "storescu-latency.log"))
            p.wait()
            t_ack = time.time()
            if p.returncode != 0:
                raise RuntimeError("storescu failed (latency)")
            t_report = server.wait_reports([uid], timeout=120, poll=0.02)[uid]
            r = server.results().get(uid)
            lat.append({"ack_to_report_ms": (t_report - t_ack) * 1000,
                        "ack_to_result_ms": (parse_ts(r["time"]) - t_ack) * 1000 if r else None,
                        "preprocess_inference_ms": r["latency_ms"] if r else None})
        a2r = [x["ack_to_report_ms"] for x in lat]
        a2res = [x["ack_to_result_ms"] for x in lat if x["ack_to_result_ms"] is not None]
        latency = {
            "images": len(lat),
            "pause_s": args.latency_pause,
            "p50_ms": round(percentile(a2r, 0.5), 1),
            "p95_ms": round(percentile(a2r, 0.95), 1),
            "min_ms": round(min(a2r), 1),
            "max_ms": round(max(a2r), 1),
            "ack_to_result_p50_ms": round(percentile(a2res, 0.5), 1) if a2res else None,
            "result_to_report_p50_ms": round(statistics.median(
                [x["ack_to_report_ms"] - x["ack_to_result_ms"] for x in lat if x["ack_to_result_ms"] is not None]), 1)
            if a2res else None,
            "preprocess_inference_p50_ms": round(statistics.median(
                [x["preprocess_inference_ms"] for x in lat if x["preprocess_inference_ms"] is not None]), 2),
            "samples_ms": [round(v, 1) for v in a2r],
        }
        return {"throughput": thr, "latency": latency, "peak_rss_mib": server.peak_rss_mib()}
    finally:
        server.stop()


# ---------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN") or ib.default_bin("src", "app", "strata"))
    p.add_argument("--raw-bin", default=os.environ.get("AI_RAW_BENCH_BIN") or ib.default_bin("src", "inference", "ai_raw_bench"),
                   help="ai_raw_bench binary (ninja ai_raw_bench)")
    p.add_argument("--preset", default="demo", choices=["demo", "cr"],
                   help="demo: 320x256 chest CR (the demo model's data); cr: 2000x2500 CR, chest ones only")
    p.add_argument("--model", default="demo", choices=["demo", "densenet121"],
                   help="demo: the committed demo model (64x64 input, well under 1 ms per image); "
                        "densenet121: the compute of a clinical classifier, untrained, written by "
                        "bench/clinical_size_model.py (needs Debian's python3-torch)")
    p.add_argument("--model-size", type=int, default=224,
                   help="densenet121's input width and height (224: CheXNet's; 512: many later models)")
    p.add_argument("--model-dir", default=None,
                   help="any other model: a directory with model.onnx and model_card.json "
                        "(overrides --model)")
    p.add_argument("--images", type=int, default=64, help="N, images in the throughput run")
    p.add_argument("--latency-images", type=int, default=20, help="images stored one at a time")
    p.add_argument("--latency-pause", type=float, default=1.0, help="seconds between latency images")
    p.add_argument("--lesion-fraction", type=float, default=0.5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--engine", default="onnxruntime", choices=["onnxruntime", "opencv-dnn"])
    p.add_argument("--workers", type=int, default=2, help="ai.workers (and the raw bench's threads)")
    p.add_argument("--engine-threads", type=int, default=1, help="ai.engine_threads")
    p.add_argument("--max-batch", type=int, default=8, help="ai.max_batch (and the raw batch size)")
    p.add_argument("--associations", type=int, default=1, help="parallel storescu in the throughput run")
    p.add_argument("--report-settle-ms", type=int, default=100,
                   help="ai.report_settle_ms: a study's SR waits this long for more of its images")
    p.add_argument("--heatmaps", action="store_true",
                   help="keep the card's heat map (not part of the raw figures)")
    p.add_argument("--raw-alt", default="1x2", help="another raw configuration WORKERSxTHREADS ('' for none)")
    p.add_argument("--raw-min-seconds", type=float, default=2.0, help="repeat the raw passes to last this long")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the last report")
    p.add_argument("--work-dir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out"))
    p.add_argument("--no-unshare", action="store_true")
    args = p.parse_args()
    if args.model_size != 224 and (args.model != "densenet121" or args.model_dir):
        p.error("--model-size sets the input of --model densenet121; the other models have their own")
    for name in ("strata_bin", "raw_bin"):
        v = getattr(args, name)
        if not v or not os.access(v, os.X_OK):
            p.error(f"--{name.replace('_', '-')}: no executable ({v}); build it first")
        setattr(args, name, os.path.abspath(v))
    return args


def main():
    args = parse_args()
    ib.require_optimised(args.strata_bin, args.raw_bin)
    ib.enter_private_netns(NETNS_MARK, __file__, args.no_unshare)
    os.environ["TCP_NODELAY"] = "1"
    root = args.work_dir or tempfile.mkdtemp(prefix="strata-ai-bench-")
    os.makedirs(root, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "started_utc": started.isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": os.uname().release, "loadavg_start": os.getloadavg()},
        "args": vars(args),
        "runs": [],
    }
    log(f"scratch: {root}; strata: {args.strata_bin}; raw: {args.raw_bin}")
    try:
        if args.model_dir is None and args.model == "demo":
            args.model_dir = DEMO_MODEL_DIR
        elif args.model_dir is None:
            args.model_dir = os.path.join(root, "model")
            made = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "clinical_size_model.py"),
                                   args.model_dir, str(args.model_size)], capture_output=True, text=True)
            if made.returncode != 0:
                raise RuntimeError("bench/clinical_size_model.py failed (it needs Debian's python3-torch "
                                   f"and python3-onnx: apt-get install python3-torch python3-onnx):\n{made.stderr}")
            log(f"model: {made.stdout.strip()}")
        sets, data = generate(args, os.path.join(root, "data"))
        results["data"] = dict(data, preset=args.preset, images=args.images, latency_images=args.latency_images)
        log(f"data: --preset {args.preset}, {data['rows_columns']} rows/columns, {data['file_bytes_mean']} bytes per file")
        files = [p for p, _, _ in sets["throughput"]]
        for rep in range(args.repeat):
            run = {"repeat": rep, "loadavg": os.getloadavg()}
            run["raw"] = run_raw(args, files)
            workdir = os.path.join(root, f"serve-{rep}")
            os.makedirs(workdir)
            run["ingest_only"] = measure_ingest_only(args, sets, workdir + "-ingest")
            run["pipeline"] = measure_pipeline(args, sets, workdir)
            run["drain"] = measure_drain(args, sets, workdir + "-drain")
            raw = run["raw"]["same_as_pipeline"]
            pipe = run["pipeline"]["throughput"]["images_per_second"]
            run["ratio_pipeline_over_raw"] = round(pipe / raw["end_to_end"]["images_per_s"], 4)
            run["ratio_pipeline_over_raw_inference_only"] = round(pipe / raw["inference_only"]["images_per_s"], 4)
            results["runs"].append(run)
            t, l = run["pipeline"]["throughput"], run["pipeline"]["latency"]
            log(f"[{rep}] raw (preprocess+infer, {args.workers} workers x {args.engine_threads} threads, batch {args.max_batch}): "
                f"{raw['end_to_end']['images_per_s']:.1f} img/s  (inference only {raw['inference_only']['images_per_s']:.1f} img/s; "
                f"{raw['end_to_end']['preprocess_ms_per_image']:.2f} ms preprocess + {raw['end_to_end']['run_ms_per_image']:.3f} ms run per image)")
            for name, alt in run["raw"].items():
                if name != "same_as_pipeline":
                    log(f"[{rep}] raw {name}: {alt['end_to_end']['images_per_s']:.1f} img/s (inference only {alt['inference_only']['images_per_s']:.1f})")
            log(f"[{rep}] pipeline: {t['images_per_second']:.2f} img/s ({t['images']} images in {t['wall_seconds']:.2f}s; "
                f"stores acked after {t['store_seconds']:.2f}s, last SR {t['last_report_after_ack_s']:.2f}s later; "
                f"{t['batches']} batches, mean {t['mean_batch']}; preprocess+infer {t['preprocess_inference_ms_per_image']:.2f} ms/img = "
                f"{100 * t['preprocess_inference_share_of_worker_time']:.1f}% of worker time; server CPU {t['server_cpu_seconds']}s)")
            log(f"[{rep}] ingest only (AI off, same C-STOREs): {run['ingest_only']['images_per_second']:.2f} img/s; "
                f"pipeline/ingest-only {pipe / run['ingest_only']['images_per_second']:.3f}")
            d = run["drain"]
            log(f"[{rep}] AI stage alone (backlog of {d['images']} stored images, pipeline started): "
                f"{d['images_per_second']:.2f} img/s; drain/raw {d['images_per_second'] / raw['end_to_end']['images_per_s']:.3f}")
            log(f"[{rep}] ratio pipeline/raw: {run['ratio_pipeline_over_raw']:.3f} (vs inference only "
                f"{run['ratio_pipeline_over_raw_inference_only']:.4f})")
            log(f"[{rep}] latency store-ack -> SR stored (settle {args.report_settle_ms} ms included): "
                f"p50 {l['p50_ms']} ms, p95 {l['p95_ms']} ms "
                f"(ack -> result p50 {l['ack_to_result_p50_ms']} ms, result -> SR p50 {l['result_to_report_p50_ms']} ms, "
                f"preprocess+infer p50 {l['preprocess_inference_p50_ms']} ms)")
        runs = results["runs"]
        results["summary"] = {
            "raw_end_to_end_images_per_s": spread([r["raw"]["same_as_pipeline"]["end_to_end"]["images_per_s"] for r in runs]),
            "raw_inference_only_images_per_s": spread([r["raw"]["same_as_pipeline"]["inference_only"]["images_per_s"] for r in runs]),
            "ingest_only_images_per_s": spread([r["ingest_only"]["images_per_second"] for r in runs]),
            "ai_stage_alone_images_per_s": spread([r["drain"]["images_per_second"] for r in runs]),
            "ratio_ai_stage_alone_over_raw": spread([r["drain"]["images_per_second"] / r["raw"]["same_as_pipeline"]["end_to_end"]["images_per_s"] for r in runs]),
            "pipeline_images_per_s": spread([r["pipeline"]["throughput"]["images_per_second"] for r in runs]),
            "ratio_pipeline_over_raw": spread([r["ratio_pipeline_over_raw"] for r in runs]),
            "latency_p50_ms": spread([r["pipeline"]["latency"]["p50_ms"] for r in runs]),
            "latency_p95_ms": spread([r["pipeline"]["latency"]["p95_ms"] for r in runs]),
        }
    finally:
        results["seconds"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1)
        results["host"]["loadavg_end"] = os.getloadavg()
        os.makedirs(args.out, exist_ok=True)
        out_path = os.path.join(args.out, "ai-" + started.strftime("%Y%m%dT%H%M%SZ") + ".json")
        with open(out_path, "w") as f:
            json.dump(results, f, indent=2)
        if not args.keep and not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    log("\n================ summary (median [min, max] over repetitions) ================")
    for k, v in results.get("summary", {}).items():
        if v:
            log(f"  {k:34s} {v['median']} [{v['min']}, {v['max']}]")
    log(f"results: {out_path} ({results['seconds']}s)")


if __name__ == "__main__":
    main()
