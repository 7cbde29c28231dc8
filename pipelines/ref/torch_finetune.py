#!/usr/bin/python3
"""torch_finetune.py: the pipeline's fine-tuning protocol written again in
PyTorch, independently of xm's plan writer and trainer, to check that the
accuracies xm reports are what the method gives and not an artefact of xm.

    torch_finetune.py --model PRE.h5 --train T.xms --test E.xms
        [--method l2|xmixup|xmixup-nolabel|mixup] [--source S.xms --pairs P.h5]
        [--alpha A] [--steps N] [--batch B] [--lr LR] [--wd WD] [--seed K]
        [--label-mode joint|split] [--plan PLAN.h5] [--threads N]

Reads xm's files directly: the pre-trained model (formats/model.md), .xms
shards (xms_read.py), the pairs file. Same protocol as pipelines/Makefile:
SGD momentum 0.9, multistep lr x0.1 after 2/3 of the steps, random 28 px
crops of the 4 px zero-padded image, no flip, lambda ~ Beta(alpha, 1) per
sample (weight of the target image), partner drawn uniformly from the
records of the source classes paired with the target's class, label
lam*y_t + (1-lam)*y_s over [target head; source head] (one softmax), a
new target head (PyTorch's Linear init) and the source head from the
pre-trained classifier's rows. With --plan, the samples (records, lambda,
crops) are taken from xm's plan instead of drawn here, which separates
"xm's sampling" from "xm's arithmetic".
Prints one JSON line: method, seed, top1, seconds.
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from make_torch_refs import ResNet  # noqa: E402  torchvision's ResNet names, CIFAR stem
from xms_read import read_xms  # noqa: E402


def load_model(path, nt, ns, src_rows):
    with h5py.File(path, "r") as f:
        arch = f.attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        cin = int(f.attrs["in_channels"])
        mean = np.asarray(f.attrs["mean"], np.float32)
        std = np.asarray(f.attrs["std"], np.float32)
        sd = {k: torch.from_numpy(np.asarray(f[k])) for k in f.keys()}
    net = ResNet(arch, nt, cin, ns)
    own = net.state_dict()
    for k, v in sd.items():
        if k.startswith("fc.") or k.startswith("source_fc."):
            continue
        own[k].copy_(v.reshape(own[k].shape))
    if ns:
        own["source_fc.weight"].copy_(sd["fc.weight"][src_rows])
        own["source_fc.bias"].copy_(sd["fc.bias"][src_rows])
    net.load_state_dict(own)
    return net, mean, std


def crop(img, y, x, s):
    """s x s window at (y, x) of an HxWxC image; outside reads 0."""
    h, w, c = img.shape
    out = np.zeros((s, s, c), np.float32)
    y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + s, h), min(x + s, w)
    if y1 > y0 and x1 > x0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = img[y0:y1, x0:x1]
    return out


def to_input(batch, mean, std):
    a = (np.stack(batch) / 255.0 - mean) / std
    return torch.from_numpy(a.astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def evaluate(net, imgs, labels, mean, std, s):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(imgs), 500):
            chunk = []
            for im in imgs[i:i + 500]:
                oy = int(round((im.shape[0] - s) / 2))
                ox = int(round((im.shape[1] - s) / 2))
                chunk.append(crop(im, oy, ox, s))
            _, z, _ = net(to_input(chunk, mean, std))
            correct += int((z.argmax(1).numpy() == labels[i:i + 500]).sum())
    return correct / len(imgs)


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--model", required=True)
    a.add_argument("--train", required=True)
    a.add_argument("--test", required=True)
    a.add_argument("--source")
    a.add_argument("--pairs")
    a.add_argument("--plan")
    a.add_argument("--method", default="l2", choices=["l2", "xmixup", "xmixup-nolabel", "mixup"])
    a.add_argument("--label-mode", default="joint", choices=["joint", "split"])
    a.add_argument("--alpha", type=float, default=1.0)
    a.add_argument("--steps", type=int, default=300)
    a.add_argument("--batch", type=int, default=48)
    a.add_argument("--lr", type=float, default=0.01)
    a.add_argument("--wd", type=float, default=5e-4)
    a.add_argument("--size", type=int, default=28)
    a.add_argument("--pad", type=int, default=4)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--bn-recal", action="store_true",
                   help="also report top-1 after re-estimating batch-norm statistics on unmixed target images")
    o = a.parse_args()
    torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    rng = np.random.default_rng(o.seed)

    timgs, tlab, tcls = read_xms(o.train)
    eimgs, elab, _ = read_xms(o.test)
    nt = len(tcls)
    mixing = o.method in ("xmixup", "xmixup-nolabel")
    src_rows, partners = [], {}
    if mixing:
        simgs, slab, _ = read_xms(o.source)
        with h5py.File(o.pairs, "r") as f:
            pt, ps = np.asarray(f["target"]), np.asarray(f["source"])
        src_rows = sorted(set(int(s) for s in ps))
        row_of = {s: i for i, s in enumerate(src_rows)}
        by_class = {s: np.flatnonzero(slab == s) for s in src_rows}
        for t in range(nt):  # pair order, then record order (as formats/plan.md)
            partners[t] = np.concatenate([by_class[int(s)] for s, tt in zip(ps, pt) if tt == t])
    ns = len(src_rows) if o.method == "xmixup" else 0
    net, mean, std = load_model(o.model, nt, ns, src_rows)
    opt = torch.optim.SGD(net.parameters(), lr=o.lr, momentum=0.9, weight_decay=o.wd)
    drop = (2 * o.steps) // 3
    plan = None
    if o.plan:
        with h5py.File(o.plan, "r") as f:
            plan = {k: np.asarray(f[k]) for k in ("target_record", "partner_record", "lambda", "crop")}
    order, pos = [], 0
    t0 = time.time()
    for step in range(o.steps):
        for g in opt.param_groups:
            g["lr"] = o.lr * (0.1 if step >= drop else 1.0)
        xs, yt, ys = [], np.zeros((o.batch, nt), np.float32), np.zeros((o.batch, max(ns, 1)), np.float32)
        for j in range(o.batch):
            if plan is not None:
                r, p, lam = int(plan["target_record"][step, j]), int(plan["partner_record"][step, j]), \
                    float(plan["lambda"][step, j])
                (cy, cx), (py, px) = plan["crop"][step, j]
            else:
                if pos == len(order):
                    order, pos = rng.permutation(len(timgs)), 0
                r, pos = int(order[pos]), pos + 1
                p, lam = -1, 1.0
                if mixing:
                    p = int(partners[int(tlab[r])][rng.integers(len(partners[int(tlab[r])]))])
                    lam = float(rng.beta(o.alpha, 1.0))
                elif o.method == "mixup":
                    p, lam = int(rng.integers(len(timgs))), float(rng.beta(o.alpha, o.alpha))
                cy, cx, py, px = rng.integers(-o.pad, o.pad + 1, 4)
            x = crop(timgs[r], cy, cx, o.size)
            c = int(tlab[r])
            if p < 0 or (plan is not None and o.method == "l2"):
                yt[j, c] = 1.0
            elif o.method == "mixup":
                x = lam * x + (1 - lam) * crop(timgs[p], py, px, o.size)
                yt[j, c] += lam
                yt[j, int(tlab[p])] += 1 - lam
            else:
                x = lam * x + (1 - lam) * crop(simgs[p], py, px, o.size)
                if o.method == "xmixup-nolabel":
                    yt[j, c] = 1.0
                else:
                    yt[j, c] = lam
                    ys[j, row_of[int(slab[p])]] = 1 - lam
            xs.append(x)
        net.train()
        _, z, zs = net(to_input(xs, mean, std))
        yt_t, ys_t = torch.from_numpy(yt), torch.from_numpy(ys)
        if ns and o.label_mode == "joint":
            logp = F.log_softmax(torch.cat([z, zs], 1), 1)
            loss = -(torch.cat([yt_t, ys_t], 1) * logp).sum(1).mean()
        elif ns:
            loss = -(yt_t * F.log_softmax(z, 1)).sum(1).mean() - (ys_t * F.log_softmax(zs, 1)).sum(1).mean()
        else:
            loss = -(yt_t * F.log_softmax(z, 1)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    secs = time.time() - t0
    top1 = evaluate(net, eimgs, elab, mean, std, o.size)
    out = {"method": o.method, "alpha": o.alpha, "seed": o.seed, "plan": bool(o.plan),
           "top1": round(top1, 6), "final_loss": round(float(loss), 5), "seconds": round(secs, 1)}
    if o.bn_recal:
        # Training saw mixed images, testing sees pure ones: re-estimate the
        # running statistics (cumulative average) on 20 passes of padded
        # random crops of the unmixed target training images, no gradients.
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        net.train()
        with torch.no_grad():
            for _ in range(20):
                xs = [crop(im, *rng.integers(-o.pad, o.pad + 1, 2), o.size) for im in timgs]
                net(to_input(xs, mean, std))
        out["top1_bn_recal"] = round(evaluate(net, eimgs, elab, mean, std, o.size), 6)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
