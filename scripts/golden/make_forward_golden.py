"""Golden forwards of whole networks from PyTorch, for test/nn/pytorch-golden.test.ts.

Builds LeNet-5 and the CIFAR ResNet-20 exactly as the PyTorch code ec2t's models follow (LeNet-5 of
the EC2T authors; Yerlan Idelbayev's CIFAR ResNets with option-A shortcuts), with seeded random
weights, BatchNorm statistics calibrated on random batches and then perturbed (negative γ
included, see common.randomize_batchnorm_), all rounded to float16, and writes per network the
state_dict, an input batch, the eval-mode and train-mode logits and the BN running statistics
after one train-mode forward to test/nn/fixtures/<model>-golden.safetensors.
The tests read only these files (CI has no PyTorch).

    /usr/bin/python3 scripts/golden/make_forward_golden.py
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import randomize_batchnorm_, round_to_f16_, write_forward_golden  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'nn', 'fixtures'))


class LeNet5(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.max_pool_1 = nn.MaxPool2d(2)
        self.max_pool_2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.max_pool_1(F.relu(self.conv1(x)))
        x = self.max_pool_2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            # Option A: every second pixel, channels zero-padded by planes/4 on each side.
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), 'constant', 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, blocks_per_stage, 1)
        self.layer2 = self._stage(32, blocks_per_stage, 2)
        self.layer3 = self._stage(64, blocks_per_stage, 2)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)

    def _stage(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


def f16_randn(gen, *shape):
    return torch.randn(*shape, generator=gen).half().float()


def main():
    torch.manual_seed(20261202)
    gen = torch.Generator().manual_seed(18)
    os.makedirs(OUT, exist_ok=True)

    lenet = LeNet5()
    round_to_f16_(lenet)
    x = f16_randn(gen, 4, 1, 28, 28)
    path = os.path.join(OUT, 'lenet5-golden.safetensors')
    y = write_forward_golden(path, lenet, x, {'model': 'lenet5', 'script': 'scripts/golden/make_forward_golden.py'})
    print(f'{os.path.relpath(path)}: {os.path.getsize(path)} bytes, logits {tuple(y.shape)} in [{y.min():.3f}, {y.max():.3f}]')

    resnet = CifarResNet(3)
    randomize_batchnorm_(resnet, lambda: torch.randn(8, 3, 32, 32, generator=gen), gen)
    round_to_f16_(resnet)
    x = f16_randn(gen, 2, 3, 32, 32)
    path = os.path.join(OUT, 'resnet20-golden.safetensors')
    y = write_forward_golden(path, resnet, x, {'model': 'resnet20', 'script': 'scripts/golden/make_forward_golden.py'})
    print(f'{os.path.relpath(path)}: {os.path.getsize(path)} bytes, logits {tuple(y.shape)} in [{y.min():.3f}, {y.max():.3f}]')

    # The reader agrees with the writer (and the stored weights reproduce the logits).
    back, meta = read_safetensors(path)
    check = CifarResNet(3)
    check.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in back.items() if not k.startswith('golden.')})
    check.eval()
    with torch.no_grad():
        assert torch.equal(check(back['golden.input'].float()), back['golden.logits']), 'round trip changed the logits'
    assert meta['model'] == 'resnet20'


if __name__ == '__main__':
    main()
