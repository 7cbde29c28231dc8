"""xms_read.py: a small, independent Python reader of .xms shards
(formats/xms.md), for cross-checks against PyTorch. Raw codec only
(filters none, sub, up); it trusts the file less than it should, so use it
on files xm wrote, not on hostile ones (xm's own reader is the checked one).

    from xms_read import read_xms
    images, labels, classes = read_xms("data.xms")  # list of HxWxC uint8
"""
import struct

import numpy as np
import zstandard

MAGIC = b"\x89XMS\r\n\x1a\n"


def _unfilter(res, h, w, c, filt):
    a = res.reshape(h, w * c).astype(np.uint32)
    if filt == 0:
        out = a
    elif filt == 1:  # sub: x = r + x[left by c bytes]
        out = a.reshape(h, w, c).cumsum(axis=1).reshape(h, w * c)
    elif filt == 2:  # up: x = r + x[row above]
        out = a.cumsum(axis=0)
    else:
        raise ValueError("filter %d not supported by this reader" % filt)
    return (out & 0xFF).astype(np.uint8).reshape(h, w, c)


def read_xms(path):
    b = open(path, "rb").read()
    if b[:8] != MAGIC:
        raise ValueError("%s: not an .xms file" % path)
    n_rec, n_cls, n_blk = struct.unpack_from("<QII", b, 16)
    filt = b[37]
    idx_off, idx_size = struct.unpack_from("<QQ", b, 40)
    meta_off, = struct.unpack_from("<Q", b, 64)
    meta_csize, meta_rsize = struct.unpack_from("<II", b, 72)
    if b[100] != 0:
        raise ValueError("%s: JPEG codec not supported by this reader" % path)
    idx_rsize, = struct.unpack_from("<Q", b, 104)
    d = zstandard.ZstdDecompressor()
    idx = d.decompress(b[idx_off:idx_off + idx_size], max_output_size=idx_rsize)
    meta = d.decompress(b[meta_off:meta_off + meta_csize], max_output_size=meta_rsize)
    classes, p = [], 4
    for _ in range(struct.unpack_from("<I", meta, 0)[0]):
        n, = struct.unpack_from("<I", meta, p)
        classes.append(meta[p + 4:p + 4 + n].decode())
        p += 4 + n
    blocks = [struct.unpack_from("<QIIQII", idx, 32 * i) for i in range(n_blk)]
    cache, images, labels = {}, [], []
    for i in range(n_rec):
        blk, off, h, w, c, label, _ = struct.unpack_from("<IIHHB3xiI", idx, 32 * n_blk + 24 * i)
        if blk not in cache:
            cache.clear()
            o, cs, rs = blocks[blk][:3]
            cache[blk] = d.decompress(b[o:o + cs], max_output_size=rs)
        raw = np.frombuffer(cache[blk], np.uint8, h * w * c, off)
        images.append(_unfilter(raw, h, w, c, filt))
        labels.append(label)
    return images, np.array(labels, np.int64), classes
