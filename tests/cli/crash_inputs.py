#!/usr/bin/python3
"""crash_inputs.py [--features N] IDX_SPEC...: the inputs of the crash tests
(tests/cli/test_crash_disk.sh, scripts/crash_trials.sh), written into the
working directory from a fixed seed:
- per IDX_SPEC NAME:N:SIDE:CLASSES[:noise], NAME-images-idx3-ubyte and
  NAME-labels-idx1-ubyte (class-dependent brightness, or uniform noise);
- big_feat.h5: N x 64 features of 100 classes (default 200,000);
- big_csrc.h5, big_ctgt.h5: centroids of 3,000 and 300 classes in 512-D.
"""
import struct
import sys

import h5py
import numpy as np

rng = np.random.default_rng(1)


def idx(name, n, side, ncls, noise=False):
    lab = np.arange(n) % ncls
    if noise:
        px = rng.integers(0, 256, (n, side * side))
    else:
        px = np.clip(rng.normal(40 + 200 * lab[:, None] / ncls, 20, (n, side * side)), 0, 255)
    with open(name + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, side, side))
        f.write(px.astype(np.uint8).tobytes())
    with open(name + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n))
        f.write(lab.astype(np.uint8).tobytes())


args = sys.argv[1:]
nfeat = 200000
if args[:1] == ["--features"]:
    nfeat, args = int(args[1]), args[2:]
for spec in args:
    p = spec.split(":")
    idx(p[0], int(p[1]), int(p[2]), int(p[3]), len(p) > 4 and p[4] == "noise")
d, c = 64, 100
with h5py.File("big_feat.h5", "w") as f:
    f["features"] = rng.normal(0, 1, (nfeat, d)).astype(np.float32)
    f["labels"] = (np.arange(nfeat) % c).astype(np.int32)
    f["records"] = np.arange(nfeat, dtype=np.int64)
    f["classes"] = np.array(["c%d" % i for i in range(c)], dtype=h5py.string_dtype())
for name, c, d in (("big_csrc", 3000, 512), ("big_ctgt", 300, 512)):
    counts = rng.integers(5, 50, c).astype(np.int64)
    sums = rng.normal(0, 1, (c, d)) * counts[:, None]
    with h5py.File(name + ".h5", "w") as f:
        f["sums"] = sums
        f["counts"] = counts
        f["means"] = (sums / counts[:, None]).astype(np.float32)
        f["classes"] = np.array(["%s%d" % (name[-3:], i) for i in range(c)], dtype=h5py.string_dtype())
