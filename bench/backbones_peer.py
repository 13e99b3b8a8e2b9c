#!/usr/bin/env python3
"""Peer for bench/backbones.ts: PyTorch (Debian's python3-torch) training and evaluating each
backbone + global average pooling + a 1000-way linear layer, as exp's bench builds it: torchvision's
resnet18/34/50, mobilenet_v2 and efficientnet_b0, and SE-ResNeXt-50 32x4d in the pretrainedmodels
layout (the definition test/weights/reference.py writes out, since pretrainedmodels is not packaged
for Debian). Same image size, batch, optimizer (Adam, lr 1e-3), loss and thread count, timed the
same way (median seconds per step after warm-up steps); inference in eval mode under no_grad on
batch * tta images per step (TTA: tta images per example). One JSON line per backbone.
Run: /usr/bin/python3 bench/backbones_peer.py --backbones resnet18,se_resnext50_32x4d --size 112
     --batch 16 --threads 2 --steps 3 --warmup 1 --tta 4
"""
import argparse
import json
import os
import statistics
import sys
import time


def build(name, classes):
    import torch.nn as nn
    import torchvision
    if name == 'se_resnext50_32x4d':
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'weights'))
        from reference import SEResNeXt50  # noqa: E402 (the pretrainedmodels layout)
        return SEResNeXt50(num_classes=classes)
    if name == 'tiny':
        return None
    m = getattr(torchvision.models, name)(weights=None, num_classes=classes)
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--backbones', default='resnet18')
    p.add_argument('--size', type=int, default=112)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--tta', type=int, default=4)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--no-infer', action='store_true')
    a = p.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        print(json.dumps({'skipped': f'{e} (apt-get install python3-torch python3-torchvision)'}))
        return 0
    torch.set_num_threads(a.threads)
    for name in a.backbones.split(','):
        torch.manual_seed(0)
        model = build(name, a.classes)
        if model is None:
            print(json.dumps({'backbone': name, 'skipped': 'no PyTorch peer'}))
            continue
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.randint(0, a.classes, (a.batch,))
        times, cpu = [], []
        for i in range(a.warmup + a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        out = {'backbone': name, 'torch': torch.__version__, 'torchvision': torchvision.__version__,
               'threads': torch.get_num_threads(), 'step_s': times, 'cpu_s': cpu,
               'train_images_per_s': a.batch / statistics.median(times)}
        if not a.no_infer:
            model.eval()
            xi = torch.randn(a.batch * a.tta, 3, a.size, a.size)
            inf = []
            with torch.no_grad():
                for i in range(a.warmup + a.steps):
                    t0 = time.perf_counter()
                    model(xi).view(a.batch, a.tta, -1).mean(1)
                    if i >= a.warmup:
                        inf.append(time.perf_counter() - t0)
            out['infer_s'] = inf
            out['infer_examples_per_s'] = a.batch / statistics.median(inf)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
