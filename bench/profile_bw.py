#!/usr/bin/env python3
"""profile_bw.py PROFILE.txt [COPY_GB_S]: the memory-bound ops of xm's CUDA
profiles (XM_CUDA_PROFILE=1 tables, as device_check.sh writes them to
profile.txt) on a bandwidth scale: per op kind and per shape, the bytes an
op must move at the least (passes over its tensors x their size) divided
by its GPU time, and that as a fraction of the device's copy bandwidth
(default 4227 GB/s, the H200's measured by bench/torch_gpu.py).

Passes per op (reads + writes of tensors the size of its input):
bn_fwd_train 3 (statistics read x; normalise reads x, writes y),
bn_fwd_infer 2, bn_bwd 5 (reduction reads x, dy; dx pass reads x, dy,
writes dx) and 7 with a fused ReLU (y read twice more), add 3, relu_bwd 3;
max pooling counts the larger side once and the smaller (a quarter) once.
Convolutions are compute-bound and left out. A low fraction beside a high
one for the same kind of pass points at the kernel, not the memory."""
import re
import sys

PASSES = {"bn_fwd_train": 3, "bn_fwd_infer": 2, "bn_bwd": 5, "add": 3, "relu_bwd": 3,
          "maxpool_fwd": 1.25, "maxpool_bwd": 2.25}
ROW = re.compile(r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+(\w+) "
                 r"(\d+)x(\d+)x(\d+)x(\d+) (bf16|f16|f32)( relu)?\s*$")
SIZE = {"bf16": 2, "f16": 2, "f32": 4}


def main():
    path = sys.argv[1]
    bw = float(sys.argv[2]) * 1e9 if len(sys.argv) > 2 else 4227e9
    sections = re.split(r"^===== ", open(path, errors="replace").read(), flags=re.M)
    for sec in sections:
        if not sec.strip():
            continue
        title = sec.splitlines()[0]
        kinds, shapes = {}, []
        for line in sec.splitlines():
            m = ROW.match(line)
            if not m or m.group(6) not in PASSES:
                continue
            gms, calls, us = float(m.group(1)), float(m.group(3)), float(m.group(4))
            op, relu = m.group(6), bool(m.group(12))
            n, h, w, c = (int(m.group(i)) for i in range(7, 11))
            passes = PASSES[op] + (2 if op == "bn_bwd" and relu else 0)
            nbytes = n * h * w * c * SIZE[m.group(11)] * passes
            key = op + (" relu" if relu else "")
            k = kinds.setdefault(key, [0.0, 0.0])
            k[0] += nbytes * calls
            k[1] += gms * 1e-3
            shapes.append((gms, key, "%dx%dx%dx%d" % (n, h, w, c), us, nbytes / (us * 1e-6)))
        if not kinds:
            continue
        print("== %s" % title)
        print("%-18s %9s %9s %8s %6s" % ("op", "GB/step", "ms/step", "GB/s", "of bw"))
        for key, (b, t) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
            print("%-18s %9.2f %9.2f %8.0f %6.2f" % (key, b / 1e9, t * 1e3, b / t / 1e9, b / t / bw))
        print("-- shapes with >= 0.3 ms/step")
        for gms, key, shape, us, rate in sorted(shapes, reverse=True):
            if gms >= 0.3:
                print("%-18s %-16s %8.1f us %8.0f GB/s %6.2f" % (key, shape, us, rate / 1e9, rate / bw))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
