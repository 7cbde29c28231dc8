# tests/cli/lib.sh: helpers shared by the CLI tests (sourced, not run).
# cli_setup NAME makes a temporary directory, cds into it and removes it on
# exit; the checks below count failures in $fails, which each test turns
# into its exit status.

fails=0

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
