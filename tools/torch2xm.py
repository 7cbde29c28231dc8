#!/usr/bin/python3
"""torch2xm.py: convert torchvision ResNet weights to xm model files and back.

    torch2xm.py to-xm MODEL.pth -o MODEL.h5 [--arch A] [--classes FILE]
                [--input-size N] [--mean M,M,M] [--std S,S,S] [--force]
    torch2xm.py to-torch MODEL.h5 -o MODEL.pth [--target-only] [--force]
    torch2xm.py selftest DIR     (needs torchvision; exit 77 without it)

MODEL.pth is a state_dict (or a checkpoint dict holding one under
'state_dict' or 'model', or a pickled module); a 'module.' prefix from
DataParallel is removed. The architecture is detected from the keys
(resnet18/34/50/101, CIFAR resnet20/32/56); the file format is
formats/model.md: one float32 dataset per state_dict key (OIHW convs),
num_batches_tracked as int64 scalars, attributes arch, num_classes,
classes, input_size, in_channels, mean, std (and source_classes when a
source_fc head is present). Outputs are written to a temporary name and
renamed. Needs python3-torch and python3-h5py (Debian: run with
/usr/bin/python3).
"""
import argparse
import os
import re
import sys

import h5py
import numpy as np
import torch

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
BLOCKS = {  # (bottleneck, blocks per stage) -> arch
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (False, (3, 3, 3)): "resnet20",
    (False, (5, 5, 5)): "resnet32",
    (False, (9, 9, 9)): "resnet56",
}
DEFAULT_SIZE = {"resnet20": 32, "resnet32": 32, "resnet56": 32}


class Fail(Exception):
    pass


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise Fail("%s: not a state_dict" % path)
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def detect_arch(sd, path):
    if "conv1.weight" not in sd or "fc.weight" not in sd:
        raise Fail("%s: not a ResNet state_dict (conv1.weight or fc.weight missing)" % path)
    stages = []
    for s in range(1, 5):
        idx = {int(m.group(1)) for k in sd for m in [re.match(r"layer%d\.(\d+)\." % s, k)] if m}
        if not idx:
            break
        stages.append(max(idx) + 1)
    bottleneck = "layer1.0.conv3.weight" in sd
    arch = BLOCKS.get((bottleneck, tuple(stages)))
    if arch is None:
        raise Fail("%s: unknown ResNet layout (%s blocks %s)" %
                   (path, "bottleneck" if bottleneck else "basic", stages))
    return arch


def order_key(k):
    """torchvision's state_dict order: modules as defined, then tensor kind."""
    top = {"conv1": 0, "bn1": 1, "layer1": 2, "layer2": 3, "layer3": 4, "layer4": 5, "fc": 6,
           "source_fc": 7}
    sub = {"conv1": 0, "bn1": 1, "conv2": 2, "bn2": 3, "conv3": 4, "bn3": 5, "downsample": 6}
    leaf = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3,
            "num_batches_tracked": 4}
    p = k.split(".")
    r = [top.get(p[0], 99)]
    for q in p[1:-1]:
        r.append(int(q) if q.isdigit() else sub.get(q, 99))
    r.append(leaf.get(p[-1], 99))
    return r, k


def tmp_name(out):
    d, b = os.path.split(os.path.abspath(out))
    return os.path.join(d, ".%s.tmp.%d" % (b, os.getpid()))


def check_output(out, force):
    if os.path.exists(out) and not force:
        raise Fail("%s: exists (use --force to overwrite)" % out)


def floats(s, n, what):
    v = [float(x) for x in s.split(",")]
    if len(v) != n:
        raise Fail("--%s: expected %d values, got %d" % (what, n, len(v)))
    return v


def to_xm(args):
    check_output(args.output, args.force)
    sd = load_state_dict(args.input)
    arch = detect_arch(sd, args.input)
    if args.arch and args.arch != arch:
        raise Fail("%s: keys describe %s, not %s" % (args.input, arch, args.arch))
    cin = int(sd["conv1.weight"].shape[1])
    ncls = int(sd["fc.weight"].shape[0])
    nsrc = int(sd["source_fc.weight"].shape[0]) if "source_fc.weight" in sd else 0
    classes = [str(i) for i in range(ncls)]
    if args.classes:
        with open(args.classes, encoding="utf-8") as f:
            classes = [line.rstrip("\n") for line in f if line.strip()]
        if len(classes) != ncls:
            raise Fail("%s: %d class names for %d outputs" % (args.classes, len(classes), ncls))
    mean = IMAGENET_MEAN if cin == 3 else [0.5] * cin
    std = IMAGENET_STD if cin == 3 else [0.5] * cin
    if args.mean:
        mean = floats(args.mean, cin, "mean")
    if args.std:
        std = floats(args.std, cin, "std")
    size = args.input_size or DEFAULT_SIZE.get(arch, 224)
    tmp = tmp_name(args.output)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["arch"] = arch
            f.attrs["num_classes"] = np.int64(ncls)
            f.attrs["classes"] = np.array(classes, dtype=h5py.string_dtype())
            f.attrs["input_size"] = np.int64(size)
            f.attrs["in_channels"] = np.int64(cin)
            f.attrs["mean"] = np.asarray(mean, np.float32)
            f.attrs["std"] = np.asarray(std, np.float32)
            if nsrc:
                f.attrs["source_classes"] = np.array([str(i) for i in range(nsrc)],
                                                     dtype=h5py.string_dtype())
            f.attrs["format"] = "xm-model-1"
            for k in sorted(sd, key=order_key):
                v = sd[k]
                if k.endswith("num_batches_tracked"):
                    f.create_dataset(k, data=np.int64(v.item()))
                elif v.is_floating_point():
                    f.create_dataset(k, data=v.detach().to(torch.float32).numpy())
                else:
                    raise Fail("%s: tensor %s has dtype %s" % (args.input, k, v.dtype))
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print("%s: %s, %d classes%s, %d tensors" % (args.output, arch, ncls,
          ", source head %d" % nsrc if nsrc else "", len(sd)), file=sys.stderr)


def to_torch(args):
    check_output(args.output, args.force)
    sd = {}
    with h5py.File(args.input, "r") as f:
        if "arch" not in f.attrs:
            raise Fail("%s: not an xm model file (attribute arch missing)" % args.input)
        for k in f:
            if not isinstance(f[k], h5py.Dataset):
                continue  # checkpoint groups (optimizer state) are not weights
            if args.target_only and k.startswith("source_fc."):
                continue
            v = f[k][()]
            sd[k] = torch.tensor(v, dtype=torch.int64) if k.endswith(
                "num_batches_tracked") else torch.from_numpy(np.asarray(v, np.float32))
    sd = {k: sd[k] for k in sorted(sd, key=order_key)}
    detect_arch(sd, args.input)
    tmp = tmp_name(args.output)
    try:
        torch.save(sd, tmp)
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def selftest(args):
    """torchvision resnet18(weights=None) -> .pth -> .h5 -> .pth must be
    exact, and DIR/check.h5 holds an input (NHWC) and the eval-mode logits
    for the C test (tests/engine/test_model_torch.c)."""
    try:
        import torchvision
    except ImportError:
        print("torch2xm selftest: torchvision is not installed", file=sys.stderr)
        return 77
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = torchvision.models.resnet18(weights=None, num_classes=10)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial running stats and affine params
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(0.1 * torch.randn(mod.num_features, generator=g))
                mod.running_var.copy_(1 + 0.5 * torch.rand(mod.num_features, generator=g))
                mod.weight.copy_(1 + 0.2 * torch.randn(mod.num_features, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.num_features, generator=g))
                mod.num_batches_tracked.fill_(17)
    d = args.dir
    os.makedirs(d, exist_ok=True)
    pth, h5, back = (os.path.join(d, n) for n in ("r18.pth", "r18.h5", "back.pth"))
    torch.save(m.state_dict(), pth)
    ns = argparse.Namespace
    to_xm(ns(input=pth, output=h5, force=True, arch=None, classes=None, input_size=96,
             mean=None, std=None))
    to_torch(ns(input=h5, output=back, force=True, target_only=False))
    a, b = m.state_dict(), torch.load(back)
    if list(a) != list(b) or any(not torch.equal(a[k], b[k]) for k in a):
        print("torch2xm selftest: round trip differs", file=sys.stderr)
        return 1
    m.eval()
    x = torch.randn(2, 3, 96, 96, generator=g)
    with torch.no_grad():
        logits = m(x)
    with h5py.File(os.path.join(d, "check.h5"), "w") as f:
        f.create_dataset("x", data=x.permute(0, 2, 3, 1).contiguous().numpy())
        f.create_dataset("logits", data=logits.numpy())
    print("torch2xm selftest: round trip exact; wrote %s" % d, file=sys.stderr)
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="torch2xm.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-xm", help="torchvision state_dict (.pth) -> xm model (.h5)")
    a.add_argument("input")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--arch")
    a.add_argument("--classes", help="text file, one class name per line")
    a.add_argument("--input-size", type=int)
    a.add_argument("--mean")
    a.add_argument("--std")
    a.add_argument("--force", action="store_true")
    b = sub.add_parser("to-torch", help="xm model (.h5) -> state_dict (.pth)")
    b.add_argument("input")
    b.add_argument("-o", "--output", required=True)
    b.add_argument("--target-only", action="store_true", help="drop source_fc.*")
    b.add_argument("--force", action="store_true")
    c = sub.add_parser("selftest", help="round trip torchvision resnet18 (needs torchvision)")
    c.add_argument("dir")
    args = p.parse_args(argv)
    try:
        if args.cmd == "to-xm":
            to_xm(args)
        elif args.cmd == "to-torch":
            to_torch(args)
        else:
            return selftest(args)
    except (Fail, OSError, KeyError, RuntimeError, ValueError) as e:
        print("torch2xm.py: error: %s" % e, file=sys.stderr)
        return 65 if isinstance(e, (Fail, KeyError, ValueError)) else 74
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
