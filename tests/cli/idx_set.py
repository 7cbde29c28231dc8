#!/usr/bin/python3
"""idx_set.py PREFIX N SIDE NCLASSES SEED [STEP]: a small learnable IDX set
for the CLI tests, PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte:
image i has label i % NCLASSES and pixels drawn from a normal of mean
40 + STEP * label (STEP 30) and deviation 20 (numpy's default_rng(SEED)),
so classes differ by brightness plus noise."""
import struct
import sys

import numpy as np

prefix, n, side, ncls, seed = sys.argv[1], *map(int, sys.argv[2:6])
step = float(sys.argv[6]) if len(sys.argv) > 6 else 30
rng = np.random.default_rng(seed)
lab = np.arange(n) % ncls
px = np.clip(rng.normal(40 + step * lab[:, None], 20, (n, side * side)), 0, 255).astype(np.uint8)
with open(prefix + "-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, side, side))
    f.write(px.tobytes())
with open(prefix + "-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n))
    f.write(lab.astype(np.uint8).tobytes())
