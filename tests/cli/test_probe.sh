#!/bin/bash
# test_probe.sh: xm-probe's command line: help, version, usage errors and
# missing inputs, each with its exit code and one error line. (The numbers
# are tested on a crafted model in tests/engine/test_probe_run.c.)
set -u
BIN=${XM_BIN:?}
PROBE="$BIN/xm-probe"
[ -x "$PROBE" ] || { echo "skipped: no $PROBE"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup probe

expect 0 "$PROBE" --help
has out '--linear-probe'
has out '--spectrum'
expect 0 "$PROBE" --version
expect 2 "$PROBE" --sise 3
has err '^xm-probe: error: '
expect 2 "$PROBE" data.xms
has err 'no model'
lines err 1
expect 2 "$PROBE" -m m.h5
has err 'no data'
expect 2 "$PROBE" -m m.h5 d.xms --l2 0.1
has err 'linear-probe'
expect 2 "$PROBE" -m m.h5 d.xms --pairs p.h5
has err 'linear-probe'
lines err 1
expect 2 "$PROBE" -m m.h5 d.xms --linear-probe t.xms --subsets aux
has err 'needs --pairs'
expect 2 "$PROBE" -m m.h5 d.xms --linear-probe t.xms --pairs p.h5 --confusion c.csv
has err 'one line per subset'
expect 2 "$PROBE" -m m.h5 d.xms --head middle --device cpu
has err '--head'
expect 2 "$PROBE" -m m.h5 d.xms --batch 0
expect 66 "$PROBE" -m missing.h5 d.xms --device cpu
has err 'missing.h5'
lines err 1
echo "garbage" > m.h5
expect 65 "$PROBE" -m m.h5 d.xms --device cpu
lines err 1
[ "$fails" = 0 ] && echo "all passed"
exit $((fails > 0))
