#!/bin/bash
# setup.sh: install the Debian packages xm needs (apt-get), then configure
# and build into build/. Safe to run twice: packages already installed are
# not fetched again. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for a in "$@"; do
    case "$a" in
    --no-build) build=0 ;;
    -h | --help) echo "usage: scripts/setup.sh [--no-build]"; exit 0 ;;
    *) echo "setup.sh: error: unknown option '$a'" >&2; exit 2 ;;
    esac
done

PKGS=(cmake make gcc clang pkg-config zstd
      libhdf5-dev hdf5-tools libzstd-dev libturbojpeg0-dev libpng-dev zlib1g-dev
      libdnnl-dev liblapacke-dev libomp-dev
      dataset-fashion-mnist
      # the CLI tests write their small HDF5 and image inputs with these
      # (they skip, exit 77, without them: install them so CI runs them)
      python3-h5py python3-numpy python3-pil
      # the default pipeline: FreeType renders the printed-character source
      # set from these font packages; gnuplot draws the plots
      libfreetype-dev gnuplot-nox
      fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf
      fonts-croscore fonts-urw-base35 fonts-crosextra-carlito fonts-open-sans
      fonts-roboto-unhinted)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}" >&2
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q </dev/null
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
    echo "setup.sh: all ${#PKGS[@]} packages already installed" >&2
fi

if [ "$build" = 1 ]; then
    jobs=$(nproc 2>/dev/null || echo 2)
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$jobs"
    echo "setup.sh: built into build/ (tools in build/bin)" >&2
fi
