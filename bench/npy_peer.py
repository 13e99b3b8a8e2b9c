"""numpy side of bench/npy.ts: the same operations with the tool people would use instead.

    npy_peer.py save SRC DST                 np.load(SRC) into memory, then time np.save(DST)
    npy_peer.py blend A B DST ROWS METHOD    average A and B (np.load mmap_mode="r") in blocks of ROWS
                                             rows into DST (open_memmap); METHOD logits | probs
    npy_peer.py diff X Y                     largest absolute difference between two .npy files

Prints one JSON object. Runs with Debian's /usr/bin/python3 and python3-numpy.
"""
import json
import sys
import time

import numpy as np


def save(src, dst):
    a = np.load(src)
    t0 = time.perf_counter()
    np.save(dst, a)
    return {"seconds": time.perf_counter() - t0, "bytes": a.nbytes}


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))


def blend(a_path, b_path, dst, rows, method):
    t0 = time.perf_counter()
    a = np.load(a_path, mmap_mode="r")
    b = np.load(b_path, mmap_mode="r")
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=np.float32, shape=a.shape)
    half = np.float32(0.5)
    for s in range(0, a.shape[0], rows):
        e = min(s + rows, a.shape[0])
        if method == "logits":
            out[s:e] = half * a[s:e] + half * b[s:e]
        else:
            # log(0.5 p_a + 0.5 p_b) via logaddexp of the log-softmaxes
            out[s:e] = np.logaddexp(log_softmax(a[s:e]), log_softmax(b[s:e])) - np.float32(np.log(2))
    out.flush()
    del out
    return {"seconds": time.perf_counter() - t0, "bytes": a.nbytes + b.nbytes}


def diff(x, y):
    a = np.load(x, mmap_mode="r")
    b = np.load(y, mmap_mode="r")
    worst = 0.0
    for s in range(0, a.shape[0], 512):
        worst = max(worst, float(np.abs(a[s:s + 512].astype(np.float64) - b[s:s + 512]).max()))
    return {"max_abs_diff": worst}


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "save":
        r = save(*args)
    elif cmd == "blend":
        r = blend(args[0], args[1], args[2], int(args[3]), args[4])
    elif cmd == "diff":
        r = diff(*args)
    else:
        raise SystemExit(f"unknown command {cmd}")
    r["numpy"] = np.__version__
    print(json.dumps(r))
