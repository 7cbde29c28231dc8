#!/bin/bash
# test_bad_corpus.sh: every tool against the bad-input corpus written by
# tests/bad/make_corpus.py (malformed images and IDX files, .xms files with
# every byte flipped, random flips, truncations and hostile index entries,
# broken HDF5 features/centroids/pairs/plans/models/checkpoints, training
# inputs that go NaN or explode, options out of range). Each case runs under
# `timeout 10` (a timeout is retried once) and a memory limit (ulimit -v; with sanitized binaries
# ASAN_OPTIONS' hard_rss_limit_mb and malloc_limit_mb instead) in an empty
# output directory, and must: exit with its expected code, print exactly one
# line on stderr (unless the case says otherwise) that matches its regex and
# names the input, print no HDF5 error stack and no sanitizer report, not
# crash (exit >= 128) and leave its output directory empty (no final or
# temporary file). Prints "bad corpus: N cases (per group), F failures, K
# known libhdf5 crashes" (a case marked known that crashes inside libhdf5:
# reported, not failed; docs/reliability-bad-inputs.md).
# Sanitized binaries are detected with nm (__asan_init) or XM_SANITIZED=1.
# XM_BAD_JOBS (default 2) cases run at once. Needs /usr/bin/python3 with
# numpy, h5py, PIL, zstandard (skip: 77).
set -u
BIN=${XM_BIN:?}
PY=/usr/bin/python3
SRC=$(cd "$(dirname "$0")/../.." && pwd)
$PY -c 'import h5py, numpy, PIL, zstandard' 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks h5py, numpy, PIL or zstandard"; exit 77; }
command -v timeout >/dev/null || { echo "skipped: no timeout(1)"; exit 77; }
. "$(dirname "$0")/lib.sh"
cli_setup bad_corpus
start=$SECONDS

sanitized=${XM_SANITIZED:-}
if [ -z "$sanitized" ]; then
    if nm "$BIN/xm-pack" 2>/dev/null | grep -q __asan_init || ldd "$BIN/xm-pack" 2>/dev/null | grep -q libasan; then
        sanitized=1
    else
        sanitized=0
    fi
fi
if [ "$sanitized" = 1 ]; then
    # ASan reserves terabytes of address space, so ulimit -v cannot apply;
    # libdnnl's own allocations are reported as leaks, hence detect_leaks=0.
    export ASAN_OPTIONS=hard_rss_limit_mb=2048:malloc_limit_mb=2048:detect_leaks=0:allocator_may_return_null=1
    export UBSAN_OPTIONS=print_stacktrace=1
    memlimit=""
else
    memlimit=4194304 # KiB of address space (the CUDA libraries alone map ~1.5 GiB)
fi

$PY "$SRC/tests/bad/make_corpus.py" "$T/c" "$BIN" >gen.out 2>gen.err ||
    { echo "FAIL: make_corpus.py"; cat gen.out gen.err; exit 1; }
cd "$T/c" || exit 1

# run_case LINE: one manifest line (tab-separated, see make_corpus.py);
# prints nothing when it passes, "FAIL id: reason" lines otherwise.
run_case() {
    local id group codes nl keep rx names tool
    IFS=$'\t' read -r -a f <<<"$1"
    id=${f[0]} group=${f[1]} codes=${f[2]} nl=${f[3]} keep=${f[4]} rx=${f[5]} names=${f[6]} tool=${f[7]}
    local args=() a
    for a in "${f[@]:8}"; do args+=("${a//@O/$O}"); done
    local t0=$EPOCHREALTIME rc try why=()
    # a timeout is tried once more: on a shared machine a starved process can
    # miss 10 s once; a hang misses it twice
    for try in 1 2; do
        [ $try = 2 ] && { printf 'RETRY %s (%s): timed out once\n' "$id" "$group"; rm -rf "$O" && mkdir "$O"; }
        timeout -k 2 10 "$BIN/$tool" "${args[@]}" >"$O.out" 2>"$O.err" </dev/null
        rc=$?
        [ $rc = 124 ] || [ $rc = 137 ] || break
    done
    echo "$group ${t0/./} ${EPOCHREALTIME/./}" >>"$O.times"
    local lines=() all
    mapfile -t lines <"$O.err"
    local first="${lines[*]:0:1}" err="${lines[*]: -1}" # a failure's error line is the last
    printf -v all '%s\n' "${lines[@]}"
    # a known libhdf5 crash: a signal, or ASan's report of it (exit 1)
    if [[ ,$codes, == *,known,* ]] && { [ $rc -ge 128 ] ||
        [[ $all == *"ERROR: AddressSanitizer: SEGV"* && $all == *"#0 "*libhdf5* ]]; }; then
        printf 'KNOWN %s (%s): exit %s: %s\n' "$id" "$group" "$rc" "$tool ${f[*]:8}"
        return
    fi
    if [ $rc = 124 ] || [ $rc = 137 ]; then why+=("timed out (10 s)")
    elif [ $rc -ge 128 ]; then why+=("crashed (exit $rc)")
    elif [[ ",$codes," != *",$rc,"* ]]; then why+=("exit $rc, want $codes")
    fi
    [[ $all == *HDF5-DIAG* ]] && why+=("HDF5 error stack")
    [[ $all == *"ERROR: AddressSanitizer"* || $all == *"ERROR: LeakSanitizer"* || $all == *"runtime error:"* ]] &&
        why+=("sanitizer report")
    if [ $rc != 0 ] && [ $rc -lt 124 ]; then
        [ "$nl" != "*" ] && [ "${#lines[@]}" != "$nl" ] && why+=("${#lines[@]} lines on stderr, want $nl")
        [[ $err =~ $rx ]] || why+=("message does not match /$rx/")
        [ "$names" != "-" ] && [[ $err != *"$names"* ]] && why+=("message does not name $names")
    elif [ $rc = 0 ]; then
        [ "$nl" != "*" ] && [ "${#lines[@]}" != "$nl" ] && why+=("${#lines[@]} lines on stderr, want $nl")
        [ "$nl" != 0 ] && [ "$nl" != "*" ] && ! [[ $first =~ $rx ]] && why+=("first line does not match /$rx/")
    fi
    # the output directory: empty after a failure; after success only `keep`
    local left=() x
    shopt -s nullglob dotglob
    for x in "$O"/*; do
        x=${x##*/}
        if [ $rc = 0 ] && { [ "$keep" = "*" ] || [ "$x" = "$keep" ]; }; then continue; fi
        left+=("$x")
    done
    [ ${#left[@]} -gt 0 ] && why+=("left in the output directory: ${left[*]}")
    x=("$O"/*)
    shopt -u nullglob dotglob
    [ ${#x[@]} -gt 0 ] && { rm -rf "$O" && mkdir "$O"; } # empty for the next case
    if [ ${#why[@]} -gt 0 ]; then
        local w
        printf 'FAIL %s (%s): %s\n' "$id" "$group" "$tool ${f[*]:8}"
        for w in "${why[@]}"; do printf '  %s\n' "$w"; done
        sed -n '1,6s/^/  stderr: /p' "$O.err"
    fi
}

# worker K N: cases K, K+N, K+2N, ... in its own output directory, under
# the memory limit
worker() {
    O="$T/out$1"
    mkdir "$O" || exit 1
    [ -n "$memlimit" ] && ulimit -v "$memlimit"
    local n=0 line
    while IFS= read -r line; do
        [ $((n++ % $2)) = "$1" ] && run_case "$line"
    done <cases.tsv
    rm -rf "$O" "$O.out" "$O.err"
}
jobs=${XM_BAD_JOBS:-2}
for ((k = 0; k < jobs; k++)); do worker "$k" "$jobs" >"$T/fail$k" & done
wait

cat "$T"/fail* >"$T/fails"
nfail=$(grep -c '^FAIL' "$T/fails")
cat "$T/fails"
summary=$(cut -f2 cases.tsv | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')
nknown=$(grep -c '^KNOWN' "$T/fails")
nretry=$(grep -c '^RETRY' "$T/fails")
# seconds per group, summed over the cases of both workers
cat "$T"/out*.times | awk '{s[$1] += ($3 - $2) / 1e6} END {for (g in s) printf "%s %.0f s, ", g, s[g]; print ""}' |
    sed 's/, $//; s/^/bad corpus: time per group: /'
ncase=$(wc -l <cases.tsv)
echo "bad corpus: $ncase cases ($summary), $nfail failures, $nknown known libhdf5 crashes, $nretry retried after a timeout, $((SECONDS - start)) s$([ "$sanitized" = 1 ] && echo ", sanitized binaries")"
[ "$nfail" = 0 ]
