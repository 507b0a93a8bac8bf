#!/usr/bin/python3
"""Writes a model with the compute of a clinical chest radiograph classifier, for ai_bench.py.

The demo model (models/demo-chest-anomaly) takes a 64x64 image and scores it in well under a
millisecond, so with it the AI benchmark measures C-STORE ingest, not inference. Published
chest radiograph classifiers are far larger: CheXNet, for example, is a DenseNet-121 on 224x224
images, about 2.9 GFLOPs and 7 million weights per image. This script builds that network
(DenseNet-121: growth rate 32, blocks of 6/12/24/16 layers, one input channel, one sigmoid
output), with random weights (seeded), and exports it to ONNX beside a model card derived from
the demo model's (same preprocessing and routing, input SIZExSIZE, no heat map).

The weights are untrained: its scores mean nothing. It exists so that the benchmark can measure
what the pipeline costs next to inference of a realistic size. Needs Debian's python3-torch and
python3-onnx (for /usr/bin/python3).

    bench/clinical_size_model.py OUT_DIR [SIZE]   -> OUT_DIR/model.onnx, OUT_DIR/model_card.json

SIZE is the input's width and height, 224 by default (CheXNet's); many later chest radiograph
classifiers take 512x512, about 5.2 times the compute of 224x224 for the same network.
"""

import json
import os
import sys

import onnx
import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CARD = os.path.join(REPO, "models", "demo-chest-anomaly", "model_card.json")
DEFAULT_SIZE = 224
SEED = 121


class DenseLayer(nn.Sequential):
    def __init__(self, channels, growth, bottleneck):
        super().__init__(
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, bottleneck * growth, 1, bias=False),
            nn.BatchNorm2d(bottleneck * growth), nn.ReLU(inplace=True),
            nn.Conv2d(bottleneck * growth, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, super().forward(x)], 1)


def transition(channels):
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, channels // 2, 1, bias=False), nn.AvgPool2d(2, 2))


class DenseNet121(nn.Module):
    def __init__(self, growth=32, blocks=(6, 12, 24, 16), stem=64, bottleneck=4):
        super().__init__()
        layers = [nn.Conv2d(1, stem, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(stem),
                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
        channels = stem
        for i, count in enumerate(blocks):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth, bottleneck))
                channels += growth
            if i + 1 < len(blocks):
                layers.append(transition(channels))
                channels //= 2
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 1)

    def forward(self, x):
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return torch.sigmoid(self.head(pooled))


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and not sys.argv[2].isdigit()):
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT_SIZE
    if not 32 <= size <= 2048:
        sys.exit(f"SIZE must be 32-2048, not {size}")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(SEED)
    model = DenseNet121().eval()
    path = os.path.join(out_dir, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 1, size, size), path, opset_version=13,
                          input_names=["input"], output_names=["probability"],
                          dynamic_axes={"input": {0: "batch"}, "probability": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path))
    with open(DEMO_CARD) as f:
        card = json.load(f)
    card.update(name="bench-densenet121-untrained", version="0.0.1",
                description="Benchmark only: DenseNet-121 compute with untrained weights; "
                            "its scores mean nothing.")
    card["input"].update(width=size, height=size)
    card.pop("heatmap", None)
    with open(os.path.join(out_dir, "model_card.json"), "w") as f:
        json.dump(card, f, indent=2)
    weights = sum(p.numel() for p in model.parameters())
    print(json.dumps({"onnx": path, "onnx_bytes": os.path.getsize(path), "weights": weights,
                      "input_size": size}))


if __name__ == "__main__":
    main()
