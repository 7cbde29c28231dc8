#!/bin/bash
# test_pipeline_quick.sh: the quick variant of the default experiment,
# reduced to a few steps (1 seed, 10 pre-training and 10 fine-tuning steps,
# one render per font), runs end to end from the tools in XM_BIN and writes
# results.md and results.csv with a row for every method of Table 1 and the
# ablations, then the forgetting table and the plots. The numbers themselves are meaningless at this size; the point
# is that every stage runs and chains. OpenCV's digit sheet is fetched once
# (apt-get download opencv-doc) into build/pipeline-cache; skipped (77) when
# it cannot be had.
set -u
BIN=${XM_BIN:?}; SRC=${XM_SRC:?}
. "$(dirname "$0")/lib.sh"
[ -x "$BIN/xmpl-chars" ] || { echo "skipped: no xmpl-chars (built only with FreeType)"; exit 77; }
digits_png "$BIN" "$SRC"
cli_setup pipeline
mkdir -p run/data
cp "$DIGITS_PNG" run/data/

expect 0 make -C "$SRC/pipelines" quick BIN="$BIN" OUT="$T/run" \
    QUICK_SEEDS=1 QUICK_STEPS=10 QUICK_PRESTEPS=10 CHARS_PER_FONT=1
has run/results.csv '^method,mean,std,seeds,seconds$'
for m in l2 l2sp bss seqtrain cotrain xmixup scratch mixup xmixup-nolabel xmixup-random xmixup-split; do
    has run/results.csv "^$m,0\.[0-9]{4},0\.0000,1,[0-9.]+$"
done
lines run/results.csv 12
has run/results.md '^\| XMixup \| [0-9.]+ \+- 0\.00 \| 1 \| [0-9]+ \|$'
# the forgetting table (linear probes on the source classes) and the plots
expect 0 make -C "$SRC/pipelines" forget plots BIN="$BIN" OUT="$T/run" SEEDS=1 STEPS=10 PRESTEPS=10 \
    CHARS_PER_FONT=1 METHODS="l2 xmixup"
has run/forgetting.csv '^model,subset,mean,std,seeds$'
for m in pre l2 xmixup; do
    for s in aux rest all; do has run/forgetting.csv "^$m,$s,[01]\.[0-9]{4},0\.0000,1$"; done
done
has run/forgetting.md '^\| XMixup \| [0-9.]+ \+- 0\.00 \| [0-9.]+ \+- 0\.00 \| [0-9.]+ \+- 0\.00 \|$'
for f in run/alpha.png run/loss.png; do
    [ -s "$f" ] || { echo "FAIL: missing $f"; fails=$((fails + 1)); }
done
# every stage left its file and no temporary file behind
for f in run/pre/chars-resnet20-10.h5 run/chars-digits-resnet20-10/pairs/greedy-s1.h5 \
         run/chars-digits-resnet20-10/plan/xmixup-s1.h5 run/chars-digits-resnet20-10/tuned/xmixup-s1.h5; do
    [ -s "$f" ] || { echo "FAIL: missing $f"; fails=$((fails + 1)); }
done
left=$(find run -name '*.tmp*' | head -3)
[ -z "$left" ] || { echo "FAIL: temporary files left: $left"; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "test_pipeline_quick: all passed"
exit $((fails > 0))
