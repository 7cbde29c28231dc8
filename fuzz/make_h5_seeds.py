#!/usr/bin/python3
"""make_h5_seeds.py: write the seed corpus of fuzz_h5 (fuzz/corpus/h5/).

Each seed is one selector byte (the reader: 0 features, 1 centroids, 2 pairs,
3 plan, 4 model, 5 checkpoint; see fuzz/fuzz_h5.c) followed by a small HDF5
file in the schema of formats/*.md. Shapes are tiny; the model and checkpoint
seeds leave their tensors unwritten (HDF5 fill value 0, no storage) so that a
whole resnet20 fits in about 60 KB. Files use the oldest format (symbol-table
groups), as lib/h5 and h5py write by default. Usage: fuzz/make_h5_seeds.py [OUTDIR]
"""
import io
import os
import sys

import h5py
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "h5")
os.makedirs(out, exist_ok=True)
STR = h5py.string_dtype("utf-8")

def save(name, sel, build):
    bio = io.BytesIO()
    with h5py.File(bio, "w", libver="earliest") as f:
        build(f)
    data = bytes([sel]) + bio.getvalue()
    with open(os.path.join(out, name), "wb") as fo:
        fo.write(data)
    print(f"{name}: {len(data)} bytes")

def features(f, n=5, d=3, c=2, dtype="f4"):
    f["features"] = (np.arange(n * d).reshape(n, d) / 7.0).astype(dtype)
    f["labels"] = np.array([i % c for i in range(n)], dtype="i8")
    f["records"] = np.arange(n, dtype="i8")
    f.create_dataset("classes", data=[f"c{k}" for k in range(c)], dtype=STR)

def centroids(f, with_sums=True):
    c, d = 3, 4
    sums = np.arange(c * d, dtype="f8").reshape(c, d)
    counts = np.array([2, 1, 3], dtype="i8")
    if with_sums:
        f["sums"] = sums
    f["counts"] = counts
    f["means"] = (sums / counts[:, None]).astype("f4")
    f.create_dataset("classes", data=["ant", "bee", "cat"], dtype=STR)

def pairs(f):
    f["target"] = np.array([0, 1], dtype="i4")
    f["source"] = np.array([2, 0], dtype="i4")
    f["round"] = np.array([0, 0], dtype="i4")
    f["similarity"] = np.array([0.5, 0.25], dtype="f4")
    f.create_dataset("target_classes", data=["a", "b"], dtype=STR)
    f.create_dataset("source_classes", data=["x", "y", "z"], dtype=STR)
    f.attrs["method"] = "greedy"
    f.attrs["aux_size"] = np.int64(3)

def plan(f, mode="xmixup", steps=2, slots=2):
    f["target_record"] = np.arange(steps * slots, dtype="i8").reshape(steps, slots)
    f["partner_record"] = np.zeros((steps, slots), dtype="i8")
    f["partner_domain"] = np.ones((steps, slots), dtype="u1")
    f["lambda"] = np.full((steps, slots), 0.5, dtype="f4")
    f["crop"] = np.zeros((steps, slots, 2, 2), dtype="i2")
    f["flip"] = np.zeros((steps, slots, 2), dtype="u1")
    a = f.attrs
    a["mode"] = mode
    a["alpha"] = 1.0
    a["beta"] = 1.0
    a["seed"] = np.int64(7)
    a["input_size"] = np.int64(32)
    a["pad"] = np.int64(4)
    a["random_flip"] = np.int64(1)
    a["batch"] = np.int64(slots)
    a.create("target_files", ["t.xms"], dtype=STR)
    a.create("target_xxh64", ["0123456789abcdef"], dtype=STR)
    a.create("partner_files", ["s.xms"], dtype=STR)
    a.create("partner_xxh64", ["fedcba9876543210"], dtype=STR)
    a.create("target_classes", ["a", "b"], dtype=STR)
    a["n_source_classes"] = np.int64(2)
    a["source_classes"] = np.array([1, 3], dtype="i4")
    a.create("source_class_names", ["y", "w"], dtype=STR)

def resnet20_params(in_ch=1, classes=2, source=0):
    """(name, shape, trainable) in torchvision state_dict order."""
    p = []

    def conv(n, o, i, k):
        p.append((n + ".weight", (o, i, k, k), True))

    def bn(n, c):
        p.append((n + ".weight", (c,), True))
        p.append((n + ".bias", (c,), True))
        p.append((n + ".running_mean", (c,), False))
        p.append((n + ".running_var", (c,), False))
        p.append((n + ".num_batches_tracked", (), False))

    conv("conv1", 16, in_ch, 3)
    bn("bn1", 16)
    cin = 16
    for st, planes in enumerate((16, 32, 64)):
        for i in range(3):
            pre = f"layer{st + 1}.{i}"
            stride = 2 if st > 0 and i == 0 else 1
            conv(pre + ".conv1", planes, cin, 3)
            bn(pre + ".bn1", planes)
            conv(pre + ".conv2", planes, planes, 3)
            bn(pre + ".bn2", planes)
            if stride != 1 or cin != planes:
                conv(pre + ".downsample.0", planes, cin, 1)
                bn(pre + ".downsample.1", planes)
            cin = planes
    p.append(("fc.weight", (classes, 64), True))
    p.append(("fc.bias", (classes,), True))
    if source:
        p.append(("source_fc.weight", (source, 64), True))
        p.append(("source_fc.bias", (source,), True))
    return p

def model(f, source=0):
    params = resnet20_params(source=source)
    for name, shape, _ in params:
        if name.endswith("num_batches_tracked"):
            f[name] = np.int64(3)
        elif name.endswith("running_var"):
            f[name] = np.ones(shape, dtype="f4")
        else:
            f.create_dataset(name, shape=shape, dtype="f4")  # no storage: zeros
    a = f.attrs
    a["arch"] = "resnet20"
    a["num_classes"] = np.int64(2)
    a["in_channels"] = np.int64(1)
    a["input_size"] = np.int64(32)
    a["mean"] = np.array([0.5], dtype="f4")
    a["std"] = np.array([0.25], dtype="f4")
    a.create("classes", ["a", "b"], dtype=STR)
    if source:
        a.create("source_classes", [f"s{k}" for k in range(source)], dtype=STR)
    return sum(int(np.prod(s)) for _, s, t in params if t)

def checkpoint(f, w0=False):
    n_w = model(f)
    f.attrs["plan_xxh64"] = "0123456789abcdef"
    f.attrs["plan_file"] = "plan.h5"
    g = f.create_group("train")
    g.create_dataset("momentum", shape=(n_w,), dtype="f4")
    if w0:
        g.create_dataset("w0", shape=(n_w,), dtype="f4")
    g.attrs["step"] = np.int64(5)
    g.attrs["steps"] = np.int64(100)
    g.attrs["freeze_end"] = np.int64(0)
    g.attrs["format"] = "xm-checkpoint-1"

save("features_f32", 0, features)
save("features_f64", 0, lambda f: features(f, n=3, d=2, c=3, dtype="f8"))
save("centroids_sums", 1, centroids)
save("centroids_means", 1, lambda f: centroids(f, with_sums=False))
save("pairs", 2, pairs)
save("plan_xmixup", 3, plan)
save("plan_cotrain", 3, lambda f: plan(f, mode="cotrain", steps=1, slots=4))
save("model_resnet20_source", 4, lambda f: model(f, source=3))
save("checkpoint_l2sp", 5, lambda f: checkpoint(f, w0=True))
