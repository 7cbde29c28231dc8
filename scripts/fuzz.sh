#!/bin/bash
# fuzz.sh: build the libFuzzer targets (clang, ASan + UBSan) and run one or
# all of them for a time budget each. Usage:
#   scripts/fuzz.sh [-b BUILD_DIR] [-j JOBS] [-t SECONDS] [--no-build] [TARGET...]
# TARGET is a name from fuzz/fuzz_NAME.c (xms, idx, image, h5, list, opts);
# none = all. SECONDS per target (default 60); JOBS > 1 runs that many fuzzing
# processes per target (libFuzzer -fork). Seeds come from fuzz/corpus/NAME
# (read only); what the fuzzer adds goes to BUILD_DIR/corpus-NAME and is kept
# between runs. Crash inputs are saved under fuzz/crashes/ (gitignored).
#
# The targets run in libFuzzer's fork mode and keep going after a crash; each
# crash input is run again and classified by its stack: the first frame in
# either libhdf5 or our sources decides. A crash inside libhdf5 (a bug of the
# HDF5 library on a hostile file) is reported and ignored (see
# docs/reliability-fuzz.md); any other crash, leak, timeout or out-of-memory
# fails the run. Per target it prints: executions, corpus size, crashes.
# Exit status: 0 when no target found a crash of ours, 1 otherwise, 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz seconds=60 jobs=1 do_build=1 targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    -b) build=$2; shift ;;
    -j) jobs=$2; shift ;;
    -t) seconds=$2; shift ;;
    --no-build) do_build=0 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: error: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1") ;;
    esac
    shift
done
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi
for t in "${targets[@]}"; do
    [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: error: no target fuzz/fuzz_$t.c" >&2; exit 2; }
done
command -v clang >/dev/null || { echo "fuzz.sh: error: clang is needed" >&2; exit 2; }

if [ "$do_build" = 1 ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -DXM_FUZZ=ON -DXM_CUDA=OFF \
        -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
    mkdir -p "$build"
    cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >"$build/fuzz-build.log" 2>&1 ||
        { tail -50 "$build/fuzz-build.log"; echo "fuzz.sh: error: build failed" >&2; exit 1; }
fi

# Where a crash report's stack first leaves the sanitizer: "libhdf5" or "ours".
classify() {
    awk '/^ *#[0-9]+ /{
            if ($0 ~ /libhdf5/) { print "libhdf5"; exit }
            if ($0 ~ /\/(lib|fuzz|tools)\/[a-z0-9_\/]*\.c:/) { print "ours"; exit }
         }
         END { }' "$1" | grep . || echo ours
}

mkdir -p fuzz/crashes
status=0
for t in "${targets[@]}"; do
    bin=$build/bin/fuzz_$t corpus=$build/corpus-$t log=$build/fuzz-$t.log
    mkdir -p "$corpus"
    art=$build/artifacts-$t
    rm -rf "$art"
    mkdir -p "$art"
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    start=$(date +%s)
    "$bin" -fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -artifact_prefix="$art/" "$corpus" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    # execs: the last "#N" status line (fork mode prints the sum over jobs)
    execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    ncorp=$(find "$corpus" -type f | wc -l)
    ours=0 hdf5=0
    for a in "$art"/*; do
        [ -f "$a" ] || continue
        rep=$a.txt
        "$bin" -malloc_limit_mb=1024 -rss_limit_mb=4096 -timeout=10 "$a" >"$rep" 2>&1
        kind=$(classify "$rep")
        name=$t-$(basename "$a")
        if [ "$kind" = libhdf5 ]; then
            hdf5=$((hdf5 + 1))
            echo "fuzz.sh: $t: crash inside libhdf5 (ignored): $(basename "$a")" >&2
        else
            ours=$((ours + 1))
            cp "$a" "fuzz/crashes/$name"
            cp "$rep" "fuzz/crashes/$name.txt"
            echo "fuzz.sh: $t: CRASH: fuzz/crashes/$name ($(grep -m1 -Eo 'ERROR: [A-Za-z]+: [a-z-]+|ERROR: libFuzzer: [a-z-]+|SUMMARY: .*' "$rep"))" >&2
        fi
    done
    if [ "$rc" != 0 ] && [ $((ours + hdf5)) = 0 ]; then
        ours=1
        tail -30 "$log" >&2
        echo "fuzz.sh: $t: the fuzzer failed (status $rc) without a crash input" >&2
    fi
    [ "$ours" = 0 ] || status=1
    # fuzz_h5's file images of processes that died mid-run
    for f in /dev/shm/xm-fuzz-h5-*.h5; do
        [ -e "$f" ] || continue
        p=${f#/dev/shm/xm-fuzz-h5-}
        kill -0 "${p%.h5}" 2>/dev/null || rm -f "$f"
    done
    printf 'fuzz.sh: %-6s %4ss  execs %-9s corpus %-5s crashes %s (libhdf5-internal, ignored: %s)\n' \
        "$t" "$(($(date +%s) - start))" "${execs:-0}" "$ncorp" "$ours" "$hdf5"
done
exit $status
