"""numpy side of bench/ensemble.ts: what people would write instead of `exp ensemble`.

    ensemble_peer.py blend A B DST ROWS METHOD   equal-weight blend of A and B (np.load mmap_mode="r"),
                                                 in blocks of ROWS rows, into DST (open_memmap), plus
                                                 each row's top-1 class; METHOD logits | probs
    ensemble_peer.py evict FILE...               drop FILE's pages from the page cache
                                                 (posix_fadvise DONTNEED), so the next read is cold

Prints one JSON object (seconds, bytes read, peak RSS in KiB). Debian's /usr/bin/python3 + python3-numpy.
"""
import json
import os
import resource
import sys
import time

import numpy as np

from npy_peer import log_softmax  # the same row-wise log-softmax as the .npy peer (same folder)


def blend(a_path, b_path, dst, rows, method):
    t0 = time.perf_counter()
    a = np.load(a_path, mmap_mode="r")
    b = np.load(b_path, mmap_mode="r")
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=np.float32, shape=a.shape)
    top1 = np.empty(a.shape[0], dtype=np.int32)
    half = np.float32(0.5)
    for s in range(0, a.shape[0], rows):
        e = min(s + rows, a.shape[0])
        if method == "logits":
            blk = half * a[s:e] + half * b[s:e]
        else:
            blk = np.logaddexp(log_softmax(a[s:e]), log_softmax(b[s:e])) - np.float32(np.log(2))
        out[s:e] = blk
        top1[s:e] = blk.argmax(axis=1)
    out.flush()
    del out
    return {"seconds": time.perf_counter() - t0, "bytes": a.nbytes + b.nbytes}


def evict(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return {"evicted": len(paths)}


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "blend":
        r = blend(args[0], args[1], args[2], int(args[3]), args[4])
    elif cmd == "evict":
        r = evict(args)
    else:
        raise SystemExit(f"unknown command {cmd}")
    r["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r["numpy"] = np.__version__
    print(json.dumps(r))
