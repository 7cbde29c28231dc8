#!/usr/bin/python3
"""Make the image-ingest test files and their PIL references.

Run with Debian's python3 (python3-pil 9.x, python3-numpy):
    /usr/bin/python3 scripts/make_image_refs.py [tests/images]

Writes into tests/images/:
  inputs   photo.jpg (a real photo if one is on this machine, else synthetic),
           prog.jpg (progressive), cmyk.jpg, gray.jpg, synth.png, gray.png,
           gray1.png, palette.png, rgb16.png, gray16.png, rgba.png, small.png,
           tall.png
  refs     ref/NAME_sS_cC.raw: uint8 HWC pixels of what PIL + torchvision's
           Resize(S) + CenterCrop(S) give (S = 0: native size), with the JPEG
           decoded at PIL's draft() DCT scale, as the C decoder does
  cases.txt one line per reference: "file size channels h w c ref"
  bad      trunc.jpg, extra.jpg, trunc.png, badcrc.png, bomb.jpg, bomb.png,
           random.jpg, empty.jpg, corrupt.png, png_named.jpg (a valid PNG: format is by magic)
  fmnist_ref.txt  constants about /usr/share/datasets/fashion-mnist computed
           here with gzip + numpy, not by the code under test.
The C test (tests/data/test_image_ref.c) needs no Python.
"""
import gzip
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "images")
REF = os.path.join(OUT, "ref")
os.makedirs(REF, exist_ok=True)
rng = np.random.default_rng(20240601)

REAL_PHOTOS = [
    "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/"
    "embedded-book/assets/f3.jpg",
]


def p(name):
    return os.path.join(OUT, name)


def synth(w, h):
    """Photo-like: smooth random field, gradients, sharp shapes, fine noise."""
    small = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    field[..., 0] += 60 * np.sin(xx / 7.0)
    field[..., 1] += 50 * np.cos(yy / 5.0 + xx / 11.0)
    field[(xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2 < (min(w, h) * 0.2) ** 2] = [250, 30, 20]
    field[h // 5:h // 3, w // 8:w // 2] = [10, 200, 40]
    field += rng.normal(0, 6, field.shape)
    return Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")


def png_raw(path, arr, bitdepth, colortype):
    """Minimal PNG writer for what PIL cannot write (16-bit RGB)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + arr[y].astype(">u2" if bitdepth == 16 else "u1").tobytes()
                   for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


# ---- inputs ----
real = next((f for f in REAL_PHOTOS if os.path.exists(f)), None)
photo = Image.open(real).convert("RGB") if real else synth(720, 477)
photo.save(p("photo.jpg"), quality=85, subsampling=2)            # 4:2:0 baseline
photo.resize((360, 239), Image.LANCZOS).save(p("prog.jpg"), quality=80, progressive=True)
synth(96, 72).convert("CMYK").save(p("cmyk.jpg"), quality=90)
synth(160, 120).convert("L").save(p("gray.jpg"), quality=90)
synth(300, 200).save(p("synth.png"))
synth(120, 90).convert("L").save(p("gray.png"))
synth(70, 50).convert("L").point(lambda v: 255 if v > 128 else 0).convert("1").save(p("gray1.png"))
pal = synth(100, 70).convert("P", palette=Image.ADAPTIVE, colors=50)
pal.info["transparency"] = 3
pal.save(p("palette.png"), transparency=3)
rgb16 = (np.asarray(synth(64, 48), np.uint16) * 257
         + rng.integers(0, 257, (48, 64, 3)).astype(np.uint16))
png_raw(p("rgb16.png"), rgb16, 16, 2)
gray16 = (np.asarray(synth(64, 48).convert("L"), np.uint16) * 257
          + rng.integers(0, 257, (48, 64)).astype(np.uint16))
png_raw(p("gray16.png"), gray16, 16, 0)
rgba = synth(80, 60).convert("RGBA")
rgba.putalpha(Image.fromarray(rng.integers(0, 256, (60, 80), dtype=np.uint8)))
rgba.save(p("rgba.png"))
synth(30, 20).save(p("small.png"))
synth(40, 130).save(p("tall.png"))


# ---- references: PIL + torchvision Resize(S) + CenterCrop(S) ----
def pil_pipeline(path, size, ch):
    im = Image.open(path)
    if size and im.format == "JPEG":
        im.draft("RGB", (size, size))          # reduced DCT scale, as the C decoder
    if im.mode in ("I", "I;16", "I;16B"):
        # 16-bit gray: PIL's convert('L') clips at 255; we keep the high byte
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8), "L")
    gray = im.mode in ("1", "L", "LA", "I")
    mode = {0: "L" if gray else "RGB", 1: "L", 3: "RGB"}[ch]
    im = im.convert(mode)
    if size:
        w, h = im.size
        short, long_ = (w, h) if w <= h else (h, w)
        new_long = int(size * long_ / short)
        nw, nh = (size, new_long) if w <= h else (new_long, size)
        im = im.resize((nw, nh), Image.BILINEAR)
        top = int(round((nh - size) / 2.0))
        left = int(round((nw - size) / 2.0))
        im = im.crop((left, top, left + size, top + size))
    a = np.asarray(im, np.uint8)
    return a if a.ndim == 3 else a[..., None]


CASES = [
    ("photo.jpg", 224, 3), ("photo.jpg", 112, 3), ("photo.jpg", 64, 1), ("photo.jpg", 150, 3),
    ("prog.jpg", 100, 3), ("prog.jpg", 61, 1),
    ("cmyk.jpg", 0, 0), ("cmyk.jpg", 32, 3),
    ("gray.jpg", 56, 0), ("gray.jpg", 40, 3), ("gray.jpg", 0, 0),
    ("synth.png", 128, 3), ("synth.png", 128, 1), ("synth.png", 199, 0), ("synth.png", 0, 1),
    ("gray.png", 0, 0), ("gray.png", 45, 1), ("gray.png", 64, 3),
    ("gray1.png", 0, 0),
    ("palette.png", 0, 0), ("palette.png", 50, 3), ("palette.png", 0, 1),
    ("rgb16.png", 0, 0), ("rgb16.png", 32, 3),
    ("gray16.png", 0, 0), ("gray16.png", 24, 0),
    ("rgba.png", 0, 0), ("rgba.png", 40, 1),
    ("small.png", 64, 3), ("small.png", 25, 3),
    ("tall.png", 33, 3), ("tall.png", 39, 0),
]
with open(p("cases.txt"), "w") as f:
    f.write("# file size channels h w c ref  (made by scripts/make_image_refs.py)\n")
    for name, size, ch in CASES:
        a = pil_pipeline(p(name), size, ch)
        ref = "ref/%s_s%d_c%d.raw" % (name.replace(".", "_"), size, ch)
        with open(p(ref), "wb") as r:
            r.write(a.tobytes())
        h, w, c = a.shape
        f.write("%s %d %d %d %d %d %s\n" % (name, size, ch, h, w, c, ref))

# ---- bad files ----
jpg = open(p("photo.jpg"), "rb").read()
open(p("trunc.jpg"), "wb").write(jpg[:len(jpg) // 2])
jpg = open(p("gray.jpg"), "rb").read()   # garbage before EOI: a libjpeg warning
open(p("extra.jpg"), "wb").write(jpg[:-2] + b"\x12\x34\x56\xff\xd9")
png = open(p("gray.png"), "rb").read()
open(p("trunc.png"), "wb").write(png[:len(png) * 2 // 3])
i = png.index(b"IDAT") + 4 + 20          # a byte inside the IDAT data: zlib fails
open(p("corrupt.png"), "wb").write(png[:i] + bytes([png[i] ^ 0x40]) + png[i + 1:])
i = png.index(b"IDAT") - 4               # a byte of the IDAT CRC: the data inflates
i += 8 + struct.unpack(">I", png[i:i + 4])[0] + 1
open(p("badcrc.png"), "wb").write(png[:i] + bytes([png[i] ^ 0x40]) + png[i + 1:])
open(p("png_named.jpg"), "wb").write(png)
b = io.BytesIO()
Image.new("L", (16, 16), 128).save(b, "JPEG", quality=90)
b = bytearray(b.getvalue())
sof = b.index(b"\xff\xc0")
b[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)   # height, width
open(p("bomb.jpg"), "wb").write(bytes(b))
with open(p("bomb.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)))
    f.write(png_chunk(b"IDAT", zlib.compress(b"\0" * 100)))
    f.write(png_chunk(b"IEND", b""))
open(p("random.jpg"), "wb").write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
open(p("empty.jpg"), "wb").close()

# ---- Fashion-MNIST constants ----
FM = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path) as f:
        d = f.read()
    nd = d[3]
    dims = struct.unpack(">" + "I" * nd, d[4:4 + 4 * nd])
    return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)


if os.path.exists(FM):
    ti, tl = idx(FM + "/train-images-idx3-ubyte.gz"), idx(FM + "/train-labels-idx1-ubyte.gz")
    si, sl = idx(FM + "/t10k-images-idx3-ubyte.gz"), idx(FM + "/t10k-labels-idx1-ubyte.gz")
    with open(p("fmnist_ref.txt"), "w") as f:
        f.write("# Fashion-MNIST facts from gzip + numpy (scripts/make_image_refs.py)\n")
        for key, v in [
            ("train_n", ti.shape[0]), ("rows", ti.shape[1]), ("cols", ti.shape[2]),
            ("test_n", si.shape[0]),
            ("train_label0", tl[0]), ("train_label1", tl[1]), ("train_label_last", tl[-1]),
            ("test_label0", sl[0]),
            ("train_img0_sum", ti[0].astype(np.int64).sum()),
            ("train_img1_sum", ti[1].astype(np.int64).sum()),
            ("train_img_last_sum", ti[-1].astype(np.int64).sum()),
            ("test_img0_sum", si[0].astype(np.int64).sum()),
            ("train_all_sum", ti.astype(np.int64).sum()),
            ("train_label_sum", tl.astype(np.int64).sum()),
            ("train_label9_count", int((tl == 9).sum())),
            ("train_img0_px_14_14", ti[0, 14, 14]),
        ]:
            f.write("%s %d\n" % (key, int(v)))
print("wrote", OUT)
