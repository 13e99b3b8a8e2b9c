#!/usr/bin/env python3
"""PyTorch half of the GPU check (bench/gpu/run.sh): training steps of ResNet-50 and
SE-ResNeXt-50 32x4d at the same image size and batch sizes as exp's webgpu timing, on the same
GPU, with the same head (global average pool, one 1000-class linear layer), loss (softmax cross
entropy) and optimizer (SGD, momentum 0.9), inputs already on the device. Three precisions:
  fp32      float32, TF32 off (what webgpu computes: IEEE float32 in every operation)
  tf32      float32 tensors, TF32 tensor-core matmuls/convolutions on (PyTorch's default on Ampere+)
  amp       float16 autocast with a GradScaler, channels_last (the usual fast recipe)
Timed with CUDA synchronisation around each step; median seconds per step after warm-up.
SE-ResNeXt is written out here as pretrainedmodels defines it (pretrainedmodels and timm are not
always installed); its parameter count is checked against exp's (25,510,896 without the classifier).
Prints one JSON object (and writes it to --out).
Run (CPU, tiny): /usr/bin/python3 bench/gpu/torch_bench.py --device cpu --size 64 --batches 2 --steps 1 --warmup 1
"""
import argparse
import json
import statistics
import sys
import time


def build(name, classes):
    import torch.nn as nn

    class SE(nn.Module):
        def __init__(self, c, r):
            super().__init__()
            self.fc1 = nn.Conv2d(c, c // r, 1)
            self.fc2 = nn.Conv2d(c // r, c, 1)

        def forward(self, x):
            s = x.mean((2, 3), keepdim=True)
            return x * self.fc2(self.fc1(s).relu()).sigmoid()

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride, groups, base_width, se, down_kernel_pad):
            super().__init__()
            width = int(planes * base_width / 64) * groups
            out = planes * 4
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.se = SE(out, 16) if se else None
            self.down = None
            if stride != 1 or cin != out:
                k, p = down_kernel_pad
                self.down = nn.Sequential(nn.Conv2d(cin, out, k, stride, p, bias=False), nn.BatchNorm2d(out))

        def forward(self, x):
            y = self.bn1(self.conv1(x)).relu()
            y = self.bn2(self.conv2(y)).relu()
            y = self.bn3(self.conv3(y))
            if self.se is not None:
                y = self.se(y)
            return (y + (x if self.down is None else self.down(x))).relu()

    se_resnext = name == 'se_resnext50_32x4d'
    if name not in ('resnet50', 'se_resnext50_32x4d'):
        raise SystemExit(f'unknown model {name}')
    groups, base = (32, 4) if se_resnext else (1, 64)
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, ceil_mode=True) if se_resnext else nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (planes, n) in enumerate(zip([64, 128, 256, 512], [3, 4, 6, 3])):
        for j in range(n):
            layers.append(Bottleneck(cin, planes, 2 if j == 0 and i > 0 else 1, groups, base, se_resnext, (1, 0)))
            cin = planes * 4
    backbone = nn.Sequential(*layers)
    params = sum(p.numel() for p in backbone.parameters())
    expected = 25_510_896 if se_resnext else 23_508_032
    if params != expected:
        raise SystemExit(f'{name}: {params} backbone parameters, expected {expected}')
    return nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, classes)), params


def time_model(torch, name, batch, size, precision, steps, warmup, budget, device):
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    tf32 = precision == 'tf32'
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    model, params = build(name, 1000)
    fmt = torch.channels_last if precision == 'amp' else torch.contiguous_format
    model = model.to(device, memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    # on a CPU (the dry run) 'amp' keeps float32 and only changes the memory format
    amp = precision == 'amp' and device == 'cuda'
    scaler = torch.cuda.amp.GradScaler() if amp else None
    loss_fn = torch.nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        if amp:
            with torch.autocast(device_type='cuda', dtype=torch.float16):
                loss = loss_fn(model(x), y)
        else:
            loss = loss_fn(model(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss

    times = []
    t_start = time.perf_counter()
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if i >= warmup and time.perf_counter() - t_start > budget:
            break
    sec = statistics.median(times)
    out = {'model': name, 'batch': batch, 'size': size, 'precision': precision, 'steps_timed': len(times),
           'seconds_per_step': sec, 'images_per_s': batch / sec, 'final_loss': float(loss.item()),
           'backbone_params': params}
    if device == 'cuda':
        out['max_memory_gb'] = torch.cuda.max_memory_allocated() / 2 ** 30
        torch.cuda.reset_peak_memory_stats()
    del model, opt, x, y
    if device == 'cuda':
        torch.cuda.empty_cache()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--models', default='se_resnext50_32x4d,resnet50')
    p.add_argument('--batches', default='32,64')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--precisions', default='fp32,tf32,amp')
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--budget', type=float, default=20, help='seconds per configuration, at most (after warm-up)')
    p.add_argument('--device', default='cuda')
    p.add_argument('--out')
    a = p.parse_args()
    out = {'tool': 'pytorch'}
    try:
        import torch
    except ImportError as e:
        out['error'] = f'no PyTorch: {e}'
    else:
        out['torch'] = torch.__version__
        if a.device == 'cuda' and not torch.cuda.is_available():
            out['error'] = 'CUDA is not available to PyTorch'
        else:
            if a.device == 'cuda':
                out['gpu'] = torch.cuda.get_device_name(0)
                out['cuda'] = torch.version.cuda
                out['cudnn'] = torch.backends.cudnn.version()
            runs = []
            for name in a.models.split(','):
                for batch in [int(b) for b in a.batches.split(',')]:
                    for prec in a.precisions.split(','):
                        try:
                            runs.append(time_model(torch, name, batch, a.size, prec, a.steps, a.warmup, a.budget, a.device))
                        except Exception as e:  # noqa: BLE001 (one failed configuration must not lose the others)
                            runs.append({'model': name, 'batch': batch, 'precision': prec, 'error': str(e).split('\n')[0]})
                        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
            out['runs'] = runs
    text = json.dumps(out)
    if a.out:
        with open(a.out, 'w') as f:
            f.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
