#!/usr/bin/env python3
"""
Golden forwards for ec2t's EfficientNet-B0/B1 and ImageNet MicroNet (test/nn/golden-effnet.test.ts).

Builds the networks in plain PyTorch from their definitions (no EfficientNet package): the
EfficientNet of the EC2T authors' code, which is EfficientNet-PyTorch's with static TensorFlow
"same" padding computed from the network's image size for every conv, and the authors'
7-stage ImageNet MicroNet. Reduced widths and resolutions keep the fixtures small; depths are the
real ones (16 blocks for B0, 23 for B1, 19 for the MicroNet). Random weights; BatchNorm running
statistics calibrated on random batches (so activations stay O(1) through the whole depth), then
γ/β redrawn with both signs; everything rounded to float16. Dropout is 0 (and drop-connect, a
training-only op, left out) so that train-mode logits are deterministic. Writes one fixture per
network in the layout of common.write_forward_golden (eval, train and float64 logits, BN statistics
after one train-mode step), with the eval logits of deliberately wrong variants under
`golden.wrong.<name>` and metadata `zoo_model` / `zoo_options` (how ec2t builds the same network).

NOTE: the calibration here, not common.randomize_batchnorm_: that helper also perturbs the running
mean and variance, which compounded through 16-23 squeeze-and-excitation blocks leaves these
networks badly conditioned (B1 logits in ±240, PyTorch's own float32 train-mode logits NMSE 1.3e-4
from float64).

Also prints the parameter counts of the full-size networks at 1000 classes (B0: 5,288,548).

Usage: /usr/bin/python3 scripts/golden/efficientnet.py [OUT_DIR]   (default test/nn/fixtures)
Needs PyTorch (tested with 1.13, CPU).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import round_filters, round_to_f16_, write_forward_golden  # noqa: E402


# ----------------------------------------------------------------------------- EfficientNet

def round_repeats(r, d):
    return int(math.ceil(d * r))


def same_pads(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)


class SameConv(nn.Conv2d):
    """Conv2d with TF-same padding fixed for image_size (padding F.pad order: left, right, top, bottom)."""

    def __init__(self, cin, cout, k, image_size, stride=1, groups=1, bias=True):
        super().__init__(cin, cout, k, stride=stride, padding=0, groups=groups, bias=bias)
        a, b = same_pads(image_size, k, stride)
        self.pads = (a, b, a, b)

    def forward(self, x):
        if any(self.pads):
            x = F.pad(x, self.pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)


class Swish(nn.Module):
    def __init__(self, relu=False):
        super().__init__()
        self.relu = relu

    def forward(self, x):
        return F.relu(x) if self.relu else x * torch.sigmoid(x)


STAGES = [  # kernel, repeats, in, out, expand, stride
    (3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1),
]


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride, image_size, eps, act):
        super().__init__()
        hid = cin * expand
        self.expand = expand
        if expand != 1:
            self._expand_conv = SameConv(cin, hid, 1, image_size, bias=False)
            self._bn0 = nn.BatchNorm2d(hid, eps=eps, momentum=0.01)
        self._depthwise_conv = SameConv(hid, hid, k, image_size, stride=stride, groups=hid, bias=False)
        self._bn1 = nn.BatchNorm2d(hid, eps=eps, momentum=0.01)
        sq = max(1, int(cin * 0.25))
        self._se_reduce = SameConv(hid, sq, 1, image_size)
        self._se_expand = SameConv(sq, hid, 1, image_size)
        self._project_conv = SameConv(hid, cout, 1, image_size, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=eps, momentum=0.01)
        self.skip = stride == 1 and cin == cout
        self.act = act

    def forward(self, x):
        y = x
        if self.expand != 1:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        s = F.adaptive_avg_pool2d(y, 1)
        s = self._se_expand(self.act(self._se_reduce(s)))
        y = torch.sigmoid(s) * y
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y  # drop-connect: training only


class EfficientNet(nn.Module):
    def __init__(self, width, depth, image_size, num_classes, eps=1e-3, relu=False, dropout=0.2):
        super().__init__()
        self.dropout = dropout
        act = Swish(relu)
        self.act = act
        stem = round_filters(32, width)
        self._conv_stem = SameConv(3, stem, 3, image_size, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(stem, eps=eps, momentum=0.01)
        blocks = []
        for k, r, cin, cout, e, s in STAGES:
            cin, cout = round_filters(cin, width), round_filters(cout, width)
            for i in range(round_repeats(r, depth)):
                blocks.append(MBConv(cin if i == 0 else cout, cout, e, k, s if i == 0 else 1, image_size, eps, act))
        self._blocks = nn.ModuleList(blocks)
        head = round_filters(1280, width)
        self._conv_head = SameConv(round_filters(320, width), head, 1, image_size, bias=False)
        self._bn1 = nn.BatchNorm2d(head, eps=eps, momentum=0.01)
        self._fc = nn.Linear(head, num_classes)

    def forward(self, x):
        x = self.act(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = self.act(self._bn1(self._conv_head(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self._fc(F.dropout(x, self.dropout, self.training))


# ----------------------------------------------------------------------------- ImageNet MicroNet

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn2(self.conv1(self.bn1(x))))
        return self.bn3(self.conv2(out)) + self.shortcut(x)


class ImageNetMicroNet(nn.Module):
    def __init__(self, d, w, num_classes, dropout=0.3):
        super().__init__()
        self.dropout = dropout
        c = round_filters(32, w)
        self.conv1 = nn.Conv2d(3, c, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        for i, (ch, r, s) in enumerate([(16, 1, 1), (24, 2, 2), (40, 2, 2), (80, 3, 2), (112, 3, 1), (192, 4, 2), (320, 1, 1)]):
            blocks = []
            for j in range(round_repeats(r, d)):
                blocks.append(Block(c, round_filters(ch, w), s if j == 0 else 1))
                c = round_filters(ch, w)
            setattr(self, 'layer%d' % (i + 1), nn.Sequential(*blocks))
        self.conv2 = nn.Conv2d(c, round_filters(1280, w), 1, bias=False)
        self.bn2 = nn.BatchNorm2d(round_filters(1280, w))
        self.linear = nn.Linear(round_filters(1280, w), num_classes)

    relu_before_head = False  # a wrong variant (the CIFAR MicroNet's ReLU after the last stage)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, 8):
            out = getattr(self, 'layer%d' % i)(out)
        if self.relu_before_head:
            out = F.relu(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.avg_pool2d(out, out.size()[3]).flatten(1)
        return self.linear(F.dropout(out, self.dropout, self.training))


# ----------------------------------------------------------------------------- fixtures

def calibrate(model, side, gen):
    """Running stats = averages over random batches (momentum None); then γ, β random with both signs.
    Each BatchNorm's momentum is restored afterwards (the train-mode fixture step uses it)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.momentum = None
        m.reset_running_stats()
    model.train()
    with torch.no_grad():
        # Large batches: the last maps are 2x2 or 1x1, and per-channel statistics from a few samples
        # would leave channels with near-zero running variance that blow up in evaluation.
        for _ in range(4):
            model(torch.randn(32, 3, side, side, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                sign = torch.where(torch.rand(m.num_features, generator=gen) < 0.25, -1.0, 1.0)
                m.weight.copy_(sign * (0.5 + 0.5 * torch.rand(m.num_features, generator=gen)))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()


def wrong_variants(model):
    """(name, switch) per deliberately wrong variant: the test checks that ec2t does NOT match these logits."""
    if isinstance(model, EfficientNet):
        def relu(on):
            model.act.relu = on

        def eps(on):
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eps = 1e-5 if on else 1e-3
        return [('relu_for_swish', relu), ('bn_eps_1e-5', eps)]

    def relu_head(on):
        model.relu_before_head = on
    return [('relu_before_head', relu_head)]


def make(name, zoo_model, zoo_options, model, side, out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    calibrate(model, side, gen)
    round_to_f16_(model)
    x = torch.randn(2, 3, side, side, generator=gen).half().float()
    path = os.path.join(out_dir, name + '.safetensors')
    meta = {'model': name, 'zoo_model': zoo_model, 'zoo_options': json.dumps(zoo_options), 'script': 'scripts/golden/efficientnet.py'}
    y = write_forward_golden(path, model, x, meta, wrong=wrong_variants(model))
    for key, switch in wrong_variants(model):
        switch(True)
        with torch.no_grad():
            w = model(x)
        switch(False)
        print('  %s: max |logits - wrong| / max |logits| = %.3g' % (key, ((w - y).abs().max() / y.abs().max()).item()))
    params = sum(p.numel() for p in model.parameters())
    print('%s: %d params, %d bytes, logits range [%.3f, %.3f]' % (path, params, os.path.getsize(path), y.min(), y.max()))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else 'test/nn/fixtures'
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for label, model in [('efficientnet-b0', EfficientNet(1.0, 1.0, 224, 1000)), ('efficientnet-b1', EfficientNet(1.0, 1.1, 240, 1000)),
                         ('micronet-imagenet d=w=1', ImageNetMicroNet(1, 1, 1000))]:
        print('%s full size, 1000 classes: %d parameters' % (label, sum(p.numel() for p in model.parameters())))
    # Reduced widths/resolutions (real depths), 10 classes. The B1 fixture's image size 60 makes its
    # static padding differ from per-layer TF padding (15x15 -> 7x7 at stage 3), as 240 does at stage 6.
    effnet = {'numClasses': 10, 'width': 0.1, 'dropout': 0, 'dropConnect': 0}
    torch.manual_seed(1)
    make('golden-efficientnet-b0-w0.1-s48', 'efficientnet-b0', {**effnet, 'imageSize': 48}, EfficientNet(0.1, 1.0, 48, 10, dropout=0), 48, out_dir, 11)
    torch.manual_seed(2)
    make('golden-efficientnet-b1-w0.1-s60', 'efficientnet-b1', {**effnet, 'imageSize': 60}, EfficientNet(0.1, 1.1, 60, 10, dropout=0), 60, out_dir, 12)
    torch.manual_seed(3)
    make('golden-micronet-imagenet-d0.5-w0.1-s48', 'micronet-imagenet', {'numClasses': 10, 'depth': 0.5, 'width': 0.1, 'dropout': 0},
         ImageNetMicroNet(0.5, 0.1, 10, dropout=0), 48, out_dir, 13)


if __name__ == '__main__':
    main()
