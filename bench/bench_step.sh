#!/bin/bash
# bench_step.sh: training step time of `none`, `xmixup` and `cotrain` plans
# on the same model and batch size, side by side, with the ratios to
# `none`. The paper: XMixup costs about what plain fine-tuning costs,
# Co-Train at least twice (it runs B target + B source samples a step).
#
#   bench/bench_step.sh [--bin DIR] [--device cpu|cuda] [--arch resnet20]
#                       [--size 28] [--batch 32] [--steps 30] [--threads N]
#                       [--precision f32|tf32|bf16|f16]
#
# Data: Fashion-MNIST train (target) and test (standing in for the source
# set; pairs t -> (t+1) mod 10 written with /usr/bin/python3 + h5py). With
# --size S != 28 the images are packed at S x S x 3 (first 10,000 test
# images as the target, and again as the source). Step time = the mean of
# the metrics windows after the first (the first third of the steps is
# warm-up: plans, allocations, caches). "data wait ms": per step, the time
# the trainer sat blocked on its loader thread over the same windows (the
# metrics' data_wait_ms): above zero, the device waits for data. "loader
# img/s": bench/bench_loader.c, the loader thread alone on the same plan
# (slots per second): what the data path could feed.
# XM_BENCH_DATA=DIR: use DIR's
# tgt.xms, src.xms and pairs.h5 instead (no packing, no Python).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=$here/build/bin
DEV=cpu ARCH=resnet20 SIZE=28 BATCH=32 STEPS=30 THREADS=0 PREC=f32
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) BIN=$(cd "$2" && pwd); shift ;;
    --device) DEV=$2; shift ;;
    --arch) ARCH=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --precision) PREC=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_step.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
FM=${XM_FMNIST:-/usr/share/datasets/fashion-mnist}
PY=${XM_PY:-/usr/bin/python3}
DATA=
[ -z "${XM_BENCH_DATA:-}" ] || DATA=$(cd "$XM_BENCH_DATA" && pwd)
W=$(mktemp -d /tmp/xm_bench_step.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
if [ -n "$DATA" ]; then   # prepared tgt.xms, src.xms, pairs.h5 (e.g. a GPU machine)
    for f in tgt.xms src.xms pairs.h5; do ln -s "$DATA/$f" $f; done
elif [ "$SIZE" = 28 ]; then
    "$BIN/xm-pack" -q "$FM/train-images-idx3-ubyte.gz" -o tgt.xms
    "$BIN/xm-pack" -q "$FM/t10k-images-idx3-ubyte.gz" -o src.xms
else
    "$BIN/xm-pack" -q --size "$SIZE" --channels 3 "$FM/t10k-images-idx3-ubyte.gz" -o tgt.xms
    cp tgt.xms src.xms
fi
[ -e pairs.h5 ] || $PY - <<'EOF'
import h5py, numpy as np
with h5py.File("pairs.h5", "w") as f:
    f["target"] = np.arange(10, dtype=np.int32)
    f["source"] = (np.arange(10, dtype=np.int32) + 1) % 10
EOF
common=(--steps "$STEPS" --batch "$BATCH" --seed 1 --input-size "$SIZE")
"$BIN/xm-pack" -q --mix none --target tgt.xms "${common[@]}" -o none.h5
"$BIN/xm-pack" -q --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 "${common[@]}" -o xmixup.h5
"$BIN/xm-pack" -q --mix cotrain --target tgt.xms --partner src.xms --pairs pairs.h5 "${common[@]}" -o cotrain.h5
win=$((STEPS / 3))
[ $win -ge 1 ] || win=1
printf '%-8s %-6s %-9s %-5s %5s %6s %10s %12s %8s %14s %14s\n' plan device arch prec size batch slots "ms/step" "vs none" "data wait ms" "loader img/s"
base=
for p in none xmixup cotrain; do
    "$BIN/xm-train" -q --arch "$ARCH" --init-seed 1 "$p.h5" -o "$p.model.h5" --device "$DEV" \
        -j "$THREADS" --metrics "$p.jsonl" --log-every "$win" --schedule constant --precision "$PREC"
    slots=$([ $p = cotrain ] && echo $((2 * BATCH)) || echo "$BATCH")
    # windows after the first: ms/step = 1000 * slots / images_per_s
    ms=$(tail -n +2 "$p.jsonl" | sed -n 's/.*"images_per_s": \([0-9.]*\).*/\1/p' |
        awk -v s="$slots" '{t += 1000 * s / $1; n++} END {if (n) printf "%.1f", t / n}')
    # the trainer blocked on the loader, ms per step, same windows
    wait=$(tail -n +2 "$p.jsonl" | sed -n 's/.*"data_wait_ms": \([0-9.]*\).*/\1/p' |
        awk '{t += $1; n++} END {if (n) printf "%.2f", t / n}')
    # the loader alone on the same plan (bench_loader, when built): slots/s
    lrate=-
    [ -x "$BIN/bench_loader" ] &&
        { lrate=$("$BIN/bench_loader" "$p.h5" --json | sed -n 's/.*"images_per_s": \([0-9.]*\).*/\1/p') ||
            lrate=-; }
    [ -n "$base" ] || base=$ms
    printf '%-8s %-6s %-9s %-5s %5s %6s %10s %12s %8s %14s %14s\n' "$p" "$DEV" "$ARCH" "$PREC" "$SIZE" "$BATCH" "$slots" "$ms" \
        "$(awk -v a="$ms" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')" "$wait" "${lrate:--}"
done
