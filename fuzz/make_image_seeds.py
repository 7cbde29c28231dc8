#!/usr/bin/python3
"""make_image_seeds.py: write the seed corpus of fuzz_image (fuzz/corpus/image/).

Each seed is one option byte (see fuzz/fuzz_image.c: channels, size) then a
small JPEG or PNG: baseline 4:2:0 and 4:4:4 RGB, progressive, grayscale and
CMYK JPEG; gray, RGB, RGBA, palette, 1-bit, 16-bit gray and RGB, and an Adam7
interlaced PNG (the last two written by hand: PIL writes neither).
Usage: fuzz/make_image_seeds.py [OUTDIR]
"""
import io
import os
import struct
import sys
import zlib

from PIL import Image

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "image")
os.makedirs(out, exist_ok=True)
W, H = 24, 17
rgb = Image.new("RGB", (W, H))
rgb.putdata([((x * 11) % 256, (y * 15) % 256, ((x + y) * 7) % 256) for y in range(H) for x in range(W)])
gray = rgb.convert("L")


def save(name, opt, im, fmt, **kw):
    bio = io.BytesIO()
    im.save(bio, fmt, **kw)
    data = bytes([opt]) + bio.getvalue()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")


# option byte b: channels {0,1,3}[b % 3], size {0,32,7,1}[(b // 3) % 4]
save("rgb420.jpg", 0, rgb, "JPEG", quality=80, subsampling=2)
save("rgb444.jpg", 5, rgb, "JPEG", quality=90, subsampling=0)
save("prog.jpg", 3, rgb, "JPEG", quality=75, progressive=True)
save("gray.jpg", 7, gray, "JPEG", quality=75)
save("cmyk.jpg", 2, rgb.convert("CMYK"), "JPEG", quality=75)
save("gray.png", 0, gray, "PNG")
save("rgb.png", 4, rgb, "PNG")
save("rgba.png", 6, rgb.convert("RGBA"), "PNG")
save("palette.png", 8, rgb.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG")
save("bits1.png", 9, gray.convert("1"), "PNG")
save("gray16.png", 1, gray.convert("I;16"), "PNG")


def png_raw(name, opt, w, h, depth, ctype, interlace, rows):
    """A PNG from raw scanlines (filter byte included in rows)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([opt]) + data)
    print(f"{name}: {len(data) + 1} bytes")


# 16-bit RGB, 5 x 3, filter 0 on every row
png_raw("rgb16.png", 3, 5, 3, 16, 2, 0,
        b"".join(b"\0" + b"".join(struct.pack(">HHH", x * 9000, y * 20000, 777) for x in range(5)) for y in range(3)))
# Adam7 interlaced 8-bit gray, 8 x 8: passes of 1x1, 1x1, 2x1, 2x2, 4x2, 4x4, 8x4 pixels
passes = [(1, 1), (1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4)]
png_raw("adam7.png", 0, 8, 8, 8, 0, 1,
        b"".join(b"".join(b"\0" + bytes((17 * (i + r + c)) % 256 for c in range(pw)) for r in range(ph))
                 for i, (pw, ph) in enumerate(passes)))
