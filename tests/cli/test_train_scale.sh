#!/bin/bash
# test_train_scale.sh: xm-train --loss-scale on the CPU (float32). Scales
# are powers of two, so a scaled run with finite gradients must give the
# unscaled run's weights bit for bit (fixed and dynamic); with a dynamic
# scale of 2^127 and a classifier scaled up 64x (large head gradients) the
# gradients overflow, so steps are skipped and the scale halves until they
# are finite, and --stop-after/--resume through those steps equals the
# uninterrupted run (the scaler's state is in the checkpoint); a fixed scale that overflows stops the run with one line and
# no model; a checkpoint is refused by a run that scales differently, or
# when its scale is not a power of two.
# Needs /usr/bin/python3 with numpy and h5py (skip: 77).
set -u
BIN=${XM_BIN:?}
PACK="$BIN/xm-pack"; TRAIN="$BIN/xm-train"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup train_scale

$PY "$CLI_DIR/idx_set.py" tgt 48 12 4 5 40 &&
    "$PACK" -q tgt-images-idx3-ubyte -o tgt.xms &&
"$PACK" -q --mix mixup --target tgt.xms --steps 8 --batch 8 --seed 4 --pad 1 -o plan.h5 ||
    { echo "FAIL: pack"; exit 1; }
run() { expect 0 "$TRAIN" --arch resnet20 --init-seed 7 plan.h5 -j 2 --log-every 1 "$@"; }
data() { $PY "$H5SUM" "$1" data; }

# 1. finite gradients: fixed 2^16 and dynamic (from 2^16, doubling every
#    3 steps) give the unscaled weights exactly
run -o none.h5
run -o fixed.h5 --loss-scale 65536 --metrics fixed.jsonl
run -o dyn.h5 --loss-scale dynamic --loss-scale-window 3 --metrics dyn.jsonl -v
ref=$(data none.h5)
[ "$(data fixed.h5)" = "$ref" ] || { echo "FAIL: --loss-scale 65536 changed the weights"; fails=$((fails + 1)); }
[ "$(data dyn.h5)" = "$ref" ] || { echo "FAIL: --loss-scale dynamic changed the weights"; fails=$((fails + 1)); }
has fixed.jsonl '"step": 8, .*"loss_scale": 65536, "skipped": 0\}$'
has dyn.jsonl '"step": 3, .*"loss_scale": 131072, "skipped": 0\}$'
has dyn.jsonl '"step": 8, .*"loss_scale": 262144, "skipped": 0\}$'
has err 'loss scale 262144 at step 8; 0 step\(s\) skipped'
$PY -c 'import h5py, json, sys; c = json.loads(h5py.File("dyn.h5", "r").attrs["train_config"]); sys.exit(c["loss_scale"] != "dynamic:65536")' ||
    { echo "FAIL: train_config loss_scale"; fails=$((fails + 1)); }

# 2. 2^127 overflows: skipped steps, the scale halves; resume through them
big=170141183460469231731687303715884105728
$PY -c '
import h5py, shutil
shutil.copy("none.h5", "hot.h5")
with h5py.File("hot.h5", "r+") as f: f["fc.weight"][...] = f["fc.weight"][()] * 64'
hot() { expect 0 "$TRAIN" -m hot.h5 plan.h5 -j 2 --log-every 1 --loss-scale dynamic:$big "$@"; }
hot -o big.h5 --metrics big.jsonl
$PY - <<'EOF' || fails=$((fails + 1))
import json, math, h5py, numpy as np
rows = [json.loads(l) for l in open("big.jsonl")]
last = rows[-1]
# some steps skipped, later ones applied (5 of 8 skipped when written)
assert 1 <= last["skipped"] <= 7 and last["loss_scale"] == 2.0 ** 127 / 2 ** last["skipped"], last
# each skipped step halves the scale once; a step that applies keeps it
for a, b in zip(rows, rows[1:]):
    assert b["loss_scale"] in (a["loss_scale"], a["loss_scale"] / 2), (a, b)
f = h5py.File("big.h5", "r")
assert all(np.isfinite(f[k][()]).all() for k in f if f[k].dtype.kind == "f")
EOF
hot -o big2.h5 --stop-after 2
hot --resume big2.ckpt.h5 -o big2.h5
[ "$(data big2.h5)" = "$(data big.h5)" ] || { echo "FAIL: resumed loss-scaled run differs"; fails=$((fails + 1)); }

# 3. errors: a fixed scale that overflows; checkpoints of another scaling
expect 1 "$TRAIN" -m hot.h5 plan.h5 -j 2 -o e.h5 --loss-scale $big
has err '^xm-train: error: step [0-9]+: the gradients are not finite at the fixed loss scale 1.7014118346046923e\+38 \(try --loss-scale dynamic\)$'
[ -e e.h5 ] && { echo "FAIL: a failed run wrote its model"; fails=$((fails + 1)); }
expect 65 "$TRAIN" -m hot.h5 plan.h5 -j 2 -o e.h5 --resume big2.ckpt.h5
has err 'big2.ckpt.h5: written with loss scaling \(give the same --loss-scale as that run\)$'
$PY -c '
import h5py, shutil
shutil.copy("big2.ckpt.h5", "bad.ckpt.h5")
with h5py.File("bad.ckpt.h5", "r+") as f: f["train"].attrs["loss_scale"] = 1000.0'
expect 65 "$TRAIN" -m hot.h5 plan.h5 -j 2 -o e.h5 --resume bad.ckpt.h5 --loss-scale dynamic:$big
has err 'bad.ckpt.h5: train/loss_scale state out of range \(1000, '
run -o n2.h5 --stop-after 2
expect 65 "$TRAIN" --arch resnet20 --init-seed 7 plan.h5 -j 2 -o e.h5 --resume n2.ckpt.h5 --loss-scale dynamic
has err 'n2.ckpt.h5: written without loss scaling'
exit $fails
