#!/usr/bin/env bash
# scripts/device_bundle.sh: run HERE (no GPU needed), from anywhere.
# Builds the CUDA build into build-gpu/ (XM_CUDA=ON, sm_90) and packs .xmdev/
# for the lent GPU machine:
#   .xmdev/xm.tar.xz  the test and bench binaries with their non-CUDA shared
#                     libraries (../shared/device/bundle.sh); only the tarball
#                     is kept, the carry limit is 64 MiB
#   .xmdev/env.sh     library paths on the GPU machine
#   .xmdev/refs/      tests/refs (PyTorch reference files)
#   .xmdev/bench/     bench/*.py
#   .xmdev/pairs10.h5 pairs t -> t+1 mod 10 for device_step_check.sh (the GPU
#                     machine may lack h5py)
# Then the device run, from the repository root, carrying .xmdev:
#   run carry=[".xmdev"] command="bash scripts/device_check.sh"
# (device_check.sh writes its logs and the results table under $OUT).
# Env: JOBS (default 2), XM_SHARED (default ../shared of the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${XM_SHARED:-$root/../shared}
jobs=${JOBS:-2}
[ -x "$shared/device/bundle.sh" ] || { echo "device_bundle: $shared/device/bundle.sh not found" >&2; exit 2; }

cmake -S . -B build-gpu -DXM_CUDA=ON -DXM_CUDA_ARCH=90 -DCMAKE_BUILD_TYPE=Release >/dev/null
# keep going past targets of other parts that may not build; check ours below
if ! cmake --build build-gpu -j"$jobs" -- -k >build-gpu/build.log 2>&1; then
    echo "device_bundle: warning: some targets failed (build-gpu/build.log):" >&2
    grep -E "error|Error" build-gpu/build.log | head -20 >&2 || true
fi
for t in test_cuda_ops test_cuda_net; do
    [ -x build-gpu/bin/$t ] || { echo "device_bundle: build-gpu/bin/$t was not built" >&2; exit 1; }
done
bins=()
for b in build-gpu/bin/test_cuda_*; do
    [[ $b == *_fake ]] || bins+=("$b") # the _fake twins are for machines without a GPU
done
for t in bench_engine bench_loader test_net_ref20 test_net_ref18 xm-pack xm-train xm-embed xm-probe; do
    if [ -x build-gpu/bin/$t ]; then bins+=(build-gpu/bin/$t); else echo "device_bundle: note: no $t" >&2; fi
done
mkdir -p .xmdev
"$shared/device/bundle.sh" .xmdev/xm "${bins[@]}"
rm -rf .xmdev/xm
cp "$shared/device/env.sh" .xmdev/env.sh
# and nothing left from a local trial of the check scripts (carry limit)
rm -rf .xmdev/refs .xmdev/bench .xmdev/train-check .xmdev/step-check
mkdir -p .xmdev/refs .xmdev/bench
cp tests/refs/* .xmdev/refs/ 2>/dev/null || echo "device_bundle: note: tests/refs is empty" >&2
cp bench/*.py .xmdev/bench/
cp scripts/device_check.sh scripts/device_train_check.sh .xmdev/
/usr/bin/python3 -c 'import h5py, numpy as np
f = h5py.File(".xmdev/pairs10.h5", "w"); f["target"] = np.arange(10, dtype=np.int32)
f["source"] = (np.arange(10, dtype=np.int32) + 1) % 10' ||
    echo "device_bundle: note: no pairs10.h5 (no h5py here)" >&2
echo "device_bundle: packed $(du -sh .xmdev | cut -f1) in .xmdev: ${bins[*]##*/}"
