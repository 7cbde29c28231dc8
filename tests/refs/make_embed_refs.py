#!/usr/bin/python3
"""Reference features for xm-embed (tests/engine/test_embed.c).

Run with Debian's python3 (python3-torch, python3-torchvision, h5py, numpy):

    /usr/bin/python3 tests/refs/make_embed_refs.py [OUT.h5]   # default tests/refs/embed_ref.h5

A CIFAR ResNet-20 (3 input channels, input size 32, 10 classes) with the
deterministic weights of scripts/make_torch_refs.py (ref_weights; the C test
builds the same model with tests/engine/test_net_ref.h and saves it as a
model file, so no weights are stored here). Images of assorted sizes (larger,
smaller and odd differences to the crop, so torchvision's rounding and
padding are exercised) go through torchvision's evaluation transform
CenterCrop(32) -> /255 -> Normalize(mean, std), then the model in eval mode.

Stored: `pixels` (all images' HWC uint8 bytes, concatenated), `shapes` N x 3
(h, w, c), `labels` N, `classes`, `mean`, `std` (attributes), and the
expected pooled features `features` N x 64 (float32).
"""
import importlib.util
import os
import sys

import h5py
import numpy as np
import torch
import torchvision.transforms.functional as TF

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "torch_refs", os.path.join(HERE, "..", "..", "scripts", "make_torch_refs.py"))
refs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refs)

SIZE = 32
MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
SHAPES = [(32, 32), (36, 40), (28, 30), (33, 35), (31, 45), (37, 37), (39, 39),
          (32, 33), (20, 50), (64, 48), (35, 32)]
CLASSES = ["c%d" % i for i in range(4)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "embed_ref.h5")
    torch.manual_seed(0)
    model = refs.ResNet("resnet20", 10, in_channels=3)
    refs.ref_weights(model)
    model.eval()
    rng = np.random.default_rng(11)
    imgs, xs = [], []
    for h, w in SHAPES:
        # smooth-ish content so features are not dominated by noise
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([np.sin(yy / 3.0 + c) * np.cos(xx / 4.0 - c) for c in range(3)], -1)
        im = np.clip(128 + 90 * base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        imgs.append(im)
        t = TF.center_crop(torch.from_numpy(im).permute(2, 0, 1), [SIZE, SIZE])
        t = t.float() / 255.0
        t = TF.normalize(t, MEAN.tolist(), STD.tolist())
        xs.append(t)
    with torch.no_grad():
        f, _, _ = model(torch.stack(xs))
    labels = np.arange(len(SHAPES), dtype=np.int32) % len(CLASSES)
    with h5py.File(out, "w") as h:
        h["pixels"] = np.concatenate([im.reshape(-1) for im in imgs])
        h["shapes"] = np.array([im.shape for im in imgs], np.int32)
        h["labels"] = labels
        h["classes"] = CLASSES
        h["features"] = f.numpy().astype(np.float32)
        h.attrs["mean"] = MEAN
        h.attrs["std"] = STD
        h.attrs["arch"] = "resnet20"
        h.attrs["input_size"] = SIZE
        h.attrs["torch_version"] = str(torch.__version__)
    print("wrote %s: %d images, features %s" % (out, len(imgs), tuple(f.shape)))


if __name__ == "__main__":
    main()
