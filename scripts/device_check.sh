#!/usr/bin/env bash
# scripts/device_check.sh: run ON THE GPU MACHINE, from the repository root,
# after scripts/device_bundle.sh packed .xmdev/ here and the device run
# carried it (carry: [".xmdev"]). Every step is bounded by `timeout`; the
# whole script stays under about 6 minutes. Everything goes under $OUT:
#   summary.txt           one line per step with its exit status
#   nvidia-smi.txt, ldd.txt, env.txt
#   test_cuda_{ops,net,ref,bench}.log      CUDA vs CPU, CUDA vs the PyTorch
#                                          reference files, steady-state steps
#   xm_<mode>_<batch>_<prec>.log          xm, ResNet-50 224 px (bench_engine,
#                                         else test_cuda_bench --bench)
#   torch_gpu.log                         bench/torch_gpu.py (JSON lines)
#   results-gpu-<card>-<date>.md          the table (also printed last)
# Env: OUT (default ./device-out), XM_BENCH_ITERS (10), XM_SKIP_TESTS=1,
# XM_SKIP_BENCH=1, XM_DEADLINE (default 330: seconds after which no step
# starts; each step's timeout is cut to what is left).
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
root=$PWD
T0=$SECONDS
iters=${XM_BENCH_ITERS:-10}
deadline=${XM_DEADLINE:-330}
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" | tee -a "$OUT/summary.txt"; }
# step NAME TIMEOUT CMD... : log to $OUT/NAME.log, status to the summary
step() {
    local name=$1 to=$2
    shift 2
    local left=$((deadline - (SECONDS - T0)))
    if [ $left -lt 15 ]; then
        say "$name: not run (deadline ${deadline}s reached)"
        return 125
    fi
    [ "$to" -gt "$left" ] && to=$left
    timeout -k 5 "$to" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local why=""
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why=" TIMEOUT after ${to}s"
    [ $rc -eq 77 ] && why=" skipped"
    say "$name: rc=$rc$why | $(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-150)"
    return $rc
}

[ -f .xmdev/xm.tar.xz ] || { say "no .xmdev/xm.tar.xz: run scripts/device_bundle.sh first"; exit 2; }
tar -C .xmdev -xJf .xmdev/xm.tar.xz || { say "unpacking .xmdev/xm.tar.xz failed"; exit 2; }
. .xmdev/env.sh "$root/.xmdev/xm" 2>"$OUT/env.txt"
B=$root/.xmdev/xm/bin
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
cardtag=$(printf '%s' "${card:-unknown}" | tr -c 'A-Za-z0-9' '-' | sed 's/--*/-/g; s/-$//' | tr 'A-Z' 'a-z')
date=$(date -u +%Y-%m-%d)
say "card: ${card:-none}; bundle: $(ls "$B" | tr '\n' ' ')"
for b in "$B"/*; do echo "== $b"; ldd "$b"; done >"$OUT/ldd.txt" 2>&1
if grep -q "not found" "$OUT/ldd.txt"; then
    say "MISSING LIBRARIES: $(grep 'not found' "$OUT/ldd.txt" | sort -u | tr -s ' \t\n' ' ')"
fi

# the tests find tests/refs through XM_TESTS (the working tree's, else the copy)
if [ -d tests/refs ] && ls tests/refs/*.h5 >/dev/null 2>&1; then export XM_TESTS=$root/tests
else export XM_TESTS=$root/.xmdev; fi
export XM_SRC=$root XM_BIN=$B XM_TEST_VERBOSE=1

if [ "${XM_SKIP_TESTS:-0}" != 1 ]; then
    step test_cuda_ops 90 "$B/test_cuda_ops"
    step test_cuda_net 120 "$B/test_cuda_net"
    step test_cuda_ref 90 "$B/test_cuda_ref"
    step test_cuda_bench 60 "$B/test_cuda_bench"
    for t in test_net_ref20 test_net_ref18; do
        if [ -x "$B/$t" ] && grep -q XM_DEVICE "$B/$t"; then
            step ${t}_cuda 60 env XM_DEVICE=cuda "$B/$t"
        fi
    done
fi

# the xm side of the benchmark on one configuration: MODE BATCH PREC. D's
# bench_engine when it was built, else the fallback in test_cuda_bench.
# xm_bench MODE BATCH PREC [SUFFIX [VAR=VALUE...]]: the log is
# xm_MODE_BATCH_PRECSUFFIX.log; the VAR=VALUE pairs go to the environment.
xm_bench() {
    local mode=$1 batch=$2 prec=$3 suffix=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    if [ -x "$B/bench_engine" ]; then
        step "xm_${mode}_${batch}_${prec}${suffix}" 75 env "$@" "$B/bench_engine" --device cuda \
            --arch resnet50 --size 224 --classes 1000 --mode "$mode" --batch "$batch" \
            --precision "$prec" --steps "$iters" --warmup 3 --json
    else
        step "xm_${mode}_${batch}_${prec}${suffix}" 75 env "$@" "$B/test_cuda_bench" --bench \
            "$mode" "$batch" "$prec" resnet50 224 "$iters" 3
    fi
}
if [ "${XM_SKIP_BENCH:-0}" != 1 ]; then
    if [ -x "$B/bench_engine" ]; then
        "$B/bench_engine" --help >"$OUT/bench_engine_help.txt" 2>&1
    else
        say "no bench_engine in the bundle: xm side from test_cuda_bench --bench"
    fi
    # bf16 (the goal) first: xm, then PyTorch; then f32
    for p in bf16 f32; do
        xm_bench train 64 $p
        xm_bench train 256 $p
        xm_bench infer 256 $p
        step torch_gpu_$p 100 python3 .xmdev/bench/torch_gpu.py --iters "$iters" --warmup 3 \
            --configs train:64:$p,train:256:$p,infer:256:$p
    done
    cat "$OUT"/torch_gpu_*.log >"$OUT/torch_gpu.log" 2>/dev/null
    # if time is left: cuDNN algorithms measured (cudnnFind) instead of heuristics
    xm_bench train 256 bf16 _find XM_CUDNN_FIND=1
fi

res="$OUT/results-gpu-$cardtag-$date.md"
{
    python3 .xmdev/bench/gpu_table.py "$OUT" "${card:-unknown}" "$date"
    echo
    echo "Tests (scripts/device_check.sh, $(date -u '+%Y-%m-%d %H:%M UTC')):"
    echo '```'
    cat "$OUT/summary.txt"
    echo '```'
} >"$res" 2>&1
say "total ${SECONDS}s; results in $(basename "$res")"
cat "$res"
