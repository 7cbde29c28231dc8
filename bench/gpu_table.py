#!/usr/bin/env python3
"""Make the GPU benchmark table (issue 4) from the logs of device_check.sh.

    python3 bench/gpu_table.py OUTDIR CARD DATE > results.md

Reads OUTDIR/torch_gpu.log (JSON lines of bench/torch_gpu.py) and
OUTDIR/xm_<mode>_<batch>_<prec>.log (bench_engine's output: a JSON line with
"images_per_s", or else the last "N images/s" / "N img/s" in the text).
Prints markdown: images/s of xm and PyTorch, the ratio xm/torch, and the
estimated fraction of the measured copy bandwidth (see torch_gpu.py).
A log xm_<mode>_<batch>_<prec>_<variant>.log is the row "<prec>+<variant>",
right after the plain row and compared with the same PyTorch row: _graph
(bench_engine --graph: the timed steps replay a captured CUDA graph),
_new (XM_CUDA_BN_RED=parts XM_CUDA_POOL_VEC=1: batch-norm reductions
without atomics, max pooling 8 channels per thread),
_find (XM_CUDNN_FIND=1: convolution algorithms measured by cudnnFind),
_profile (XM_CUDA_PROFILE=1, slowed by its events).
"""
import glob
import json
import os
import re
import sys


def json_lines(path):
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def xm_rate(path):
    """images/s from a bench_engine log, or None."""
    best = None
    for j in json_lines(path):
        for key in ("images_per_s", "img_per_s", "xm_images_per_s"):
            if isinstance(j.get(key), (int, float)):
                best = float(j[key])
    if best is not None:
        return best
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return None
    m = re.findall(r"([0-9]+(?:\.[0-9]+)?)\s*(?:images|imgs|img)/s", text)
    return float(m[-1]) if m else None


def main():
    outdir, card, date = sys.argv[1], sys.argv[2], sys.argv[3]
    torch_rows = json_lines(os.path.join(outdir, "torch_gpu.log"))
    probe = next((r for r in torch_rows if r.get("impl") == "probe"), {})
    bw = probe.get("copy_bytes_per_s")
    torch_by = {(r["mode"], r["batch"], r["precision"]): r
                for r in torch_rows if r.get("impl") == "torch"}
    keys = set(torch_by)
    for p in glob.glob(os.path.join(outdir, "xm_*_*_*.log")):
        m = re.match(r"xm_(train|infer)_(\d+)_(\w+)\.log$", os.path.basename(p))
        if m:
            keys.add((m.group(1), int(m.group(2)), m.group(3)))
    order = {"bf16": 0, "f16": 1, "tf32": 2, "f32": 3}
    base = lambda prec: prec.split("_")[0]
    print(f"# GPU benchmark: ResNet-50, 224 px, {card}, {date}\n")
    print(f"Device: {probe.get('device', card)}; PyTorch {probe.get('torch', '?')} eager, "
          "channels_last, cudnn.benchmark on, AMP bf16 for bf16, TF32 off for f32.")
    if bw:
        print(f"Measured device copy bandwidth: {bw / 1e9:.0f} GB/s (read + write).")
    print("Bandwidth fraction = images/s x estimated bytes per image (torch_gpu.py: leaf "
          "activations x2 inference, x6 training, plus weights) / copy bandwidth: a rough "
          "scale, not a measurement.\n")
    print("| mode | batch | precision | xm img/s | torch img/s | xm/torch | xm BW frac | torch BW frac |")
    print("|---|---|---|---|---|---|---|---|")
    for k in sorted(keys, key=lambda k: (k[0] != "train", order.get(base(k[2]), 9), k[1],
                                         k[2] != base(k[2]), k[2])):
        mode, batch, prec = k
        t = torch_by.get((mode, batch, base(prec)), {})
        tr = t.get("images_per_s")
        xr = xm_rate(os.path.join(outdir, f"xm_{mode}_{batch}_{prec}.log"))
        est = t.get("est_bytes_per_image")
        f = lambda v: f"{v:.1f}" if isinstance(v, (int, float)) else (t.get("error", "-")[:40] if v is tr and "error" in t else "-")
        ratio = f"{xr / tr:.2f}" if xr and tr else "-"
        xb = f"{xr * est / bw:.2f}" if xr and est and bw else "-"
        tb = f"{tr * est / bw:.2f}" if tr and est and bw else "-"
        shown = prec.replace("_", "+")
        print(f"| {mode} | {batch} | {shown} | {f(xr)} | {f(tr)} | {ratio} | {xb} | {tb} |")
    comp = [r for r in torch_rows if r.get("impl") == "torch_compile"]
    if comp:
        print("\nPyTorch with torch.compile (default mode), against xm's plain row:\n")
        for r in comp:
            mode, batch, prec = r.get("mode"), r.get("batch"), r.get("precision")
            cr = r.get("images_per_s")
            xr = xm_rate(os.path.join(outdir, f"xm_{mode}_{batch}_{prec}.log"))
            if not cr:
                what = r.get("error", "-")[:60]
            elif xr:
                what = f"{cr:.1f} img/s, xm/compile {xr / cr:.2f}"
            else:
                what = f"{cr:.1f} img/s"
            print(f"- {mode} {batch} {prec}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
