#!/bin/bash
# bench_cpu_engine.sh: xm's CPU engine against PyTorch on the CPU, the same
# shapes and thread count, one table. Not a test (takes minutes on 2 cores).
#
#   bench/bench_cpu_engine.sh [BUILD_DIR] [THREADS] [STEPS] [REPEATS]
#
# BUILD_DIR holds bin/bench_engine (default: build); THREADS defaults to
# nproc; STEPS timed steps per row (default 5, after 1 warm-up step);
# REPEATS (default 1) alternates xm and torch runs that many times and
# keeps each one's best, which tames the noise of a shared machine.
# Rows: ResNet-20 1x28x28 batch 128, ResNet-18 and ResNet-50 3x224x224
# batch 16; train step (forward, loss, backward, SGD update) and inference.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
threads=${2:-$(nproc)}
steps=${3:-5}
repeats=${4:-1}
bench=$build/bin/bench_engine
py=/usr/bin/python3
[ -x "$bench" ] || { echo "bench_cpu_engine.sh: $bench not built (cmake --build $build --target bench_engine)" >&2; exit 66; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rows=("resnet20 1 28 128" "resnet18 3 224 16" "resnet50 3 224 16")
# BENCH_ROWS="arch channels size batch;..." replaces the rows (quick checks).
if [ -n "${BENCH_ROWS:-}" ]; then IFS=';' read -r -a rows <<< "$BENCH_ROWS"; fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in "${rows[@]}"; do
  set -- $r
  args=(--arch "$1" --channels "$2" --size "$3" --batch "$4" --threads "$threads" --steps "$steps" --warmup 1 --json)
  for ((k = 0; k < repeats; k++)); do
    "$bench" "${args[@]}" | sed 's/^/xm /' >> "$out"
    "$py" "$here/torch_engine.py" "${args[@]}" | sed 's/^/torch /' >> "$out"
  done
done
echo "# $(date -u +%FT%TZ) $(nproc) cores, threads $threads, steps $steps, best of $repeats; load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    key = (d["arch"], "%dx%dx%d" % (d["channels"], d["size"], d["size"]), d["batch"], d["mode"])
    r = rows.setdefault(key, {})
    r[who] = max(r.get(who, 0.0), d["img_per_s"])
print("| network | input | batch | step | xm img/s | torch img/s | xm/torch |")
print("|---|---|---|---|---:|---:|---:|")
for (arch, inp, b, mode), v in rows.items():
    x, t = v.get("xm"), v.get("torch")
    print("| %s | %s | %d | %s | %.1f | %.1f | %.2f |" % (arch, inp, b, mode, x, t, x / t))
PY
