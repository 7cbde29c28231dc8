#!/bin/bash
# test_crash_make.sh: `make -j2` on the pipelines after a SIGKILL (issue 8).
# A tiny pipeline (pipelines/Makefile `results` with the XMixup row only:
# 1 seed, 10 pre-training and 10 fine-tuning steps of 16, one render per
# font) is killed with SIGKILL, make and all its children at once, at a
# random moment: just after a random milestone file appears (the packed
# characters, the pre-trained model, the source features, the pairs, the
# tuned model) plus 0-500 ms. Then `make -j2` again must finish; every
# target file must be complete (.xms: xm-pack --verify; .h5: reads back
# whole; .json: parses; results.md/csv, pairing table, montage, timing
# beside each tuned model present); every target finished before the kill
# must be untouched (same inode and mtime); and `make -q` must say up to
# date. XM_CRASH_MAKE_MILESTONE (0-4) and XM_CRASH_MAKE_DELAY_MS pick the
# moment. OpenCV's digit sheet comes from build/pipeline-cache as in
# test_pipeline_quick.sh (skip: 77 without it). About 40 s on 2 cores.
set -u
BIN=${XM_BIN:?}; SRC=${XM_SRC:?}
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
[ -x "$BIN/xmpl-chars" ] || { echo "skipped: no xmpl-chars (built only with FreeType)"; exit 77; }
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
digits_png "$BIN" "$SRC"
cli_setup crash_make
mgid=""
trap '[ -n "$mgid" ] && kill -KILL -- -"$mgid" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
mkdir -p run/data
cp "$DIGITS_PNG" run/data/
MK=(-C "$SRC/pipelines" results BIN="$BIN" OUT="$T/run" SEEDS=1 STEPS=10 PRESTEPS=10 BATCH=16
    CHARS_PER_FONT=1 METHODS=xmixup)
E=run/chars-digits-resnet20-10
MILESTONES=(run/data/chars-train.xms run/pre/chars-resnet20-10.h5 $E/feat/src.h5 $E/pairs/greedy-s1.h5
            $E/tuned/xmixup-s1.h5)
m=${XM_CRASH_MAKE_MILESTONE:-$((RANDOM % ${#MILESTONES[@]}))}
delay=${XM_CRASH_MAKE_DELAY_MS:-$((RANDOM % 501))}

# 1. the run, killed
t0=$(date +%s%N)
setsid make -j2 "${MK[@]}" >log1 2>&1 & pid=$!
sleep 0.2
mgid=$(ps -o pgid= -p $pid | tr -d ' ')
[ -n "$mgid" ] || { echo "FAIL: make ended at once"; cat log1; exit 1; }
while [ ! -e "${MILESTONES[$m]}" ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
kill -KILL -- -"$mgid" 2>/dev/null; wait $pid 2>/dev/null; st=$?
for i in $(seq 50); do pgrep -g "$mgid" >/dev/null || break; sleep 0.1; done   # all of the group gone
mgid=""
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $st = 0 ]; then echo "note: make finished before the kill (milestone $m + $delay ms)"; fi

# the targets (not the temporary or side files) there after the kill
targets() {
    find run -type f \( -name '*.xms' -o -name '*.h5' -o -name '*.json' -o -name 'results.md' -o -name 'digits.png' \) \
        ! -name '*.ckpt.h5' ! -name '.*' ! -name '*.part*' ! -name '*.tmp*' -printf '%p %i %T@\n' | sort
}
targets >before
left=$(find run -name '*.tmp*' -o -name '*.part*' -o -name '*.raw' | wc -l)
echo "killed at milestone $m (${MILESTONES[$m]##*/}) + $delay ms, $ms ms after the start:" \
    "$(wc -l <before) targets finished, $left temporary files (kill -9 leaves them)"

# 2. make -j2 again finishes
t1=$(date +%s%N)
make -j2 "${MK[@]}" >log2 2>&1; rc=$?
[ $rc = 0 ] || { echo "FAIL: make after the kill: exit $rc"; tail -20 log2; fails=$((fails + 1)); }
targets >after
rebuilt=$(grep -c "^$BIN/\|^t0=" log2)
echo "rerun: exit $rc in $((($(date +%s%N) - t1) / 1000000)) ms, $rebuilt commands," \
    "$(($(wc -l <after) - $(wc -l <before))) targets made"

# 3. nothing finished before the kill was made again
while read -r f ino mt; do
    now=$(grep "^$f " after)
    [ "$now" = "$f $ino $mt" ] || { echo "FAIL: $f was rebuilt ($f $ino $mt -> ${now:-gone})"; fails=$((fails + 1)); }
done <before

# 4. every target complete
for f in $(cut -d' ' -f1 after); do
    case $f in
    *.xms) "$BIN/xm-pack" --verify "$f" >/dev/null 2>&1 || { echo "FAIL: $f does not verify"; fails=$((fails + 1)); } ;;
    *.h5) $PY -c '
import h5py, sys
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)' "$f" 2>/dev/null ||
        { echo "FAIL: $f does not read back"; fails=$((fails + 1)); } ;;
    *.json) $PY -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$f" 2>/dev/null ||
        { echo "FAIL: $f does not parse"; fails=$((fails + 1)); } ;;
    esac
done
for f in $E/tuned/xmixup-s1.h5 $E/probe/xmixup-s1.json run/results.md run/results.csv $E/pairs/greedy-s1.png; do
    [ -s "$f" ] || { echo "FAIL: missing $f"; fails=$((fails + 1)); }
done
has run/results.csv '^xmixup,0\.[0-9]{4},0\.0000,1,[0-9.]+$'   # the timing beside the tuned model was there
has $E/pairs/greedy-s1.txt '^round +target +source +similarity +samples$'
[ "$(grep -c '^[0-9]' $E/pairs/greedy-s1.txt)" = "$($PY -c '
import h5py, sys; print(len(h5py.File(sys.argv[1])["target"]))' $E/pairs/greedy-s1.h5)" ] ||
    { echo "FAIL: the pairing table does not list every pair"; fails=$((fails + 1)); }

# 5. up to date
make -q "${MK[@]}"; q=$?
[ $q = 0 ] || { echo "FAIL: make -q after the rerun: exit $q (not up to date)"; fails=$((fails + 1)); }

[ $fails = 0 ] && echo "test_crash_make: all passed"
exit $((fails > 0))
