#!/bin/bash
# test_centroid.sh: xm-centroid on features files written by h5py (another
# program: float64 features, int64 labels, no provenance), shard merging
# through centroid files, and the one-line errors and exit codes for bad
# inputs. Needs /usr/bin/python3 with h5py to write the inputs (skip: 77).
set -u
BIN=${XM_BIN:?}
CEN="$BIN/xm-centroid"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup centroid

$PY - <<'EOF'
import h5py, numpy as np
rng = np.random.default_rng(3)
cls = ["apple", "pear", "plum"]
X = rng.normal(size=(300, 5)) * [1, 10, 100, 0.1, 1]
y = np.arange(300) % 3
def feat(name, rows, classes=cls, dim=5, f32=True, **mod):
    with h5py.File(name, "w") as f:
        x = X[rows, :dim].astype(np.float32)   # the same values either way
        if not f32: x = x.astype(np.float64)
        for k, v in mod.items():
            if k == "nan": x[v] = np.nan
        f["features"] = x
        f["labels"] = y[rows]                    # int64, as numpy writes it
        f["records"] = np.asarray(rows, np.int64)
        f["classes"] = classes
feat("all.h5", range(300))
feat("s0.h5", range(0, 300, 2))                  # interleaved shards
feat("s1.h5", range(1, 300, 2), f32=False)
feat("dim4.h5", range(10), dim=4)
feat("other.h5", range(10), classes=["apple", "pear", "quince"])
feat("nan.h5", range(10), nan=(7, 2))
with h5py.File("nofeat.h5", "w") as f: f["x"] = [1]
with h5py.File("nolabels.h5", "w") as f:
    f["features"] = X[:3].astype(np.float32); f["records"] = np.arange(3); f["classes"] = cls
np.save("counts_all.npy", np.bincount(y, minlength=3))
EOF

# 1. one pass, then shards merged through their centroid files (exactly the
#    features-file pass over the same shards, see xm_centroid.h)
expect 0 "$CEN" all.h5 -o all.c.h5
has err '^xm-centroid: all.c.h5: 300 samples, 3 classes, dimension 5, from 1 input$'
lines err 1
expect 0 "$CEN" s0.h5 -o s0.c.h5 -q
lines err 0
expect 0 "$CEN" s1.h5 -o s1.c.h5 -q
expect 0 "$CEN" s0.h5 s1.h5 -o feat2.c.h5 --json
has out '^\{"output":"feat2.c.h5","samples":300,"classes":3,"dim":5,"empty_classes":0,"inputs":2\}$'
expect 0 "$CEN" s1.c.h5 s0.c.h5 -o merged.c.h5
$PY - <<'EOF' || { echo "FAIL: merged centroids"; fails=$((fails + 1)); }
import h5py, numpy as np
a, m, p = (h5py.File(n, "r") for n in ("all.c.h5", "merged.c.h5", "feat2.c.h5"))
assert (m["counts"][()] == a["counts"][()]).all() and m["counts"].dtype == np.int64
assert (m["sums"][()] == p["sums"][()]).all(), "merge of 2 centroid files != features pass (bitwise)"
assert np.allclose(m["sums"][()], a["sums"][()], rtol=1e-12, atol=0)
assert m["means"].dtype == np.float32 and m["sums"].dtype == np.float64
assert list(m["classes"].asstr()[()]) == ["apple", "pear", "plum"]
assert np.allclose(m["means"][()], a["sums"][()] / a["counts"][()][:, None], rtol=1e-6)
EOF

# 2. bad inputs: one line, nonzero exit
expect 65 "$CEN" all.h5 dim4.h5 -o x.h5
has err '^xm-centroid: error: dim4.h5: features have dimension 4, the first input 5$'
lines err 1
expect 65 "$CEN" all.h5 other.h5 -o x.h5
has err '^xm-centroid: error: other.h5: class list differs from the first input.s \(3 vs 3 classes\): files of different data sets\?$'
expect 65 "$CEN" nan.h5 -o x.h5
has err '^xm-centroid: error: nan.h5: features row 7 column 2 is not finite$'
expect 65 "$CEN" nofeat.h5 -o x.h5
has err '^xm-centroid: error: nofeat.h5: neither a features file'
expect 65 "$CEN" nolabels.h5 -o x.h5
has err '^xm-centroid: error: nolabels.h5: dataset labels is missing$'
expect 66 "$CEN" missing.h5 -o x.h5
has err '^xm-centroid: error: missing.h5'
echo "not hdf5" > text.h5
expect 65 "$CEN" text.h5 -o x.h5
lines err 1
[ ! -e x.h5 ] || { echo "FAIL: x.h5 left behind"; fails=$((fails + 1)); }
expect 73 "$CEN" all.h5 -o all.c.h5
has err '^xm-centroid: error: all.c.h5: exists \(use --force to overwrite\)$'
expect 0 "$CEN" all.h5 -o all.c.h5 --force -q
expect 2 "$CEN" all.h5
has err '^xm-centroid: error: no output given \(-o CENT.h5\)$'
expect 0 "$CEN" --help
has out 'Usage|usage'
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary files left: $(ls -a)"; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "test_centroid.sh: all passed"
exit $((fails > 0))
