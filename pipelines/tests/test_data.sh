#!/bin/bash
# test_data.sh: the pipelines' data helpers. xmpl-chars on two fonts (record
# count, test-font split, byte-identical reruns); xmpl-digits on a synthetic
# 2000 x 1000 sheet whose cells carry their own index, so the K-shot split
# can be checked (K per class, train and test disjoint, no cell twice, the draw
# changes with the seed). Skips (77) what it lacks.
set -u
BIN=${XM_BIN:?}
[ -x "$BIN/xm-pack" ] || { echo "skipped: no $BIN/xm-pack"; exit 77; }
T=$(mktemp -d /tmp/xm_test_pldata.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ran=0
F1=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
F2=/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf
if [ -x "$BIN/xmpl-chars" ] && [ -f "$F1" ] && [ -f "$F2" ]; then
    ran=1
    printf '# two fonts\n%s\n%s\n' "$F1" "$F2" > "$T/fonts.txt"
    "$BIN/xmpl-chars" -q --fonts "$T/fonts.txt" --holdout-every 2 --per-font 2 -o "$T/a.xms" || fail "xmpl-chars train"
    "$BIN/xmpl-chars" -q --fonts "$T/fonts.txt" --holdout-every 2 --per-font 2 -o "$T/b.xms" || fail "xmpl-chars rerun"
    cmp -s "$T/a.xms" "$T/b.xms" || fail "xmpl-chars: reruns differ"
    "$BIN/xmpl-chars" -q --fonts "$T/fonts.txt" --holdout-every 2 --per-font 1 --split test -o "$T/t.xms" || fail "xmpl-chars test"
    "$BIN/xm-pack" --info "$T/a.xms" | grep -q 'records   124$' || fail "train: not 62 x 2 records"
    "$BIN/xm-pack" --info "$T/t.xms" | grep -q 'records   62$' || fail "test: not 62 records"
    "$BIN/xm-pack" --info "$T/a.xms" | grep -q '28x28x1' || fail "not 28 x 28 x 1"
    "$BIN/xmpl-chars" -q --fonts "$T/nope.txt" -o "$T/c.xms" 2>/dev/null; [ $? = 66 ] || fail "missing font list: not 66"
    printf '/nonexistent/font.ttf\n' > "$T/bad.txt"
    "$BIN/xmpl-chars" -q --fonts "$T/bad.txt" --holdout-every 2 -o "$T/c.xms" 2>/dev/null; [ $? = 66 ] || fail "missing font: not 66"
    [ -e "$T/c.xms" ] && fail "a failed run left its output"
fi
PY=/usr/bin/python3
if [ -x "$BIN/xmpl-digits" ] && $PY -c 'import PIL, numpy' 2>/dev/null; then
    ran=1
    # cell (r, c) carries r + 1 at its centre and c + 1 at (5, 5)
    $PY - "$T/sheet.png" <<'PYEOF'
import sys, numpy as np
from PIL import Image
a = np.zeros((1000, 2000), np.uint8)
for r in range(50):
    for c in range(100):
        a[r * 20 + 10, c * 20 + 10] = r + 1
        a[r * 20 + 5, c * 20 + 5] = c + 1
Image.fromarray(a).save(sys.argv[1])
PYEOF
    for s in 1 2; do
        "$BIN/xmpl-digits" -q --seed $s -k 7 "$T/sheet.png" -o "$T/tr$s.xms" || fail "digits train"
        "$BIN/xmpl-digits" -q --seed $s -k 7 --split test "$T/sheet.png" -o "$T/te$s.xms" || fail "digits test"
    done
    "$BIN/xm-pack" --info "$T/tr1.xms" | grep -q 'records   70$' || fail "train: not 70 records"
    "$BIN/xm-pack" --info "$T/te1.xms" | grep -q 'records   4930$' || fail "test: not 4930 records"
    n=$("$BIN/xm-pack" --extract "$T/tr1.xms" --records 0,1,2,3,4,5,6 -o "$T/x1" -q && ls "$T/x1" | wc -l)
    [ "$n" = 7 ] || fail "extract"
    $PY - "$T" <<'PYEOF' || fails=$((fails + 1))
import sys, subprocess, os, numpy as np
from PIL import Image
T = sys.argv[1]; B = os.environ["XM_BIN"]
def cells(name, n):
    d = f"{T}/{name}"
    subprocess.run([f"{B}/xm-pack", "--extract", f"{T}/{name}.xms", "--records", ",".join(map(str, range(n))), "-o", d, "-q"], check=True)
    out = []
    for f in sorted(os.listdir(d)):
        a = np.asarray(Image.open(f"{d}/{f}"))
        assert a.shape == (28, 28), a.shape
        out.append((int(a[14, 14]) - 1, int(a[9, 9]) - 1))   # 4 px pad: (10,10) -> (14,14)
    return out
tr1, te1, tr2 = cells("tr1", 70), cells("te1", 300), cells("tr2", 70)   # extracting is slow: 300 test cells
ok = True
for cls in range(10):
    if sum(1 for r, c in tr1 if r // 5 == cls) != 7: ok = False; print("FAIL: class", cls, "has not 7 training cells")
if set(tr1) & set(te1): ok = False; print("FAIL: train and test overlap")
if len(set(tr1) | set(te1)) != 370: ok = False; print("FAIL: repeated cells")
if tr1 == tr2: ok = False; print("FAIL: seeds 1 and 2 draw the same cells")
sys.exit(0 if ok else 1)
PYEOF
    "$BIN/xmpl-digits" -q "$T/fonts.txt" -o "$T/bad.xms" 2>/dev/null; [ $? -ne 0 ] || fail "a non-PNG accepted"
fi
[ "$ran" = 1 ] || { echo "skipped: no fonts, helpers or python3 PIL"; exit 77; }
[ "$fails" = 0 ] && echo "all passed"
exit $((fails > 0))
