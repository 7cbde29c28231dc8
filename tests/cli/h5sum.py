#!/usr/bin/python3
"""h5sum.py FILE [data]: one SHA-256 over every dataset and attribute of an
HDF5 file (names and values; with "data" the datasets only), printed as hex;
exit 1 when the file does not read back. Used by the crash tests and
scripts/crash_trials.sh to compare outputs by content."""
import h5py, hashlib, sys, numpy as np
h = hashlib.sha256()
def attrs(name, obj):
    if len(sys.argv) > 2: return   # "data": datasets only
    for k in sorted(obj.attrs):
        h.update(("%s@%s=" % (name, k)).encode()); h.update(repr(np.asarray(obj.attrs[k]).tolist()).encode())
try:
    with h5py.File(sys.argv[1], "r") as f:
        attrs("/", f)
        def visit(name, obj):
            attrs(name, obj)
            if isinstance(obj, h5py.Dataset):
                v = obj[()]
                h.update(name.encode())
                h.update(repr(v.tolist()).encode() if v.dtype.kind == "O" else np.ascontiguousarray(v).tobytes())
        f.visititems(visit)
except Exception as e:
    print("unreadable %s: %s" % (sys.argv[1], e), file=sys.stderr); sys.exit(1)
print(h.hexdigest())
