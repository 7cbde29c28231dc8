#!/bin/bash
# bench_embed.sh: xm-embed images/s against PyTorch inference of the same
# model on the same cores, side by side:
#   1. Fashion-MNIST test set (10,000 28x28 gray, padded to 32) with a CIFAR
#      ResNet-20 (1 input channel);
#   2. a few hundred photos (bench/make_photos.py, resized to 256, center
#      crop 224) with a torchvision ResNet-50.
# Both models get random weights (bench/torch_embed.py save). xm-embed is
# timed end to end by its own final line (reading and decoding the .xms in
# its loader thread, forward, writing the features file); PyTorch times only
# its forward passes on tensors prepared in advance, so the comparison
# favours PyTorch. Also reports the largest relative difference between the
# two feature sets.
#
#   bench/bench_embed.sh [BUILD_DIR] [THREADS] [PER_CLASS]
#       defaults: build, all cores (nproc), 20 photos per class (12 classes)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
THREADS=${2:-$(nproc)}
PER=${3:-20}
BIN=$BUILD/bin
PY=/usr/bin/python3
FM=${FMNIST:-/usr/share/datasets/fashion-mnist}
W=$(mktemp -d /tmp/xm_bench_embed.XXXXXX)
trap 'rm -rf "$W"' EXIT

echo "bench_embed: $(nproc) cores, $THREADS threads, $(uname -m), torch $($PY -c 'import torch; print(torch.__version__)')" >&2
"$BIN/xm-pack" "$FM/t10k-images-idx3-ubyte.gz" --idx-labels "$FM/t10k-labels-idx1-ubyte.gz" -o "$W/fm.xms" -q
$PY "$SRC/bench/make_photos.py" "$W/photos" "$PER" >&2
"$BIN/xm-pack" "$W/photos" --size 256 -o "$W/photos.xms" -q
$PY "$SRC/bench/torch_embed.py" save resnet20 1 32 10 "$W/r20.h5"
$PY "$SRC/bench/torch_embed.py" save resnet50 3 224 1000 "$W/r50.h5"

# run NAME MODEL XMS KIND PATH BATCH
run() {
    local xm th
    xm=$("$BIN/xm-embed" -m "$2" "$3" -o "$W/$1.feat.h5" --batch "$6" --threads "$THREADS" --device cpu --json -q)
    th=$($PY "$SRC/bench/torch_embed.py" time "$2" "$4" "$5" "$6" "$THREADS" "$W/$1.feat.h5")
    $PY - "$1" "$xm" "$th" <<'EOF'
import json, sys
name, xm, th = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print("%-22s %7d %10.1f %10.1f %7.2f %12.2e" % (name, xm["images"], xm["images_per_s"],
      th["images_per_s"], xm["images_per_s"] / th["images_per_s"], th["max_rel_diff_vs_xm"]))
EOF
}
printf "%-22s %7s %10s %10s %7s %12s\n" "case" "images" "xm img/s" "torch img/s" "ratio" "max rel diff"
run "fmnist resnet20 b128" "$W/r20.h5" "$W/fm.xms" idx "$FM/t10k-images-idx3-ubyte.gz" 128
run "photos resnet50 b32" "$W/r50.h5" "$W/photos.xms" folder "$W/photos" 32
