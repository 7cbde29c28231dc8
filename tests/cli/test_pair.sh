#!/bin/bash
# test_pair.sh: xm-pair on crafted centroid files (written by h5py, as another
# program would) where greedy and optimal differ, rounds and --min-aux, the
# random seed, --method all, the table, --similarity-out, --montage, and the
# one-line errors for bad inputs. Needs /usr/bin/python3 with h5py (skip: 77).
set -u
BIN=${XM_BIN:?}; IMG=${XM_TESTS:?}/images
PAIR="$BIN/xm-pair"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup pair

$PY - <<'EOF'
import h5py, numpy as np
def cent(name, angles, counts, classes, dim=2, sums=True, **mod):
    a = np.radians(angles)
    m = np.zeros((len(a), dim)); m[:, 0] = np.cos(a); m[:, 1] = np.sin(a)
    c = np.asarray(counts, np.int64)
    s = m * c[:, None]
    for k, v in mod.items():
        if k == "inf": s[v] = np.inf
    with h5py.File(name, "w") as f:
        if sums: f["sums"] = s
        else: f["means"] = m.astype(np.float32)
        f["counts"] = c
        f["classes"] = classes
# sources at 0, 57.6 and 200 degrees; targets at 25.8 (cos 0.90 to s0, 0.85
# to s1) and -28.4 (0.88 to s0, 0.07 to s1). Greedy takes t0-s0 first and
# leaves t1 with s1 (total 0.97); optimal: t0-s1, t1-s0 (1.73).
cent("src.h5", [0, 57.6, 200], [100, 200, 300], ["s-zero", "s-one", "s-two"])
cent("tgt.h5", [25.8, -28.4], [5, 6], ["t-zero", "t-one"])
cent("tgt_means.h5", [25.8, -28.4], [5, 6], ["t-zero", "t-one"], sums=False)
cent("empty.h5", [0, 57.6, 200], [100, 0, 300], ["a", "b", "c"])
cent("dim3.h5", [0, 10], [1, 1], ["a", "b"], dim=3)
cent("inf.h5", [0, 10], [1, 1], ["a", "b"], inf=(1, 0))
EOF

# 1. greedy (default) and the table
expect 0 "$PAIR" --source src.h5 --target tgt.h5 -o g.h5
has out '^round +target +source +similarity +samples$'
has out '^0 +t-zero +s-zero +0\.900[0-9] +100$'
has out '^0 +t-one +s-one +0\.0[67][0-9]+ +200$'
lines out 3
has err '^xm-pair: g.h5: 2 pairs \(greedy, 1 round\), auxiliary set 300 samples$'
# 2. optimal differs; a means-only centroid file (another program's) is accepted
expect 0 "$PAIR" --source src.h5 --target tgt_means.h5 -o o.h5 --method optimal -q
lines out 0
$PY - <<'EOF' || { echo "FAIL: pairs files"; fails=$((fails + 1)); }
import h5py, numpy as np
g, o = h5py.File("g.h5", "r"), h5py.File("o.h5", "r")
assert list(g["target"][()]) == [0, 1] and list(g["source"][()]) == [0, 1], g["source"][()]
assert list(o["target"][()]) == [0, 1] and list(o["source"][()]) == [1, 0], o["source"][()]
assert g["target"].dtype == np.int32 and g["round"].dtype == np.int32
assert g["similarity"].dtype == np.float32 and abs(g["similarity"][0] - 0.9) < 1e-3
assert g.attrs["method"] in ("greedy", b"greedy") and o.attrs["method"] in ("optimal", b"optimal")
assert g.attrs["aux_size"] == 300 and o.attrs["aux_size"] == 300
assert list(o["source_classes"].asstr()[()]) == ["s-zero", "s-one", "s-two"]
assert len(g.attrs["source_file_xxh64"]) == 16
EOF
# 3. rounds: 3 source classes make one full round of 2; the threshold needs whole rounds
expect 0 "$PAIR" --source src.h5 --target tgt.h5 -o m.h5 --min-aux 300 -q
expect 65 "$PAIR" --source src.h5 --target tgt.h5 -o m2.h5 --min-aux 301
has err '^xm-pair: error: --min-aux 301 is not reachable: all 1 full rounds of 2 source classes give 300 samples$'
lines err 1
expect 65 "$PAIR" --source src.h5 --target tgt.h5 -o m2.h5 --rounds 2
has err '^xm-pair: error: 2 rounds need 4 source classes, the source has 3'
# 4. random: reproducible from the seed; all: every pair
expect 0 "$PAIR" --source src.h5 --target tgt.h5 -o r1.h5 --method random --seed 9 --json
has out '^\{"round":0,"target":0,"target_class":"t-zero","source":[0-2],"source_class":"s-[a-z]+","similarity":-?[0-9.]+,"source_count":[0-9]+\}$'
has out '^\{"method":"random","pairs":2,"rounds":1,"aux_size":[0-9]+\}$'
cp out r1.json
expect 0 "$PAIR" --source src.h5 --target tgt.h5 -o r2.h5 --method random --seed 9 --json
cmp -s out r1.json || { echo "FAIL: random pairing differs for the same seed"; fails=$((fails + 1)); }
# more target than source classes: refused, except by --method all
expect 65 "$PAIR" --source tgt.h5 --target src.h5 -o x.h5
has err '^xm-pair: error: the target has 3 classes but the source only 2: one-to-one pairing needs'
expect 0 "$PAIR" --source tgt.h5 --target src.h5 -o all.h5 --method all --similarity-out sim.h5 -q
$PY - <<'EOF' || { echo "FAIL: --method all / --similarity-out"; fails=$((fails + 1)); }
import h5py, numpy as np
a, s = h5py.File("all.h5", "r"), h5py.File("sim.h5", "r")
assert len(a["target"]) == 6 and (a["round"][()] == 0).all() and a.attrs["aux_size"] == 11
S = s["similarity"][()]
assert S.shape == (3, 2) and S.dtype == np.float32
assert np.allclose(S[a["target"][()], a["source"][()]], a["similarity"][()])
assert list(s["target_classes"].asstr()[()]) == ["s-zero", "s-one", "s-two"]
EOF
# 5. montage from .xms files (class counts as in the centroid files)
mkdir -p td/t0 td/t1 sd/a sd/b sd/c
cp "$IMG/photo.jpg" "$IMG/small.png" td/t0/; cp "$IMG/gray.jpg" td/t1/
cp "$IMG/prog.jpg" sd/a/; cp "$IMG/rgba.png" sd/b/; cp "$IMG/tall.png" sd/c/
"$BIN/xm-pack" td -o t.xms --size 24 -q && "$BIN/xm-pack" sd -o s.xms --size 24 -q ||
    { echo "FAIL: xm-pack"; fails=$((fails + 1)); }
expect 0 "$PAIR" --source src.h5 --target tgt.h5 -o g2.h5 --montage m.png --target-data t.xms \
    --source-data s.xms --tile 16 -q
$PY -c "
import zlib, struct
b = open('m.png', 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n'
w, h = struct.unpack('>II', b[16:24])
assert (w, h) == (4*16 + 6 + 4*16, 2*16), (w, h)
" || { echo "FAIL: montage PNG size"; fails=$((fails + 1)); }
expect 65 "$PAIR" --source src.h5 --target tgt.h5 -o g3.h5 --montage m3.png --target-data s.xms --source-data s.xms
has err '^xm-pair: error: s.xms: 3 classes, the target centroids have 2$'
[ ! -e g3.h5 ] || true  # the pairs file is written before the montage; only the PNG must not exist
[ ! -e m3.png ] || { echo "FAIL: m3.png exists after a failure"; fails=$((fails + 1)); }
# 6. bad inputs
expect 65 "$PAIR" --source empty.h5 --target tgt.h5 -o x.h5
has err "^xm-pair: error: empty.h5: class 'b' \(1\) has no samples$"
expect 65 "$PAIR" --source src.h5 --target dim3.h5 -o x.h5
has err '^xm-pair: error: dim3.h5: features have dimension 3, the source \(src.h5\) 2$'
expect 65 "$PAIR" --source inf.h5 --target tgt.h5 -o x.h5
has err '^xm-pair: error: inf.h5: sums row 1 column 0 is not finite$'
expect 66 "$PAIR" --source nothere.h5 --target tgt.h5 -o x.h5
lines err 1
expect 2 "$PAIR" --source src.h5 --target tgt.h5 -o x.h5 --method best
has err "^xm-pair: error: --method: 'best': must be greedy, optimal, random or all$"
expect 2 "$PAIR" --source src.h5 --target tgt.h5 -o x.h5 --rounds 1 --min-aux 5
has err '^xm-pair: error: --rounds and --min-aux exclude each other$'
expect 2 "$PAIR" --source src.h5 -o x.h5
expect 2 "$PAIR" --source src.h5 --target tgt.h5 -o x.h5 --montage m.png
has err '^xm-pair: error: --montage needs --target-data and --source-data$'
expect 73 "$PAIR" --source src.h5 --target tgt.h5 -o g.h5
[ ! -e x.h5 ] || { echo "FAIL: x.h5 left behind"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary files left: $(ls -a)"; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "test_pair.sh: all passed"
exit $((fails > 0))
