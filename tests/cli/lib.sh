# tests/cli/lib.sh: helpers shared by the CLI tests (sourced, not run).
# cli_setup NAME makes a temporary directory, cds into it and removes it on
# exit; the checks below count failures in $fails, which each test turns
# into its exit status.

fails=0
# this directory (helper scripts), and the content hash of an HDF5 file
# (h5sum.py FILE [data])
CLI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
H5SUM="$CLI_DIR/h5sum.py"

# digits_png: OpenCV's digit sheet, fetched once (apt-get download
# opencv-doc) into BIN/../pipeline-cache; sets $DIGITS_PNG, or exits 77
digits_png() {
    local cache
    cache=$(cd "$1/.." && pwd)/pipeline-cache
    mkdir -p "$cache"
    if [ ! -f "$cache/digits.png" ]; then
        sh "$2/pipelines/data/opencv-digits.sh" "$cache/digits.png" "$cache" ||
            { echo "skipped: OpenCV's digits.png cannot be fetched"; exit 77; }
    fi
    DIGITS_PNG=$cache/digits.png
}

cli_setup() {
    T=$(mktemp -d "/tmp/xm_test_$1.XXXXXX")
    trap 'rm -rf "$T"' EXIT
    cd "$T" || exit 1
}

# expect CODE CMD... : run CMD, compare its exit code; stdout in ./out, stderr in ./err
expect() {
    local want=$1; shift
    "$@" >out 2>err; local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: exit $got, want $want: $*"; sed 's/^/  stderr: /' err; fails=$((fails + 1))
    fi
}
# has FILE PATTERN : grep -E must match
has() { if ! grep -qE -- "$2" "$1"; then echo "FAIL: '$2' not in $1:"; sed 's/^/  /' "$1"; fails=$((fails + 1)); fi; }
# lines FILE N : FILE has exactly N lines
lines() { local n; n=$(wc -l <"$1"); if [ "$n" != "$2" ]; then echo "FAIL: $1 has $n lines, want $2"; cat "$1"; fails=$((fails + 1)); fi; }
# py ARGS... : a Python check read from stdin must exit 0 ($PY is the interpreter)
py() { if ! $PY - "$@"; then echo "FAIL: python check: $*"; fails=$((fails + 1)); fi; }
