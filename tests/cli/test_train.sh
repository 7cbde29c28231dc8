#!/bin/bash
# test_train.sh: xm-train from the command line: a fresh ResNet-20, then
# xmixup from that model (new target head, source head), the output model's
# heads and attributes, metrics lines, --stop-after/--resume equal to an
# uninterrupted run, SIGTERM (checkpoint, exit 143, resume), and the one-line
# errors: changed input file, wrong input size, NaN loss, bad options,
# existing output. Tiny images (12 px) so it runs in seconds. Needs
# /usr/bin/python3 with numpy and h5py (skip: 77).
set -u
BIN=${XM_BIN:?}
PACK="$BIN/xm-pack"; TRAIN="$BIN/xm-train"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup train

$PY "$CLI_DIR/idx_set.py" tgt 32 12 4 1 && $PY "$CLI_DIR/idx_set.py" test 16 12 4 2 &&
    $PY "$CLI_DIR/idx_set.py" src 36 12 6 3 || { echo "FAIL: data"; exit 1; }
$PY - <<'EOF'
import h5py, numpy as np
with h5py.File("pairs.h5", "w") as f:
    f["target"] = np.int32([0, 1, 2, 3]); f["source"] = np.int32([1, 3, 0, 5])
EOF
for s in tgt test src; do "$PACK" -q $s-images-idx3-ubyte -o $s.xms || { echo "FAIL: pack $s"; exit 1; }; done
"$PACK" -q --mix source --partner src.xms --steps 6 --batch 8 --seed 1 -o pre.h5 &&
"$PACK" -q --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 6 --batch 8 \
    --seed 2 --pad 1 -o xm.h5 &&
"$PACK" -q --mix none --target src.xms --steps 6 --batch 8 --seed 1 -o srcnone.h5 ||
    { echo "FAIL: plans"; exit 1; }

# 1. a fresh network trained on the source set (plain), then xmixup from it
expect 0 "$TRAIN" --arch resnet20 --init-seed 3 srcnone.h5 -o pre.model.h5 --metrics m0.jsonl --log-every 2 -j 2
has err '^xm-train: pre.model.h5: final loss [0-9.]+$'
[ "$(wc -l <m0.jsonl)" = 3 ] || { echo "FAIL: metrics lines"; cat m0.jsonl; fails=$((fails + 1)); }
has m0.jsonl '^\{"step": 2, "loss": [0-9.]+, "lr": 0.01, "images_per_s": [0-9.]+, "data_wait_ms": [0-9.]+\}$'
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o xm.model.h5 --eval test.xms --eval-every 3 --metrics m1.jsonl -v -j 2
has err 'target head: new \(4 classes'
has err 'source head: 4 of 4 rows from the model'
has err 'final loss [0-9.]+, eval top1 [0-9.]+, mean class acc [0-9.]+'
has err 'waited [0-9.]+ s for data in [0-9.]+ s of 6 step\(s\) \([0-9.]+%\)$'
has m1.jsonl '"step": 3, "eval_top1"'
py <<'EOF'
import h5py, json
f = h5py.File("xm.model.h5", "r")
assert f["fc.weight"].shape == (4, 64) and f["source_fc.weight"].shape == (4, 64)
assert list(f.attrs["classes"]) == ["0", "1", "2", "3"]
assert list(f.attrs["source_classes"]) == ["0", "1", "3", "5"]
cfg = json.loads(f.attrs["train_config"]); assert cfg["label_mode"] == "joint" and cfg["lr"] == 0.01
p = h5py.File("pre.model.h5", "r")
# source rows copied from the pre-trained classifier were trained further, not re-initialised
assert f.attrs["plan_mode"] == "xmixup"
EOF

# 2. --stop-after then --resume gives the uninterrupted weights, bit for bit
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o a.h5 --label-mode split --reg l2sp -j 2
# the same weights whatever the number of reader threads
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o r.h5 --label-mode split --reg l2sp -j 2 --readers 3
[ "$($PY "$H5SUM" a.h5 data)" = "$($PY "$H5SUM" r.h5 data)" ] ||
    { echo "FAIL: --readers 3 changed the trained weights"; fails=$((fails + 1)); }
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o b.h5 --label-mode split --reg l2sp --stop-after 4 -j 2
has err 'stopped after step 4'
[ -e b.h5 ] && { echo "FAIL: --stop-after wrote the final model"; fails=$((fails + 1)); }
expect 0 "$TRAIN" --resume b.ckpt.h5 xm.h5 -o b.h5 --label-mode split --reg l2sp -j 2
has err 'resuming at step 4 of 6'
py <<'EOF'
import h5py, numpy as np
a, b = h5py.File("a.h5", "r"), h5py.File("b.h5", "r")
for k in a:
    assert np.array_equal(a[k][()], b[k][()]), k
EOF

# 3. SIGTERM: checkpoint, exit 143, then resume to the end
"$PACK" -q --mix none --target tgt.xms --steps 4000 --batch 8 --seed 1 -o long.h5
"$TRAIN" -m pre.model.h5 long.h5 -o long.model.h5 --metrics ml.jsonl --log-every 1 -j 1 2>lerr &
pid=$!
for i in $(seq 100); do [ -s ml.jsonl ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc = 143 ] || { echo "FAIL: SIGTERM exit $rc, want 143"; cat lerr; fails=$((fails + 1)); }
has lerr '^xm-train: error: interrupted after step [0-9]+; checkpoint long.model.ckpt.h5'
[ -e long.model.h5 ] && { echo "FAIL: interrupted run wrote the model"; fails=$((fails + 1)); }
k=$($PY -c 'import h5py; print(h5py.File("long.model.ckpt.h5", "r")["train"].attrs["step"])')
expect 0 "$TRAIN" --resume long.model.ckpt.h5 long.h5 -o long.model.h5 --stop-after $((k + 2)) -j 2
has err "resuming at step $k of 4000"
expect 2 "$TRAIN" --resume long.model.ckpt.h5 long.h5 -o long.model.h5 --stop-after $((k + 2)) -j 2
has err 'is not after the start step'

# 4. errors
cp tgt.xms tgt.keep; "$PACK" -q -f src-images-idx3-ubyte -o tgt.xms
expect 65 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5
has err 'tgt.xms: checksum [0-9a-f]{16} differs from the plan'
mv tgt.keep tgt.xms
"$PACK" -q --mix none --target tgt.xms --steps 2 --batch 8 --input-size 10 --seed 1 -o small.h5
expect 65 "$TRAIN" -m pre.model.h5 small.h5 -o e.h5
has err 'the plan was built for input size 10, the model has 12'
# A NaN in the classifier row that becomes a source-head row: the loss of
# step 1 is NaN; the checkpoint of an earlier run
# under the same name is left as it was
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --stop-after 2
sum=$(sha256sum <e.ckpt.h5)
py <<'EOF2'
import h5py, shutil
shutil.copy("pre.model.h5", "nan.model.h5")
with h5py.File("nan.model.h5", "r+") as f:
    b = f["fc.bias"][()]; b[1] = float("nan"); f["fc.bias"][...] = b  # -> a source head row
EOF2
expect 1 "$TRAIN" -m nan.model.h5 xm.h5 -o e.h5 --ckpt-every 1
has err '^xm-train: error: step 1: the loss is NaN$'
[ "$(sha256sum <e.ckpt.h5)" = "$sum" ] || { echo "FAIL: the last good checkpoint changed"; fails=$((fails + 1)); }
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --momentum 1.5
has err '^xm-train: error: --momentum must be in \[0, 1\)$'
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --label-mode both
has err "unknown value 'both'"
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --precision f16 --device cpu
has err 'only float32 precision'
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --loss-scale 1000
has err 'must be a power of two'
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --loss-scale dynamic=8
has err 'expected none, dynamic'
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --precision bf16 --device cpu
has err 'only float32 precision'
lines err 1
expect 2 "$TRAIN" -m pre.model.h5 xm.h5 -o e.h5 --freeze-upto layer9
has err "no backbone layer 'layer9'"
expect 66 "$TRAIN" -m pre.model.h5 missing.h5 -o e.h5
expect 73 "$TRAIN" -m pre.model.h5 xm.h5 -o a.h5
has err 'a.h5: exists \(use --force'
expect 0 "$TRAIN" -m pre.model.h5 xm.h5 -o a.h5 --force --freeze-upto layer2 --schedule cosine --warmup 2 -q
[ -e e.h5 ] && { echo "FAIL: e.h5 written by a failed run"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary files left"; fails=$((fails + 1)); }

[ $fails = 0 ] && echo "test_train: all passed"
exit $((fails > 0))
