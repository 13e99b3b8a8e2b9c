#!/usr/bin/env python3
"""PyTorch side of test/weights/equivalence.test.ts (needs python3-torch, python3-torchvision).

usage: reference.py OUT_DIR SIZE NAME[:head] ...
For each backbone: a randomly initialised reference model (no downloads) with randomised
BatchNorm statistics (so the test sees them), its state_dict saved to OUT_DIR/NAME.pth, and in
eval mode on one fixed input: OUT_DIR/NAME.input.bin (NCHW float32) and OUT_DIR/NAME.output.bin
(the final feature map, NCHW float32; with ':head' the classifier logits [1, classes]) and
OUT_DIR/NAME.json (the output shape).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision


# --- SE-ResNeXt-50 32x4d as pretrainedmodels (Cadene) defines it: module names and layout are what
# its checkpoints use. pretrainedmodels is not packaged for Debian, so the definition is written here.
class SEModule(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        s = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * s


class SEResNeXtBottleneck(nn.Module):
    def __init__(self, inplanes, planes, groups, reduction, stride=1, downsample=None, base_width=4):
        super().__init__()
        width = math.floor(planes * (base_width / 64)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se_module = SEModule(planes * 4, reduction)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se_module(self.bn3(self.conv3(out)))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class SEResNeXt50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.layer0 = nn.Sequential()
        self.layer0.add_module('conv1', nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False))
        self.layer0.add_module('bn1', nn.BatchNorm2d(64))
        self.layer0.add_module('relu1', nn.ReLU(inplace=True))
        self.layer0.add_module('pool', nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.inplanes = 64
        self.layer1 = self._stage(64, 3, 1)
        self.layer2 = self._stage(128, 4, 2)
        self.layer3 = self._stage(256, 6, 2)
        self.layer4 = self._stage(512, 3, 2)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(2048, num_classes)

    def _stage(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [SEResNeXtBottleneck(self.inplanes, planes, 32, 16, stride, downsample)]
        self.inplanes = planes * 4
        layers += [SEResNeXtBottleneck(self.inplanes, planes, 32, 16) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        return self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(x)))))

    def forward(self, x):
        return self.last_linear(torch.flatten(self.avg_pool(self.features(x)), 1))


def build(name):
    """(model, features function, logits function)"""
    if name == 'se_resnext50_32x4d':
        m = SEResNeXt50()
        return m, m.features, m
    m = getattr(torchvision.models, name)(weights=None)
    if name.startswith('resnet'):
        body = nn.Sequential(*list(m.children())[:-2])
        return m, body, m
    return m, m.features, m  # mobilenet_v2, efficientnet_b0


def randomise(model, g):
    """Non-trivial BatchNorm affine and running statistics (defaults would hide a mix-up)."""
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.weight.data = 1 + 0.2 * torch.randn(c, generator=g)
            mod.bias.data = 0.2 * torch.randn(c, generator=g)
            mod.running_mean = 0.2 * torch.randn(c, generator=g)
            mod.running_var = 0.5 + torch.rand(c, generator=g)
        if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
            mod.bias.data = 0.1 * torch.randn(mod.bias.shape, generator=g)


def main():
    out_dir, size, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    torch.set_num_threads(2)
    for spec in specs:
        name, _, head = spec.partition(':')
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        model, features, logits = build(name)
        randomise(model, g)
        model.eval()
        x = torch.randn(1, 3, size, size, generator=g)
        with torch.no_grad():
            y = (logits if head else features)(x)
        tag = name + (':head' if head else '')
        base = os.path.join(out_dir, tag.replace(':', '-'))
        torch.save(model.state_dict(), base + '.pth')
        x.numpy().astype('<f4').tofile(base + '.input.bin')
        y.numpy().astype('<f4').tofile(base + '.output.bin')
        with open(base + '.json', 'w') as f:
            json.dump({'shape': list(y.shape)}, f)


if __name__ == '__main__':
    main()
