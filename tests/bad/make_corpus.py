#!/usr/bin/python3
"""make_corpus.py OUTDIR BINDIR: write the bad-input corpus and its manifest.

Run by tests/cli/test_bad_corpus.sh at test time (nothing generated here is
committed). Valid base files (IDX, .xms, model, features, centroids, pairs,
plan, checkpoint) are made with the tools in BINDIR, then mutated: malformed
images, IDX headers, .xms files (every byte flipped, random flips, truncation
per region, index entries rebuilt with valid checksums but hostile values),
HDF5 files (truncated, flipped, wrong shapes, dtypes and meanings), training
inputs (NaN, exploding learning rate, broken checkpoints) and options out of
range.

OUTDIR/cases.tsv has one case per line, tab-separated:
    id  group  codes  lines  keep  regex  names  tool  arg...
codes: accepted exit codes ("65" or "0,65"); lines: lines expected on stderr
("*" = any); keep: the one file allowed in the output directory after a run
that exits 0 ("-": none); regex: POSIX ERE the first stderr line must match
(when the run fails); names: a literal the first stderr line must contain
(the input file, dataset or option; "-": none); @O in an argument is the
case's empty output directory. The runner's cwd is OUTDIR, so file names in
messages are the relative names written here.

Needs numpy, h5py, PIL and zstandard (Debian's python3-* packages).
"""
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib

import h5py
import numpy as np
import zstandard
from PIL import Image

OUT, BIN = sys.argv[1], sys.argv[2]
os.makedirs(OUT, exist_ok=True)
os.chdir(OUT)
CASES = []


def case(group, codes, regex, names, *cmd, lines=1, keep="-"):
    """One case; cmd[0] is the tool name (xm-pack, ...)."""
    cid = "%s-%04d" % (group, sum(1 for c in CASES if c[1] == group))
    regex = regex or "."
    assert "\t" not in regex and all("\t" not in str(a) for a in cmd)
    CASES.append([cid, group, str(codes), str(lines), keep, regex, names or "-"] + [str(a) for a in cmd])


def tool(*args):
    subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wr(path, data):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def rd(path):
    with open(path, "rb") as f:
        return f.read()


rng = random.Random(8)

# ------------------------------------------------------------------ bases
os.makedirs("base", exist_ok=True)


def idx_bytes(n, h, w, ncls, seed):
    r = np.random.default_rng(seed)
    lab = (np.arange(n) % ncls).astype(np.uint8)
    px = np.clip(r.normal(40 + 30 * lab[:, None], 20, (n, h * w)), 0, 255).astype(np.uint8)
    return (struct.pack(">IIII", 0x803, n, h, w) + px.tobytes(),
            struct.pack(">II", 0x801, n) + lab.tobytes())


for name, n, side, ncls, seed in [("tgt", 8, 8, 2, 1), ("src", 12, 8, 3, 2), ("tiny", 2, 4, 2, 3),
                                  ("big", 400, 8, 4, 4)]:
    im, lb = idx_bytes(n, side, side, ncls, seed)
    wr("base/%s-images-idx3-ubyte" % name, im)
    wr("base/%s-labels-idx1-ubyte" % name, lb)
for name in ("tgt", "src", "tiny"):
    tool("xm-pack", "-q", "base/%s-images-idx3-ubyte" % name, "-o", "base/%s.xms" % name)
tool("xm-pack", "-q", "--block-kib", "2", "base/big-images-idx3-ubyte", "-o", "base/big.xms")
tool("xm-pack", "-q", "--mix", "none", "--target", "base/src.xms", "--steps", "1", "--batch", "4",
     "--seed", "1", "-o", "base/pre.plan.h5")
tool("xm-train", "-q", "--arch", "resnet20", "--init-seed", "1", "base/pre.plan.h5", "-o", "base/model.h5",
     "-j", "1")
os.remove("base/model.ckpt.h5")
tool("xm-embed", "-q", "-m", "base/model.h5", "base/src.xms", "-o", "base/src.feat.h5", "-j", "1")
tool("xm-embed", "-q", "-m", "base/model.h5", "base/tgt.xms", "-o", "base/tgt.feat.h5", "-j", "1")
tool("xm-centroid", "-q", "base/src.feat.h5", "-o", "base/src.cent.h5")
tool("xm-centroid", "-q", "base/tgt.feat.h5", "-o", "base/tgt.cent.h5")
tool("xm-pair", "-q", "--source", "base/src.cent.h5", "--target", "base/tgt.cent.h5", "-o", "base/pairs.h5")
tool("xm-pack", "-q", "--mix", "xmixup", "--target", "base/tgt.xms", "--partner", "base/src.xms", "--pairs",
     "base/pairs.h5", "--steps", "4", "--batch", "4", "--seed", "2", "-o", "base/plan.h5")
tool("xm-train", "-q", "-m", "base/model.h5", "base/plan.h5", "-o", "base/tuned.h5", "--stop-after", "2",
     "-j", "1")
os.mkfifo("base/fifo")
os.mkdir("base/dir.h5")
wr("base/empty", b"")

# ------------------------------------------------------------------ images
# One list file per case: a good image, then the bad one. --strict: the bad
# one is fatal (65, or 66 for files that cannot be read); without: it is
# skipped and listed, and the good one is packed (exit 0, out.xms).
a = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
good = io.BytesIO()
Image.fromarray(a).save(good, "PNG")
wr("img/good.png", good.getvalue())
jb = io.BytesIO()
Image.fromarray(a).save(jb, "JPEG", quality=90)
JPG = jb.getvalue()
pb = io.BytesIO()
Image.fromarray(a).save(pb, "PNG")
PNG = pb.getvalue()


def jpeg_segments(b):
    """[(offset, marker)] of the markers before the first SOS."""
    out, i = [], 2
    while i < len(b) - 4:
        m = b[i + 1]
        out.append((i, m))
        if m == 0xDA:
            break
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    return out


def sof_off(b):
    return [o for o, m in jpeg_segments(b) if m in (0xC0, 0xC1, 0xC2, 0xC3)][0]


def patch(b, off, data):
    return b[:off] + data + b[off + len(data):]


def jpeg_dims(b, h, w):
    o = sof_off(b)
    return patch(b, o + 5, struct.pack(">HH", h, w))


def png_chunk(typ, data):
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data) & 0xffffffff)


def png_raw(w, h, depth=8, ctype=2, rows=None, extra=b"", idat=None, ihdr_crc=None):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    c = png_chunk(b"IHDR", ihdr)
    if ihdr_crc is not None:
        c = c[:-4] + struct.pack(">I", ihdr_crc)
    if idat is None:
        raw = rows if rows is not None else b"".join(b"\0" + bytes(w * 3) for _ in range(h))
        idat = png_chunk(b"IDAT", zlib.compress(raw))
    return b"\x89PNG\r\n\x1a\n" + c + extra + idat + png_chunk(b"IEND", b"")


prog = io.BytesIO()
Image.fromarray(a).save(prog, "JPEG", quality=90, progressive=True)
PROG = prog.getvalue()
# hundreds of scans: repeat the last (refinement) scan of a progressive file
last_sos = PROG.rfind(b"\xff\xda")
many = PROG[:last_sos] + PROG[last_sos:-2] * 600 + b"\xff\xd9"
cmyk = io.BytesIO()
Image.fromarray(a).convert("CMYK").save(cmyk, "JPEG", quality=90)
gray = io.BytesIO()
Image.fromarray(a[:, :, 0]).save(gray, "JPEG", quality=90)

def seg(m, data):
    return b"\xff" + bytes([m]) + struct.pack(">H", len(data) + 2) + data
def scans_jpeg(al0=9, side=32):
    """A valid grayscale progressive JPEG of a flat image with 1 + 63 x
    (al0 + 1) scans: one per AC coefficient and bit plane (successive
    approximation), each all EOB; al0 = 9: 631 scans."""
    dqt = seg(0xDB, b"\x00" + bytes([1] * 64))
    sof = seg(0xC2, struct.pack(">BHHB", 8, side, side, 1) + b"\x01\x11\x00")
    dc_bits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    dht_dc = seg(0xC4, b"\x00" + bytes(dc_bits) + bytes(range(12)))
    ac_bits = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d]
    ac_vals = bytes.fromhex(
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")
    assert len(ac_vals) == 162 == sum(ac_bits)
    dht_ac = seg(0xC4, b"\x10" + bytes(ac_bits) + ac_vals)
    nblk = (side // 8) ** 2
    def bits(code, n):  # n copies of a bit string, padded with 1s
        s = code * n
        s += "1" * (-len(s) % 8)
        return bytes(int(s[i:i + 8], 2) for i in range(0, len(s), 8))
    out = b"\xff\xd8" + dqt + sof + dht_dc + dht_ac
    out += seg(0xDA, b"\x01\x01\x00" + bytes([0, 0, 0])) + bits("00", nblk)  # DC, all zero
    n = 1
    for k in range(1, 64):
        out += seg(0xDA, b"\x01\x01\x00" + bytes([k, k, al0])) + bits("1010", nblk)
        n += 1
        for a in range(al0, 0, -1):
            out += seg(0xDA, b"\x01\x01\x00" + bytes([k, k, (a << 4) | (a - 1)])) + bits("1010", nblk)
            n += 1
    return out + b"\xff\xd9", n

SCANS631, n631 = scans_jpeg(9)
SCANS379, n379 = scans_jpeg(5)
assert (n631, n379) == (631, 379)

IMAGES = [  # name, bytes, regex (after "FILE: "), exit code under --strict
    ("trunc0.jpg", b"", "empty file", 65),
    ("trunc2.jpg", JPG[:2], "not a JPEG or PNG", 65),
    ("trunc100.jpg", JPG[:100], "truncated JPEG", 65),
    ("trunchalf.jpg", JPG[:len(JPG) // 2], "(truncated|corrupt) JPEG", 65),
    ("truncm1.jpg", JPG[:-1], "(truncated|corrupt) JPEG", 65),
    ("noeoi.jpg", JPG[:-2], "(truncated|corrupt) JPEG", 65),
    ("huge60000.jpg", jpeg_dims(JPG, 60000, 60000), "image too large \\(60000 x 60000", 65),
    ("wide65500x1.jpg", jpeg_dims(JPG, 1, 65500), "(truncated|corrupt) JPEG", 65),
    ("h0.jpg", jpeg_dims(JPG, 0, 32), "(corrupt|empty) JPEG", 65),
    ("w0.jpg", jpeg_dims(JPG, 32, 0), "(corrupt|empty) JPEG", 65),
    ("manyscans.jpg", many, "corrupt JPEG", 65),  # one scan repeated 600 times: bogus progression
    ("scans631.jpg", SCANS631, "corrupt JPEG \\(Progressive JPEG image has more than 500 scans", 65),  # valid, but over TurboJPEG's scan limit
    ("cmyk-trunc.jpg", cmyk.getvalue()[:300], "(truncated|corrupt) JPEG", 65),
    ("12bit.jpg", patch(JPG, sof_off(JPG) + 4, b"\x0c"), "corrupt JPEG", 65),
    ("lossless.jpg", patch(JPG, sof_off(JPG) + 1, b"\xc3"), "corrupt JPEG", 65),
    ("arith.jpg", patch(JPG, sof_off(JPG) + 1, b"\xc9"), "corrupt JPEG", 65),
    ("hier.jpg", patch(JPG, sof_off(JPG) + 1, b"\xc5"), "corrupt JPEG", 65),
    ("ncomp9.jpg", patch(JPG, sof_off(JPG) + 9, b"\x09"), "corrupt JPEG", 65),
    ("random.jpg", bytes(rng.randrange(256) for _ in range(3000)), "not a JPEG or PNG", 65),
    ("soi-random.jpg", b"\xff\xd8" + bytes(rng.randrange(256) for _ in range(3000)), "not a JPEG or PNG", 65),
    ("soi-ff-random.jpg", b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(3000)), "(truncated|corrupt) JPEG", 65),
    ("text.jpg", b"hello, I am not an image\n" * 20, "not a JPEG or PNG", 65),
    ("png-crc-ihdr.png", png_raw(8, 8, ihdr_crc=0x12345678), "corrupt PNG", 65),
    ("png-crc-idat.png", PNG[:-16] + bytes([PNG[-16] ^ 1]) + PNG[-15:], "corrupt PNG", 65),
    ("png-huge.png", png_raw(60000, 60000, idat=png_chunk(b"IDAT", zlib.compress(b"\0" * 100))),
     "image too large \\(60000 x 60000", 65),
    ("png-huge2.png", png_raw(0x7fffffff, 0x7fffffff, idat=b""), "(corrupt PNG|image too large)", 65),
    ("png-w0.png", png_raw(0, 8, idat=b""), "(corrupt|empty) PNG", 65),
    ("png-depth3.png", png_raw(8, 8, depth=3), "corrupt PNG", 65),
    ("png-ctype5.png", png_raw(8, 8, ctype=5), "corrupt PNG", 65),
    ("png-nopalette.png", png_raw(8, 8, ctype=3, rows=b"".join(b"\0" + bytes(8) for _ in range(8))),
     "corrupt PNG", 65),
    ("png-trunc-idat.png", PNG[:len(PNG) - 30], "(truncated|corrupt) PNG", 65),
    ("png-trunc-sig.png", PNG[:12], "(truncated|corrupt) PNG", 65),
    ("png-short-rows.png", png_raw(8, 8, rows=b"\0" * 20), "(truncated|corrupt) PNG", 65),
    ("png-bad-filter.png", png_raw(8, 8, rows=b"".join(b"\x09" + bytes(24) for _ in range(8))), "corrupt PNG", 65),
    ("png-bad-zlib.png", png_raw(8, 8, idat=png_chunk(b"IDAT", b"\x78\x9c" + bytes(40))), "corrupt PNG", 65),
    ("png-text-huge.png", png_raw(8, 8, extra=struct.pack(">I", 0x7ffffff0) + b"tEXt" + b"k\0" + b"v" * 64),
     "(truncated|corrupt) PNG", 65),
    ("png-text-big.png", png_raw(8, 8, extra=png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"x" * (64 << 20)))),
     "(ok|corrupt PNG)", 65),
    ("png-chunklen.png", png_raw(8, 8, extra=struct.pack(">I", 0xfffffff0) + b"abCD"), "(truncated|corrupt) PNG", 65),
    ("png-named.jpg", PNG[:40], "(truncated|corrupt) PNG", 65),
    ("dir.jpg", None, "not a regular file", 66),
    ("fifo.jpg", "fifo", "not a regular file", 66),
    ("missing.jpg", "missing", "No such file", 66),
]
# png-text-big: a 64 MiB zTXt bomb; libpng's chunk limits refuse or skip it.
# It is an ancillary chunk, so decoding may succeed: then --strict exits 0.
for name, data, rx, code in IMAGES:
    p = "img/" + name
    if data is None:
        os.makedirs(p, exist_ok=True)
    elif data == "fifo":
        os.mkfifo(p)
    elif data == "missing":
        pass
    else:
        wr(p, data)
    lst = wr("img/%s.list" % name, ("good.png\t0\n%s\t1\n" % name).encode())
    if name == "png-text-big.png":
        case("image", "0,65", rx, p, "xm-pack", "--strict", lst, "-o", "@O/out.xms", lines="*", keep="out.xms")
        case("image", "0", "", "-", "xm-pack", lst, "-o", "@O/out.xms", lines="*", keep="out.xms")
        continue
    case("image", code, "^xm-pack: error: %s: (%s)" % (p.replace(".", "\\."), rx), p,
         "xm-pack", "--strict", "--size", "16", lst, "-o", "@O/out.xms")
    case("image", 0, "^xm-pack: skipped %s: (%s)" % (p.replace(".", "\\."), rx), p,
         "xm-pack", "--size", "16", lst, "-o", "@O/out.xms", lines=2, keep="out.xms")
# the valid odd ones decode: CMYK, grayscale, progressive, PNG named .jpg
sos = JPG.find(b"\xff\xda")
nohuff = JPG[:2] + b"".join(JPG[o:o + 2 + struct.unpack(">H", JPG[o + 2:o + 4])[0]]
                            for o, m in jpeg_segments(JPG) if m not in (0xC4, 0xDA)) + JPG[sos:]
# valid odd ones decode: CMYK, grayscale, progressive, PNG named .jpg, no
# Huffman tables (libjpeg's defaults, as for Motion-JPEG)
for name, data in [("cmyk.jpg", cmyk.getvalue()), ("gray.jpg", gray.getvalue()), ("prog.jpg", PROG),
                   ("png-as.jpg", PNG), ("nohuff.jpg", nohuff),
                   ("scans379.jpg", SCANS379)]:
    wr("img/" + name, data)
    lst = wr("img/%s.list" % name, ("good.png\t0\n%s\t1\n" % name).encode())
    case("image", 0, "", "-", "xm-pack", "-q", "--strict", "--size", "16", lst, "-o", "@O/out.xms", lines=0,
         keep="out.xms")
# only bad images: nothing to pack
lst = wr("img/allbad.list", b"trunc2.jpg\t0\nrandom.jpg\t1\n")
case("image", 65, "^xm-pack: error: every image was skipped", "-", "xm-pack", lst, "-o", "@O/out.xms", lines=3)
# an image directory (ImageFolder) holding a FIFO and a truncated image
os.makedirs("img/folder/a", exist_ok=True)
os.makedirs("img/folder/b", exist_ok=True)
wr("img/folder/a/good.png", PNG)
wr("img/folder/b/bad.jpg", JPG[:100])
os.mkfifo("img/folder/b/pipe.png")
case("image", 65, "^xm-pack: error: img/folder/b/bad\\.jpg: ", "img/folder/b/bad.jpg", "xm-pack", "--strict",
     "img/folder", "-o", "@O/out.xms")
case("image", 0, "^xm-pack: skipped img/folder/b/bad\\.jpg: ", "img/folder/b/bad.jpg", "xm-pack",
     "img/folder", "-o", "@O/out.xms", lines=3, keep="out.xms")
case("image", 66, "^xm-pack: error: img/folder/b/pipe\\.png: not a regular file", "img/folder/b/pipe.png",
     "xm-pack", "--strict", "img/folder/b/pipe.png", "-o", "@O/out.xms")
# list files themselves: a FIFO, a directory of nothing, bad lines
case("image", 66, "^xm-pack: error: base/fifo: not a regular file", "base/fifo", "xm-pack", "base/fifo",
     "-o", "@O/out.xms")
wr("img/badline.list", b"good.png\n")
case("image", 65, "^xm-pack: error: img/badline\\.list:1: expected", "img/badline.list", "xm-pack",
     "img/badline.list", "-o", "@O/out.xms")
wr("img/nul.list", b"good.png\t0\0\n")
case("image", 65, "^xm-pack: error: img/nul\\.list:1: NUL byte", "img/nul.list", "xm-pack", "img/nul.list", "-o",
     "@O/out.xms")
case("image", 66, "^xm-pack: error: base/fifo: not a regular file", "base/fifo", "xm-pack", "--classes",
     "base/fifo", "img/trunc2.jpg.list", "-o", "@O/out.xms")
# (unreadable file: we run as root, where chmod 000 does not stop reads)

# ------------------------------------------------------------------ IDX
IM, LB = rd("base/tgt-images-idx3-ubyte"), rd("base/tgt-labels-idx1-ubyte")


def idx_case(name, im, lb, code, rx, names=None, extra=()):
    p = "idx/%s-images-idx3-ubyte" % name
    wr(p, im)
    if lb is not None:
        wr("idx/%s-labels-idx1-ubyte" % name, lb)
    names = names or p
    for strict in ((), ("--strict",)):
        case("idx", code, "^xm-pack: error: %s(:1)?: .*(%s)" % (names.replace(".", "\\."), rx or "."), names,
             "xm-pack", *strict, *extra, p, "-o", "@O/out.xms")


hdr = lambda *v: struct.pack(">" + "I" * len(v), *v)
body = IM[16:]
# not IDX magic: the input is taken for a list file, whose first line is not 'path<TAB>label'
idx_case("magic", b"\x00\x00\x08\x04" + IM[4:], LB, 65, "IDX|expected 'path<TAB>label'|NUL byte")
idx_case("magic-type", b"\x00\x00\x0d\x03" + IM[4:], LB, 65, "IDX|expected 'path<TAB>label'|NUL byte")
idx_case("magic-nz", b"\x01\x00\x08\x03" + IM[4:], LB, 65, ".", names="idx/magic-nz-images-idx3-ubyte")
idx_case("lab-magic", IM, b"\x00\x00\x08\x03" + LB[4:], 65, "", names="idx/lab-magic-labels-idx1-ubyte")
idx_case("lab-type", IM, b"\x00\x00\x0b\x01" + LB[4:], 65, "", names="idx/lab-type-labels-idx1-ubyte")
idx_case("lab-2d", IM, b"\x00\x00\x08\x02" + struct.pack(">II", 8, 1) + LB[8:], 65, "",
         names="idx/lab-2d-labels-idx1-ubyte")
idx_case("ndim1", b"\x00\x00\x08\x01" + IM[4:8] + body, LB, 2, "labels file", names="idx/ndim1-images-idx3-ubyte")
idx_case("ndim2", b"\x00\x00\x08\x02" + IM[4:12] + body, LB, 65, "")
idx_case("ndim4", b"\x00\x00\x08\x04" + IM[4:16] + hdr(1) + body, LB, 65, "")
idx_case("ndim255", b"\x00\x00\x08\xff" + IM[4:], LB, 65, "")
idx_case("overflow", hdr(0x803, 0xffffffff, 0xffffffff, 0xffffffff) + body, LB, 65, "")
idx_case("overflow2", hdr(0x803, 0x10000, 0x10000, 0x10000) + body, LB, 65, "")
idx_case("exceeds", hdr(0x803, 1000, 8, 8) + body, LB, 65, "")
idx_case("exceeds-lab", IM, hdr(0x801, 1000) + LB[8:], 65, "", names="idx/exceeds-lab-labels-idx1-ubyte")
# a header claiming 6.4 GB (under the 8 GiB limit) over 512 bytes: read
# grows with the data, so this is refused without a large allocation
idx_case("liar", hdr(0x803, 100000000, 8, 8) + body, hdr(0x801, 100000000) + LB[8:], 65, "truncated")
idx_case("h0", hdr(0x803, 8, 0, 8) + body, LB, 65, "")
idx_case("n0", hdr(0x803, 0, 8, 8), hdr(0x801, 0), 65, "")
idx_case("counts", IM, hdr(0x801, 7) + LB[8:15], 65, "7 labels for 8 images",
         names="idx/counts-labels-idx1-ubyte")
idx_case("counts2", hdr(0x803, 7, 8, 8) + body[:7 * 64], LB, 65, "8 labels for 7 images",
         names="idx/counts2-labels-idx1-ubyte")
idx_case("trailing", IM + b"\0" * 17, LB, 65, "")
idx_case("trailing-lab", IM, LB + b"\1", 65, "", names="idx/trailing-lab-labels-idx1-ubyte")
idx_case("short1", IM[:-1], LB, 65, "")
idx_case("hdr2", IM[:6], LB, 65, "")
idx_case("hdr3", IM[:3], LB, 65, "", names="idx/hdr3-images-idx3-ubyte")
idx_case("nolabels", IM, None, 66, "", names="idx/nolabels-labels-idx1-ubyte")
idx_case("lab-empty", IM, b"", 65, "", names="idx/lab-empty-labels-idx1-ubyte")
wr("idx/gz-images-idx3-ubyte.gz", zlib.compress(IM)[:0] or __import__("gzip").compress(IM)[:-9])
wr("idx/gz-labels-idx1-ubyte.gz", __import__("gzip").compress(LB))
for strict in ((), ("--strict",)):
    case("idx", 65, "^xm-pack: error: idx/gz-images-idx3-ubyte\\.gz: ", "idx/gz-images-idx3-ubyte.gz",
         "xm-pack", *strict, "idx/gz-images-idx3-ubyte.gz", "-o", "@O/out.xms")
# gzip bomb: a header claiming 60000 x 60000 x 60000, 64 MiB of zeros
wr("idx/bomb-images-idx3-ubyte.gz", __import__("gzip").compress(hdr(0x803, 60000, 60000, 60000) + bytes(64 << 20), 1))
wr("idx/bomb-labels-idx1-ubyte.gz", __import__("gzip").compress(hdr(0x801, 60000) + bytes(60000)))
wr("idx/gzliar-images-idx3-ubyte.gz", __import__("gzip").compress(hdr(0x803, 100000000, 8, 8) + body))
wr("idx/gzliar-labels-idx1-ubyte.gz", __import__("gzip").compress(hdr(0x801, 100000000) + LB[8:]))
case("idx", 65, "^xm-pack: error: idx/gzliar-images-idx3-ubyte\\.gz: IDX data truncated",
     "idx/gzliar-images-idx3-ubyte.gz", "xm-pack", "idx/gzliar-images-idx3-ubyte.gz", "-o", "@O/out.xms")
for strict in ((), ("--strict",)):
    case("idx", 65, "^xm-pack: error: idx/bomb-images-idx3-ubyte\\.gz: ", "idx/bomb-images-idx3-ubyte.gz",
         "xm-pack", *strict, "idx/bomb-images-idx3-ubyte.gz", "-o", "@O/out.xms")
for strict in ((), ("--strict",)):
    case("idx", 66, "^xm-pack: error: base/fifo: not a regular file", "base/fifo", "xm-pack", *strict,
         "--idx-labels", "base/fifo", "base/tgt-images-idx3-ubyte", "-o", "@O/out.xms")
    case("idx", 66, "^xm-pack: error: base/dir\\.h5: not a regular file", "base/dir.h5", "xm-pack", *strict,
         "--idx-labels", "base/dir.h5", "base/tgt-images-idx3-ubyte", "-o", "@O/out.xms")
    case("idx", 65, "^xm-pack: error: base/empty: ", "base/empty", "xm-pack", *strict,
         "--idx-labels", "base/empty", "base/tgt-images-idx3-ubyte", "-o", "@O/out.xms")
    # an empty file is an empty list file
    case("idx", 65, "^xm-pack: error: no images found", "-", "xm-pack", *strict, "base/empty", "-o", "@O/out.xms")

# ------------------------------------------------------------------ .xms
P64 = 0xFFFFFFFFFFFFFFFF
PR1, PR2, PR3, PR4, PR5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & P64


def xxh64(b, seed=0):
    n, i = len(b), 0

    def rnd(acc, v):
        acc = (acc + v * PR2) & P64
        return (rotl(acc, 31) * PR1) & P64

    if n >= 32:
        v = [(seed + PR1 + PR2) & P64, (seed + PR2) & P64, seed, (seed - PR1) & P64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from("<Q", b, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & P64
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * PR1 + PR4) & P64
    else:
        h = (seed + PR5) & P64
    h = (h + n) & P64
    while i + 8 <= n:
        h ^= rnd(0, struct.unpack_from("<Q", b, i)[0])
        h = (rotl(h, 27) * PR1 + PR4) & P64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", b, i)[0] * PR1) & P64
        h = (rotl(h, 23) * PR2 + PR3) & P64
        i += 4
    while i < n:
        h ^= (b[i] * PR5) & P64
        h = (rotl(h, 11) * PR1) & P64
        i += 1
    h ^= h >> 33
    h = (h * PR2) & P64
    h ^= h >> 29
    h = (h * PR3) & P64
    return h ^ (h >> 32)


HDR = "<8sIIQIIHHBBHQQQQIIQQIB3sQQQ"
HF = ["magic", "version", "header_size", "n_records", "n_classes", "n_blocks", "h", "w", "c", "filter", "flags",
      "index_offset", "index_size", "index_hash", "meta_offset", "meta_csize", "meta_rsize", "meta_hash",
      "file_size", "max_block_rsize", "codec", "reserved1", "index_rsize", "reserved2", "header_hash"]
assert struct.calcsize(HDR) == 128


class Xms:
    """A parsed .xms: header dict, data bytes, block and record entries, metadata."""

    def __init__(self, b):
        self.h = dict(zip(HF, struct.unpack_from(HDR, b, 0)))
        h = self.h
        assert xxh64(b[:120]) == h["header_hash"]
        self.data = b[128:h["meta_offset"]]
        self.meta = zstandard.ZstdDecompressor().decompress(b[h["meta_offset"]:h["meta_offset"] + h["meta_csize"]])
        idx = zstandard.ZstdDecompressor().decompress(b[h["index_offset"]:h["index_offset"] + h["index_size"]])
        nb, nr = h["n_blocks"], h["n_records"]
        self.blocks = [list(struct.unpack_from("<QIIQII", idx, 32 * k)) for k in range(nb)]
        self.recs = [list(struct.unpack_from("<IIHHB3siI", idx, 32 * nb + 24 * k)) for k in range(nr)]

    def bytes(self, fix=True, meta=None, index=None, hdr=None):
        """Serialise; fix=True recomputes offsets, sizes and hashes from the parts."""
        h = dict(self.h)
        m = meta if meta is not None else self.meta
        idx = b"".join(struct.pack("<QIIQII", *e) for e in self.blocks) + \
            b"".join(struct.pack("<IIHHB3siI", *e) for e in self.recs)
        mz = zstandard.ZstdCompressor(write_checksum=True).compress(m)
        iz = index if index is not None else zstandard.ZstdCompressor(write_checksum=True).compress(idx)
        if fix:
            h["meta_offset"] = 128 + len(self.data)
            h["meta_csize"], h["meta_rsize"], h["meta_hash"] = len(mz), len(m), xxh64(mz)
            h["index_offset"] = h["meta_offset"] + len(mz)
            h["index_size"], h["index_hash"] = len(iz), xxh64(iz)
            h["index_rsize"] = len(idx) if index is None else h["index_rsize"]
            h["file_size"] = h["index_offset"] + len(iz)
        if hdr:
            h.update(hdr)
        raw = struct.pack(HDR, *[h[k] for k in HF])
        raw = raw[:120] + struct.pack("<Q", xxh64(raw[:120]))
        return raw + self.data + mz + iz


TINY = rd("base/tiny.xms")
X = Xms(TINY)
assert X.bytes() == TINY, "xms re-serialisation differs"
h = X.h
REGIONS = [(0, 8, "not an \\.xms file \\(bad magic\\)"), (8, 128, "header checksum mismatch"),
           (128, h["meta_offset"], "block [0-9]+ \\(offset [0-9]+\\): checksum mismatch"),
           (h["meta_offset"], h["index_offset"], "metadata checksum mismatch"),
           (h["index_offset"], h["file_size"], "index checksum mismatch")]


def region(i):
    return [r for r in REGIONS if r[0] <= i < r[1]][0][2]


# Every byte of a small shard flipped in turn. Every byte of an .xms is under
# a checksum (header 0..119 and its hash 120..127; each block's frame; the
# metadata and index frames), so every flip must be refused (65) with the
# region's message: no byte is unchecked, so "exit 0, same pixels" never
# applies. Readers: --verify (every block), --extract (through xm_xms_set)
# and, on every sixth byte, xm-probe (a consumer of the whole set).
os.makedirs("xms/flip", exist_ok=True)
for i in range(len(TINY)):
    m = bytearray(TINY)
    m[i] ^= 0xFF
    p = wr("xms/flip/b%04d.xms" % i, bytes(m))
    rx = "%s: %s" % (p.replace(".", "\\."), region(i))
    case("xms", 65, "^xm-pack: error: " + rx, p, "xm-pack", "--verify", p)
    case("xms", 65, "^xm-pack: error: " + rx, p, "xm-pack", "--extract", p, "--records", "0,1", "-o", "@O/png")
    if i % 6 == 0:
        case("xms", 65, "^xm-probe: error: " + rx, p, "xm-probe", "-m", "base/model.h5", "-j", "1", p)
BIG = rd("base/big.xms")
XB = Xms(BIG)
hb = XB.h
assert hb["n_blocks"] >= 8
BREG = [(0, 8, "not an \\.xms file \\(bad magic\\)"), (8, 128, "header checksum mismatch"),
        (128, hb["meta_offset"], "block [0-9]+ \\(offset [0-9]+\\): checksum mismatch"),
        (hb["meta_offset"], hb["index_offset"], "metadata checksum mismatch"),
        (hb["index_offset"], hb["file_size"], "index checksum mismatch")]
for k in range(1000):
    i = rng.randrange(len(BIG))
    m = bytearray(BIG)
    m[i] ^= rng.randrange(1, 256)
    p = wr("xms/flip/r%04d.xms" % k, bytes(m))
    rx = [r for r in BREG if r[0] <= i < r[1]][0][2]
    case("xms", 65, "^xm-pack: error: %s: %s" % (p.replace(".", "\\."), rx), p, "xm-pack", "--verify", p)


def xms_case(name, data, rx, code=65, readers=("verify", "probe")):
    p = wr("xms/%s.xms" % name, data)
    px = p.replace(".", "\\.")
    if "verify" in readers:
        case("xms", code, "^xm-pack: error: %s: %s" % (px, rx), p, "xm-pack", "--verify", p)
    if "probe" in readers: # the model has 3 of big.xms's 4 classes: one warning line may come first
        case("xms", code, "^xm-probe: error: %s: %s" % (px, rx), p, "xm-probe", "-m", "base/model.h5", "-j", "1", p,
             lines="*")
    if "embed" in readers:
        case("xms", code, "^xm-embed: error: %s: %s" % (px, rx), p, "xm-embed", "-m", "base/model.h5", "-j", "1",
             p, "-o", "@O/f.h5")


# truncation in each region
for name, cut in [("t0", 0), ("t7", 7), ("t8", 8), ("t127", 127), ("t128", 128), ("tdata", 140),
                  ("tmeta", hb["meta_offset"] + 3), ("tindex", hb["index_offset"] + 5), ("tm1", len(BIG) - 1)]:
    xms_case(name, BIG[:cut], "(truncated|not an \\.xms)", readers=("verify", "probe", "embed"))
xms_case("appended", BIG + b"\0", "truncated or extended")


def mut(fn, **hdr):
    x = Xms(BIG)
    fn(x)
    return x.bytes(hdr=hdr)


def setb(k, field, v):
    def f(x):
        x.blocks[k][field] = v
    return f


def setr(k, field, v):
    def f(x):
        x.recs[k][field] = v
    return f


nb = len(XB.blocks)
# header fields with a valid header checksum
for name, fields in [("version", {"version": 2}), ("hsize", {"header_size": 64}), ("flags", {"flags": 1}),
                     ("filter", {"filter": 9}), ("codec", {"codec": 2}), ("codecfilter", {"codec": 1}),
                     ("res1", {"reserved1": b"\0\1\0"}), ("res2", {"reserved2": 1}),
                     ("nrec-huge", {"n_records": 1 << 40}), ("nrec-more", {"n_records": hb["n_records"] + 1}),
                     ("nblk-huge", {"n_blocks": 0xffffffff}), ("nblk-0", {"n_blocks": 0}),
                     ("ncls-huge", {"n_classes": 0xffffffff}), ("maxblk", {"max_block_rsize": 0xffffffff}),
                     ("maxblk-small", {"max_block_rsize": 16}), ("meta-rsize", {"meta_rsize": 0xffffffff}),
                     ("index-rsize", {"index_rsize": 1 << 50}), ("index-rsize1", {"index_rsize": 1}),
                     ("index-off-end", {"index_offset": 1 << 40}), ("index-size", {"index_size": 1 << 40}),
                     ("meta-off", {"meta_offset": 100}), ("meta-csize", {"meta_csize": 0xffffffff}),
                     ("fsize", {"file_size": len(BIG) + 1}), ("shape-h", {"h": 9}), ("shape-c", {"c": 2}),
                     ("shape-huge", {"h": 65535, "w": 65535, "c": 3}),
                     ("index-hash", {"index_hash": 1}), ("meta-hash", {"meta_hash": 1})]:
    xms_case("h-" + name, mut(lambda x: None, **fields), ".")
# index entries rebuilt with valid checksums but hostile values
for name, fn in [("off-past", setb(1, 0, 1 << 40)), ("off-overlap", setb(2, 0, XB.blocks[1][0])),
                 ("off-order", lambda x: x.blocks.__setitem__(slice(1, 3), [x.blocks[2], x.blocks[1]])),
                 ("csize-big", setb(0, 1, XB.blocks[0][1] + 7)), ("csize-0", setb(0, 1, 0)),
                 ("rsize-big", setb(0, 2, XB.blocks[0][2] + 64)), ("rsize-small", setb(0, 2, 64)),
                 ("rsize-huge", setb(0, 2, 0xffffffff)),
                 ("first-rec", setb(1, 3, 0)), ("nrec-blk", setb(0, 4, XB.blocks[0][4] + 1)),
                 ("nrec-blk0", setb(0, 4, 0)), ("blk-hash", setb(3, 5, 0)),
                 ("last-off", setb(nb - 1, 0, XB.blocks[nb - 1][0] + 1)),
                 ("rec-blk", setr(0, 0, 5)), ("rec-blk-huge", setr(0, 0, 0xffffffff)),
                 ("rec-off", setr(1, 1, 7)), ("rec-off-huge", setr(1, 1, 0xfffffff0)),
                 ("rec-h0", setr(2, 2, 0)), ("rec-h", setr(2, 2, 9)), ("rec-c2", setr(2, 4, 2)),
                 ("rec-c0", setr(2, 4, 0)), ("rec-res", setr(2, 5, b"\0\0\1")),
                 ("rec-label", setr(3, 6, 4)), ("rec-label-neg", setr(3, 6, -2)),
                 ("rec-label-min", setr(3, 6, -2 ** 31)),
                 ("rec-name", setr(4, 7, 0x7fffffff)), ("rec-name-end", setr(4, 7, len(XB.meta)))]:
    xms_case("i-" + name, mut(fn), ".")
# metadata: class table and names table
M = XB.meta
ncls = struct.unpack_from("<I", M, 0)[0]


def with_meta(m):
    x = Xms(BIG)
    x.meta = m
    return x.bytes()


p = 4
for _ in range(ncls):
    p += 4 + struct.unpack_from("<I", M, p)[0]
names_at = p
for name, m in [("m-ncls", struct.pack("<I", ncls + 1) + M[4:]), ("m-ncls-huge", struct.pack("<I", 0xffffffff) + M[4:]),
                ("m-clen", M[:4] + struct.pack("<I", 0xfffffff0) + M[8:]), ("m-clen0", M[:4] + struct.pack("<I", 0) + M[8:]),
                ("m-nlen", M[:names_at] + struct.pack("<Q", 1 << 60) + M[names_at + 8:]),
                ("m-nonul", M[:-1] + b"x"), ("m-short", M[:-3]), ("m-long", M + b"\0\0"), ("m-empty", b"")]:
    xms_case(name, with_meta(m), ".")
# an index frame that does not decompress to the declared size
x = Xms(BIG)
idx = b"".join(struct.pack("<QIIQII", *e) for e in x.blocks) + b"".join(struct.pack("<IIHHB3siI", *e) for e in x.recs)
xms_case("z-index-short", x.bytes(index=zstandard.ZstdCompressor(write_checksum=True).compress(idx[:-24])), ".")
xms_case("z-index-nocheck", x.bytes(index=zstandard.ZstdCompressor(write_checksum=False).compress(idx)), ".")
xms_case("z-index-raw", x.bytes(index=idx), ".")
xms_case("z-index-nosize", x.bytes(index=zstandard.ZstdCompressor(write_checksum=True, write_content_size=False)
                                   .compress(idx)), ".")
# a block frame replaced by another valid frame with a matching entry hash but a different size
x = Xms(BIG)
z = zstandard.ZstdCompressor(write_checksum=True).compress(b"\0" * 10)
d0 = x.data[:x.blocks[0][1]]
x.data = z + x.data[len(d0):]
for k in range(1, nb):
    x.blocks[k][0] -= len(d0) - len(z)
x.blocks[0][1] = len(z)
x.blocks[0][5] = xxh64(z) & 0xffffffff
xms_case("z-block-rsize", x.bytes(), ".")
# wrong kinds of file
xms_case("k-h5", rd("base/pairs.h5"), "not an \\.xms")
xms_case("k-png", PNG, "not an \\.xms")
case("xms", 65, "^xm-pack: error: base/dir\\.h5: not a regular file", "base/dir.h5", "xm-pack", "--verify",
     "base/dir.h5")
case("xms", 65, "^xm-probe: error: base/fifo: not a regular file", "base/fifo", "xm-probe", "-m", "base/model.h5",
     "base/fifo")
case("xms", 66, "^xm-embed: error: xms/none\\.xms: No such file", "xms/none.xms", "xm-embed", "-m",
     "base/model.h5", "xms/none.xms", "-o", "@O/f.h5")

# ------------------------------------------------------------------ HDF5
os.makedirs("h5", exist_ok=True)


def h5copy(base, name, fn):
    p = "h5/" + name
    shutil.copy(base, p)
    with h5py.File(p, "r+") as f:
        fn(f)
    return p


def replace(name, value):
    def f(h):
        del h[name]
        h[name] = value
    return f


def delete(name):
    def f(h):
        del h[name]
    return f


def setattr_(name, value):
    def f(h):
        if value is None:
            del h.attrs[name]
        else:
            h.attrs[name] = value
    return f


def generic(group, base, stem, run):
    """Truncation, byte flips, wrong kinds: run(path) -> (tool args...)."""
    b = rd(base)
    n = len(b)
    for cut in (0, 7, 8, 100, 512, n // 4, n // 2, 3 * n // 4, n - 1):
        p = wr("h5/%s-t%d.h5" % (stem, cut), b[:cut])
        case(group, 65, "^xm-[a-z]+: error: %s: " % p.replace(".", "\\."), p, *run(p))
    r = random.Random(stem)
    known = KNOWN_CRASH.get(stem, ())
    for k in range(10):
        i = r.randrange(0, 2048 if k < 6 else n)
        m = bytearray(b)
        m[i] ^= 1 << r.randrange(8)
        p = wr("h5/%s-f%d.h5" % (stem, i), bytes(m))
        # an unchecked byte (raw data, free space) may still read: exit 0 then
        codes = "0,65" + (",known" if i in known else "")
        case(group, codes, "^xm-[a-z]+: error: %s: " % p.replace(".", "\\."), p, *run(p), lines="*", keep="*")
    p = wr("h5/%s-xms.h5" % stem, TINY)
    case(group, 65, "^xm-[a-z]+: error: %s: not an HDF5 file" % p.replace(".", "\\."), p, *run(p))
    case(group, 66, "^xm-[a-z]+: error: base/fifo: not a regular file", "base/fifo", *run("base/fifo"))
    case(group, 66, "^xm-[a-z]+: error: base/dir\\.h5: not a regular file", "base/dir.h5", *run("base/dir.h5"))
    case(group, 66, "^xm-[a-z]+: error: h5/none\\.h5: No such file", "h5/none.h5", *run("h5/none.h5"))


def semantic(group, base, stem, run, muts):
    """muts: (name, mutation, regex, code[, named]): the message must match
    regex and name the file (or `named`); code 0: the tool reads it fine."""
    for m in muts:
        name, fn, rx, code = m[:4]
        p = h5copy(base, "%s-%s.h5" % (stem, name), fn)
        if code == 0:
            case(group, 0, ".", "-", *run(p), lines="*", keep="*")
        else:
            case(group, code, "^xm-[a-z]+: error: .*(%s)" % rx, m[4] if len(m) > 4 else p, *run(p))


# Flips that crash inside Debian's libhdf5 1.10.8, not in xm: H5HG_read
# trusts the object index of a variable-length string's global-heap ID (here
# the checkpoint's `classes` attribute) and reads past its table. Nothing
# above the library can check that index; the runner reports these cases as
# "known" instead of failures when they crash (docs/reliability-bad-inputs.md).
KNOWN_CRASH = {"ckpt": (1046,)}

# features -> xm-centroid
run = lambda p: ("xm-centroid", p, "-o", "@O/c.h5")
generic("features", "base/src.feat.h5", "feat", run)
F = h5py.File("base/src.feat.h5", "r")
nF, dF = F["features"].shape
feat = F["features"][()]
F.close()
nanf = feat.copy()
nanf[3, 5] = np.nan
inff = feat.copy()
inff[1, 0] = np.inf
semantic("features", "base/src.feat.h5", "feat", run, [
    ("no-features", delete("features"), "features", 65),
    ("no-labels", delete("labels"), "labels", 65),
    ("no-records", delete("records"), "records", 65),
    ("no-classes", delete("classes"), "classes", 65),
    ("f64", replace("features", feat.astype(np.float64)), "", 0),  # converted by HDF5: fine
    ("fint", replace("features", feat.astype(np.int32)), "features", 65),
    ("f1d", replace("features", feat.ravel()), "features", 65),
    ("f3d", replace("features", feat[:, :, None]), "features", 65),
    ("fstr", replace("features", np.array([b"x"] * nF)), "features", 65),
    ("fgroup", lambda h: (h.__delitem__("features"), h.create_group("features")), "features", 65),
    ("rows", replace("labels", np.zeros(nF - 1, np.int32)), "labels", 65),
    ("rows-rec", replace("records", np.arange(nF + 2, dtype=np.int64)), "records", 65),
    ("lab-range", replace("labels", np.full(nF, 7, np.int32)), "label", 65),
    ("lab-neg", replace("labels", np.full(nF, -5, np.int32)), "label", 65),
    ("lab-f32", replace("labels", np.zeros(nF, np.float32)), "labels", 65),
    ("lab-2d", replace("labels", np.zeros((nF, 2), np.int32)), "labels", 65),
    ("nan", replace("features", nanf), "row 3 column 5 is not finite", 65),
    ("inf", replace("features", inff), "row 1 column 0 is not finite", 65),
    ("empty", lambda h: [replace("features", np.zeros((0, dF), np.float32))(h),
                         replace("labels", np.zeros(0, np.int32))(h), replace("records", np.zeros(0, np.int64))(h)],
     "", 0),  # an empty shard: zero counts, mergeable
    ("cls-int", replace("classes", np.arange(3)), "classes", 65),
    ("cls-none", replace("classes", np.array([], dtype=h5py.string_dtype())), "classes|labels", 65),
])
# a features file given twice, or with a different D, to xm-centroid
p = h5copy("base/src.feat.h5", "feat-d8.h5", lambda h: replace("features", feat[:, :8])(h))
case("features", 65, "^xm-centroid: error: h5/feat-d8\\.h5: ", "h5/feat-d8.h5", "xm-centroid", "base/src.feat.h5",
     p, "-o", "@O/c.h5")
p = h5copy("base/src.feat.h5", "feat-cls.h5", lambda h: replace("classes", np.array(["x", "y", "z"], dtype=object))(h))
case("features", 65, "^xm-centroid: error: h5/feat-cls\\.h5: ", "h5/feat-cls.h5", "xm-centroid", "base/src.feat.h5",
     p, "-o", "@O/c.h5")

# centroids -> xm-pair (as the source and as the target)
C = h5py.File("base/src.cent.h5", "r")
sums, counts, means = C["sums"][()], C["counts"][()], C["means"][()]
nC = len(counts)
C.close()
for role in ("source", "target"):
    if role == "source":
        run = lambda p: ("xm-pair", "--source", p, "--target", "base/tgt.cent.h5", "-o", "@O/p.h5")
    else:
        run = lambda p: ("xm-pair", "--source", "base/src.cent.h5", "--target", p, "-o", "@O/p.h5")
    base = "base/src.cent.h5" if role == "source" else "base/tgt.cent.h5"
    if role == "source":
        generic("centroids", base, "cent", run)
    b = h5py.File(base, "r")
    s, c, m = b["sums"][()], b["counts"][()], b["means"][()]
    b.close()
    nan_m = m.copy()
    nan_m[0, 0] = np.nan
    inf_s = s.copy()
    inf_s[0, 1] = np.inf
    # sums are what a reader uses; means, derived, are read only when sums are absent
    semantic("centroids", base, "cent-" + role, run, [
        ("no-sums", delete("sums"), "", 0), ("no-counts", delete("counts"), "counts", 65),
        ("no-means", delete("means"), "", 0), ("no-classes", delete("classes"), "classes", 65),
        ("no-both", lambda h: [delete("sums")(h), delete("means")(h)], "sums", 65),
        ("means-only-nan", lambda h: [delete("sums")(h), replace("means", nan_m)(h)], "not finite", 65),
        ("counts-neg", replace("counts", -c), "count", 65),
        ("counts-rows", replace("counts", c[:-1]), "counts", 65),
        ("counts-f", replace("counts", c.astype(np.float32)), "counts", 65),
        ("means-rows", replace("means", m[:-1]), "", 0), ("means-1d", replace("means", m.ravel()), "", 0),
        ("sums-f32", replace("sums", s.astype(np.float32)), "", 0), ("means-nan", replace("means", nan_m), "", 0),
        ("sums-inf", replace("sums", inf_s), "sums row 0 column 1 is not finite", 65),
        ("sums-rows", replace("sums", s[:-1]), "sums", 65), ("sums-1d", replace("sums", s.ravel()), "sums", 65),
        ("d-differ", lambda h: [replace("sums", s[:, :8])(h), replace("means", m[:, :8])(h)], "dimension", 65),
    ])
# class count disagreement between the files
p = h5copy("base/src.cent.h5", "cent-cls-rows.h5", replace("classes", np.array(["a"], dtype=object)))
case("centroids", 65, "^xm-pair: error: h5/cent-cls-rows\\.h5: ", "h5/cent-cls-rows.h5", "xm-pair", "--source", p,
     "--target", "base/tgt.cent.h5", "-o", "@O/p.h5")
p = h5copy("base/src.cent.h5", "cent-zero.h5", lambda h: replace("counts", np.zeros(nC, np.int64))(h))
case("centroids", 65, "^xm-pair: error: h5/cent-zero\\.h5: ", "h5/cent-zero.h5", "xm-pair", "--source", p,
     "--target", "base/tgt.cent.h5", "-o", "@O/p.h5")
# centroid files merged by xm-centroid
run = lambda p: ("xm-centroid", "base/src.cent.h5", p, "-o", "@O/c.h5")
semantic("centroids", "base/src.cent.h5", "centm", run, [
    ("counts-neg", replace("counts", -counts), "count", 65),
    ("sums-nan", replace("sums", np.full_like(sums, np.nan)), "not finite", 65),
    ("d8", lambda h: [replace("sums", sums[:, :8])(h), replace("means", means[:, :8])(h)], "dimension", 65),
])

# pairs -> xm-pack --mix
run = lambda p: ("xm-pack", "--mix", "xmixup", "--target", "base/tgt.xms", "--partner", "base/src.xms", "--pairs",
                 p, "--steps", "2", "--batch", "4", "--seed", "1", "-o", "@O/plan.h5")
generic("pairs", "base/pairs.h5", "pairs", run)
P = h5py.File("base/pairs.h5", "r")
pt, ps = P["target"][()], P["source"][()]
P.close()
semantic("pairs", "base/pairs.h5", "pairs", run, [
    ("no-target", delete("target"), "target", 65), ("no-source", delete("source"), "source", 65),
    ("src-range", replace("source", np.full_like(ps, 9)), "source class 9 is out of range", 65),
    ("src-neg", replace("source", np.full_like(ps, -1)), "source class -1 is out of range", 65),
    ("tgt-range", replace("target", np.full_like(pt, 5)), "target class 5 is out of range", 65),
    ("tgt-neg", replace("target", np.full_like(pt, -3)), "target class -3 is out of range", 65),
    ("src-huge", replace("source", np.full_like(ps, 2 ** 31 - 1)), "out of range", 65),
    ("tgt-huge", replace("target", np.full_like(pt, -2 ** 31)), "out of range", 65),
    ("src-i64", replace("source", ps.astype(np.int64)), "source", 65),
    ("tgt-f64", replace("target", pt.astype(np.float64)), "target", 65),
    ("src-scalar", replace("source", np.int32(1)), "source", 65),
    ("src-group", lambda h: (h.__delitem__("source"), h.create_group("source")), "source", 65),
    ("rows", replace("source", ps[:-1]), "length", 65),
    ("f32", replace("source", ps.astype(np.float32)), "source", 65),
    ("2d", replace("source", ps[:, None]), "source", 65),
    ("empty", lambda h: [replace("source", np.zeros(0, np.int32))(h), replace("target", np.zeros(0, np.int32))(h)],
     ".", 65),
    ("str", replace("source", np.array([b"a"] * len(ps))), "source", 65),
])

# plan -> xm-train
run = lambda p: ("xm-train", "-m", "base/model.h5", p, "-o", "@O/m.h5", "-j", "1")
generic("plan", "base/plan.h5", "plan", run)
PL = h5py.File("base/plan.h5", "r")
tr, lam, crop, flip = PL["target_record"][()], PL["lambda"][()], PL["crop"][()], PL["flip"][()]
PL.close()
lam_nan = lam.copy()
lam_nan[1, 2] = np.nan
semantic("plan", "base/plan.h5", "plan", run, [
    ("no-target", delete("target_record"), "target_record", 65),
    ("no-partner", delete("partner_record"), "partner_record", 65),
    ("no-lambda", delete("lambda"), "lambda", 65), ("no-crop", delete("crop"), "crop", 65),
    ("no-flip", delete("flip"), "flip", 65), ("no-domain", delete("partner_domain"), "partner_domain", 65),
    ("rec-range", replace("target_record", tr + 1000), "record", 65),
    ("rec-neg", replace("target_record", tr * 0 - 7), "record", 65),
    ("lam-nan", replace("lambda", lam_nan), "lambda", 65),
    ("lam-range", replace("lambda", lam + 3), "lambda", 65),
    ("lam-shape", replace("lambda", lam[:-1]), "lambda", 65),
    ("lam-f64", replace("lambda", lam.astype(np.float64)), "lambda", 65),
    ("crop-shape", replace("crop", crop[..., 0]), "crop", 65),
    ("crop-huge", replace("crop", np.full_like(crop, 30000)), "", 0),  # past the edge reads zeros (padding)
    ("crop-i32", replace("crop", crop.astype(np.int32)), "crop", 65),
    ("flip-shape", replace("flip", flip[:, :, :1]), "flip", 65),
    ("domain-2", lambda h: replace("partner_domain", h["partner_domain"][()] + 2)(h), "partner_domain", 65),
    ("prec-neg", lambda h: replace("partner_record", h["partner_record"][()] * 0 - 9)(h), "partner_record", 65),
    ("prec-range", lambda h: replace("partner_record", h["partner_record"][()] + 10 ** 6)(h), "record", 65),
    ("flip-2", replace("flip", flip + 2), "flip", 65),
    ("no-mode", setattr_("mode", None), "mode", 65), ("mode-bad", setattr_("mode", "bogus"), "mode", 65),
    ("no-input", setattr_("input_size", None), "input_size", 65),
    ("input-0", setattr_("input_size", 0), "input_size", 65),
    ("input-huge", setattr_("input_size", 1 << 20), "input_size", 65),
    ("no-files", setattr_("target_files", None), "target_files|no target files", 65),
    ("hash", setattr_("target_xxh64", ["0000000000000000"]), "the file changed", 65, "base/tgt.xms"),
    ("files-missing", setattr_("target_files", ["gone.xms"]), "gone\\.xms: No such file", 66, "gone.xms"),
    ("src-cls", setattr_("source_classes", [99]), "source_classes", 65),
    # declared, never stored: 2^30 x 64 slots would be 2 TB in memory
    ("huge-declared", lambda h: [delete("target_record")(h),
                                 h.create_dataset("target_record", shape=(1 << 30, 64), dtype="i8", chunks=(1024, 64))],
     "more than 268435456 slots", 65),
])

# model -> xm-embed, xm-probe, xm-train -m
MD = h5py.File("base/model.h5", "r")
w = MD["conv1.weight"][()]
fcw = MD["fc.weight"][()]
MD.close()
runs = [lambda p: ("xm-embed", "-m", p, "-j", "1", "base/tgt.xms", "-o", "@O/f.h5"),
        lambda p: ("xm-probe", "-m", p, "-j", "1", "base/tgt.xms"),
        lambda p: ("xm-train", "-m", p, "base/plan.h5", "-o", "@O/m.h5", "-j", "1")]
generic("model", "base/model.h5", "model", runs[0])
for k, run in enumerate(runs):
    w_nan = w.copy()
    w_nan[0, 0, 0, 0] = np.nan
    muts = [
        ("no-conv1-%d" % k, delete("conv1.weight"), "conv1\\.weight", 65),
        ("shape-%d" % k, replace("conv1.weight", w[:, :, :2]), "conv1\\.weight", 65),
        ("dtype-%d" % k, replace("conv1.weight", w.astype(np.float64)), "conv1\\.weight", 65),
        ("arch-%d" % k, setattr_("arch", "resnet9000"), "arch", 65),
        ("no-arch-%d" % k, setattr_("arch", None), "arch", 65),
        ("ncls-%d" % k, setattr_("num_classes", -1), "(num_classes|classes)", 65),
        ("input-%d" % k, setattr_("input_size", 0), "input_size", 65),
        ("std0-%d" % k, setattr_("std", [0.0]), "std", 65),
        ("mean-nan-%d" % k, setattr_("mean", [float("nan")]), "mean", 65),
        ("fc-rows-%d" % k, replace("fc.weight", fcw[:-1]), "fc\\.weight", 65),
    ]
    if k == 0:
        muts.append(("w-nan", replace("conv1.weight", w_nan), "(conv1\\.weight|NaN|non-finite)", 65))
        muts.append(("bn-var-neg", lambda h: replace("bn1.running_var", -np.ones(h["bn1.running_var"].shape,
                                                                               np.float32))(h),
                     "bn1\\.running_var", 65))
    semantic("model", "base/model.h5", "model", run, muts)

# checkpoint -> xm-train --resume
CK = "base/tuned.ckpt.h5"
run = lambda p: ("xm-train", "--resume", p, "base/plan.h5", "-o", "@O/m.h5", "-j", "1")
generic("checkpoint", CK, "ckpt", run)
with h5py.File(CK, "r") as f:
    keys = []
    f.visit(keys.append)
    tg = f["train"]
    tkeys = list(tg.keys()) + ["@" + a for a in tg.attrs.keys()]
ck_muts = [("no-train", delete("train"), "train", 65), ("no-conv1", delete("conv1.weight"), "conv1\\.weight", 65),
           ("shape", lambda h: replace("conv1.weight", h["conv1.weight"][()][:, :, :2])(h), "conv1\\.weight", 65)]
for k in tkeys:
    if k.startswith("@"):
        ck_muts.append(("attr-" + k[1:], lambda h, a=k[1:]: h["train"].attrs.__delitem__(a), ".", 65))
    else:
        ck_muts.append(("del-" + k, lambda h, d=k: h["train"].__delitem__(d), ".", 65))
# informational attributes (identity is plan_xxh64): their absence is fine
for a in ("format", "plan_seed", "steps"):
    ck_muts = [m if m[0] != "attr-" + a else (m[0], m[1], "", 0) for m in ck_muts]
with h5py.File(CK, "r") as f:
    mom = f["train/momentum"][()]
ck_muts += [
    ("step-neg", lambda h: h["train"].attrs.__setitem__("step", -1), "step -1 is out of range", 65),
    ("step-past", lambda h: h["train"].attrs.__setitem__("step", 99), "step 99 is out of range", 65),
    ("step-str", lambda h: h["train"].attrs.__setitem__("step", "two"), "step", 65),
    ("freeze", lambda h: h["train"].attrs.__setitem__("freeze_end", 3), "freeze-upto", 65),
    ("plan-hash", setattr_("plan_xxh64", "0123456789abcdef"), "another plan", 65),
    ("no-plan-hash", setattr_("plan_xxh64", None), "plan_xxh64", 65),
    ("mom-short", lambda h: replace("train/momentum", mom[:-1])(h), "momentum", 65),
    ("mom-f64", lambda h: replace("train/momentum", mom.astype(np.float64))(h), "momentum", 65),
    ("mom-2d", lambda h: replace("train/momentum", mom[:, None])(h), "momentum", 65),
    ("mom-nan", lambda h: replace("train/momentum", np.full_like(mom, np.nan))(h), "train/momentum: value 0 is not finite", 65),
    ("fc-nan", lambda h: replace("fc.weight", np.full_like(h["fc.weight"][()], np.nan))(h), "fc\\.weight", 65),
    ("var-neg", lambda h: replace("bn1.running_var", -np.ones_like(h["bn1.running_var"][()]))(h),
     "bn1\\.running_var", 65),
    ("arch", setattr_("arch", "resnet18"), "resnet18", 65),
    ("arch-34", setattr_("arch", "resnet34"), "resnet34", 65),
    ("classes", setattr_("classes", ["a", "b", "c"]), "class", 65),
]
semantic("checkpoint", CK, "ckpt", run, ck_muts)

# ------------------------------------------------------------------ training
run_m = ("xm-train", "-m", "base/model.h5")
# NaN in the model's weights: the first loss is NaN
p = h5copy("base/model.h5", "train-nanw.h5", lambda h: replace("fc.weight", np.full_like(fcw, np.nan))(h))
# (xm-train -m takes the heads' rows by class name, after the load's checks)
case("training", 1, "^xm-train: error: step 1: the loss is NaN$", "-", "xm-train", "-m", p, "base/plan.h5", "-o",
     "@O/m.h5", "-j", "1")
# a NaN lambda at step 2
p = h5copy("base/plan.h5", "train-nanlam.h5", replace("lambda", lam_nan))
case("training", 65, "^xm-train: error: h5/train-nanlam\\.h5: ", "h5/train-nanlam.h5", *run_m, p, "-o", "@O/m.h5",
     "-j", "1")
# an exploding learning rate: the trainer stops with one line and writes no model
for extra in (("--lr", "999"), ("--lr", "100"), ("--lr", "999", "--schedule", "constant"),
              ("--lr", "300", "--momentum", "0.99"), ("--lr", "999", "--label-mode", "split"),
              ("--lr", "999", "--reg", "l2sp"), ("--lr", "999", "--nesterov")):
    case("training", 1, "^xm-train: error: step [0-9]+: the loss (diverged|is NaN|is infinite)", "-", *run_m,
         "base/plan.h5", "-o", "@O/m.h5", *extra, "-j", "1")
for lr in ("1e6", "1e30", "3.4e38"):
    case("training", 2, "^xm-train: error: --lr", "--lr", *run_m, "base/plan.h5", "-o", "@O/m.h5", "--lr", lr)
# resume: a checkpoint for a different plan or one past its end
case("training", 65, "^xm-train: error: ", "-", "xm-train", "--resume", CK, "base/pre.plan.h5", "-o", "@O/m.h5",
     "-j", "1")
# options out of range, per tool (exit 2, the option named)
T = ("base/plan.h5", "-o", "@O/m.h5")
opts = [
    ("xm-train", ["--lr", "-1"]), ("xm-train", ["--lr", "nan"]), ("xm-train", ["--lr", "inf"]),
    ("xm-train", ["--lr", "abc"]), ("xm-train", ["--momentum", "2"]), ("xm-train", ["--momentum", "-0.5"]),
    ("xm-train", ["--wd", "-1"]), ("xm-train", ["--gamma", "nan"]), ("xm-train", ["--warmup", "-3"]),
    ("xm-train", ["--milestones", "3,x"]), ("xm-train", ["--milestones", "-1"]), ("xm-train", ["--schedule", "sin"]),
    ("xm-train", ["--label-mode", "both"]), ("xm-train", ["--reg", "l3"]), ("xm-train", ["--bss-k", "-1"]),
    ("xm-train", ["--eval-every", "-1"]), ("xm-train", ["--ckpt-every", "-2"]), ("xm-train", ["--stop-after", "-1"]),
    ("xm-train", ["--log-every", "0"]), ("xm-train", ["--threads", "100000"]), ("xm-train", ["--threads", "-1"]),
    ("xm-train", ["--device", "tpu"]), ("xm-train", ["--head-lr-mult", "-1"]),
    ("xm-train", ["--freeze-upto", "layer99"]), ("xm-train", ["--init-seed", "-1"]),
    ("xm-train", ["--l2sp-alpha", "nan"]), ("xm-train", ["--lr", "1e999"]),
    ("xm-train", ["--loss-scale", "1000"]), ("xm-train", ["--loss-scale", "0.5"]),
    ("xm-train", ["--loss-scale", "nan"]), ("xm-train", ["--loss-scale", "1e999"]),
    ("xm-train", ["--loss-scale", "dynamic:"]), ("xm-train", ["--loss-scale", "dynamicx"]),
    ("xm-train", ["--loss-scale", "dynamic:-2"]), ("xm-train", ["--loss-scale-window", "0"]),
    ("xm-train", ["--readers", "-1"]), ("xm-train", ["--readers", "65"]),
    ("xm-pack", ["--size", "0"]), ("xm-pack", ["--size", "100000000"]), ("xm-pack", ["--channels", "2"]),
    ("xm-pack", ["--threads", "-1"]), ("xm-pack", ["--threads", "100000"]), ("xm-pack", ["--shard-size", "0"]),
    ("xm-pack", ["--codec", "gif"]), ("xm-pack", ["--quality", "101"]), ("xm-pack", ["--block-kib", "0"]),
    ("xm-pack", ["--block-kib", "99999999"]), ("xm-pack", ["--level", "99"]), ("xm-pack", ["--filter", "9"]),
    ("xm-embed", ["--batch", "0"]), ("xm-embed", ["--batch", "-4"]), ("xm-embed", ["--shard", "3/2"]),
    ("xm-embed", ["--shard", "0/0"]), ("xm-embed", ["--shard", "1/x"]), ("xm-embed", ["--threads", "100000"]),
    ("xm-embed", ["--device", "gpu9"]), ("xm-embed", ["--readers", "-1"]), ("xm-embed", ["--readers", "x"]),
    ("xm-embed", ["--precision", "f8"]),
    ("xm-probe", ["--batch", "0"]), ("xm-probe", ["--head", "middle"]), ("xm-probe", ["--l2", "-1"]),
    ("xm-probe", ["--max-iter", "-1"]), ("xm-probe", ["--tol", "nan"]), ("xm-probe", ["--threads", "100000"]),
    ("xm-probe", ["--readers", "-2"]),
    ("xm-pair", ["--rounds", "0"]), ("xm-pair", ["--rounds", "-1"]), ("xm-pair", ["--method", "best"]),
    ("xm-pair", ["--min-aux", "-1"]), ("xm-pair", ["--per-class", "0"]), ("xm-pair", ["--tile", "0"]),
    ("xm-mix", ["--steps", "0"]), ("xm-mix", ["--steps", "-1"]), ("xm-mix", ["--batch", "0"]),
    ("xm-mix", ["--alpha", "0"]), ("xm-mix", ["--alpha", "nan"]), ("xm-mix", ["--beta", "-1"]),
    ("xm-mix", ["--seed", "-1"]), ("xm-mix", ["--steps", "99999999999999"]), ("xm-mix", ["--batch", "100000000"]),
    ("xm-mix", ["--mix", "sideways"]), ("xm-mix", ["--input-size", "0"]), ("xm-mix", ["--pad", "-1"]),
]
for t, o in opts:
    opt = o[0]
    if t == "xm-train":
        cmd = (t, "-m", "base/model.h5", *o, *T)
    elif t == "xm-pack":
        cmd = (t, *o, "base/tgt-images-idx3-ubyte", "-o", "@O/o.xms")
    elif t == "xm-embed":
        cmd = (t, "-m", "base/model.h5", *o, "base/tgt.xms", "-o", "@O/f.h5")
    elif t == "xm-probe":
        cmd = (t, "-m", "base/model.h5", *o, "base/tgt.xms")
    elif t == "xm-pair":
        cmd = (t, "--source", "base/src.cent.h5", "--target", "base/tgt.cent.h5", *o, "-o", "@O/p.h5")
    else:
        t = "xm-pack"
        args = {"--mix": "xmixup", "--target": "base/tgt.xms", "--partner": "base/src.xms", "--pairs": "base/pairs.h5",
                "--steps": "2", "--batch": "4", "--seed": "1"}
        args[o[0]] = o[1]
        cmd = (t, *[x for kv in args.items() for x in kv], "-o", "@O/plan.h5")
    case("options", 2, "^%s: error: .*%s" % (t, opt), opt, *cmd)
for arch in ("resnet9", "vgg16", "resnet20x"):
    case("options", 2, "^xm-train: error: --arch", "--arch", "xm-train", "--arch", arch, "--init-seed", "1",
         "base/plan.h5", "-o", "@O/m.h5")

with open("cases.tsv", "w") as f:
    for c in CASES:
        f.write("\t".join(c) + "\n")
counts = {}
for c in CASES:
    counts[c[1]] = counts.get(c[1], 0) + 1
print("make_corpus: %d cases (%s)" % (len(CASES), ", ".join("%s %d" % kv for kv in counts.items())))
