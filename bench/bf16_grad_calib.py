#!/usr/bin/python3
"""How far do bf16 gradients of a random-init ResNet honestly sit from the
float32 ones? Calibration for tests/cuda/test_cuda_net.c's BF16 thresholds.

Run with Debian's python3 (python3-torch 1.13, CPU):

    /usr/bin/python3 bench/bf16_grad_calib.py

Same cases as test_cuda_net: ResNet-20 (1x28x28, batch 8, fc 10 + source_fc
6, split soft labels) and ResNet-18 (3x64x64, batch 4, fc 10), torchvision
initialisation (kaiming_normal_ fan_out, BN 1/0, as lib/engine/net_init.c),
random normal inputs, several seeds. Module structure from
scripts/make_torch_refs.py. For each case it prints the relative error
(sqrt(sum (g - g32)^2 / sum g32^2), the tests' metric) of the whole gradient
slab, the worst tensor, and train logits, against float64, and of eval-mode logits after one SGD step, for:

  f32     float32 (sanity: should be ~1e-6)
  xm      the CUDA backend's BF16 mode emulated: every conv / BN(+ReLU) /
          add(+ReLU) / max-pool output stored in bf16 (forward) and every
          activation gradient stored in bf16 (backward: the dy that cuDNN
          and the BN backward read are bf16), conv weights used in bf16,
          conv weight gradients produced in bf16 (cuDNN writes the filter
          gradient in the filter's dtype) then widened; BN statistics,
          BN reductions, pooled features and the heads in float32.
  amp     torch.autocast("cpu", bfloat16), PyTorch's own bf16 path.
"""
import importlib.util
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "mtr", os.path.join(HERE, "..", "scripts", "make_torch_refs.py"))
mtr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mtr)


def rbf(t):
    return t.to(torch.bfloat16).to(t.dtype)


class Q(torch.autograd.Function):
    """Store in bf16: forward rounds the value, backward rounds the gradient."""

    @staticmethod
    def forward(ctx, x):
        return rbf(x)

    @staticmethod
    def backward(ctx, g):
        return rbf(g)


EMU = {"on": False}


def q(x):
    return Q.apply(x) if EMU["on"] else x


class QConv(nn.Conv2d):
    def forward(self, x):
        if not EMU["on"]:
            return super().forward(x)
        return q(F.conv2d(x, Q.apply(self.weight), None, self.stride, self.padding))


class QBN(nn.BatchNorm2d):
    def forward(self, x):
        return q(super().forward(x))


def patch(model):
    """Swap every Conv2d/BatchNorm2d for the rounding twins (same params)."""
    for name, m in list(model.named_children()):
        if type(m) is nn.Conv2d:
            m.__class__ = QConv
        elif type(m) is nn.BatchNorm2d:
            m.__class__ = QBN
        else:
            patch(m)


def block_fwd(self, x):
    idt = x if self.downsample is None else self.downsample(x)
    out = q(F.relu(self.bn1(self.conv1(x))))
    out = self.bn2(self.conv2(out))
    return q(F.relu(out + idt))


def net_fwd(self, x):
    x = q(self.maxpool(q(F.relu(self.bn1(self.conv1(x))))))
    for i in range(self.nstages):
        x = getattr(self, "layer%d" % (i + 1))(x)
    f = torch.flatten(self.avgpool(x), 1)
    if f.dtype == torch.bfloat16:
        f = f.float()
    s = self.source_fc(f) if self.source_fc is not None else None
    return f, self.fc(f), s


mtr.BasicBlock.forward = block_fwd
mtr.ResNet.forward = net_fwd


def init(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) *
                               math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            b = 1.0 / math.sqrt(m.in_features)
            with torch.no_grad():
                m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * b)
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * b)


def grads(model, x, tgt, tsrc, mode):
    model.zero_grad()
    EMU["on"] = mode == "xm"
    dt = torch.float64 if mode == "f64" else torch.float32
    model.to(dt)
    xx = x.to(dt)
    if mode == "xm":
        xx = rbf(xx)
    if mode == "amp":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(xx)
    else:
        out = model(xx)
    logits = out[1].float()
    loss = -(tgt.to(dt) * F.log_softmax(out[1].to(dt), 1)).sum(1).mean()
    if tsrc is not None:
        loss = loss + -(tsrc.to(dt) * F.log_softmax(out[2].to(dt), 1)).sum(1).mean()
    loss.backward()
    g = {k: p.grad.detach().double().clone() for k, p in model.named_parameters()}
    # one SGD step as the test takes it (lr 0.1, momentum 0.9 (first step:
    # the buffer is the gradient), weight decay 5e-4), then eval-mode logits
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * (p.grad + 5e-4 * p)
        model.eval()
        if mode == "amp":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                ev = model(xx)[1].float()
        else:
            ev = model(xx)[1].float()
        model.train()
    EMU["on"] = False
    model.float()
    return g, logits.detach().double(), ev.double()


def rel(a, b):
    return math.sqrt(((a - b) ** 2).sum().item() / max((b ** 2).sum().item(), 1e-300))


def case(arch, cin, size, batch, ncls, nsrc, seed):
    torch.manual_seed(seed)
    model = mtr.ResNet(arch, ncls, cin, nsrc)
    patch(model)
    init(model, seed)
    model.train()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(batch, cin, size, size)
    lam = torch.rand(batch)
    tgt = torch.zeros(batch, ncls)
    tsrc = torch.zeros(batch, nsrc) if nsrc else None
    for i in range(batch):
        l = lam[i].item() if nsrc else 1.0
        tgt[i, i % ncls] += 0.7 * l
        tgt[i, (3 * i + 1) % ncls] += 0.3 * l
        if nsrc:
            tsrc[i, i % nsrc] += 1 - l
    res = {}
    for mode in ("f64", "f32", "xm", "amp"):
        model.load_state_dict(sd)  # running stats untouched between modes
        res[mode] = grads(model, x, tgt, tsrc, mode)
    ref, lref, eref = res["f64"]
    keys = list(ref)
    slab_ref = torch.cat([ref[k].reshape(-1) for k in keys])
    line = "%-8s seed %d:" % (arch, seed)
    for mode in ("f32", "xm", "amp"):
        g, lg, eg = res[mode]
        slab = torch.cat([g[k].reshape(-1) for k in keys])
        worst = max(keys, key=lambda k: rel(g[k], ref[k]))
        line += "  %s slab %.3g (worst %.3g %s) logits %.3g eval-after-SGD %.3g" % (
            mode, rel(slab, slab_ref), rel(g[worst], ref[worst]), worst, rel(lg, lref),
            rel(eg, eref))
    print(line, flush=True)


def main():
    torch.set_num_threads(2)
    seeds = [int(s) for s in sys.argv[1:]] or [1, 2, 3]
    for s in seeds:
        case("resnet20", 1, 28, 8, 10, 6, s)
    for s in seeds:
        case("resnet18", 3, 64, 4, 10, 0, s)


if __name__ == "__main__":
    main()
