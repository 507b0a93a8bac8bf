#!/usr/bin/python3
"""Trains Strata's demo chest-radiograph anomaly model on synthetic images.

A pipeline demonstration, not a clinical model: `strata synth` draws chest radiographs, half of
them with a synthetic lesion (a soft round opacity in a lung field) and writes the ground
truth; this script preprocesses them as Strata's C++ pipeline does (window from the file,
MONOCHROME1 shown like MONOCHROME2, pixel-area resize, normalisation), trains a small CNN with a
fixed seed, measures the AUC on images from a different synth seed, exports ONNX (opset 13,
dynamic batch axis), checks it with onnx.checker and writes
<out>/{model.onnx, model_card.json, TRAINING.md, reference_scores.json}.

Runs on Debian 12's /usr/bin/python3 with python3-torch, python3-onnx and python3-pydicom.

    tools/train_demo_model.py --strata build/src/app/strata
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PACKAGES = [("numpy", "python3-numpy"), ("torch", "python3-torch"), ("onnx", "python3-onnx"),
            ("pydicom", "python3-pydicom")]


def require_packages():
    missing = []
    for module, package in PACKAGES:
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        print("train_demo_model: missing Debian packages; install them with:\n"
              f"  sudo apt-get install -y {' '.join(missing)}", file=sys.stderr)
        sys.exit(2)


require_packages()

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pydicom  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "demo-chest-anomaly"
MODEL_VERSION = "1.0.0"
LABEL = "synthetic_lesion"
SIZE = 64  # the smallest lesions are still 1.6 px in radius here
MEAN = 0.5
STD = 0.25
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_FOR_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def synth(strata, out_dir, seed, patients, fraction):
    """Generates demo-preset chest radiographs (2 views per patient) with lesion truth."""
    cmd = [strata, "synth", "--preset", "demo", "--seed", str(seed), "--patients",
           str(patients), "--lesion-fraction", str(fraction), "--out", out_dir]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out_dir, "lesion_manifest.csv"), newline="") as f:
        return list(csv.DictReader(f))


def voi_linear(x, center, width):
    """The DICOM LINEAR VOI function (PS3.3 C.11.2.1.2.1), output in [0, 1]."""
    if width <= 1:
        return (x > center - 0.5).astype(np.float64)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0)


def area_matrix(n_in, n_out):
    """Rows average the input pixels each output pixel covers, weighted by overlap: the same
    pixel-area resampling as OpenCV's INTER_AREA when shrinking."""
    m = np.zeros((n_out, n_in))
    scale = n_in / n_out
    for o in range(n_out):
        lo, hi = o * scale, (o + 1) * scale
        for i in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[o, i] = max(0.0, min(hi, i + 1) - max(lo, i))
        m[o] /= m[o].sum()
    return m


def preprocess(path):
    """One file to a 1xSIZExSIZE float32 array, as src/inference/preprocess.cc does for the card
    this script writes (window from the file, else min-max)."""
    ds = pydicom.dcmread(path)
    x = ds.pixel_array.astype(np.float64)
    x = x * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center = ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter
        width = ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth
        y = voi_linear(x, float(center), float(width))
    else:
        y = (x - x.min()) / max(x.max() - x.min(), 1e-9)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        y = 1.0 - y
    rows = area_matrix(y.shape[0], SIZE)
    cols = area_matrix(y.shape[1], SIZE)
    y = rows @ y @ cols.T
    return ((y - MEAN) / STD).astype(np.float32)[None, :, :]


def load(out_dir, manifest):
    images = np.stack([preprocess(os.path.join(out_dir, r["file"])) for r in manifest])
    labels = np.array([float(r["lesion"]) for r in manifest], dtype=np.float32)
    return images, labels


class DemoNet(nn.Module):
    """4 x (conv-BN-ReLU-pool), global average pool, linear, sigmoid. (Global max pooling,
    the obvious choice for a local finding, learnt much more slowly in trials.)"""

    def __init__(self, widths=(8, 16, 32, 32)):
        super().__init__()
        layers, previous = [], 1
        for w in widths:
            layers += [nn.Conv2d(previous, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(previous, 1))

    def forward(self, x):
        return torch.sigmoid(self.head(self.pool(self.features(x))))


def auc(scores, labels):
    """Area under the ROC curve: the Mann-Whitney U statistic with average ranks for ties."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both classes")
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def predict(model, images, batch=128):
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(images[i:i + batch])).numpy()[:, 0]
                               for i in range(0, len(images), batch)])


def train(model, images, labels, epochs, seed):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.BCELoss()
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)[:, None]
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images), 32):
            idx = order[start:start + 32]
            optimizer.zero_grad()
            loss = loss_fn(model(x_all[idx]), y_all[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        schedule.step()
        print(f"train_demo_model: epoch {epoch + 1}/{epochs} loss {total / len(images):.4f}",
              flush=True)


def export(model, path):
    model.eval()
    dummy = torch.zeros(1, 1, SIZE, SIZE)
    torch.onnx.export(model, dummy, path, opset_version=13, input_names=["input"],
                      output_names=["probability"],
                      dynamic_axes={"input": {0: "batch"}, "probability": {0: "batch"}})
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    # OpenCV DNN 4.6 cannot parse Identity nodes fed by initializers (ECOSYSTEM.md §5a).
    identities = [n.name for n in proto.graph.node if n.op_type == "Identity"]
    if identities:
        raise RuntimeError(f"exported graph has Identity nodes OpenCV cannot load: {identities}")
    return os.path.getsize(path)


def youden_threshold(scores, labels):
    """The decision threshold that maximises sensitivity + specificity - 1 (Youden's J) on the
    given (training) scores, rounded to two decimals."""
    best, best_j = 0.5, -1.0
    for threshold in np.round(np.arange(0.01, 1.0, 0.01), 2):
        sensitivity, specificity = rates(scores, labels, threshold)
        if sensitivity + specificity - 1 > best_j + 1e-12:
            best, best_j = float(threshold), sensitivity + specificity - 1
    return best


def model_card(threshold):
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "description": "Pipeline demonstration on synthetic images from `strata synth`; "
                       "not a clinical model. Scores whether a chest radiograph has a "
                       "synthetic round opacity in a lung field.",
        "input": {"width": SIZE, "height": SIZE, "channels": 1},
        "preprocessing": {
            "window": {"mode": "from_file"},
            "invert_monochrome1": True,
            "resize": "area",
            "normalization": {"mean": [MEAN], "std": [STD]},
        },
        "labels": [{"name": LABEL, "threshold": threshold}],
        "applies_to": {"modalities": ["CR", "DX"],
                       "sop_classes": [CR_STORAGE, DX_FOR_PRESENTATION_STORAGE],
                       "body_parts": ["CHEST"]},
        # The input is small, so the 64 extra inferences per image of an 8 x 8 occlusion
        # heat map are cheap (docs/ai.md).
        "heatmap": {"method": "occlusion", "grid": 8},
    }


def training_md(r):
    return f"""# {MODEL_NAME} {MODEL_VERSION}: training record

**A pipeline demonstration on synthetic images, not a clinical model.** It has never seen a
real radiograph and must not be used on patients. It exists so that Strata's inference path
(DICOM preprocessing, ONNX Runtime / OpenCV DNN, findings) can be built, tested and measured
end to end with a model whose answers can be checked.

## Task

Does a synthetic chest radiograph from `strata synth --preset demo` contain a synthetic lesion:
a soft round opacity (radius 2.5-6 % of the image's smaller side, contrast 250-600 stored
values) inside one lung field? Ground truth comes from `lesion_manifest.csv`, which
`strata synth --lesion-fraction` writes beside the images. Every image also carries synth's
small fixed-contrast ellipse, which is not a lesion.

## Data

| set | synth seed | patients | images | with lesion |
|---|---|---|---|---|
| training | {r['train_seed']} | {r['train_patients']} | {r['train_images']} | {r['train_positives']} |
| held-out test | {r['test_seed']} | {r['test_patients']} | {r['test_images']} | {r['test_positives']} |

The test images come from a different synth seed, so no test image, patient or lesion
position was seen in training. Images are 320x256 CR (MONOCHROME1 and MONOCHROME2),
preprocessed as `model_card.json` says: the file's VOI window, MONOCHROME1 inverted, pixel-area
resize to {SIZE}x{SIZE}, (v - {MEAN}) / {STD}.

## Model and training

4 x (3x3 conv, batch norm, ReLU, 2x2 max pool) with widths 8-16-32-32, global average pool,
linear, sigmoid: {r['parameters']} parameters. Adam (lr 1e-3, cosine schedule), binary
cross-entropy, batch 32, {r['epochs']} epochs, torch seed {r['torch_seed']}, 2 CPU threads
(torch {r['torch_version']}); training took {r['train_seconds']:.0f} s.
Exported with `torch.onnx.export` (opset 13, dynamic batch axis), checked with
`onnx.checker` (onnx {r['onnx_version']}); `model.onnx` is {r['onnx_bytes']} bytes.

## Results (measured by the training run)

The card's decision threshold, {r['threshold']:.2f}, maximises sensitivity + specificity on
the training set (Youden's J); the test set played no part in choosing it.

| set | AUC | sensitivity at {r['threshold']:.2f} | specificity at {r['threshold']:.2f} |
|---|---|---|---|
| training | {r['train_auc']:.4f} | {r['train_sensitivity']:.3f} | {r['train_specificity']:.3f} |
| held-out test | **{r['test_auc']:.4f}** | {r['test_sensitivity']:.3f} | {r['test_specificity']:.3f} |

`reference_scores.json` holds torch's probabilities for the first test images, so the C++
tests can check that Strata's own preprocessing and runtimes reproduce them.

## Reproduce

```sh
cmake -S . -B build -G Ninja && ninja -C build strata
nice -n 10 tools/train_demo_model.py --strata build/src/app/strata \\
    --seed {r['torch_seed']} --train-seed {r['train_seed']} --test-seed {r['test_seed']} \\
    --train-patients {r['train_patients']} --test-patients {r['test_patients']} --epochs {r['epochs']}
```

Debian's `python3-torch` on CPU is deterministic for a fixed seed and thread count on one
machine; another CPU may give slightly different weights and figures.

## Registering a real model

A real model is an ONNX file plus a model card in the same JSON format (see
`src/inference/model_card.h` for every field and its checks): one float input
[batch, channels, height, width], one float output with one probability per label; the card
states the input size, the windowing (`from_file`, `fixed` center/width in modality units, or
`min_max`), MONOCHROME1 handling, resize method, per-channel mean/std, label names with decision
thresholds, and the modalities, SOP classes and body parts it applies to. Validate it clinically
and document its intended use, training data and performance before use; then register it with
`strata model register --onnx model.onnx --card model_card.json --activate`: the registry
stores the file with its SHA-256 and keeps every version, and `strata model list`, `activate`
and `deactivate` manage them (docs/ai.md).
"""


def rates(scores, labels, threshold=0.5):
    predicted = scores >= threshold
    positives = labels > 0.5
    sensitivity = float((predicted & positives).sum() / max(positives.sum(), 1))
    specificity = float((~predicted & ~positives).sum() / max((~positives).sum(), 1))
    return sensitivity, specificity


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strata", required=True, help="path to the built strata binary")
    parser.add_argument("--out", default=os.path.join(REPO, "models", MODEL_NAME))
    parser.add_argument("--seed", type=int, default=5, help="torch seed")
    parser.add_argument("--train-seed", type=int, default=1001, help="synth seed, training set")
    parser.add_argument("--test-seed", type=int, default=2002, help="synth seed, held-out set")
    parser.add_argument("--train-patients", type=int, default=600)
    parser.add_argument("--test-patients", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-data", help="keep the generated images in this directory")
    args = parser.parse_args()

    strata = os.path.abspath(args.strata)
    if not os.access(strata, os.X_OK):
        print(f"train_demo_model: {strata} is not an executable strata binary", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    work = args.keep_data or tempfile.mkdtemp(prefix="strata-train-")
    try:
        train_dir, test_dir = os.path.join(work, "train"), os.path.join(work, "test")
        train_manifest = synth(strata, train_dir, args.train_seed, args.train_patients, 0.5)
        test_manifest = synth(strata, test_dir, args.test_seed, args.test_patients, 0.5)
        x_train, y_train = load(train_dir, train_manifest)
        x_test, y_test = load(test_dir, test_manifest)
        print(f"train_demo_model: {len(x_train)} training and {len(x_test)} test images",
              flush=True)

        model = DemoNet()
        started = time.monotonic()
        train(model, x_train, y_train, args.epochs, args.seed)
        train_seconds = time.monotonic() - started
        train_scores, test_scores = predict(model, x_train), predict(model, x_test)

        threshold = youden_threshold(train_scores, y_train)
        os.makedirs(args.out, exist_ok=True)
        onnx_bytes = export(model, os.path.join(args.out, "model.onnx"))
        with open(os.path.join(args.out, "model_card.json"), "w") as f:
            json.dump(model_card(threshold), f, indent=2)
            f.write("\n")
        reference = {
            "synth": {"preset": "demo", "seed": args.test_seed, "lesion_fraction": 0.5,
                      "patients": 4},
            "images": [{"sop_instance_uid": r["sop_instance_uid"], "file": r["file"],
                        "lesion": int(r["lesion"]), "probability": float(s)}
                       for r, s in zip(test_manifest[:8], test_scores[:8])],
        }
        with open(os.path.join(args.out, "reference_scores.json"), "w") as f:
            json.dump(reference, f, indent=2)
            f.write("\n")

        train_sens, train_spec = rates(train_scores, y_train, threshold)
        test_sens, test_spec = rates(test_scores, y_test, threshold)
        record = {
            "train_seed": args.train_seed, "test_seed": args.test_seed,
            "train_patients": args.train_patients, "test_patients": args.test_patients,
            "train_images": len(x_train), "test_images": len(x_test),
            "train_positives": int(y_train.sum()), "test_positives": int(y_test.sum()),
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": args.epochs, "torch_seed": args.seed, "torch_version": torch.__version__,
            "onnx_version": onnx.__version__, "onnx_bytes": onnx_bytes, "threshold": threshold,
            "train_seconds": train_seconds,
            "train_auc": auc(train_scores, y_train), "test_auc": auc(test_scores, y_test),
            "train_sensitivity": train_sens, "train_specificity": train_spec,
            "test_sensitivity": test_sens, "test_specificity": test_spec,
        }
        with open(os.path.join(args.out, "TRAINING.md"), "w") as f:
            f.write(training_md(record))
        print(f"train_demo_model: held-out AUC {record['test_auc']:.4f} "
              f"(training {record['train_auc']:.4f}); model.onnx {onnx_bytes} bytes; "
              f"wrote {args.out}")
    finally:
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
