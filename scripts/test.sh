#!/bin/bash
# test.sh: build into build/ and run every test (ctest). Extra arguments go
# to ctest, e.g. scripts/test.sh -R cli/
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
exec ctest --test-dir build --output-on-failure -j2 "$@"
