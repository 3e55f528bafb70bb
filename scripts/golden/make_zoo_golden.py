"""Golden forwards of the zoo networks that make_forward_golden.py and efficientnet.py leave out, for
test/nn/golden-zoo.test.ts: the CIFAR ResNet-32/44/56, torchvision's ImageNet ResNet-18,
MobileNetV2 with ImageNet and with CIFAR strides, and the CIFAR MicroNet at two scales.

The networks are written here in plain PyTorch from their definitions (torchvision's ResNet-18 and
MobileNetV2, the CIFAR MobileNetV2 strides of ec2t's `cifar` variant, the EC2T authors' CIFAR
MicroNet). Every network is built at its real depth and width; to keep the committed bytes small, the
conv and linear weights are formula weights (common.set_formula_weights_) that the test recomputes,
so a fixture stores only BatchNorm parameters and statistics, biases, the input, the logits and the
eval logits of deliberately wrong variants. Inputs are reduced (ResNet-18 and the ImageNet-stride
MobileNetV2 at 64×64, the large MicroNet at 16×16) to keep the tests fast.

Metadata `zoo_model` and `zoo_options` (JSON) say how ec2t builds the same network
(createModel(zoo_model, zoo_options)).

    /usr/bin/python3 scripts/golden/make_zoo_golden.py [OUT_DIR]   (default test/nn/fixtures)
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import randomize_batchnorm_, round_filters, round_to_f16_, set_formula_weights_, write_forward_golden  # noqa: E402
from make_forward_golden import BasicBlock as CifarBasicBlock, CifarResNet  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'nn', 'fixtures'))


# ----------------------------------------------------------------------------- ImageNet ResNet-18

class Block18(nn.Module):
    """torchvision's BasicBlock; `downsample` = 1×1 conv + BN when the shape changes."""

    downsample_bn = True  # False: the wrong variant without the downsample's BatchNorm

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.downsample is None:
            identity = x
        elif Block18.downsample_bn:
            identity = self.downsample(x)
        else:
            identity = self.downsample[0](x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            setattr(self, 'layer%d' % (i + 1), nn.Sequential(Block18(cin, planes, stride), Block18(planes, planes, 1)))
            cin = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----------------------------------------------------------------------------- MobileNetV2

def make_divisible(v, divisor=8):
    r = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if r < 0.9 * v:
        r += divisor
    return r


class Act(nn.Module):
    """ReLU6, or plain ReLU for the wrong variant."""

    relu6 = True

    def forward(self, x):
        return F.relu6(x) if Act.relu6 else F.relu(x)


def conv_bn_act(cin, cout, k, stride, groups):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), Act())


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(conv_bn_act(cin, hidden, 1, 1, 1))
        layers += [conv_bn_act(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2; `cifar`: stride 1 in the stem and in the first block of the second
    stage (24 channels), as ec2t's CIFAR variant."""

    def __init__(self, num_classes, width_mult, cifar):
        super().__init__()
        cin = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_act(3, cin, 3, 1 if cifar else 2, 1)]
        for stage, (t, c, n, s) in enumerate(SETTING):
            cout = make_divisible(c * width_mult)
            for i in range(n):
                stride = (1 if cifar and stage == 1 else s) if i == 0 else 1
                features.append(InvertedResidual(cin, cout, stride, t))
                cin = cout
        features.append(conv_bn_act(cin, last, 1, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(last, num_classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))

    def set_strides(self, cifar):
        """Switches between the two stride sets in place (for the wrong-stride variant)."""
        self.features[0][0].stride = (1, 1) if cifar else (2, 2)
        # features[2] is the first block of the 24-channel stage; conv[1][0] its depthwise conv.
        self.features[2].conv[1][0].stride = (1, 1) if cifar else (2, 2)


# ----------------------------------------------------------------------------- CIFAR MicroNet

class MicroBlock(nn.Module):
    """BN → conv3×3 → BN → ReLU → Dropout → conv3×3 → BN, plus the shortcut (1×1 conv + BN when the
    shape changes); no activation after the sum."""

    shortcut_on = True  # False: the wrong variant without the shortcut

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.dropout = nn.Dropout(0.0)  # the authors' 0.2 would make train-mode logits random
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.dropout(self.relu(self.bn2(self.conv1(self.bn1(x)))))
        out = self.bn3(self.conv2(out))
        return out + self.shortcut(x) if MicroBlock.shortcut_on else out


class MicroNet(nn.Module):
    def __init__(self, blocks, width, num_classes):
        super().__init__()
        c1, c2, c3 = round_filters(16, width), round_filters(32, width), round_filters(64, width)
        self.conv1 = nn.Conv2d(3, c1, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        cin = c1
        for i, (planes, stride) in enumerate([(c1, 1), (c2, 2), (c3, 2)]):
            layers = []
            for j in range(blocks):
                layers.append(MicroBlock(cin, planes, stride if j == 0 else 1))
                cin = planes
            setattr(self, 'layer%d' % (i + 1), nn.Sequential(*layers))
        self.linear = nn.Linear(c3, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.flatten(1))


# ----------------------------------------------------------------------------- fixtures

def flag(cls, attr, wrong_value):
    def switch(on):
        setattr(cls, attr, wrong_value if on else not wrong_value)
    return switch


def cifar_no_final_relu(on):
    """Wrong CIFAR ResNet: no ReLU after the residual sum."""
    if on:
        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return self.bn2(self.conv2(out)) + self.shortcut(x)
        CifarBasicBlock.forward = forward
    else:
        CifarBasicBlock.forward = CIFAR_FORWARD


CIFAR_FORWARD = CifarBasicBlock.forward


def mobilenet(width_mult, cifar):
    m = MobileNetV2(10, width_mult, cifar)
    # The wrong stride set of each: CIFAR strides on the ImageNet network and the other way round.
    return m, [('relu_for_relu6', flag(Act, 'relu6', False)),
               ('imagenet_strides' if cifar else 'cifar_strides', lambda on: m.set_strides(cifar != on))]


def cases():
    """(file stem, ec2t model name, createModel options, input side, build), where build() returns
    the PyTorch module and its wrong variants. Built lazily, after the case's seed is set: PyTorch
    draws the linear biases from its global generator."""
    relu_sum = [('no_relu_after_sum', cifar_no_final_relu)]
    no_shortcut = [('no_shortcut', flag(MicroBlock, 'shortcut_on', False))]
    out = [(f'resnet{d}', f'resnet{d}', {}, 32, lambda d=d: (CifarResNet((d - 2) // 6), relu_sum)) for d in (32, 44, 56)]
    out.append(('resnet18-s64', 'resnet18', {}, 64, lambda: (ResNet18(10), [('downsample_without_bn', flag(Block18, 'downsample_bn', False))])))
    out.append(('mobilenetv2-w1-s64', 'mobilenetv2', {'widthMult': 1, 'cifar': False, 'dropout': 0}, 64, lambda: mobilenet(1.0, False)))
    out.append(('mobilenetv2-cifar-w0.75-s32', 'mobilenetv2', {'widthMult': 0.75, 'cifar': True, 'dropout': 0}, 32, lambda: mobilenet(0.75, True)))
    out.append(('micronet-d1-w1', 'micronet', {'depth': 1, 'width': 1, 'dropout': 0}, 32, lambda: (MicroNet(7, 1.0, 10), no_shortcut)))
    # φ = 3.5 with the base pair (1.4, 1.2): d = 1.4^3.5 → ⌈7d⌉ = 23 blocks a stage, w = 1.2^3.5 → 32/64/120 channels.
    out.append(('micronet-phi3.5-s16', 'micronet', {'phi': 3.5, 'dropout': 0}, 16, lambda: (MicroNet(23, 1.2 ** 3.5, 100), no_shortcut)))
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else OUT
    os.makedirs(out_dir, exist_ok=True)
    only = set(sys.argv[2:])
    for seed, (stem, name, options, side, build) in enumerate(cases()):
        if only and stem not in only:
            continue
        torch.manual_seed(1000 + seed)
        model, wrong = build()
        gen = torch.Generator().manual_seed(2000 + seed)
        listed = set_formula_weights_(model)
        # Large calibration batches: the last maps are small (2×2 at 64 px), and few samples per
        # channel would leave near-zero running variances that blow up in evaluation.
        randomize_batchnorm_(model, lambda: torch.randn(16, 3, side, side, generator=gen), gen)
        round_to_f16_(model)
        x = torch.randn(2, 3, side, side, generator=gen).half().float()
        # The classifier's bias is the last tensor of every state dict here.
        options = {**options, 'numClasses': list(model.state_dict().values())[-1].numel()}
        meta = {'model': stem, 'zoo_model': name, 'zoo_options': json.dumps(options), 'formula_weights': json.dumps(listed),
                'script': 'scripts/golden/make_zoo_golden.py'}
        path = os.path.join(out_dir, stem + '-golden.safetensors')
        y = write_forward_golden(path, model, x, meta, [k for k, _, _ in listed], wrong)
        params = sum(p.numel() for p in model.parameters())
        back, _ = read_safetensors(path)
        gaps = ', '.join('%s %.3g' % (k[len('golden.wrong.'):], ((v - y).abs().max() / y.abs().max()).item())
                         for k, v in back.items() if k.startswith('golden.wrong.'))
        print(f'{os.path.relpath(path)}: {params} params, {os.path.getsize(path)} bytes, logits {tuple(y.shape)} '
              f'in [{y.min():.3f}, {y.max():.3f}]; wrong variants max|Δ|/max|y|: {gaps}')


if __name__ == '__main__':
    main()
