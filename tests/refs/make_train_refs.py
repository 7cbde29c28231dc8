#!/usr/bin/python3
"""PyTorch references for xm-train (tests/engine/test_train.c).

Run with Debian's python3 (python3-torch, python3-h5py, python3-numpy):

    /usr/bin/python3 tests/refs/make_train_refs.py [OUT.h5]   # default tests/refs/train_ref.h5

A CIFAR ResNet-20 (1 channel, input 8, fc 3 classes, source_fc 4 classes)
with the weights of scripts/make_torch_refs.py's hash generator (the C twin
is tests/engine/test_net_ref.h) runs 3 steps of a hand-written xmixup plan
(3 steps x 4 slots; the same numbers are in test_train.c) on hash-generated
uint8 records, in three configurations:

  joint_l2   joint label mode (one softmax over [fc; source_fc]), SGD
             momentum 0.9, weight decay 5e-4, lr 0.05, heads at 2x lr,
             multistep milestone at step 2 (gamma 0.1)
  split_l2sp split label mode (lambda*CE(fc, y_t) + (1-lambda)*CE(source_fc,
             y_s)), L2-SP alpha 0.1 to the start weights on the backbone,
             beta 0.01 decay on the heads, no weight decay, lr 0.05
  joint_bss  joint, weight decay 5e-4, lr 0.05, BSS k 1 eta 0.5 (large, so
             the term matters in 3 steps)

Stored per case: the 3 losses (cross-entropy, plus the BSS term for bss) and
every state_dict tensor after the 3 steps: in full up to 4096 elements, else
256 sampled values at sorted indices (idx/<name>) and the norm (norm/<name>).
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import make_torch_refs as R  # noqa: E402  (ResNet, ref_weights, input_mix, xent)

NT, NS, SIZE, SLOTS, STEPS = 3, 4, 8, 4, 3
FULL_MAX, SAMPLES = 4096, 256


def records(n, side, a, b, c):
    """uint8 side x side x 1 images: (i*a + k*b + c) % 256, k the pixel index."""
    k = np.arange(side * side)
    return [((i * a + k * b + c) % 256).astype(np.uint8).reshape(side, side, 1) for i in range(n)]


TGT = records(6, 10, 37, 11, 5)
TGT_LABELS = [i % 3 for i in range(6)]
SRC = records(8, 12, 53, 7, 101)
SRC_LABELS = [i % 4 for i in range(8)]

# the plan (test_train.c writes the same)
TREC = [[0, 1, 2, 3], [4, 5, 0, 1], [2, 3, 4, 5]]
PREC = [[1, 2, 3, 0], [5, 6, 7, 4], [3, 1, 0, 2]]
LAM = [[0.7, 0.3, 0.5, 0.9], [0.2, 0.6, 0.8, 0.4], [0.55, 0.45, 0.65, 0.35]]


def crop(s, j):
    return ((s + j) % 5 - 1, (2 * s + j) % 5 - 2, (3 * j + s) % 7 - 1, (s + 2 * j) % 8 - 2)


def flip(s, j):
    return ((s + j) % 2, (s * j) % 2)


def batch(s):
    recs = TGT + SRC
    items = []
    for j in range(SLOTS):
        ty, tx, py, px = crop(s, j)
        fa, fb = flip(s, j)
        items.append((TREC[s][j], len(TGT) + PREC[s][j], ty, tx, py, px, fa, fb))
    lam = np.float32(LAM[s])
    x = R.input_mix(recs, items, lam, np.float64(0.5), np.float64(0.5), SIZE)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), lam


def labels(s, lam, joint):
    yt = np.zeros((SLOTS, NT), np.float32)
    ys = np.zeros((SLOTS, NS), np.float32)
    for j in range(SLOTS):
        yt[j, TGT_LABELS[TREC[s][j]]] += lam[j]
        ys[j, SRC_LABELS[PREC[s][j]]] += np.float32(1.0) - lam[j]
    if joint:
        return torch.from_numpy(np.concatenate([yt, ys], 1)), None
    return torch.from_numpy(yt), torch.from_numpy(ys)


def run(case):
    model = R.ResNet("resnet20", NT, 1, NS)
    R.ref_weights(model)
    model.train()
    named = dict(model.named_parameters())
    heads = [p for k, p in named.items() if k.startswith(("fc.", "source_fc."))]
    backbone = [p for k, p in named.items() if not k.startswith(("fc.", "source_fc."))]
    w0 = {k: p.detach().clone() for k, p in named.items()}
    lr = 0.05
    if case == "joint_l2":
        opt = torch.optim.SGD([{"params": backbone, "lr": lr},
                               {"params": heads, "lr": 2 * lr}], lr=lr, momentum=0.9,
                              weight_decay=5e-4)
    elif case == "split_l2sp":
        opt = torch.optim.SGD(backbone + heads, lr=lr, momentum=0.9, weight_decay=0.0)
    else:
        opt = torch.optim.SGD(backbone + heads, lr=lr, momentum=0.9, weight_decay=5e-4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    losses = []
    for s in range(STEPS):
        if case == "joint_l2":  # milestone 2, gamma 0.1
            for g, b in zip(opt.param_groups, base_lrs):
                g["lr"] = b * (0.1 if s >= 2 else 1.0)
        x, lam = batch(s)
        f, z, zs = model(x)
        opt.zero_grad()
        if case == "split_l2sp":
            yt, ys = labels(s, lam, False)
            loss = R.xent(z, yt) + R.xent(zs, ys)
        else:
            yj, _ = labels(s, lam, True)
            loss = R.xent(torch.cat([z, zs], 1), yj)
        if case == "joint_bss":
            sv = torch.linalg.svdvals(f)
            loss = loss + 0.5 * (sv[-1:] ** 2).sum()
        loss.backward()
        if case == "split_l2sp":
            with torch.no_grad():
                for k, p in named.items():
                    if k.startswith(("fc.", "source_fc.")):
                        p.grad += 0.01 * p
                    else:
                        p.grad += 0.1 * (p - w0[k])
        opt.step()
        losses.append(float(loss))
    return model, losses


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "train_ref.h5")
    torch.set_num_threads(1)
    rng = np.random.default_rng(99)
    with h5py.File(out + ".tmp", "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        for case in ("joint_l2", "split_l2sp", "joint_bss"):
            model, losses = run(case)
            g = f.create_group(case)
            g.create_dataset("losses", data=np.float64(losses))
            for k, v in model.state_dict().items():
                if k.endswith("num_batches_tracked"):
                    g.create_dataset("int/" + k, data=np.int64(v.item()))
                    continue
                a = v.detach().numpy().astype(np.float32).reshape(-1)
                if a.size <= FULL_MAX:
                    g.create_dataset("full/" + k, data=a)
                else:
                    idx = np.sort(rng.choice(a.size, SAMPLES, replace=False)).astype(np.int64)
                    g.create_dataset("idx/" + k, data=idx)
                    g.create_dataset("val/" + k, data=a[idx])
                    g.create_dataset("norm/" + k, data=np.float64(np.linalg.norm(a)))
            print(case, "losses", ["%.6f" % l for l in losses])
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
