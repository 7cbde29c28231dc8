#!/bin/bash
# run-default.sh: the main job on the default data set (Fashion-MNIST from
# Debian's dataset-fashion-mnist). For now: pack the training and test sets
# into out/ and print their summaries. Later stages append here as their
# tools land. Re-running reuses finished outputs (delete out/ to redo).
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
