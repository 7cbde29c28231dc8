#!/usr/bin/python3
"""torch_engine.py: PyTorch's images/s for the shapes bench_engine.c times:
one training step (forward, soft-label cross-entropy, backward, SGD with
momentum 0.9 and weight decay 5e-4) and one inference batch (eval mode,
no_grad), float32 on the CPU, NCHW (PyTorch's default).

    /usr/bin/python3 bench/torch_engine.py --arch resnet50 --batch 16 --size 224
        [--channels 3] [--threads N] [--steps N] [--warmup N] [--mode both]

Prints the same line format as bench_engine (or --json)."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_torch_refs import ResNet  # noqa: E402  (torchvision's structure + CIFAR)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--mode", default="both")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    size = a.size or (32 if a.arch in ("resnet20", "resnet32", "resnet56") else 224)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ResNet(a.arch, a.classes, a.channels)
    x = torch.rand(a.batch, a.channels, size, size) * 2 - 1
    t = F.one_hot(torch.arange(a.batch) % a.classes, a.classes).float()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad(set_to_none=True)
        _, z, _ = model(x)
        loss = -(t * F.log_softmax(z, 1)).sum(1).mean()
        loss.backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            model(x)

    for mode, fn in (("train", train_step), ("infer", infer_step)):
        if a.mode not in (mode, "both"):
            continue
        model.train(mode == "train")
        for _ in range(a.warmup):
            fn()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            fn()
        sec = time.perf_counter() - t0
        ips = a.batch * a.steps / sec
        if a.json:
            print(json.dumps(dict(arch=a.arch, channels=a.channels, size=size, batch=a.batch,
                                  mode=mode, device="cpu", threads=torch.get_num_threads(),
                                  img_per_s=round(ips, 2),
                                  ms_per_step=round(1e3 * sec / a.steps, 3))))
        else:
            print("%s %dx%dx%d batch %d %s: %.1f img/s, %.2f ms/step (torch %s, %d threads)" % (
                a.arch, a.channels, size, size, a.batch, mode, ips, 1e3 * sec / a.steps,
                torch.__version__, torch.get_num_threads()))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
