#!/bin/bash
# test_mix.sh: xm-pack --mix: plans of every mode written and readable by
# h5py with the documented datasets and attributes, partners from paired
# classes, same seed -> same datasets, --aux-out, --eval, and the one-line
# errors with their exit codes. Inputs are IDX files and a pairs file written
# by /usr/bin/python3 (numpy, h5py; skip: 77).
set -u
BIN=${XM_BIN:?}
PACK="$BIN/xm-pack"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup mix

$PY - <<'EOF'
import h5py, numpy as np, struct
def idx(prefix, n, side, ncls, a):
    px = np.array([[(i * a + k * 3) % 256 for k in range(side * side)] for i in range(n)], np.uint8)
    with open(prefix + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, side, side)); f.write(px.tobytes())
    with open(prefix + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n)); f.write(np.arange(n, dtype=np.uint8) % ncls)
idx("tgt", 24, 12, 4, 7)
idx("src", 24, 14, 6, 11)
with h5py.File("pairs.h5", "w") as f:
    f["target"] = np.int32([0, 1, 2, 3]); f["source"] = np.int32([1, 3, 0, 5])
    f["round"] = np.int32([0, 0, 0, 0]); f["similarity"] = np.float32([.9, .8, .7, .6])
    f.attrs["method"] = "greedy"
with h5py.File("badpairs.h5", "w") as f:
    f["target"] = np.int32([0]); f["source"] = np.int32([9])
EOF
expect 0 "$PACK" tgt-images-idx3-ubyte -o tgt.xms
expect 0 "$PACK" src-images-idx3-ubyte -o src.xms

# 1. xmixup: datasets, attributes, partners from paired classes
expect 0 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 10 \
    --batch 8 --seed 5 --alpha 2 --input-size 10 --pad 1 -o x.h5
has err '^xm-pack: x.h5: plan xmixup, 10 steps x 8 slots, input 10, 4 source classes, 16 auxiliary records$'
py <<'EOF'
import h5py, numpy as np
f = h5py.File("x.h5", "r")
assert f["target_record"].shape == (10, 8) and f["target_record"].dtype == np.int64
assert f["partner_record"].dtype == np.int64 and f["partner_domain"].dtype == np.uint8
assert f["lambda"].dtype == np.float32 and f["crop"].shape == (10, 8, 2, 2)
assert f["crop"].dtype == np.int16 and f["flip"].shape == (10, 8, 2)
a = f.attrs
assert a["mode"] == "xmixup" and a["alpha"] == 2 and a["seed"] == 5 and a["input_size"] == 10
assert list(a["source_classes"]) == [0, 1, 3, 5]
assert list(a["source_class_names"]) == ["1", "3", "5", "0"] or len(a["source_class_names"]) == 4
assert len(a["target_xxh64"][0]) == 16 and a["target_files"][0] == "tgt.xms"
pairs = {(0, 1), (1, 3), (2, 0), (3, 5)}
t, p = f["target_record"][()], f["partner_record"][()]
assert all(((i % 4), (j % 6)) in pairs for i, j in zip(t.ravel(), p.ravel()))
assert (f["partner_domain"][()] == 1).all()
# 80 slots over 24 records: passes 0..2 complete, each record once per pass
for q in range(3):
    assert sorted(t.ravel()[24 * q:24 * q + 24]) == list(range(24))
c = f["crop"][()]
assert c[..., 0, :].min() >= -1 and c[..., 0, :].max() <= 3 and c[..., 1, :].max() <= 5
EOF

# 2. same seed -> same datasets; another seed differs
expect 0 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 10 \
    --batch 8 --seed 5 --alpha 2 --input-size 10 --pad 1 -o x2.h5
expect 0 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 10 \
    --batch 8 --seed 6 --alpha 2 --input-size 10 --pad 1 -o x3.h5
py <<'EOF'
import h5py, numpy as np
a, b, c = (h5py.File(n, "r") for n in ("x.h5", "x2.h5", "x3.h5"))
names = ["target_record", "partner_record", "partner_domain", "lambda", "crop", "flip"]
assert all(np.array_equal(a[n][()], b[n][()]) for n in names)
assert not np.array_equal(a["lambda"][()], c["lambda"][()])
EOF

# 3. other modes
expect 0 "$PACK" --mix none --target tgt.xms --steps 3 --batch 8 --seed 1 -o n.h5
expect 0 "$PACK" --mix=mixup --target tgt.xms --steps 3 --batch 8 --seed 1 -o m.h5
expect 0 "$PACK" --mix cotrain --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 3 \
    --batch 4 --seed 1 --input-size 12 -o c.h5
expect 0 "$PACK" --mix source --partner src.xms --steps 3 --batch 4 --seed 1 --input-size 12 -o s.h5
expect 0 "$PACK" --mix eval --target tgt.xms --batch 10 --input-size 9 -o e.h5
has err 'plan eval, 3 steps x 10 slots, input 9'
py <<'EOF'
import h5py, numpy as np
n = h5py.File("n.h5", "r"); assert (n["lambda"][()] == 1).all() and (n["partner_record"][()] == -1).all()
c = h5py.File("c.h5", "r"); assert c["target_record"].shape == (3, 8)
assert (c["target_record"][:, 4:] == -1).all() and (c["partner_domain"][:, 4:] == 1).all()
assert (c["partner_record"][:, :4] == -1).all()
s = h5py.File("s.h5", "r"); assert s.attrs["n_source_classes"] == 6
e = h5py.File("e.h5", "r"); assert list(e["target_record"][()].ravel()) == list(range(24)) + [-1] * 6
# center crops as torchvision: round((12 - 9) / 2) = round(1.5) = 2
assert (e["crop"][:, :, 0][e["target_record"][()] >= 0] == 2).all() and (e["flip"][()] == 0).all()
EOF

# 4. --aux-out: a compact shard, the plan points at it
expect 0 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --pairs pairs.h5 --steps 4 \
    --batch 8 --seed 5 --input-size 10 --aux-out aux.xms -o xa.h5
expect 0 "$PACK" --info aux.xms
has out 'records +16'
py <<'EOF'
import h5py
f = h5py.File("xa.h5", "r")
assert f.attrs["partner_files"][0] == "aux.xms" and f["partner_record"][()].max() < 16
EOF

# 5. errors: one line, exit code
expect 2 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --steps 3 --batch 8 -o e1.h5
has err '^xm-pack: error: mode xmixup needs --pairs$'
expect 2 "$PACK" --mix blend --target tgt.xms --steps 3 --batch 8 -o e1.h5
has err "^xm-pack: error: --mix: unknown mode 'blend'"
expect 2 "$PACK" --mix none --target tgt.xms --batch 8 -o e1.h5
has err '^xm-pack: error: --steps is required$'
expect 2 "$PACK" --mix none --target tgt.xms --steps 0 --batch 8 -o e1.h5
expect 66 "$PACK" --mix none --target missing.xms --steps 3 --batch 8 -o e1.h5
has err '^xm-pack: error: missing.xms'
expect 65 "$PACK" --mix xmixup --target tgt.xms --partner src.xms --pairs badpairs.h5 --steps 3 --batch 8 -o e1.h5
has err 'source class 9 is out of range'
expect 65 "$PACK" --mix none --target pairs.h5 --steps 3 --batch 8 -o e1.h5
expect 73 "$PACK" --mix none --target tgt.xms --steps 3 --batch 8 --seed 1 -o n.h5
has err 'exists \(use --force'
expect 0 "$PACK" --mix none --target tgt.xms --steps 3 --batch 8 --seed 1 -o n.h5 --force
[ -e e1.h5 ] && { echo "FAIL: e1.h5 written by a failed run"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary files left"; fails=$((fails + 1)); }

[ $fails = 0 ] && echo "test_mix: all passed"
exit $((fails > 0))
