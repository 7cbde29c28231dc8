#!/bin/bash
# run-default.sh: the main job on the default data sets. Packs Fashion-MNIST
# (Debian's dataset-fashion-mnist) into out/ and prints its summary, then runs
# the quick variant of the default experiment end to end (pipelines/Makefile:
# printed-character source, OpenCV handwritten-digit target, pre-training,
# embed, centroids, pairing, the paper's methods and ablations, probes) and
# prints its results table (out/pipeline/results.md). Re-running reuses
# finished outputs (delete out/ to redo). XM_QUICK_ARGS passes extra make
# variables, e.g. XM_QUICK_ARGS='QUICK_SEEDS=1 QUICK_STEPS=100'.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${XM_BUILD:-build}/bin   # XM_BUILD: another build directory
FM=${XM_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
OUT=${XM_OUT:-out}
mkdir -p "$OUT"

# Fashion-MNIST class names, in label order (from the data set's README).
CLASSES="$OUT/fashion-mnist.classes"
printf '%s\n' T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot" > "$CLASSES"

for split in train t10k; do
    xms="$OUT/fmnist-$split.xms"
    if [ ! -f "$xms" ]; then
        "$BIN/xm-pack" "$FM/$split-images-idx3-ubyte.gz" --classes "$CLASSES" -o "$xms"
    fi
    "$BIN/xm-pack" --verify "$xms"
    "$BIN/xm-pack" --info "$xms"
done

# The default experiment, quick variant (about 20 minutes on 2 cores).
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
make -C pipelines quick -j"$(nproc 2>/dev/null || echo 2)" BIN="$(abs "$BIN")" OUT="$(abs "$OUT")/pipeline" ${XM_QUICK_ARGS:-}
