#!/bin/bash
# crash_trials.sh WRITERS N: kill -9 trials for every writer of xm (issue 8).
# WRITERS is "all" or a comma list of pack (xm-pack, .xms), mix (the plan
# writer xm-pack --mix), embed (xm-embed, features), centroid (xm-centroid),
# pair (xm-pair) and train (xm-train: its checkpoints and its final model).
#
# Each trial starts the writer, sleeps a random time in microseconds, sends
# SIGKILL, then classifies the final output name. The time: in trials 1-4,
# 9-12, ... anywhere from 0 to the writer's uninterrupted runtime (measured
# first), in trials 5-8, 13-16, ... from 1/2 to 3/2 of it, where the output
# is written and renamed. The outcomes:
#   absent    no file
#   old       the file that was there before the run (every other trial
#             starts with an older output in place and runs with --force)
#   complete  the tool's own reader accepts it and its content equals the
#             uninterrupted run's (.xms: xm-pack --verify and byte-for-byte;
#             HDF5: the next tool reads it, and one hash over every dataset
#             and attribute equals the reference's)
#   BROKEN    anything else
# The readers: xm-pack --verify (.xms), xm-train --stop-after 1 (plan),
# xm-centroid (features), xm-pair (centroids), xm-pack --mix (pairs of the
# small input), and for a checkpoint --resume to the end, which must give
# the uninterrupted run's final model bit for bit (every tensor; the
# attribute train_config records the resumed run's own options). xm-centroid and xm-pair
# finish in a few milliseconds, so every other trial of theirs runs on a
# larger input (200,000 features; 3,000 x 300 centroids of dimension 512).
# kill -9 cannot clean up, so a leftover ".tmp." file is allowed: counted
# under "leftovers" and removed before the next trial.
#
# Prints a table (writer, trials, absent, old, complete, BROKEN, leftovers)
# and exits 1 when any trial was BROKEN. Needs XM_BIN (the tools' directory,
# default build/bin next to this script) and /usr/bin/python3 with numpy and
# h5py (exit 77 without them). xm-train runs XM_CRASH_TRAIN_STEPS steps
# (default 40). CI runs 5 trials per writer, 20 training steps
# (tests/cli/test_crash_writers.sh); `scripts/crash_trials.sh all 24` is
# the full run of docs/reliability-crash.md.
set -u
WRITERS=${1:?usage: crash_trials.sh all|pack,mix,embed,centroid,pair,train N}
N=${2:?usage: crash_trials.sh all|pack,mix,embed,centroid,pair,train N}
BIN=${XM_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
H5SUM=$(cd "$(dirname "$0")/.." && pwd)/tests/cli/h5sum.py
CRASH_INPUTS=${H5SUM%/*}/crash_inputs.py
PACK="$BIN/xm-pack"; TRAIN="$BIN/xm-train"; EMBED="$BIN/xm-embed"
CENT="$BIN/xm-centroid"; PAIR="$BIN/xm-pair"
PY=/usr/bin/python3
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
[ "$WRITERS" = all ] && WRITERS=pack,mix,embed,centroid,pair,train
for w in ${WRITERS//,/ }; do
    case $w in pack | mix | embed | centroid | pair | train) ;;
    *) echo "crash_trials.sh: unknown writer '$w' (pack, mix, embed, centroid, pair, train or all)" >&2; exit 2 ;;
    esac
done
W=$(mktemp -d /tmp/xm_crash.XXXXXX)
if [ -n "${XM_CRASH_KEEP:-}" ]; then echo "crash_trials.sh: working directory $W (kept)" >&2
else trap 'rm -rf "$W"' EXIT; fi
cd "$W" || exit 1
broken_any=0

# usleep US: sleep without forking (read -t on a FIFO nobody writes)
mkfifo sleep.fifo && exec {SLEEPFD}<>sleep.fifo
usleep() { read -r -t "$(printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)))" -u "$SLEEPFD"; }
# rand_us MAX: a random number of microseconds, 0 .. MAX
rand_us() { echo $(((RANDOM << 15 | RANDOM) % ($1 + 1))); }
# kill_us TRIAL RUNTIME: when to kill: half the trials anywhere in 0 ..
# RUNTIME, the other half late, in 1/2 .. 3/2 of it (the writing and the
# rename come at the end of a run, and a loaded machine runs slower)
kill_us() {
    if [ $((($1 - 1) / 4 % 2)) = 0 ]; then rand_us "$2"; else echo $(($2 / 2 + $(rand_us "$2"))); fi
}
# us_of CMD...: runtime of a command in microseconds (its output discarded)
us_of() { local t0; t0=$(date +%s%N); ("$@") >/dev/null 2>&1; echo $((($(date +%s%N) - t0) / 1000)); }
# leftover: 0 when no temporary file is there, else 1 (and remove them)
leftover() {
    if ls -a | grep -q '\.tmp\.'; then rm -f .*.tmp.*; echo 1; else echo 0; fi
}

# ---- inputs ----
# a bigger IDX pair for xm-pack when Fashion-MNIST is not installed
big=""
[ -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || big=big:20000:28:10:noise
$PY "$CRASH_INPUTS" tgt:64:12:4 src:256:12:16 $big
[ -f big_ctgt.h5 ] || { echo "crash_trials.sh: cannot make the inputs" >&2; exit 1; }

# h5sum FILE [data]: one hash over every dataset and attribute (tests/cli/h5sum.py)
h5sum() { $PY "$H5SUM" "$@" 2>/dev/null; }

# the small pipeline every writer starts from
"$PACK" -q tgt-images-idx3-ubyte -o tgt.xms && "$PACK" -q src-images-idx3-ubyte -o src.xms &&
    "$PACK" -q --mix none --target tgt.xms --steps 2 --batch 8 --seed 1 -o p2.h5 &&
    "$TRAIN" -q --arch resnet20 --init-seed 1 p2.h5 -o model.h5 -j 1 &&
    "$EMBED" -q -m model.h5 src.xms -o fsrc.h5 && "$EMBED" -q -m model.h5 tgt.xms -o ftgt.h5 &&
    "$CENT" -q fsrc.h5 -o csrc.h5 && "$CENT" -q ftgt.h5 -o ctgt.h5 &&
    "$PAIR" -q --source csrc.h5 --target ctgt.h5 -o pairs.h5 >/dev/null &&
    "$PACK" -q --mix none --target tgt.xms --steps "${XM_CRASH_TRAIN_STEPS:-40}" --batch 8 --seed 1 -o trainplan.h5 ||
    { echo "crash_trials.sh: the uninterrupted small pipeline failed" >&2; exit 1; }

ROWS=""
row() { # writer trials absent old complete broken leftovers
    ROWS="$ROWS$(printf '%-16s %6s %6s %5s %8s %6s %9s' "$@")"$'\n'
    [ "$6" = 0 ] || broken_any=1
}

# trials NAME OUT VARIANTS: the generic loop. The caller defines
#   cmd_V         run variant V (0, 1, ...) of the writer to OUT, with --force
#   ok_V FILE     print the digest of FILE when the tool's reader accepts it
# and sets ref_V (the uninterrupted run's digest), us_V (its runtime), and
# OLD / old (a file to put in place first and its digest).
trials() {
    local name=$1 out=$2 nv=$3 i v d pid got absent=0 olds=0 complete=0 broken=0 left=0
    for i in $(seq "$N"); do
        v=$(((i - 1) % nv))
        rm -f "$out"
        [ $((((i - 1) / nv) % 2)) = 1 ] && cp "$OLD" "$out"   # half the trials replace an older output
        eval "d=\$(kill_us \$i \$us_$v)"
        "cmd_$v" >/dev/null 2>&1 & pid=$!
        usleep "$d"
        kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
        left=$((left + $(leftover)))
        if [ ! -e "$out" ]; then absent=$((absent + 1)); continue; fi
        got=$("ok_$v" "$out")
        if [ -n "$got" ] && eval "[ \"\$got\" = \"\$ref_$v\" ]"; then complete=$((complete + 1))
        elif [ -n "$got" ] && [ "$got" = "$old" ]; then olds=$((olds + 1))
        else
            broken=$((broken + 1))
            echo "$name: trial $i (variant $v, kill after $d us) left a BROKEN $out (kept as /tmp/xm_crash_broken_$i.${out##*.})" >&2
            cp "$out" "/tmp/xm_crash_broken_$i.${out##*.}"
        fi
    done
    rm -f "$out"
    row "$name" "$N" $absent $olds $complete $broken $left
}

# setup_ref V: run variant V uninterrupted to OUT, take its time and digest
setup_ref() {
    rm -f "$OUT"
    eval "us_$1=\$(us_of cmd_$1)"
    local r; r=$("ok_$1" "$OUT")
    [ -n "$r" ] || { echo "crash_trials.sh: the uninterrupted run ($1) of $2 is not accepted" >&2; return 1; }
    eval "ref_$1=\$r"
    rm -f "$OUT"
}

writer_pack() {
    local F=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
    [ -f "$F" ] || F=big-images-idx3-ubyte
    OUT=o.xms; OLD=tgt.xms
    cmd_0() { exec "$PACK" -q -f "$F" -o o.xms; }
    ok_0() { "$PACK" --verify "$1" >/dev/null 2>&1 && sha256sum <"$1" | cut -c1-64; }
    old=$(ok_0 "$OLD")
    setup_ref 0 xm-pack || { broken_any=1; return; }
    trials "xm-pack" o.xms 1
}

writer_mix() {
    OUT=o.h5
    cmd_0() { exec "$PACK" -q -f --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 \
        --steps 4000 --batch 32 --seed 1 -o o.h5; }
    # the reader: xm-train runs one step of the plan
    ok_0() { "$TRAIN" -q --arch resnet20 "$1" -o rd.h5 -f --stop-after 1 -j 1 >/dev/null 2>&1 && h5sum "$1"; }
    "$PACK" -q -f --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 \
        --steps 4000 --batch 32 --seed 2 -o old-plan.h5 || { broken_any=1; return; }
    OLD=old-plan.h5; old=$(ok_0 "$OLD")
    setup_ref 0 "xm-pack --mix" || { broken_any=1; return; }
    trials "xm-pack --mix" o.h5 1
}

writer_embed() {
    OUT=o.h5
    cmd_0() { exec "$EMBED" -q -f -m model.h5 src.xms -o o.h5; }
    ok_0() { "$CENT" -q -f "$1" -o rd.h5 >/dev/null 2>&1 && h5sum "$1"; }
    OLD=ftgt.h5; old=$(ok_0 "$OLD")
    setup_ref 0 xm-embed || { broken_any=1; return; }
    trials "xm-embed" o.h5 1
}

writer_centroid() {
    OUT=o.h5
    cmd_0() { exec "$CENT" -q -f fsrc.h5 -o o.h5; }
    cmd_1() { exec "$CENT" -q -f big_feat.h5 -o o.h5; }
    ok_0() { "$PAIR" -q -f --source "$1" --target "$1" -o rd.h5 >/dev/null 2>&1 && h5sum "$1"; }
    ok_1() { ok_0 "$@"; }
    OLD=ctgt.h5; old=$(ok_0 "$OLD")
    setup_ref 0 xm-centroid && setup_ref 1 xm-centroid || { broken_any=1; return; }
    trials "xm-centroid" o.h5 2
}

writer_pair() {
    OUT=o.h5
    cmd_0() { exec "$PAIR" -q -f --source csrc.h5 --target ctgt.h5 -o o.h5; }
    cmd_1() { exec "$PAIR" -q -f --source big_csrc.h5 --target big_ctgt.h5 -o o.h5; }
    ok_0() { "$PACK" -q -f --mix xmixup --target tgt.xms --partner src.xms --pairs "$1" \
        --steps 2 --batch 8 --seed 1 -o rd.h5 >/dev/null 2>&1 && h5sum "$1"; }
    ok_1() { h5sum "$1"; }   # no data sets behind these centroids: read back only
    "$PAIR" -q --source csrc.h5 --target ctgt.h5 --method random --seed 3 -o old-pairs.h5 >/dev/null ||
        { broken_any=1; return; }
    OLD=old-pairs.h5; old=$(ok_0 "$OLD")
    setup_ref 0 xm-pair && setup_ref 1 xm-pair || { broken_any=1; return; }
    trials "xm-pair" o.h5 2
}

# xm-train: its checkpoint (m.ckpt.h5, rewritten every step) and its model
# (m.h5). A checkpoint is complete when --resume from it reproduces the
# uninterrupted run's model exactly; an older checkpoint is as good as a
# newer one, so checkpoints are absent, complete or BROKEN.
writer_train() {
    local T=(--arch resnet20 --init-seed 1 trainplan.h5 --ckpt-every 1 -j 1)
    local ref old i d pid got c_abs=0 c_ok=0 c_bad=0 m_abs=0 m_old=0 m_ok=0 m_bad=0 left=0
    local us; us=$(us_of "$TRAIN" -q "${T[@]}" -o ref.h5)
    ref=$(h5sum ref.h5 data) || { echo "crash_trials.sh: the uninterrupted xm-train run is not readable" >&2; broken_any=1; return; }
    "$TRAIN" -q --arch resnet20 --init-seed 2 trainplan.h5 -o old-model.h5 -j 1 && old=$(h5sum old-model.h5 data) ||
        { broken_any=1; return; }
    for i in $(seq "$N"); do
        rm -f m.h5 m.ckpt.h5 r.h5 r.ckpt.h5
        [ $((i % 2)) = 0 ] && cp old-model.h5 m.h5
        d=$(kill_us "$i" "$us")
        "$TRAIN" -q -f "${T[@]}" -o m.h5 >/dev/null 2>&1 & pid=$!
        usleep "$d"
        kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
        left=$((left + $(leftover)))
        if [ ! -e m.ckpt.h5 ]; then c_abs=$((c_abs + 1))
        elif "$TRAIN" -q --resume m.ckpt.h5 trainplan.h5 -o r.h5 -j 1 >/dev/null 2>&1 &&
            [ "$(h5sum r.h5 data)" = "$ref" ]; then c_ok=$((c_ok + 1))
        else
            c_bad=$((c_bad + 1)); cp m.ckpt.h5 "/tmp/xm_crash_broken_$i.ckpt.h5"
            echo "xm-train: trial $i (kill after $d us) left a BROKEN m.ckpt.h5 (kept in /tmp)" >&2
        fi
        if [ ! -e m.h5 ]; then m_abs=$((m_abs + 1)); continue; fi
        got=$("$BIN/xm-probe" -m m.h5 tgt.xms >/dev/null 2>&1 && h5sum m.h5 data)   # xm-probe: the reader
        if [ -n "$got" ] && [ "$got" = "$ref" ]; then m_ok=$((m_ok + 1))
        elif [ -n "$got" ] && [ "$got" = "$old" ]; then m_old=$((m_old + 1))
        else
            m_bad=$((m_bad + 1)); cp m.h5 "/tmp/xm_crash_broken_$i.h5"
            echo "xm-train: trial $i (kill after $d us) left a BROKEN m.h5 (kept in /tmp)" >&2
        fi
    done
    row "xm-train ckpt" "$N" $c_abs 0 $c_ok $c_bad -
    row "xm-train model" "$N" $m_abs $m_old $m_ok $m_bad $left
}

for w in ${WRITERS//,/ }; do "writer_$w"; done
printf '%-16s %6s %6s %5s %8s %6s %9s\n' writer trials absent old complete BROKEN leftovers
printf '%s' "$ROWS"
exit $broken_any
