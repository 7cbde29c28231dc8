#!/bin/bash
# bench_pack.sh: xm-pack throughput against a Python + PIL script doing the
# same decode/resize/write on the same cores, and .xms read throughput
# against `zstd -b` on the same pixel bytes. Prints a table (not a test).
#
#   bench/bench_pack.sh [BUILD_DIR]        (default build/)
#
# Data: (a) Fashion-MNIST train (60k, 28x28, Debian's dataset-fashion-mnist);
# (b) 480 real JPEG photos (about 500 x 375, quality 90) cut by
# bench/make_photos.py from the 12 nature photographs of Debian's
# mate-backgrounds package (installed here with apt-get when missing and
# running as root), packed at --size 256.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
PACK=$B/bin/xm-pack
W=bench/out
mkdir -p "$W"
NC=$(nproc)
FM=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
[ -x "$PACK" ] || { echo "bench: build first (scripts/setup.sh)" >&2; exit 1; }

cc -O2 -o "$W/xms_read" bench/xms_read.c -Ilib/core -Ilib/data "$B/libxm_data.a" "$B/libxm_core.a" -lzstd -lturbojpeg -lpthread -lm

# Debian packages the bench needs: the photos, and zstd for the Python baseline.
for p in mate-backgrounds python3-zstandard; do
    if ! dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' && [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $p </dev/null >/dev/null
    fi
done
if [ ! -d "$W/photos" ] && [ -d /usr/share/backgrounds/mate/nature ]; then
    /usr/bin/python3 bench/make_photos.py "$W/photos" 40 >&2
fi

# secs CMD...: "WALL CPU" seconds (CPU = user + sys, children included, which
# is the fairer number on a loaded machine).
secs() { local TIMEFORMAT='%R %U %S' t; t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ); echo "$t" | awk '{printf "%.2f %.2f", $1, $2 + $3}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }
row() { printf '%-34s %10s %12s %10s\n' "$@"; }
row5() { printf '%-28s %8s %8s %10s %10s %10s\n' "$@"; }

echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
echo "machine: $NC cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo
row5 "pack ($NC thr/procs)" "wall s" "CPU s" "images/s" "img/CPU-s" "CPU vs PIL"
row5 "----" "------" "-----" "--------" "---------" "----------"
bench_pack() { # name input n_images args...
    local name=$1 in=$2 n=$3; shift 3
    rm -f "$W/$name.xms"
    local x p sz=0 prev=
    x=($(secs "$PACK" "$in" -o "$W/$name.xms" --threads "$NC" "$@"))
    for a in "$@"; do [ "$prev" = "--size" ] && sz=$a; prev=$a; done
    p=($(secs /usr/bin/python3 bench/pil_pack.py --procs "$NC" --size "$sz" "$in" "$W/$name.pil.raw"))
    row5 "$name: xm-pack" "${x[0]}" "${x[1]}" "$(calc %.0f "$n / ${x[0]}")" "$(calc %.0f "$n / ${x[1]}")" \
        "$(calc %.2f "${p[1]} / ${x[1]}")x faster"
    row5 "$name: Python+PIL" "${p[0]}" "${p[1]}" "$(calc %.0f "$n / ${p[0]}")" "$(calc %.0f "$n / ${p[1]}")" "1.00x"
}
bench_pack fmnist "$FM" 60000
[ -d "$W/photos" ] && bench_pack photos "$W/photos" 480 --size 256
if [ -d "$W/photos" ]; then   # the lossy codec, same input (no PIL equivalent run)
    rm -f "$W/photos-jpeg.xms"
    x=($(secs "$PACK" "$W/photos" -o "$W/photos-jpeg.xms" --threads "$NC" --size 256 --codec jpeg))
    row5 "photos: xm-pack --codec jpeg" "${x[0]}" "${x[1]}" "$(calc %.0f "480 / ${x[0]}")" "$(calc %.0f "480 / ${x[1]}")" ""
fi

echo
row "read (1 thread)" "MB/s" "records/s" ""
row "----" "----" "---------" ""
for name in fmnist photos photos-jpeg; do
    [ -f "$W/$name.xms" ] || continue
    for order in seq random; do
        r=$("$W/xms_read" --order $order "$W/$name.xms")
        row "$name .xms $order" "$(echo "$r" | awk '{print $3}')" "$(echo "$r" | awk '{print $1}')" ""
    done
    if [ "$name" != photos-jpeg ]; then
        "$W/xms_read" --raw "$W/$name.raw" "$W/$name.xms" >/dev/null
        z=$(zstd -b3 -B16384 "$W/$name.raw" 2>&1 | tr '\r' '\n' | grep -Eo '[0-9.]+ MB/s' | tail -1)
        row "$name zstd -b3 -B16K (decompress)" "${z% MB/s}" "" ""
    fi
    ratio=$("$PACK" --info "$W/$name.xms" | awk '/ratio/ {print $2}')
    echo "  $name: $("$PACK" --info "$W/$name.xms" | awk '/file / {print $2}') bytes, pixels/file $ratio"
done
