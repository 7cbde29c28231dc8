#!/usr/bin/python3
"""pil_pack.py: the Python + PIL baseline for bench_pack.sh. Does the work
xm-pack does, on the same number of processes: list an ImageFolder in
torchvision's order, decode each image with PIL, convert to RGB, resize the
shorter side to SIZE (PIL bilinear, antialiased when shrinking, as
torchvision's Resize), center-crop SIZE x SIZE; then apply the same "up"
prediction filter (numpy) and compress blocks of about 16 KiB with zstd
level 3 with content checksums (Debian's python3-zstandard), writing the
blocks in order to OUT. For an IDX file (Fashion-MNIST) it reads the gzip'd
images and filters and compresses them the same way.
Without python3-zstandard it writes raw pixels (and says so).
Usage: pil_pack.py [--size S] [--procs N] INPUT OUT"""
import argparse
import gzip
import multiprocessing as mp
import os

import numpy as np
from PIL import Image

try:
    import zstandard
except ImportError:
    zstandard = None

SIZE = 0
BLOCK = 16 * 1024


def up_filter(px):
    """px: H x W x C uint8 -> residuals against the row above (mod 256)."""
    r = px.copy()
    r[1:] -= px[:-1]
    return r


def compress(arrays):
    raw = b"".join(up_filter(a).tobytes() for a in arrays)
    if zstandard is None:
        return raw
    return zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True).compress(raw)


def decode(path):
    im = Image.open(path).convert("RGB")
    if SIZE:
        w, h = im.size
        if w < h:
            nw, nh = SIZE, int(SIZE * h / w)
        else:
            nw, nh = int(SIZE * w / h), SIZE
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = int(round((nw - SIZE) / 2.0)), int(round((nh - SIZE) / 2.0))
        im = im.crop((left, top, left + SIZE, top + SIZE))
    px = np.asarray(im)
    return compress([px])  # an image of 16 KiB or more is a block of its own


def idx_block(args):
    data, lo, hi, h, w = args
    imgs = np.frombuffer(data, np.uint8, (hi - lo) * h * w, 0).reshape(hi - lo, h, w, 1)
    return compress(list(imgs))


def folder(root):
    exts = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    out = []
    for c in classes:
        for r, _, files in sorted(os.walk(os.path.join(root, c), followlinks=True)):
            out += [os.path.join(r, f) for f in sorted(files) if f.lower().endswith(exts)]
    return out


def init(size):
    global SIZE
    SIZE = size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    ap.add_argument("input")
    ap.add_argument("out")
    a = ap.parse_args()
    n = 0
    with open(a.out, "wb") as f, mp.Pool(a.procs, initializer=init, initargs=(a.size,)) as pool:
        if os.path.isdir(a.input):
            for blob in pool.imap(decode, folder(a.input), chunksize=8):
                f.write(blob)
                n += 1
        else:
            with gzip.open(a.input, "rb") as g:
                data = g.read()
            n, h, w = (int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(3))
            per = max(1, BLOCK // (h * w))
            jobs = [(data[16 + lo * h * w:16 + min(n, lo + per) * h * w], lo, min(n, lo + per), h, w)
                    for lo in range(0, n, per)]
            for blob in pool.imap(idx_block, jobs, chunksize=16):
                f.write(blob)
    print("%d records%s" % (n, "" if zstandard else " (raw: python3-zstandard missing)"))


if __name__ == "__main__":
    main()
