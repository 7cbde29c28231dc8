#!/bin/bash
# test_crash_writers.sh: kill -9 at random moments, every writer (issue 8).
# scripts/crash_trials.sh runs XM_CRASH_TRIALS trials (default 5) for each
# of xm-pack, xm-pack --mix, xm-embed, xm-centroid, xm-pair and xm-train
# (checkpoints and models): after every kill the final name holds nothing,
# the older output it replaced, or the complete output (its reader accepts
# it and it equals the uninterrupted run's); never anything else. About 30 s
# with 5 trials (xm-train: 20 steps) on an idle 2-core machine. Needs /usr/bin/python3 with numpy and h5py (skip: 77).
set -u
BIN=${XM_BIN:?}
SRC=${XM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
N=${XM_CRASH_TRIALS:-5}
. "$(dirname "$0")/lib.sh"
cli_setup crash_writers

XM_BIN=$BIN XM_CRASH_TRAIN_STEPS=${XM_CRASH_TRAIN_STEPS:-20} "$SRC/scripts/crash_trials.sh" all "$N" >out 2>err; rc=$?
cat out err
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: crash_trials.sh exit $rc"; fails=$((fails + 1)); }
has out '^writer +trials +absent +old +complete +BROKEN +leftovers$'
for w in 'xm-pack' 'xm-pack --mix' 'xm-embed' 'xm-centroid' 'xm-pair' 'xm-train ckpt' 'xm-train model'; do
    # the counts of a row add up to the trials, and none is BROKEN
    line=$(grep -E "^$w +$N " out)
    if [ -z "$line" ]; then echo "FAIL: no row for $w with $N trials"; fails=$((fails + 1)); continue; fi
    set -- ${line#"$w"}
    [ $(($2 + $3 + $4)) = "$N" ] && [ "$5" = 0 ] ||
        { echo "FAIL: $w: absent $2 + old $3 + complete $4 != $N trials, or BROKEN $5"; fails=$((fails + 1)); }
done

[ $fails = 0 ] && echo "test_crash_writers: all passed"
exit $((fails > 0))
