#!/usr/bin/env bash
# scripts/device_train_check.sh DEVICE BIN DIR: xm-train end to end on DEVICE
# (cpu or cuda) with the tools in BIN, working in DIR: a synthetic 10-class
# 28 x 28 IDX set (a python3 with numpy), packed with
# xm-pack, a mixup plan, a ResNet-20 trained from scratch at each precision
# (f32, and tf32, bf16 and f16 on cuda; f16 with the dynamic loss scale),
# each probed on held-out images. Prints a table: precision, top-1, training
# seconds, images/s (from --metrics), and for f16 the final loss scale and
# the skipped steps.
# device_check.sh runs it on the GPU machine; on the CPU it checks the
# script itself. Env: STEPS (300), BATCH (128).
set -uo pipefail
dev=${1:?usage: device_train_check.sh cpu|cuda BIN DIR}
bin=${2:?usage: device_train_check.sh cpu|cuda BIN DIR}
dir=${3:?usage: device_train_check.sh cpu|cuda BIN DIR}
steps=${STEPS:-300} batch=${BATCH:-128}
py=""
for c in /usr/bin/python3 python3; do "$c" -c 'import numpy' 2>/dev/null && { py=$c; break; }; done
[ -n "$py" ] || { echo "device_train_check: no python3 with numpy" >&2; exit 2; }
mkdir -p "$dir" && cd "$dir" || exit 2
# classes differ by the orientation of a noisy bar; pixel noise makes the
# task imperfect, so precisions can disagree measurably
$py - <<'EOF' || { echo "device_train_check: cannot make the data" >&2; exit 2; }
import numpy as np, struct
rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:28, 0:28] - 13.5
def make(name, n):
    lab = rng.integers(0, 10, n)
    ang = lab * np.pi / 10 + rng.normal(0, 0.12, n)
    d = np.abs(np.cos(ang)[:, None, None] * yy - np.sin(ang)[:, None, None] * xx)
    img = 255 * np.exp(-d ** 2 / 8) + rng.normal(0, 60, (n, 28, 28))
    with open(name + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(np.clip(img, 0, 255).astype(np.uint8).tobytes())
    with open(name + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n)); f.write(lab.astype(np.uint8).tobytes())
make("train", 5000)
make("test", 2000)
EOF
"$bin/xm-pack" -q -f train-images-idx3-ubyte -o train.xms &&
    "$bin/xm-pack" -q -f test-images-idx3-ubyte -o test.xms &&
    "$bin/xm-pack" -q -f --mix mixup --alpha 0.4 --target train.xms --steps "$steps" --batch "$batch" \
        --seed 1 --input-size 28 --pad 2 --no-flip -o plan.h5 ||
    { echo "device_train_check: packing failed" >&2; exit 1; }
precs="f32"
[ "$dev" = cuda ] && precs="f32 tf32 bf16 f16"
status=0
printf '%-6s %-9s %-9s %s\n' precision top1 seconds images/s
for p in $precs; do
    t0=$(date +%s.%N)
    if "$bin/xm-train" -q -f --arch resnet20 --init-seed 1 plan.h5 --lr 0.1 --wd 5e-4 --device "$dev" \
        --precision "$p" --metrics "m-$p.jsonl" --log-every 50 -o "m-$p.h5" 2>"train-$p.err"; then
        t1=$(date +%s.%N)
        top1=$("$bin/xm-probe" -m "m-$p.h5" test.xms --device "$dev" 2>/dev/null |
            sed -n 's/.*"top1":\([0-9.]*\).*/\1/p')
        ips=$(sed -n 's/.*"images_per_s": *\([0-9.]*\).*/\1/p' "m-$p.jsonl" | tail -1)
        ls=$(sed -n 's/.*"loss_scale": *\([0-9.e+]*\), "skipped": *\([0-9]*\).*/ scale \1 skipped \2/p' "m-$p.jsonl" | tail -1)
        printf '%-6s %-9s %-9.1f %s%s\n' "$p" "${top1:-?}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "${ips:-?}" "$ls"
    else
        printf '%-6s FAILED: %s\n' "$p" "$(tail -1 "train-$p.err")"
        status=1
    fi
done
exit $status
