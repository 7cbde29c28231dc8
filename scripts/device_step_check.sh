#!/usr/bin/env bash
# scripts/device_step_check.sh DEVICE BIN DIR [PREC]: xm-train's step time at
# the paper's scale (ResNet-50, 224 px, batch 64) for `none`, `xmixup` and
# `cotrain` plans through bench/bench_step.sh, with the data loader, the
# input step and the trainer's host work included. Against bench_engine's
# bare step (same batch and precision) it shows whether the GPU waits for
# data; xmixup against none is the mission's "within 3%" check. Data: 2,000
# synthetic 28 px images (a python3 with numpy) packed at 224 x 224 x 3 by
# xm-pack, the same set as target and source, pairs t -> t+1 mod 10
# (.xmdev/pairs10.h5, written by device_bundle.sh, or made with h5py).
# device_check.sh runs it on the GPU machine; on the CPU it checks the
# script (use a small arch there: ARCH=resnet18 SIZE=64). Env: ARCH
# (resnet50), SIZE (224), BATCH (64), STEPS (30), PAIRS (pairs file).
set -uo pipefail
dev=${1:?usage: device_step_check.sh cpu|cuda BIN DIR [PREC]}
bin=${2:?usage: device_step_check.sh cpu|cuda BIN DIR [PREC]}
dir=${3:?usage: device_step_check.sh cpu|cuda BIN DIR [PREC]}
prec=${4:-bf16}
here=$(cd "$(dirname "$0")/.." && pwd)
pairs=${PAIRS:-$here/.xmdev/pairs10.h5}
py=""
for c in /usr/bin/python3 python3; do "$c" -c 'import numpy' 2>/dev/null && { py=$c; break; }; done
[ -n "$py" ] || { echo "device_step_check: no python3 with numpy" >&2; exit 2; }
mkdir -p "$dir" && cd "$dir" || exit 2
# a second run in the same DIR (another variant) reuses the packed sets
if [ ! -f tgt.xms ] || [ ! -f src.xms ] || [ ! -f pairs.h5 ]; then
$py - <<'EOF' || { echo "device_step_check: cannot make the data" >&2; exit 2; }
import numpy as np, struct
rng = np.random.default_rng(11)
n = 2000
lab = np.arange(n) % 10
img = rng.normal(60 + 15 * lab[:, None, None], 50, (n, 28, 28))
with open("set-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(np.clip(img, 0, 255).astype(np.uint8).tobytes())
with open("set-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n)); f.write(lab.astype(np.uint8).tobytes())
EOF
if [ -f "$pairs" ]; then cp "$pairs" pairs.h5
else
    $py -c 'import h5py, numpy as np
f = h5py.File("pairs.h5", "w"); f["target"] = np.arange(10, dtype=np.int32)
f["source"] = (np.arange(10, dtype=np.int32) + 1) % 10' ||
        { echo "device_step_check: no pairs file and no h5py" >&2; exit 2; }
fi
"$bin/xm-pack" -q -f --size "${SIZE:-224}" --channels 3 set-images-idx3-ubyte -o tgt.xms &&
    cp tgt.xms src.xms || { echo "device_step_check: packing failed" >&2; exit 1; }
fi
XM_BENCH_DATA=$PWD bash "$here/bench/bench_step.sh" --bin "$bin" --device "$dev" \
    --arch "${ARCH:-resnet50}" --size "${SIZE:-224}" --batch "${BATCH:-64}" \
    --steps "${STEPS:-30}" --precision "$prec"
