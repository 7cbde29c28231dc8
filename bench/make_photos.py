#!/usr/bin/python3
"""make_photos.py OUTDIR [PER_CLASS]: a folder of real JPEG photos for the
xm-pack benchmark, made without network from the nature photographs that
Debian's mate-backgrounds package ships (/usr/share/backgrounds/mate/nature,
12 photos of 1280x1024 to 2560x1920). Each photo becomes one class; each
image is a random crop (35-90% of the shorter side, aspect 3:4 to 4:3)
resized to an ImageNet-like 500 px longer side and saved as JPEG quality 90.
Deterministic (fixed seed). Needs Debian's python3-pil."""
import os
import random
import sys

from PIL import Image

SRC = "/usr/share/backgrounds/mate/nature"


def main():
    out = sys.argv[1]
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    rng = random.Random(1234)
    names = sorted(f for f in os.listdir(SRC) if f.lower().endswith(".jpg"))
    for name in names:
        im = Image.open(os.path.join(SRC, name)).convert("RGB")
        w, h = im.size
        cls = os.path.join(out, os.path.splitext(name)[0].lower())
        os.makedirs(cls, exist_ok=True)
        for k in range(per):
            s = min(w, h) * rng.uniform(0.35, 0.9)
            ar = rng.uniform(0.75, 4 / 3)
            cw, ch = min(w, int(s * ar)), min(h, int(s))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            crop = im.crop((x, y, x + cw, y + ch))
            scale = 500 / max(cw, ch)
            crop = crop.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BILINEAR)
            crop.save(os.path.join(cls, "%04d.jpg" % k), quality=90)
    print("%d photos in %d classes under %s" % (per * len(names), len(names), out))


if __name__ == "__main__":
    main()
