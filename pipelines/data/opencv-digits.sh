#!/bin/sh
# opencv-digits.sh OUT.png CACHEDIR
# Fetch OpenCV's handwritten-digit sheet (examples/data/digits.png, 721 kB)
# from Debian's opencv-doc package without installing the package (95 MB):
# `apt-get download` into CACHEDIR (reused when already there), extract the
# one file, write OUT.png atomically. An installed opencv-doc is used as is.
set -eu
out=$1
cache=${2:-$(dirname "$out")/cache}
member=./usr/share/doc/opencv-doc/examples/data/digits.png
if [ -f /usr/share/doc/opencv-doc/examples/data/digits.png ]; then
    cp /usr/share/doc/opencv-doc/examples/data/digits.png "$out.tmp.$$"
else
    mkdir -p "$cache"
    deb=$(ls "$cache"/opencv-doc_*_all.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        (cd "$cache" && apt-get download opencv-doc) >&2 || {
            echo "opencv-digits.sh: error: apt-get download opencv-doc failed (network? apt sources?)" >&2
            exit 69
        }
        deb=$(ls "$cache"/opencv-doc_*_all.deb | head -n 1)
    fi
    tmpd=$(mktemp -d "$cache/x.XXXXXX")
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmpd" "$member"
    mv "$tmpd/$member" "$out.tmp.$$"
    rm -rf "$tmpd"
fi
touch "$out.tmp.$$"   # the packaged file is older than this script
mv "$out.tmp.$$" "$out"
