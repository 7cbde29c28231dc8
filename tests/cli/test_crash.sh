#!/bin/bash
# test_crash.sh: crash safety and exact resume (issue 8).
# 1. kill -9 trials for every writer: tests/cli/test_crash_writers.sh
#    (scripts/crash_trials.sh).
# 2. exact resume after kill -9: a fresh ResNet-20 trained 40 steps with
#    --ckpt-every 2, killed with -9 at three random moments after the first
#    checkpoint exists, resumed with --resume to the end: every tensor of the
#    final model equals the uninterrupted run's, bit for bit.
# 3. SIGTERM to a running xm-pack: exit 143 within 2 s, no final file, no
#    temporary file.
# Tiny images (12 px), so it runs in a few seconds. Needs /usr/bin/python3 with
# numpy and h5py (skip: 77).
set -u
BIN=${XM_BIN:?}
PACK="$BIN/xm-pack"; TRAIN="$BIN/xm-train"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
SRC=${XM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib.sh"
cli_setup crash

# 2. exact resume after kill -9
$PY "$CLI_DIR/idx_set.py" tgt 64 12 4 1 &&
    "$PACK" -q tgt-images-idx3-ubyte -o tgt.xms &&
    "$PACK" -q --mix none --target tgt.xms --steps 40 --batch 8 --seed 1 -o plan.h5 || { echo "FAIL: pack/plan"; exit 1; }
TR=(--ckpt-every 2 -j 1)
t0=$(date +%s%N)
expect 0 "$TRAIN" --arch resnet20 --init-seed 1 plan.h5 -o ref.h5 "${TR[@]}"
ms=$((($(date +%s%N) - t0) / 1000000))
ref=$($PY "$H5SUM" ref.h5 data)
steps=""
for band in 0 1 2; do   # three kill moments: early, middle, late in the run
    rm -f r.h5 r.ckpt.h5 .r.*
    "$TRAIN" --arch resnet20 --init-seed 1 plan.h5 -o r.h5 "${TR[@]}" 2>/dev/null & pid=$!
    for i in $(seq 1000); do [ -e r.ckpt.h5 ] && break; sleep 0.01; done
    d=$((ms * band / 4 + RANDOM % (ms / 4 + 1)))
    sleep "$((d / 1000)).$(printf %03d $((d % 1000)))"
    kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
    rm -f .r.*   # kill -9 may leave a temporary file
    if [ -e r.h5 ]; then
        steps="$steps end"   # the final model was published before the kill: nothing to resume
    else
        [ $rc = 137 ] || { echo "FAIL: killed run exit $rc, want 137"; fails=$((fails + 1)); }
        expect 0 "$TRAIN" --resume r.ckpt.h5 plan.h5 -o r.h5 "${TR[@]}"
        has err '^xm-train: resuming at step [0-9]+ of 40$'
        steps="$steps $(sed -n 's/^xm-train: resuming at step \([0-9]*\) of 40$/\1/p' err)"
    fi
    got=$($PY "$H5SUM" r.h5 data 2>/dev/null)
    [ "$got" = "$ref" ] || { echo "FAIL: resumed model differs from the uninterrupted run (kill band $band)"; fails=$((fails + 1)); }
done
echo "exact resume: resumed at steps$steps of 40 (uninterrupted run $ms ms)"

# 3. SIGTERM to a running xm-pack
F=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ -f $F ]; then in=$F; else
    $PY -c '
import numpy as np, struct
n = 60000
with open("big-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(np.random.default_rng(2).integers(0, 256, n * 784, dtype=np.uint8).tobytes())
with open("big-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n)); f.write((np.arange(n) % 10).astype(np.uint8).tobytes())'
    in=big-images-idx3-ubyte
fi
seen=0
for try in 1 2 3; do   # the pack may end before the temporary file is seen: try again
    rm -f sig.xms
    "$PACK" -q "$in" -o sig.xms 2>sigerr & pid=$!
    for i in $(seq 400); do ls -a | grep -q '^\.sig\.xms\.tmp\.' && break; sleep 0.005; done
    if ls -a | grep -q '^\.sig\.xms\.tmp\.'; then seen=1; break; fi
    wait $pid
done
if [ $seen = 1 ]; then
    ( exec >/dev/null 2>&1; sleep 10; kill -KILL $pid ) & watchdog=$!   # never hang the suite
    t0=$(date +%s%N)
    kill -TERM $pid; wait $pid; st=$?
    dt=$((($(date +%s%N) - t0) / 1000000))
    kill $watchdog 2>/dev/null; wait $watchdog 2>/dev/null
    echo "xm-pack SIGTERM: exit $st after $dt ms"
    [ "$st" = 143 ] || { echo "FAIL: SIGTERM exit $st, want 143"; cat sigerr; fails=$((fails + 1)); }
    [ $dt -le 2000 ] || { echo "FAIL: SIGTERM took $dt ms, want <= 2000"; fails=$((fails + 1)); }
    [ -e sig.xms ] && { echo "FAIL: output published after SIGTERM"; fails=$((fails + 1)); }
    ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary file left after SIGTERM"; fails=$((fails + 1)); }
else
    echo "FAIL: no temporary output of xm-pack seen in 3 tries"; fails=$((fails + 1))
fi

[ $fails = 0 ] && echo "test_crash: all passed"
exit $((fails > 0))
