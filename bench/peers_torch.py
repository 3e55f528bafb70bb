"""PyTorch CPU peer for bench/peers.bench.ts: ResNet-20 (CIFAR, option-A shortcut) training step and
inference images/s, plus conv2d forward / forward+backward GFLOP/s, at one thread count.

    /usr/bin/python3 bench/peers_torch.py --threads 1 --steps 3 --conv '[...]'

Prints one JSON line. Timing: warm-up steps, then `--steps` individually timed steps; the median
step time is reported (multi-second steps, so no micro-benchmark harness). The model mirrors
nn/models/resnet_cifar.ts: 3x3 stem 16, stages 16/32/64 of BasicBlocks, option-A shortcut
(x[:, :, ::2, ::2] zero-padded by planes/4 channels on each side), BN, global average pool, linear.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class OptionA(nn.Module):
    def __init__(self, planes):
        super().__init__()
        self.p = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.p, self.p))


class Block(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = OptionA(planes) if stride != 1 or inp != planes else None

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, inp = [], 16
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                layers.append(Block(inp, planes, stride if i == 0 else 1))
                inp = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        y = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(y, 1).flatten(1))


def median_seconds(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def model_rates(batches_train, batch_infer, warmup, steps):
    torch.manual_seed(0)
    out = {}
    for b in batches_train:  # empty: no training rows
        net = ResNet20()
        x = torch.randn(b, 3, 32, 32)
        y = torch.arange(b) % 10
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        net.train()

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()

        out[f"train{b}"] = b / median_seconds(step, warmup, steps)
    if batch_infer <= 0:
        return out
    net = ResNet20().eval()
    x = torch.randn(batch_infer, 3, 32, 32)

    def infer():
        with torch.no_grad():
            net(x)

    out[f"infer{batch_infer}"] = batch_infer / median_seconds(infer, warmup, steps)
    return out


def conv_rates(shapes, min_time):
    """GFLOP/s [forward, forward+backward] per shape name; fwd+bwd counted as 3x forward FLOPs."""
    res = {}
    for s in shapes:
        x = torch.randn(*s["x"], requires_grad=True)
        w = torch.randn(*s["w"], requires_grad=True)
        st, p, g = s.get("stride", 1), s.get("padding", 0), s.get("groups", 1)
        with torch.no_grad():
            y = F.conv2d(x, w, None, st, p, 1, g)
        flops = 2 * y.numel() * w.shape[1] * w.shape[2] * w.shape[3]
        dy = torch.randn_like(y)

        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, None, st, p, 1, g)

        def fb():
            x.grad = None
            w.grad = None
            F.conv2d(x, w, None, st, p, 1, g).backward(dy)

        rates = []
        for fn, mult in [(fwd, 1), (fb, 3)]:
            fn()
            fn()
            times, t0 = [], time.perf_counter()
            while time.perf_counter() - t0 < min_time or len(times) < 5:
                t1 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t1)
            rates.append(mult * flops / statistics.median(times) / 1e9)
        res[s["name"]] = rates
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--train-batches", default="32,128")
    ap.add_argument("--infer-batch", type=int, default=128)
    ap.add_argument("--conv", default="[]", help="JSON list of {name, x, w, stride, padding, groups}")
    ap.add_argument("--conv-time", type=float, default=0.5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = model_rates([int(b) for b in a.train_batches.split(",") if b], a.infer_batch, a.warmup, a.steps)
    conv = conv_rates(json.loads(a.conv), a.conv_time)
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "models": models, "conv": conv}))


if __name__ == "__main__":
    main()
