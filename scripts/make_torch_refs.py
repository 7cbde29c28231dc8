#!/usr/bin/python3
"""Write the PyTorch reference files that the C tests compare against.

Run with Debian's python3 (python3-torch, python3-h5py, python3-numpy):

    /usr/bin/python3 scripts/make_torch_refs.py [OUTDIR]   # default tests/refs

Two cases (tests/refs/resnet20_ref.h5, tests/refs/resnet18_ref.h5):
  a) CIFAR ResNet-20, 1x28x28 inputs, batch 4, fc (10 classes) and a source
     head source_fc (6 classes), split soft labels (fc rows sum to lambda,
     source_fc rows to 1 - lambda);
  b) torchvision ResNet-18 (the real structure), 3x64x64, batch 8, fc only.

Weights are not stored (ResNet-18 alone is 45 MB). Both sides generate them
with the same integer hash (ref_weights below; tests/engine/test_net_ref.h is
the C twin), which is bit-exact in float32. The inputs go through the input
step (uint8 records, crop with zero fill, flip, mix, normalise); the records
and items are stored, with the resulting float input x (NHWC).

Stored per case: x, soft labels, eval-mode logits and features (running
stats from the generator), train-mode features and logits and the loss of
step 1, every parameter gradient of step 1, the batch-norm running stats
after step 1 and after 3 steps, the losses of 3 SGD steps (lr 0.1, momentum
0.9, weight decay 5e-4) on the same batch, the parameters after those 3
steps, and after 3 Nesterov steps from the same start (ResNet-18: lr 0.01,
because at lr 0.1 its batch-2 trajectory is chaotic and float32 rounding
differences grow to 1e-3 in three steps). Tensors with more than
FULL_MAX elements are stored as SAMPLES entries at sorted indices
(sample_idx/<name>) plus their norm (grad_norm/<name>), except the ResNet-20
gradients, which are stored in full.
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FULL_MAX = 4096
SAMPLES = 256
MOMENTUM, WD = 0.9, 5e-4
STEPS = 3


# ---- torchvision's ResNet module structure (v1.5), plus CIFAR stem ----

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2], False),
    "resnet34": (BasicBlock, [3, 4, 6, 3], False),
    "resnet50": (Bottleneck, [3, 4, 6, 3], False),
    "resnet101": (Bottleneck, [3, 4, 23, 3], False),
    "resnet20": (BasicBlock, [3, 3, 3], True),
    "resnet32": (BasicBlock, [5, 5, 5], True),
    "resnet56": (BasicBlock, [9, 9, 9], True),
}


class ResNet(nn.Module):
    """torchvision.models.ResNet's names; cifar=True: 3x3 s1 stem, no max
    pool, three stages of 16/32/64 channels. forward returns (features,
    logits, source logits or None)."""

    def __init__(self, arch, num_classes, in_channels=3, source_classes=0):
        super().__init__()
        block, layers, cifar = ARCHS[arch]
        self.inplanes = 16 if cifar else 64
        if cifar:
            self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        base = 16 if cifar else 64
        for i, n in enumerate(layers):
            setattr(self, "layer%d" % (i + 1),
                    self._make_layer(block, base << i, n, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        feat = (base << (len(layers) - 1)) * block.expansion
        self.nstages = len(layers)
        self.fc = nn.Linear(feat, num_classes)
        self.source_fc = nn.Linear(feat, source_classes) if source_classes else None

    def _make_layer(self, block, planes, blocks, stride):
        ds = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            ds = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        mods = [block(self.inplanes, planes, stride, ds)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.nstages):
            x = getattr(self, "layer%d" % (i + 1))(x)
        f = torch.flatten(self.avgpool(x), 1)
        s = self.source_fc(f) if self.source_fc is not None else None
        return f, self.fc(f), s


# ---- the shared weight generator (C twin: tests/engine/test_net_ref.h) ----

def hash_u(t, n):
    """n floats in [-1, 1) for tensor number t (its state_dict index):
    murmur3's fmix32 of i*0x9E3779B1 + (t+1)*0x85EBCA77 (mod 2^32), top 24
    bits scaled by 2^-23, minus 1 (exact in float32)."""
    with np.errstate(over="ignore"):
        h = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B1) + \
            np.uint32(((t + 1) * 0x85EBCA77) & 0xFFFFFFFF)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)


def ref_weights(model):
    """Fill every state_dict tensor from hash_u (all float32 arithmetic is
    one exact product or a single rounding, so C gets the same bits):
    conv w = u*sqrt(6/fan_in); bn weight 1+u/4, bias u/8, running_mean u/8,
    running_var 1.25+u/4; linear w, b = u/sqrt(fan_in); num_batches_tracked 0."""
    sd = model.state_dict()
    keys = list(sd.keys())
    new = {}
    for t, k in enumerate(keys):
        v = sd[k]
        if k.endswith("num_batches_tracked"):
            new[k] = torch.zeros_like(v)
            continue
        u = hash_u(t, v.numel()).reshape(v.shape)
        if v.dim() == 4:
            fan_in = v.shape[1] * v.shape[2] * v.shape[3]
            a = u * np.float32(math.sqrt(6.0 / fan_in))
        elif k.endswith("running_mean"):
            a = u * np.float32(0.125)
        elif k.endswith("running_var"):
            a = np.float32(1.25) + u * np.float32(0.25)
        elif ("fc." in k) and v.dim() == 2:
            a = u * np.float32(1.0 / math.sqrt(v.shape[1]))
        elif ("fc." in k):
            fan_in = sd[k.replace("bias", "weight")].shape[1]
            a = u * np.float32(1.0 / math.sqrt(fan_in))
        elif k.endswith("weight"):
            a = np.float32(1.0) + u * np.float32(0.25)
        else:
            a = u * np.float32(0.125)
        new[k] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    model.load_state_dict(new)
    return keys


# ---- the input step, as xm_backend.h specifies it ----

def crop_flip(img, y, x, s, flip):
    h, w, c = img.shape
    out = np.zeros((s, s, c), np.float64)
    for r in range(s):
        for q in range(s):
            yy, xx = y + r, x + q
            if 0 <= yy < h and 0 <= xx < w:
                out[r, q] = img[yy, xx]
    return out[:, ::-1] if flip else out


def input_mix(records, items, lam, mean, std, s):
    """records: list of uint8 HWC images; items rows: ia, ib (-1 none),
    ya, xa, yb, xb, flip_a, flip_b."""
    out = []
    for it, l in zip(items, lam):
        ia, ib, ya, xa, yb, xb, fa, fb = it
        a = crop_flip(records[ia], ya, xa, s, fa)
        v = a if ib < 0 else float(l) * a + (1.0 - float(l)) * crop_flip(records[ib], yb, xb, s, fb)
        out.append((v / 255.0 - mean) / std)
    return np.stack(out).astype(np.float32)  # NHWC


def soft(labels, lam, k, weights):
    t = np.zeros((len(labels), k), np.float32)
    for i, (ys, ws) in enumerate(zip(labels, weights)):
        for y, w in zip(ys, ws):
            t[i, y] += w
    return t


def xent(z, t):
    return -(t * F.log_softmax(z, 1)).sum(1).mean()


def store(g, name, arr, idx):
    a = np.asarray(arr, np.float32).reshape(-1)
    g.create_dataset(name, data=a if idx is None else a[idx])


def make_case(path, arch, cin, size, nclass, nsrc, batch, records, items, lam, mean, std,
              ya, yb, ysrc, grads_full, lr):
    torch.manual_seed(0)
    model = ResNet(arch, nclass, cin, nsrc)
    try:  # the real torchvision, when installed, must have the same names
        import torchvision
        if not ARCHS[arch][2]:
            tv = getattr(torchvision.models, arch)(num_classes=nclass)
            tv.conv1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
            keys = [k for k in model.state_dict() if not k.startswith("source_fc")]
            assert keys == list(tv.state_dict().keys())
            shapes = [tuple(v.shape) for v in tv.state_dict().values()]
            assert shapes == [tuple(model.state_dict()[k].shape) for k in keys]
    except ImportError:
        pass
    names = ref_weights(model)
    sd0 = {k: v.clone() for k, v in model.state_dict().items()}
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    x_nhwc = input_mix(records, items, lam, mean, std, size)
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()
    w_t = [[l, 1 - l] if it[1] >= 0 else [1.0] for it, l in zip(items, lam)]
    labels = [[a, b] if it[1] >= 0 else [a] for it, a, b in zip(items, ya, yb)]
    if nsrc:  # split labels: fc weighted by lambda, source_fc by 1 - lambda
        tgt = soft([[a] for a in ya], lam, nclass, [[l] for l in lam])
        tsrc = soft([[s] for s in ysrc], lam, nsrc, [[1 - l] for l in lam])
    else:
        tgt = soft(labels, lam, nclass, w_t)
        tsrc = None
    tgt_t = torch.from_numpy(tgt)
    tsrc_t = torch.from_numpy(tsrc) if tsrc is not None else None

    def loss_of(out):
        loss = xent(out[1], tgt_t)
        if tsrc_t is not None:
            loss = loss + xent(out[2], tsrc_t)
        return loss

    rng = np.random.default_rng(1234)
    sample = {}
    for k, v in sd0.items():
        if v.numel() > FULL_MAX:
            sample[k] = np.sort(rng.choice(v.numel(), SAMPLES, replace=False))

    f = h5py.File(path + ".tmp", "w")
    f.attrs.update(dict(arch=arch, in_channels=cin, input_size=size, num_classes=nclass,
                        source_classes=nsrc, batch=batch, lr=lr, momentum=MOMENTUM,
                        weight_decay=WD, steps=STEPS, full_max=FULL_MAX,
                        mean=mean.astype(np.float32), std=std.astype(np.float32),
                        torch_version=str(torch.__version__)))
    f.create_dataset("names", data=np.array(names, dtype=h5py.string_dtype()))
    flat = np.concatenate([r.reshape(-1) for r in records])
    offs = np.cumsum([0] + [r.size for r in records])
    it = np.zeros((batch, 12), np.int64)
    for i, (ia, ib, y0, x0, y1, x1, fa, fb) in enumerate(items):
        ra = records[ia]
        rb = records[ib] if ib >= 0 else ra
        it[i] = [offs[ia], offs[ib] if ib >= 0 else -1, ra.shape[0], ra.shape[1],
                 rb.shape[0], rb.shape[1], y0, x0, y1, x1, fa, fb]
    f.create_dataset("records", data=flat.astype(np.uint8))
    f.create_dataset("items", data=it)
    f.create_dataset("lam", data=np.asarray(lam, np.float32))
    f.create_dataset("x", data=x_nhwc)
    f.create_dataset("target", data=tgt)
    if tsrc is not None:
        f.create_dataset("target_source", data=tsrc)
    g = f.create_group("sample_idx")
    for k, idx in sample.items():
        g.create_dataset(k, data=idx.astype(np.int64))

    # eval mode with the generated running stats
    model.eval()
    with torch.no_grad():
        fe, le, _ = model(x)
    f.create_dataset("features_eval", data=fe.numpy())
    f.create_dataset("logits_eval", data=le.numpy())

    def train(nesterov):
        model.load_state_dict(sd0)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=WD,
                              nesterov=nesterov)
        losses = []
        for step in range(STEPS):
            opt.zero_grad()
            out = model(x)
            loss = loss_of(out)
            loss.backward()
            losses.append(loss.item())
            if step == 0 and not nesterov:
                f.create_dataset("features", data=out[0].detach().numpy())
                f.create_dataset("logits", data=out[1].detach().numpy())
                if out[2] is not None:
                    f.create_dataset("logits_source", data=out[2].detach().numpy())
                gg, gn = f.create_group("grad"), f.create_group("grad_norm")
                s1 = f.create_group("stats1")
                for k, p in model.named_parameters():
                    store(gg, k, p.grad, None if grads_full else sample.get(k))
                    gn.create_dataset(k, data=np.float64(p.grad.double().norm().item()))
                for k, b in model.named_buffers():
                    if "running" in k:
                        store(s1, k, b, None)
            opt.step()
        tag = "_nesterov" if nesterov else ""
        f.create_dataset("loss" + tag, data=np.asarray(losses, np.float64))
        g3 = f.create_group("params3" + tag)
        for k, p in model.named_parameters():
            store(g3, k, p.detach(), sample.get(k))
        if not nesterov:
            s3 = f.create_group("stats3")
            for k, b in model.named_buffers():
                if "running" in k:
                    store(s3, k, b, None)
        return losses

    l1 = train(False)
    l2 = train(True)
    f.close()
    os.replace(path + ".tmp", path)
    print("%s: %s losses %s, nesterov %s, %d bytes" % (path, arch, np.round(l1, 5),
          np.round(l2, 5), os.path.getsize(path)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "refs")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(7)

    def img(h, w, c):
        return rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)

    # a) ResNet-20, 1x28x28, batch 4, two heads
    recs = [img(32, 32, 1), img(28, 28, 1), img(30, 36, 1), img(32, 32, 1), img(26, 30, 1)]
    items = [(0, 1, 2, 2, 0, 0, 1, 0), (2, 3, -2, 5, 4, 4, 0, 1),
             (4, -1, -1, -1, 0, 0, 1, 0), (3, 0, 0, 4, 3, 1, 1, 1)]
    lam = [0.7, 0.35, 1.0, 0.5]
    make_case(os.path.join(out, "resnet20_ref.h5"), "resnet20", 1, 28, 10, 6, 4, recs, items,
              lam, [0.2860], [0.3530], ya=[3, 7, 1, 9], yb=[5, 0, 0, 9], ysrc=[2, 5, 0, 1],
              grads_full=True, lr=0.1)

    # b) ResNet-18, 3x64x64, batch 8, fc only
    recs = [img(72, 72, 3), img(64, 80, 3), img(70, 66, 3), img(64, 64, 3), img(60, 68, 3)]
    items = [(0, 1, 4, 4, 0, 8, 0, 1), (2, -1, -3, 2, 0, 0, 1, 0), (3, 4, 0, 0, -2, 1, 1, 1),
             (4, 0, 0, 2, 5, 5, 0, 0), (1, 2, 0, 10, 3, 1, 1, 0), (0, -1, 8, 8, 0, 0, 0, 0),
             (3, 1, 0, 0, 0, 16, 0, 1), (2, 3, 6, 2, 0, 0, 1, 1)]
    lam = [0.6, 1.0, 0.45, 0.8, 0.25, 1.0, 0.5, 0.9]
    make_case(os.path.join(out, "resnet18_ref.h5"), "resnet18", 3, 64, 10, 0, 8, recs, items,
              lam, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], ya=[2, 8, 1, 3, 4, 5, 6, 7],
              yb=[6, 0, 9, 3, 2, 0, 1, 8], ysrc=None, grads_full=False, lr=0.01)


if __name__ == "__main__":
    main()
