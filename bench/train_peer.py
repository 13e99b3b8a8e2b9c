#!/usr/bin/env python3
"""Peer for bench/train.ts: PyTorch (Debian's python3-torch) training torchvision's resnet18 with
the same image size, batch, optimizer (Adam, lr 1e-3) and thread count, timed the same way (median
seconds per step after warm-up steps). Also the 2048x2048 float32 GEMM rate through numpy (OpenBLAS),
the machine's practical peak. Prints one JSON line.
Run: /usr/bin/python3 bench/train_peer.py --size 112 --batch 32 --threads 2 --steps 5 --warmup 2
"""
import argparse
import json
import statistics
import sys
import time


def gemm_rate(n=2048, reps=5):
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--size', type=int, default=112)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--gemm-only', action='store_true')
    a = p.parse_args()
    out = {}
    try:
        out['gemm_gflops'] = gemm_rate()
    except ImportError:
        out['gemm_gflops'] = None
    if a.gemm_only:
        print(json.dumps(out))
        return
    try:
        import torch
        import torchvision
    except ImportError as e:
        out['skipped'] = f'{e} (apt-get install python3-torch python3-torchvision)'
        print(json.dumps(out))
        return
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=a.classes)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    times, cpu = [], []
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()  # process_time: all threads
        step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    fwd = []
    with torch.no_grad():
        model.eval()
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            model(x)
            if i >= a.warmup:
                fwd.append(time.perf_counter() - t0)
    out.update({
        'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads(),
        'step_s': times, 'cpu_s': cpu, 'train_images_per_s': a.batch / statistics.median(times),
        'forward_images_per_s': a.batch / statistics.median(fwd),
    })
    print(json.dumps(out))


if __name__ == '__main__':
    sys.exit(main())
