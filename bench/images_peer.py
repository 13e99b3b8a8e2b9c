"""Peer of bench/images.ts: the same decode + Resize + RandomCrop + flips + normalise with PIL and
torchvision transforms (what the reference recipe used), one thread, on the same files.
Usage: /usr/bin/python3 bench/images_peer.py <dir> <resize> <size> <passes> [draft]
Prints one JSON line: images, seconds, images_per_s (wall) and images_per_cpu_s (process CPU time)."""
import json, os, sys, time
import torch
from PIL import Image
from torchvision import transforms as T

torch.set_num_threads(1)
d, resize, size, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
draft = len(sys.argv) > 5 and sys.argv[5] == 'draft'
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith('.jpg'))
tf = T.Compose([
    T.Resize(resize), T.RandomCrop(size), T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
    T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])

def load(f):
    img = Image.open(f)
    if draft:  # PIL's JPEG DCT scaling, the counterpart of libvips shrink-on-load
        img.draft('RGB', (resize, resize))
    return tf(img.convert('RGB'))

for f in files[:5]:
    load(f)  # warm-up
t = time.perf_counter()
c = time.process_time()
n = 0
for _ in range(passes):
    for f in files:
        x = load(f)
        n += 1
s = time.perf_counter() - t
cs = time.process_time() - c
assert tuple(x.shape) == (3, size, size)
print(json.dumps({'images': n, 'seconds': s, 'images_per_s': n / s, 'images_per_cpu_s': n / cs}))
