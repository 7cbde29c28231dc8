#!/usr/bin/python3
"""torch_embed.py: the PyTorch side of bench/bench_embed.sh (Debian's
python3-torch, torchvision, h5py, numpy, PIL).

    torch_embed.py save ARCH IN_CH SIZE CLASSES OUT.h5
        a model file (formats/model.md) with PyTorch's default random
        initialisation, eval-mode BN stats perturbed so BN is not identity
    torch_embed.py time MODEL.h5 idx|folder PATH BATCH THREADS [XM_FEAT.h5]
        pooled features of the same images with the same evaluation
        transform (torchvision CenterCrop(size) after xm-pack's resize: for
        'folder', Resize(256) then CenterCrop(224); for 'idx', CenterCrop(32)
        pads 28 -> 32), in eval mode under torch.no_grad on THREADS threads.
        Only the forward passes are timed (images are decoded and normalised
        first), which favours PyTorch. With XM_FEAT.h5 (xm-embed's output for
        the same images in the same order), prints the largest relative row
        difference. One JSON line on stdout.
"""
import gzip
import importlib.util
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torchvision.transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "torch_refs", os.path.join(HERE, "..", "scripts", "make_torch_refs.py"))
refs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refs)


def save(arch, cin, size, classes, out):
    torch.manual_seed(0)
    m = refs.ResNet(arch, classes, in_channels=cin)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("running_mean"):
                v.copy_(torch.randn(v.shape, generator=g) * 0.1)
            elif k.endswith("running_var"):
                v.copy_(1 + torch.rand(v.shape, generator=g))
    with h5py.File(out, "w") as f:
        for k, v in m.state_dict().items():
            f[k] = v.numpy()
        f.attrs["arch"] = arch
        f.attrs["num_classes"] = classes
        f.attrs["input_size"] = size
        f.attrs["in_channels"] = cin
        mean, std = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) if cin == 3 else ([0.5], [0.5])
        f.attrs["mean"] = np.array(mean, np.float32)
        f.attrs["std"] = np.array(std, np.float32)


def load(path):
    with h5py.File(path, "r") as f:
        arch = f.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else arch
        m = refs.ResNet(arch, int(f.attrs["num_classes"]), in_channels=int(f.attrs["in_channels"]))
        sd = {k: torch.from_numpy(np.array(f[k])) for k in m.state_dict().keys()}
        m.load_state_dict(sd)
        return m.eval(), int(f.attrs["input_size"]), list(f.attrs["mean"]), list(f.attrs["std"])


def images(kind, path, size, mean, std):
    norm = T.Normalize(mean, std)
    if kind == "idx":
        with gzip.open(path, "rb") as g:
            raw = np.frombuffer(g.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        x = torch.from_numpy(raw.copy()).float() / 255.0
        return norm(T.CenterCrop(size)(x))
    from PIL import Image
    tf = T.Compose([T.Resize(256), T.CenterCrop(size), T.ToTensor(), norm])
    files = []
    for c in sorted(os.listdir(path)):
        d = os.path.join(path, c)
        files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return torch.stack([tf(Image.open(f).convert("RGB")) for f in files])


def timeit(model_path, kind, path, batch, threads, xm_feat=None):
    torch.set_num_threads(threads)
    m, size, mean, std = load(model_path)
    x = images(kind, path, size, mean, std)
    feats = []
    with torch.no_grad():
        m(x[:batch])  # warm-up (allocations, kernel selection)
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            feats.append(m(x[i:i + batch])[0])
        dt = time.perf_counter() - t0
    res = {"images": len(x), "seconds": round(dt, 4), "images_per_s": round(len(x) / dt, 2),
           "threads": threads, "batch": batch}
    if xm_feat:
        f = torch.cat(feats).numpy()
        with h5py.File(xm_feat, "r") as h:
            g = h["features"][()]
        n = min(len(f), len(g))
        rel = np.linalg.norm(g[:n] - f[:n], axis=1) / np.maximum(np.linalg.norm(f[:n], axis=1), 1e-30)
        res["max_rel_diff_vs_xm"] = float(rel.max())
    print(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1] == "save":
        save(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        timeit(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
               sys.argv[7] if len(sys.argv) > 7 else None)
