#!/bin/bash
# test_embed.sh: xm-embed end to end on a model file written by h5py (a
# ResNet-20 with random weights, as another program would write it):
# output schema, final line, --shard coverage, --readers, embed -> centroid
# -> pair, and the one-line errors. Numerical truth is tests/engine/test_embed.c.
# Needs /usr/bin/python3 with h5py (skip: 77).
set -u
BIN=${XM_BIN:?}; IMG=${XM_TESTS:?}/images
EMB="$BIN/xm-embed"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup embed

$PY - <<'EOF'
import h5py, numpy as np
rng = np.random.default_rng(0)
def resnet20(name, cin):
    with h5py.File(name, "w") as f:
        def conv(k, o, i, s): f[k] = (rng.normal(size=(o, i, s, s)) * np.sqrt(2 / (i * s * s))).astype(np.float32)
        def bn(k, c):
            f[k + ".weight"] = np.ones(c, np.float32); f[k + ".bias"] = np.zeros(c, np.float32)
            f[k + ".running_mean"] = np.zeros(c, np.float32); f[k + ".running_var"] = np.ones(c, np.float32)
            f[k + ".num_batches_tracked"] = np.int64(0)
        conv("conv1.weight", 16, cin, 3); bn("bn1", 16)
        inp = 16
        for s in range(3):
            p = 16 << s
            for b in range(3):
                k = "layer%d.%d." % (s + 1, b)
                conv(k + "conv1.weight", p, inp, 3); bn(k + "bn1", p)
                conv(k + "conv2.weight", p, p, 3); bn(k + "bn2", p)
                if b == 0 and s > 0:
                    conv(k + "downsample.0.weight", p, inp, 1); bn(k + "downsample.1", p)
                inp = p
        f["fc.weight"] = (rng.normal(size=(5, 64)) * 0.1).astype(np.float32)
        f["fc.bias"] = np.zeros(5, np.float32)
        f.attrs["arch"] = "resnet20"; f.attrs["num_classes"] = 5; f.attrs["input_size"] = 32
        f.attrs["in_channels"] = cin
        f.attrs["mean"] = np.full(cin, 0.5, np.float32); f.attrs["std"] = np.full(cin, 0.25, np.float32)
resnet20("m3.h5", 3)
resnet20("m1.h5", 1)
EOF

mkdir -p imgs/a imgs/b imgs/c
cp "$IMG/photo.jpg" "$IMG/small.png" "$IMG/synth.png" imgs/a/
cp "$IMG/gray.jpg" "$IMG/palette.png" imgs/b/
cp "$IMG/prog.jpg" "$IMG/rgba.png" "$IMG/tall.png" imgs/c/
"$BIN/xm-pack" imgs -o d.xms --size 36 --channels 3 -q || { echo "FAIL: xm-pack"; fails=$((fails + 1)); }

# 1. whole set, then shards, then the pipeline to pairs
expect 0 "$EMB" -m m3.h5 d.xms -o f.h5 --batch 3 --threads 2
has err '^xm-embed: f.h5: 8 images, dimension 64, cpu, [0-9.]+ s, [0-9.]+ images/s$'
lines err 1
expect 0 "$EMB" -m m3.h5 d.xms -o s1.h5 --shard 1/3 --batch 2 -q --json
has out '^\{"images":3,"dim":64,"device":"cpu","seconds":[0-9.]+,"images_per_s":[0-9.]+\}$'
lines err 0
expect 0 "$EMB" -m m3.h5 d.xms -o s2.h5 --shard 2/3 -q
expect 0 "$EMB" -m m3.h5 d.xms -o s3.h5 --shard 3/3 -q
$PY - <<'EOF' || { echo "FAIL: features files"; fails=$((fails + 1)); }
import h5py, numpy as np
f = h5py.File("f.h5", "r")
X, r, l = f["features"][()], f["records"][()], f["labels"][()]
assert X.shape == (8, 64) and X.dtype == np.float32 and np.isfinite(X).all()
assert list(r) == list(range(8)) and list(l) == [0, 0, 0, 1, 1, 2, 2, 2], l
assert list(f["classes"].asstr()[()]) == ["a", "b", "c"]
assert f["labels"].dtype == np.int32 and f["records"].dtype == np.int64
assert f.attrs["layer"] in ("pool", b"pool") and len(f.attrs["model_xxh64"]) == 16
assert f.attrs["shards"] == 1 and f.attrs["precision"] in ("f32", b"f32")
seen = []
for k in (1, 2, 3):
    s = h5py.File("s%d.h5" % k, "r")
    assert s.attrs["shard"] == k and s.attrs["shards"] == 3
    for i, rec in enumerate(s["records"][()]):
        assert rec % 3 == k - 1
        assert np.allclose(s["features"][i], X[rec], rtol=1e-5, atol=1e-6)
        seen.append(rec)
assert sorted(seen) == list(range(8)), seen
EOF
# --readers: the same features whatever the number of reader threads, also
# for gray records replicated to RGB (many records a block)
expect 0 "$EMB" -m m3.h5 d.xms -o r3.h5 --batch 3 --threads 2 --readers 3 -q
[ "$($PY "$H5SUM" f.h5 features)" = "$($PY "$H5SUM" r3.h5 features)" ] ||
    { echo "FAIL: --readers 3 changed the features"; fails=$((fails + 1)); }
"$BIN/xm-pack" imgs -o g.xms --size 36 --channels 1 -q || { echo "FAIL: xm-pack gray"; fails=$((fails + 1)); }
expect 0 "$EMB" -m m3.h5 g.xms -o g1.h5 --batch 3 --threads 2 --readers 1 -q
expect 0 "$EMB" -m m3.h5 g.xms -o g5.h5 --batch 3 --threads 2 --readers 5 -q
[ "$($PY "$H5SUM" g1.h5 features)" = "$($PY "$H5SUM" g5.h5 features)" ] ||
    { echo "FAIL: --readers 5 changed the gray set's features"; fails=$((fails + 1)); }
expect 0 "$BIN/xm-centroid" s1.h5 s2.h5 s3.h5 -o c.h5 -q
expect 0 "$BIN/xm-pair" --source c.h5 --target c.h5 -o p.h5 -q
# 2. errors: one line, nonzero exit, no output left
expect 2 "$EMB" -m m3.h5 d.xms -o x.h5 --shard 0/3
has err "^xm-embed: error: --shard: '0/3': expected K/N with 1 <= K <= N$"
expect 2 "$EMB" -m m3.h5 d.xms -o x.h5 --shard 4/3
expect 2 "$EMB" d.xms -o x.h5
expect 2 "$EMB" -m m3.h5 d.xms -o x.h5 --precision bf17
has err "^xm-embed: error: --precision: unknown value 'bf17'$"
expect 2 "$EMB" -m m3.h5 d.xms -o x.h5 --precision bf16 --device cpu
has err '^xm-embed: error: .*only float32 precision'
lines err 1
expect 66 "$EMB" -m nothere.h5 d.xms -o x.h5
has err '^xm-embed: error: nothere.h5'
lines err 1
expect 65 "$EMB" -m m1.h5 d.xms -o x.h5
has err '^xm-embed: error: .*d.xms: record 0 has 3 channels, the model takes 1$'
expect 65 "$EMB" -m m3.h5 m3.h5 -o x.h5
lines err 1
expect 73 "$EMB" -m m3.h5 d.xms -o f.h5
has err '^xm-embed: error: f.h5: exists \(use --force to overwrite\)$'
[ ! -e x.h5 ] || { echo "FAIL: x.h5 left behind"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary files left: $(ls -a)"; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "test_embed.sh: all passed"
exit $((fails > 0))
