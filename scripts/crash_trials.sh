#!/bin/bash
# crash_trials.sh TOOL N: kill -9 trials for the writers. TOOL is pack, train
# or all. Each trial starts the tool, sleeps a random time ($RANDOM, 0 to
# 1.25 times its normal runtime, so some trials land after the end), sends
# SIGKILL, then classifies the final output:
#   absent    no file under the final name
#   complete  the file is whole: xm-pack --verify exits 0 (.xms); every
#             dataset of the model and of the checkpoint reads back with h5py,
#             and a final model equals the uninterrupted run's tensors (.h5)
#   broken    a file under the final name that fails the check
# kill -9 cannot clean up, so a leftover ".tmp." file is allowed (counted as
# tmp_left and removed before the next trial); a broken final file never is.
# Prints one line per tool:
#   xm-pack: trials N, absent A, complete C, broken B, tmp_left T
# and exits 1 when any trial was broken. Needs XM_BIN (the tools' directory,
# default build/bin next to this script) and /usr/bin/python3 with numpy
# and h5py (exit 77 without them). CI runs 8 trials per tool
# (tests/cli/test_crash.sh); run 20 or more by hand.
set -u
TOOL=${1:?usage: crash_trials.sh pack|train|all N}
N=${2:?usage: crash_trials.sh pack|train|all N}
BIN=${XM_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
PACK="$BIN/xm-pack"; TRAIN="$BIN/xm-train"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
case $TOOL in pack | train | all) ;; *) echo "crash_trials.sh: TOOL must be pack, train or all" >&2; exit 2 ;; esac
W=$(mktemp -d /tmp/xm_crash.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
broken_any=0

# random delay in seconds, 0 .. $1 ms
rsleep() { local ms=$((RANDOM % ($1 + 1))); sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"; }
# runtime of a command in ms
ms_of() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }

# the tiny training set: 64 images of 12 px, 4 classes
$PY - <<'EOF'
import numpy as np, struct
rng = np.random.default_rng(1)
n, side = 64, 12
lab = np.arange(n) % 4
px = np.clip(rng.normal(40 + 30 * lab[:, None], 20, (n, side * side)), 0, 255).astype(np.uint8)
with open("tgt-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, side, side)); f.write(px.tobytes())
with open("tgt-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n)); f.write(lab.astype(np.uint8))
# a bigger IDX pair for xm-pack when Fashion-MNIST is not installed
import os
if os.path.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"): raise SystemExit
n = 20000
lab = np.arange(n) % 10
px = rng.integers(0, 256, (n, 28 * 28), dtype=np.uint8)
with open("big-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(px.tobytes())
with open("big-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n)); f.write(lab.astype(np.uint8))
EOF

# h5sum FILE...: one hash over every dataset (name and bytes) of each FILE;
# exit 1 when a file does not read back
cat > h5sum.py <<'EOF'
import h5py, hashlib, sys
for path in sys.argv[1:]:
    h = hashlib.sha256()
    try:
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    h.update(name.encode()); h.update(obj[()].tobytes())
            f.visititems(visit)
    except Exception as e:
        print("unreadable %s: %s" % (path, e), file=sys.stderr); sys.exit(1)
    print(h.hexdigest())
EOF

report() { # name trials absent complete broken tmp_left
    echo "$1: trials $2, absent $3, complete $4, broken $5, tmp_left $6"
    [ "$5" = 0 ] || broken_any=1
}

trials_pack() {
    local F=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz in ms i pid
    local absent=0 complete=0 broken=0 tmp=0
    if [ -f "$F" ]; then in=$F; else in=big-images-idx3-ubyte; fi
    ms=$(ms_of "$PACK" -q "$in" -o ref.xms)
    "$PACK" --verify ref.xms >/dev/null || { echo "xm-pack: the uninterrupted pack does not verify" >&2; broken_any=1; return; }
    for i in $(seq "$N"); do
        rm -f p.xms .p.xms.tmp.*
        "$PACK" -q "$in" -o p.xms 2>/dev/null & pid=$!
        rsleep $((ms * 5 / 4))
        kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
        ls -a | grep -q '\.tmp\.' && tmp=$((tmp + 1))
        if [ ! -e p.xms ]; then absent=$((absent + 1))
        elif "$PACK" --verify p.xms >/dev/null 2>&1 && cmp -s p.xms ref.xms; then complete=$((complete + 1))
        else broken=$((broken + 1)); echo "xm-pack: trial $i left a broken p.xms" >&2; cp p.xms "/tmp/xm_crash_broken_$i.xms"
        fi
    done
    rm -f .*.tmp.*
    report xm-pack "$N" $absent $complete $broken $tmp
}

trials_train() {
    local ms i pid ref absent=0 complete=0 broken=0 tmp=0 ok
    "$PACK" -q tgt-images-idx3-ubyte -o tgt.xms &&
        "$PACK" -q --mix none --target tgt.xms --steps 40 --batch 8 --seed 1 -o plan.h5 || { broken_any=1; return; }
    ms=$(ms_of "$TRAIN" --arch resnet20 --init-seed 1 plan.h5 -o ref.h5 --ckpt-every 1 -j 1)
    ref=$($PY h5sum.py ref.h5) || { broken_any=1; return; }
    for i in $(seq "$N"); do
        rm -f m.h5 m.ckpt.h5 .m.*.tmp.* .m.h5.tmp.*
        "$TRAIN" --arch resnet20 --init-seed 1 plan.h5 -o m.h5 --ckpt-every 1 -j 1 2>/dev/null & pid=$!
        rsleep $((ms * 5 / 4))
        kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
        ls -a | grep -q '\.tmp\.' && tmp=$((tmp + 1))
        ok=1
        # the checkpoint under its final name: absent or whole
        if [ -e m.ckpt.h5 ] && ! $PY h5sum.py m.ckpt.h5 >/dev/null; then ok=0; fi
        if [ -e m.h5 ]; then
            [ "$($PY h5sum.py m.h5 2>/dev/null)" = "$ref" ] || ok=0
        fi
        if [ $ok = 0 ]; then
            broken=$((broken + 1)); echo "xm-train: trial $i left a broken m.h5 or m.ckpt.h5" >&2
            cp m.h5 "/tmp/xm_crash_broken_$i.h5" 2>/dev/null; cp m.ckpt.h5 "/tmp/xm_crash_broken_$i.ckpt.h5" 2>/dev/null
        elif [ -e m.h5 ]; then complete=$((complete + 1))
        else absent=$((absent + 1))
        fi
    done
    rm -f .*.tmp.*
    report xm-train "$N" $absent $complete $broken $tmp
}

case $TOOL in
pack) trials_pack ;;
train) trials_train ;;
all) trials_pack; trials_train ;;
esac
exit $broken_any
