#!/bin/bash
# test_pack.sh: pins xm-pack's exit codes and one-line messages for bad
# inputs, and checks packing is identical whatever the thread count.
set -u
BIN=${XM_BIN:?}; IMG=${XM_TESTS:?}/images
PACK="$BIN/xm-pack"
. "$(dirname "$0")/lib.sh"
cli_setup pack

mkdir -p good/a good/b good/c/sub
cp "$IMG/photo.jpg" "$IMG/small.png" good/a/
cp "$IMG/gray.jpg" good/b/
cp "$IMG/png_named.jpg" good/b/z.jpg        # a PNG named .jpg: decoded by its magic bytes
cp "$IMG/prog.jpg" good/c/sub/p.jpg         # nested, as torchvision's os.walk finds it
echo notes > good/a/readme.txt              # not an image extension: ignored

# 1. a good ImageFolder, then identical output for 1 and 2 threads
expect 0 "$PACK" good -o t1.xms --size 32 --threads 1 --channels 3
has err '^xm-pack: t1.xms: 5 records, 3 classes, [0-9]+ bytes in, [0-9]+ bytes out, ratio [0-9.]+ \(pixels [0-9.]+\), [0-9.]+ s, 0 skipped$'
lines err 1
expect 0 "$PACK" good -o t2.xms --size 32 --threads 2 -q --channels 3
lines err 0
cmp -s t1.xms t2.xms || { echo "FAIL: output differs between 1 and 2 threads"; fails=$((fails + 1)); }
expect 0 "$PACK" --verify t1.xms
has out '^t1.xms: ok \(5 records, 1 blocks\)$'
expect 0 "$PACK" --info t1.xms -v
has out '^  records   5$'
has out '^  shape     32x32x3'
has out '^  class 2  c +1$'

# the lossy JPEG codec: packs, verifies, says so in --info
expect 0 "$PACK" good -o tj.xms --size 32 --channels 3 --codec jpeg --quality 85 -q
expect 0 "$PACK" --info tj.xms
has out '^  codec     jpeg \(lossy\)$'
expect 0 "$PACK" --extract tj.xms --records 0 -o exj
expect 2 "$PACK" good -o tk.xms --codec webp
has err "^xm-pack: error: --codec: 'webp': must be raw or jpeg$"

# 2. --extract: PNGs named so they sort in record order
expect 0 "$PACK" --extract t1.xms --records 4,0,3 -o ex
[ "$(ls ex | tr '\n' ' ')" = "000000.png 000003.png 000004.png " ] || { echo "FAIL: extract names: $(ls ex)"; fails=$((fails + 1)); }
# round trip: the extracted PNGs pack back to the same pixels (native size)
printf 'ex/000000.png\ta\nex/000003.png\tb\nex/000004.png\tc\n' > ex.list
expect 0 "$PACK" ex.list -o back.xms
expect 0 "$PACK" --extract back.xms --records 0,1,2 -o ex2
expect 0 "$PACK" --extract t1.xms --records 4 -o ex3
cmp -s ex3/000004.png ex2/000002.png || { echo "FAIL: PNG round trip differs"; fails=$((fails + 1)); }

# 3. bad images: skipped and listed by default, fatal with --strict
mkdir -p bad/x
cp "$IMG/photo.jpg" bad/x/ok.jpg
cp "$IMG/trunc.jpg" bad/x/trunc.jpg
expect 0 "$PACK" bad -o b.xms --size 16
has err '^xm-pack: skipped bad/x/trunc.jpg: .*(truncated|premature)'
has err '1 records, 1 classes, .* 1 skipped$'
expect 65 "$PACK" bad -o b2.xms --size 16 --strict
has err '^xm-pack: error: bad/x/trunc.jpg: .*(truncated|premature)'
lines err 1
[ -e b2.xms ] && { echo "FAIL: --strict failure left an output"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary file left behind"; fails=$((fails + 1)); }

# bomb header: refused before any large allocation
rm bad/x/trunc.jpg; cp "$IMG/bomb.jpg" bad/x/bomb.jpg
expect 65 "$PACK" bad -o b3.xms --strict
has err '^xm-pack: error: bad/x/bomb.jpg: image too large'
lines err 1
# empty file
rm bad/x/bomb.jpg; : > bad/x/empty.jpg
expect 65 "$PACK" bad -o b4.xms --strict
has err '^xm-pack: error: bad/x/empty.jpg: empty file$'
# missing file named by a list: skipped (66 with --strict)
printf '%s\t0\nnope.jpg\t0\n' "$IMG/photo.jpg" > miss.list
expect 0 "$PACK" miss.list -o m.xms --size 16
has err '^xm-pack: skipped .*nope.jpg: No such file or directory$'
expect 66 "$PACK" miss.list -o m2.xms --size 16 --strict
has err '^xm-pack: error: .*nope.jpg: No such file or directory$'
lines err 1
# missing input
expect 66 "$PACK" nowhere -o n.xms
has err '^xm-pack: error: nowhere: No such file or directory$'
# every image bad
mkdir -p allbad/k; : > allbad/k/e.png
expect 65 "$PACK" allbad -o ab.xms
has err '^xm-pack: error: every image was skipped; nothing to pack$'

# 4. existing output: refused without --force (73), replaced with it
expect 73 "$PACK" good -o t1.xms --size 32
has err '^xm-pack: error: t1.xms: exists \(use --force to overwrite\)$'
lines err 1
expect 0 "$PACK" good -o t1.xms --size 16 --force -q --channels 3
expect 0 "$PACK" --info t1.xms
has out 'shape     16x16x3'

# 5. --verify on a corrupted file: 65 naming the block
cp t2.xms c.xms
printf '\xff' | dd of=c.xms bs=1 seek=200 conv=notrunc status=none
expect 65 "$PACK" --verify c.xms
has err '^xm-pack: error: c.xms: block 0 \(offset 128\): checksum mismatch$'
lines err 1
head -c 1000 t2.xms > trunc.xms
expect 65 "$PACK" --verify trunc.xms
has err '^xm-pack: error: trunc.xms: truncated or extended: 1000 bytes, header says [0-9]+$'
expect 65 "$PACK" --info "$IMG/photo.jpg"
has err 'not an .xms file \(bad magic\)$'

# 6. usage errors: exit 2, one line
expect 2 "$PACK" --bogus
has err "^xm-pack: error: unknown option '--bogus' \(see --help\)$"
lines err 1
expect 2 "$PACK" good -o x.xms --size 12x
has err "^xm-pack: error: --size: '12x': not an integer$"
expect 2 "$PACK" good -o x.xms --size 32 --native
expect 2 "$PACK" good
has err '^xm-pack: error: no output: give -o OUT.xms$'
expect 2 "$PACK" "$IMG/photo.jpg" -o x.xms
has err 'an image, not an input'
expect 2 "$PACK" good -o 'x.xms' --shard-size 2
has err 'needs a %d pattern'
expect 0 "$PACK" --help
has out '^usage: xm-pack '
expect 0 "$PACK" --version
has out '^xm-pack [0-9]'

# 7. list file on stdin with class names, shards
printf 'good/a/photo.jpg\tcat\ngood/b/gray.jpg\tdog\ngood/a/small.png\tcat\n' | "$PACK" - -o 'sh-%02d.xms' --shard-size 2 --size 8 -q
[ -f sh-00.xms ] && [ -f sh-01.xms ] && [ ! -e sh-02.xms ] || { echo "FAIL: shards: $(ls sh-*)"; fails=$((fails + 1)); }
expect 0 "$PACK" --info sh-00.xms sh-01.xms
has out 'sh-01.xms: .xms version 1'
expect 0 "$PACK" --extract sh-00.xms sh-01.xms --records 2 -o shx
[ -f shx/000002.png ] || { echo "FAIL: extract across shards"; fails=$((fails + 1)); }
printf 'good/a/photo.jpg\t7\n' > badlabel.list
printf 'cat\ndog\n' > classes.txt
expect 65 "$PACK" badlabel.list --classes classes.txt -o bl.xms
has err "^xm-pack: error: good/a/photo.jpg: label 7 out of range \(2 classes\)$"

# 8. IDX pair (Fashion-MNIST test set when installed)
F=/usr/share/datasets/fashion-mnist
if [ -f $F/t10k-images-idx3-ubyte.gz ]; then
    expect 0 "$PACK" $F/t10k-images-idx3-ubyte.gz -o fm.xms
    has err '^xm-pack: fm.xms: 10000 records, 10 classes'
    expect 0 "$PACK" --extract fm.xms --records 0,9999 -o fmx
    [ -f fmx/000000.png ] && [ -f fmx/009999.png ] || { echo "FAIL: IDX extract"; fails=$((fails + 1)); }
    expect 66 "$PACK" $F/t10k-images-idx3-ubyte.gz --idx-labels nolabels -o fm2.xms
fi

# 9. SIGTERM mid-run: exit 143 and the temporary output is removed. 3,000
# photos on one thread take seconds after the output was opened (a FIFO in
# the list no longer blocks: it is refused as not a regular file).
for i in $(seq 3000); do printf '%s\t0\n' "$IMG/photo.jpg"; done > sig.list
"$PACK" sig.list -o sig.xms --threads 1 --size 64 -q 2>sigerr &
pid=$!
( exec >/dev/null 2>&1; sleep 30; kill -KILL $pid ) & watchdog=$!   # never hang the suite (no pipe kept open)
for i in $(seq 100); do ls -a | grep -q '^\.sig\.xms\.tmp\.' && break; sleep 0.05; done
ls -a | grep -q '^\.sig\.xms\.tmp\.' || { echo "FAIL: no temporary output seen"; fails=$((fails + 1)); }
kill -TERM $pid
wait $pid; st=$?
kill $watchdog 2>/dev/null; wait $watchdog 2>/dev/null
[ "$st" = 143 ] || { echo "FAIL: SIGTERM exit $st, want 143"; fails=$((fails + 1)); }
ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary file left after SIGTERM"; fails=$((fails + 1)); }
[ -e sig.xms ] && { echo "FAIL: output published after SIGTERM"; fails=$((fails + 1)); }
rm -f stall.png

ls -a | grep -q '\.tmp\.' && { echo "FAIL: temporary file left behind"; fails=$((fails + 1)); }
echo "$fails failures"
[ "$fails" = 0 ]
