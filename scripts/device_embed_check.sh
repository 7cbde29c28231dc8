#!/usr/bin/env bash
# scripts/device_embed_check.sh DEVICE BIN DIR [PRECS]: xm-embed's images/s
# at the paper's scale (ResNet-50, 224 px, batch 256) with one reader
# thread and with the default (half the cores, 1 to 8), per precision
# (default "f32 bf16"; on the CPU use f32). Against bench_engine's bare
# inference rows it shows whether the GPU waits for records. Data: DIR's
# tgt.xms (scripts/device_step_check.sh packs 2,000 images at 224 px
# there), five copies as one 10,000-image set; the model: one xm-train
# step from --init-seed 1 (its weights do not matter for speed).
# device_check.sh runs it on the GPU machine after the step check; on the
# CPU it checks the script (ARCH=resnet18 COPIES=1 BATCH=16 PRECS=f32).
# Env: ARCH (resnet50), COPIES (5), BATCH (256).
set -uo pipefail
dev=${1:?usage: device_embed_check.sh cpu|cuda BIN DIR [PRECS]}
bin=${2:?usage: device_embed_check.sh cpu|cuda BIN DIR [PRECS]}
dir=${3:?usage: device_embed_check.sh cpu|cuda BIN DIR [PRECS]}
precs=${4:-f32 bf16}
cd "$dir" || exit 2
[ -f tgt.xms ] || { echo "device_embed_check: no $dir/tgt.xms (run device_step_check.sh first)" >&2; exit 2; }
size=$("$bin/xm-pack" --info tgt.xms | sed -n 's/^ *shape *\([0-9]*\)x.*/\1/p')
inputs=()
for i in $(seq 1 "${COPIES:-5}"); do
    [ -f e$i.xms ] || cp tgt.xms e$i.xms || exit 2
    inputs+=(e$i.xms)
done
"$bin/xm-pack" -q -f --mix none --target tgt.xms --steps 1 --batch 8 --seed 1 --input-size "$size" \
    -o one.h5 &&
    "$bin/xm-train" -q -f --arch "${ARCH:-resnet50}" --init-seed 1 one.h5 -o emb-model.h5 \
        --device "$dev" || { echo "device_embed_check: no model" >&2; exit 1; }
printf '%-6s %-9s %-5s %6s %8s %8s %12s\n' device arch prec batch readers images "images/s"
rc=0
for p in $precs; do
    for r in 1 0; do
        line=$("$bin/xm-embed" -q -f -m emb-model.h5 "${inputs[@]}" -o emb.h5 --device "$dev" \
            --batch "${BATCH:-256}" --precision "$p" --readers $r --json) || { rc=1; continue; }
        echo "$line" >&2
        ips=$(printf '%s' "$line" | sed -n 's/.*"images_per_s":\([0-9.]*\).*/\1/p')
        n=$(printf '%s' "$line" | sed -n 's/.*"images":\([0-9]*\).*/\1/p')
        printf '%-6s %-9s %-5s %6s %8s %8s %12s\n' "$dev" "${ARCH:-resnet50}" "$p" "${BATCH:-256}" \
            "$([ $r = 0 ] && echo default || echo $r)" "$n" "$ips"
    done
done
exit $rc
