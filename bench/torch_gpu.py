#!/usr/bin/env python3
"""PyTorch side of the GPU benchmark (issue 4): ResNet-50 training steps and
inference batches, eager mode, channels_last, the same shapes as xm's
bench_engine, one JSON line per configuration on stdout.

    python3 bench/torch_gpu.py [--configs train:64:bf16,train:256:bf16,infer:256:bf16,...]
                               [--size 224] [--iters 10] [--warmup 3] [--device cuda]
                               [--compile]

--compile: the model through torch.compile (default mode; the warm-up
steps include the compilation), rows with "impl": "torch_compile".

A training step is forward, soft-label cross-entropy, backward and an SGD
step with momentum 0.9 and weight decay (as xm's step). bf16 = autocast
(AMP) bf16 with float32 master weights; f32 = float32 with TF32 disabled
(xm's F32 precision uses no TF32 either). cudnn.benchmark is on (the stronger
eager baseline). torchvision's resnet50 when importable, else an own
definition of the same network.

Also printed (first line, "probe"): the device name, the measured
device-to-device copy bandwidth (the practical memory-bandwidth limit), and
per configuration an estimate of the bytes an implementation must move per
image: the sum of every leaf module's output bytes (activations) times 2 for
inference (written once, read once) and times 6 for training (forward
write/read, and backward reading activations and writing/reading
gradients), plus the weights. It is a rough lower bound used only to put
images/s on a bandwidth scale.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def own_resnet50(num_classes=1000):
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

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + idt)

    class ResNet(nn.Module):
        def __init__(self, layers=(3, 4, 6, 3)):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make(64, layers[0], 1)
            self.layer2 = self._make(128, layers[1], 2)
            self.layer3 = self._make(256, layers[2], 2)
            self.layer4 = self._make(512, layers[3], 2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def _make(self, planes, blocks, stride):
            ds = None
            if stride != 1 or self.inplanes != planes * 4:
                ds = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes * 4))
            mods = [Bottleneck(self.inplanes, planes, stride, ds)]
            self.inplanes = planes * 4
            mods += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*mods)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def make_model(arch, num_classes):
    try:
        import torchvision
        return getattr(torchvision.models, arch)(num_classes=num_classes), "torchvision"
    except Exception:  # no torchvision, or an incompatible one
        if arch != "resnet50":
            raise
        return own_resnet50(num_classes), "own"


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def copy_bandwidth(dev):
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    if dev.type != "cuda":
        return None
    n = 1 << 28  # 1 GiB of float32
    a = torch.empty(n, dtype=torch.float32, device=dev)
    b = torch.empty_like(a)
    b.copy_(a)
    sync(dev)
    reps = 10
    t = time.perf_counter()
    for _ in range(reps):
        b.copy_(a)
    sync(dev)
    dt = time.perf_counter() - t
    del a, b
    torch.cuda.empty_cache()
    return 2.0 * 4 * n * reps / dt


def activation_bytes(model, x, dtype):
    """Sum of leaf modules' output bytes for one forward pass, per image."""
    total = [0]

    def hook(_m, _i, out):
        if torch.is_tensor(out):
            total[0] += out.numel() * (torch.finfo(dtype).bits // 8)

    hs = [m.register_forward_hook(hook) for m in model.modules() if len(list(m.children())) == 0]
    with torch.no_grad():
        model.eval()
        model(x[:2])
    for h in hs:
        h.remove()
    return total[0] / 2


def run(cfg, args, dev):
    mode, batch, prec = cfg
    torch.manual_seed(0)
    model, src = make_model(args.arch, args.classes)
    model = model.to(dev).to(memory_format=torch.channels_last)
    if args.compile:
        model = torch.compile(model)
    amp = prec == "bf16"
    adt = torch.bfloat16 if amp else torch.float32
    x = torch.randn(batch, 3, args.size, args.size, device=dev).to(memory_format=torch.channels_last)
    y = torch.softmax(torch.randn(batch, args.classes, device=dev), 1)
    act = activation_bytes(model, x, adt)
    wbytes = sum(p.numel() for p in model.parameters()) * 4
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
            loss = torch.sum(-y * F.log_softmax(out.float(), 1)) / batch
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer():
        with torch.no_grad(), torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                                             enabled=amp):
            model(x)

    fn = step if mode == "train" else infer
    model.train(mode == "train")
    for _ in range(args.warmup):
        fn()
    sync(dev)
    t = time.perf_counter()
    for _ in range(args.iters):
        fn()
    sync(dev)
    dt = (time.perf_counter() - t) / args.iters
    est = act * (6 if mode == "train" else 2) + wbytes * (4 if mode == "train" else 1) / batch
    res = {"impl": "torch_compile" if args.compile else "torch", "model": src, "mode": mode, "batch": batch, "precision": prec,
           "size": args.size, "step_ms": dt * 1e3, "images_per_s": batch / dt,
           "est_bytes_per_image": est, "torch": torch.__version__}
    del model, opt, x, y
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default="train:64:bf16,train:256:bf16,infer:256:bf16,"
                    "train:64:f32,train:256:f32,infer:256:f32")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"impl": "probe", "device": name, "copy_bytes_per_s": copy_bandwidth(dev),
                      "torch": torch.__version__}), flush=True)
    for c in args.configs.split(","):
        mode, batch, prec = c.split(":")
        try:
            print(json.dumps(run((mode, int(batch), prec), args, dev)), flush=True)
        except Exception as e:  # e.g. out of memory: report and go on
            print(json.dumps({"impl": "torch_compile" if args.compile else "torch",
                              "mode": mode, "batch": int(batch),
                              "precision": prec, "error": str(e)[:300]}), flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
