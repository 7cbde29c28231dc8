#!/usr/bin/env bash
# scripts/device_check.sh: run ON THE GPU MACHINE, from the repository root,
# after scripts/device_bundle.sh packed .xmdev/ here and the device run
# carried it (carry: [".xmdev"]). Every step is bounded by `timeout`; no step
# starts after XM_DEADLINE seconds (default 290), so the whole script stays
# under about 5 minutes (each step's timeout is cut to the time left).
# The device tool returns at most 8 files from $OUT, so everything goes
# into these 5:
#   summary.txt                one line per step: exit status, last log line
#   steps.log                  every step's full output, one after another
#                              ("===== NAME rc=RC =====" headers), appended
#                              as each step ends
#   profile.txt                per-op timing tables (XM_CUDA_PROFILE=1) of the
#                              profiled xm runs
#   system.txt                 nvidia-smi, ldd of the binaries, env.sh output,
#                              bench_engine --help
#   results-gpu-<card>-<date>.md  the table (also printed last)
# Order: the tests (CUDA vs CPU, vs the PyTorch reference files, steady-state
# steps, xm-train end to end at f32, tf32, bf16 and f16 with loss scaling),
# the bf16 benchmark rows (xm, then PyTorch AMP), one profiled xm run (train
# 64 bf16), xm-train's step time for none/xmixup/cotrain plans at ResNet-50
# 224 px (scripts/device_step_check.sh), xm-embed's images/s with one and
# the default number of reader threads (scripts/device_embed_check.sh),
# then if time is left the f32 rows
# and a profiled train 256 f32 run, torch.compile, and compute-sanitizer
# (memcheck, racecheck) over test_cuda_ops with the new kernels.
# Env: OUT (default ./device-out), XM_BENCH_ITERS (10), XM_SKIP_TESTS=1,
# XM_SKIP_BENCH=1, XM_DEADLINE (290).
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
root=$PWD
T0=$SECONDS
iters=${XM_BENCH_ITERS:-10}
# the CUDA kernels written without a GPU, off by default until measured
NEW="XM_CUDA_BN_RED=parts XM_CUDA_POOL_VEC=1 XM_CUDA_STAGE=1"
deadline=${XM_DEADLINE:-290}
LOGS=$(mktemp -d /tmp/xm-device-logs.XXXXXX) # per-step logs (gpu_table.py reads them)
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" | tee -a "$OUT/summary.txt"; }
# step NAME TIMEOUT CMD... : log to $LOGS/NAME.log (then appended to
# steps.log), status to the summary
step() {
    local name=$1 to=$2
    shift 2
    local left=$((deadline - (SECONDS - T0)))
    if [ $left -lt 15 ]; then
        say "$name: not run (deadline ${deadline}s reached)"
        return 125
    fi
    [ "$to" -gt "$left" ] && to=$left
    timeout -k 5 "$to" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    local why=""
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why=" TIMEOUT after ${to}s"
    [ $rc -eq 77 ] && why=" skipped"
    { echo "===== $name rc=$rc$why ($*)"; cat "$LOGS/$name.log"; echo; } >>"$OUT/steps.log"
    # the last JSON line (benchmarks), else the last unindented line (tests)
    local last
    last=$(grep '^{' "$LOGS/$name.log" | tail -1)
    [ -n "$last" ] || last=$(grep -v '^\s*$' "$LOGS/$name.log" | grep -v '^ ' | tail -1)
    say "$name: rc=$rc$why | $(printf '%s' "$last" | cut -c1-150)"
    return $rc
}

[ -f .xmdev/xm.tar.xz ] || { say "no .xmdev/xm.tar.xz: run scripts/device_bundle.sh first"; exit 2; }
tar -C .xmdev -xJf .xmdev/xm.tar.xz || { say "unpacking .xmdev/xm.tar.xz failed"; exit 2; }
. .xmdev/env.sh "$root/.xmdev/xm" 2>"$LOGS/env.txt"
B=$root/.xmdev/xm/bin
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
cardtag=$(printf '%s' "${card:-unknown}" | tr -c 'A-Za-z0-9' '-' | sed 's/--*/-/g; s/-$//' | tr 'A-Z' 'a-z')
date=$(date -u +%Y-%m-%d)
say "card: ${card:-none}; bundle: $(ls "$B" | tr '\n' ' ')"
{
    echo "===== nvidia-smi"; nvidia-smi 2>&1
    echo "===== env.sh"; cat "$LOGS/env.txt"
    echo "===== ldd"; for b in "$B"/*; do echo "== $b"; ldd "$b"; done 2>&1
    [ -x "$B/bench_engine" ] && { echo "===== bench_engine --help"; "$B/bench_engine" --help 2>&1; }
} >"$OUT/system.txt"
if grep -q "=> not found" "$OUT/system.txt"; then
    say "MISSING LIBRARIES: $(grep '=> not found' "$OUT/system.txt" | sort -u | tr -s ' \t\n' ' ')"
fi

# the tests find tests/refs through XM_TESTS (the working tree's, else the copy)
if [ -d tests/refs ] && ls tests/refs/*.h5 >/dev/null 2>&1; then export XM_TESTS=$root/tests
else export XM_TESTS=$root/.xmdev; fi
export XM_SRC=$root XM_BIN=$B

if [ "${XM_SKIP_TESTS:-0}" != 1 ]; then
    # verbose (every comparison) for the two tests that compare per op and
    # per tensor; the reference test's 1932 lines are left out
    step test_cuda_ops 90 env XM_TEST_VERBOSE=1 "$B/test_cuda_ops"
    r1=$?
    step test_cuda_net 120 env XM_TEST_VERBOSE=1 "$B/test_cuda_net"
    r2=$?
    if [ $r1 -eq 1 ] || [ $r2 -eq 1 ]; then
        # the coalesced BN reductions (the default) are the likeliest
        # suspect: without them, does it pass? Then the rest of the run
        # keeps to the row kernels.
        step test_cuda_ops_bnrows 90 env XM_CUDA_BN_VEC=0 XM_TEST_VERBOSE=1 "$B/test_cuda_ops"
        r3=$?
        step test_cuda_net_bnrows 120 env XM_CUDA_BN_VEC=0 XM_TEST_VERBOSE=1 "$B/test_cuda_net"
        r4=$?
        if [ $r3 -eq 0 ] && [ $r4 -eq 0 ]; then
            export XM_CUDA_BN_VEC=0
            say "BN VECTOR PATH FAILS, row kernels pass: the rest runs with XM_CUDA_BN_VEC=0"
        fi
    fi
    # new, not yet the default ($NEW): BN reductions without atomics (bn.cu),
    # max pooling 8 channels per thread (pool.cu), pinned staging of large
    # uploads (backend_cuda.c); the bench rows +new and xm_train_steps_new
    # below measure them (verbose: a failure names its op)
    step test_cuda_ops_new 90 env $NEW XM_TEST_VERBOSE=1 "$B/test_cuda_ops"
    step test_cuda_net_new 120 env $NEW "$B/test_cuda_net"
    step test_cuda_ref 90 "$B/test_cuda_ref"
    step test_cuda_bench 60 "$B/test_cuda_bench"
    step test_cuda_graph 60 "$B/test_cuda_graph" # CUDA graphs against eager steps
    step test_cuda_graph_new 60 env $NEW "$B/test_cuda_graph" # the new kernels captured
    for t in test_net_ref20 test_net_ref18; do
        if [ -x "$B/$t" ] && grep -q XM_DEVICE "$B/$t"; then
            step ${t}_cuda 60 env XM_DEVICE=cuda "$B/$t"
        fi
    done
    # xm-train end to end on the GPU at f32, tf32, bf16 and f16 (--precision;
    # f16 with the dynamic loss scale), probed on held-out images: its table
    # goes to steps.log
    if [ -x "$B/xm-train" ] && [ -f .xmdev/device_train_check.sh ]; then
        step xm_train_check 120 bash .xmdev/device_train_check.sh cuda "$B" "$root/.xmdev/train-check"
    fi
fi

# the xm side of the benchmark on one configuration: D's bench_engine when it
# was built, else the fallback in test_cuda_bench.
# xm_bench MODE BATCH PREC [SUFFIX [VAR=VALUE...]]: the log is
# xm_MODE_BATCH_PRECSUFFIX.log; the VAR=VALUE pairs go to the environment.
# A SUFFIX containing _graph adds --graph (the timed steps replay a captured
# CUDA graph; bench_engine only).
xm_bench() {
    local mode=$1 batch=$2 prec=$3 suffix=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    local flags=()
    [[ "$suffix" == *_graph* ]] && flags=(--graph)
    if [ -x "$B/bench_engine" ]; then
        step "xm_${mode}_${batch}_${prec}${suffix}" 75 env "$@" "$B/bench_engine" --device cuda \
            --arch resnet50 --size 224 --classes 1000 --mode "$mode" --batch "$batch" \
            --precision "$prec" --steps "$iters" --warmup 3 --json ${flags[@]+"${flags[@]}"}
    elif [ ${#flags[@]} -gt 0 ]; then
        say "xm_${mode}_${batch}_${prec}${suffix}: not run (no bench_engine for --graph)"
    else
        step "xm_${mode}_${batch}_${prec}${suffix}" 75 env "$@" "$B/test_cuda_bench" --bench \
            "$mode" "$batch" "$prec" resnet50 224 "$iters" 3
    fi
}
# a profiled xm run: its table (stderr of bench_engine) goes to profile.txt
# xm_profile MODE BATCH PREC [VARIANT VAR=VALUE...]: e.g. _new $NEW
xm_profile() {
    local mode=$1 batch=$2 prec=$3 variant=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    [ -x "$B/bench_engine" ] || { say "profile: no bench_engine in the bundle"; return; }
    xm_bench "$mode" "$batch" "$prec" "${variant}_profile" XM_CUDA_PROFILE=1 "$@"
    local f="$LOGS/xm_${mode}_${batch}_${prec}${variant}_profile.log"
    [ -f "$f" ] && { echo "===== $mode $batch $prec$variant (XM_CUDA_PROFILE=1 $*)"; cat "$f"; echo; } \
        >>"$OUT/profile.txt"
}
if [ "${XM_SKIP_BENCH:-0}" != 1 ]; then
    [ -x "$B/bench_engine" ] || say "no bench_engine in the bundle: xm side from test_cuda_bench --bench"
    # bf16 (the goal) first: xm (each row then replaying a CUDA graph),
    # PyTorch AMP, then the profiled xm run
    xm_bench train 64 bf16
    xm_bench train 64 bf16 _graph
    xm_bench train 256 bf16
    xm_bench train 256 bf16 _graph
    xm_bench infer 256 bf16
    xm_bench infer 256 bf16 _graph
    # the kernels not yet the default ($NEW), alone and with the graph
    xm_bench train 64 bf16 _new $NEW
    xm_bench train 64 bf16 _new_graph $NEW
    xm_bench train 256 bf16 _new $NEW
    xm_bench train 256 bf16 _new_graph $NEW
    # convolution algorithms measured (cudnnFind, as cudnn.benchmark) instead
    # of cuDNN's heuristics (the default)
    xm_bench train 64 bf16 _find XM_CUDNN_FIND=1
    xm_bench train 256 bf16 _find XM_CUDNN_FIND=1
    step torch_gpu_bf16 75 env PYTHONUNBUFFERED=1 python3 .xmdev/bench/torch_gpu.py \
        --iters "$iters" --warmup 3 --configs train:64:bf16,train:256:bf16,infer:256:bf16
    xm_profile train 64 bf16
    xm_profile train 64 bf16 _new $NEW
    # xm-train's own step (loader, input step, trainer) for none, xmixup and
    # cotrain plans at ResNet-50 224 px batch 64 bf16: against the bare step
    # above, does the GPU wait for data; is xmixup within 3% of none
    [ -x "$B/xm-train" ] && step xm_train_steps 100 bash scripts/device_step_check.sh cuda "$B" \
        "$root/.xmdev/step-check" bf16
    [ -x "$B/xm-train" ] && step xm_train_steps_new 100 env $NEW bash scripts/device_step_check.sh \
        cuda "$B" "$root/.xmdev/step-check" bf16
    # xm-embed at batch 256, f32 and bf16, one reader and the default: does
    # the GPU wait for records (against the infer rows above)
    [ -x "$B/xm-embed" ] && [ -x "$B/xm-train" ] && step xm_embed_rate 90 bash \
        scripts/device_embed_check.sh cuda "$B" "$root/.xmdev/step-check" "f32 bf16"
    # if time is left: f32 (xm, PyTorch without TF32), a profiled f32 run
    xm_bench train 64 f32
    xm_bench train 256 f32
    xm_bench infer 256 f32
    step torch_gpu_f32 100 env PYTHONUNBUFFERED=1 python3 .xmdev/bench/torch_gpu.py \
        --iters "$iters" --warmup 3 --configs train:64:f32,train:256:f32,infer:256:f32
    xm_profile train 256 f32
    # last, if time is left: torch.compile (its compilation takes minutes)
    step torch_gpu_compile_bf16 120 env PYTHONUNBUFFERED=1 python3 .xmdev/bench/torch_gpu.py \
        --iters "$iters" --warmup 3 --configs train:64:bf16 --compile
    cat "$LOGS"/torch_gpu_*.log >"$LOGS/torch_gpu.log" 2>/dev/null
fi
# last, if time is left: the new kernels under compute-sanitizer (out-of-
# bounds and misaligned accesses, then shared-memory races), f32 only
san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
if [ "${XM_SKIP_TESTS:-0}" != 1 ] && [ -n "$san" ]; then
    step sanitize_memcheck_new 60 env $NEW XM_TEST_PRECISIONS=f32 "$san" --tool memcheck \
        --error-exitcode 3 "$B/test_cuda_ops"
    step sanitize_racecheck_new 60 env $NEW XM_TEST_PRECISIONS=f32 "$san" --tool racecheck \
        --error-exitcode 3 "$B/test_cuda_ops"
fi

res="$OUT/results-gpu-$cardtag-$date.md"
{
    python3 .xmdev/bench/gpu_table.py "$LOGS" "${card:-unknown}" "$date"
    echo
    if [ -s "$OUT/profile.txt" ]; then
        echo "Memory-bound ops of the profiled runs on the copy-bandwidth scale (bench/profile_bw.py):"
        echo '```'
        # this card's copy bandwidth from the PyTorch probe line, in GB/s
        cbw=$(cat "$LOGS"/torch_gpu*.log 2>/dev/null | python3 -c 'import json, sys
for l in sys.stdin:
    try: j = json.loads(l)
    except ValueError: continue
    if j.get("impl") == "probe" and j.get("copy_bytes_per_s"): print(round(j["copy_bytes_per_s"] / 1e9)); break')
        python3 bench/profile_bw.py "$OUT/profile.txt" $cbw
        echo '```'
        echo
    fi
    echo "Tests (scripts/device_check.sh, $(date -u '+%Y-%m-%d %H:%M UTC')):"
    echo '```'
    cat "$OUT/summary.txt"
    echo '```'
} >"$res" 2>&1
say "total ${SECONDS}s; results in $(basename "$res")"
cat "$res"
