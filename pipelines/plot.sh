#!/bin/sh
# plot.sh alpha RESULTS.csv OUT.png [ALPHA]
# plot.sh loss|acc TUNED_DIR OUT.png SEED METHOD...
# The plots with gnuplot (Debian's gnuplot-nox): top-1 against the
# mixing alpha (rows xmixup-aA of results.csv, and the xmixup row at ALPHA,
# the pipeline's default alpha, 1 unless given) with the L2 and Co-Train rows
# as horizontal lines; training-loss curves and test-accuracy curves (runs
# made with CURVE_EVERY) from xm-train's --metrics JSON lines. Writes OUT.png
# atomically.
set -eu
command -v gnuplot >/dev/null || { echo "plot.sh: error: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 69; }
mode=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case $mode in
alpha)
    csv=$2 out=$3 alpha=${4:-1}
    awk -F, -v a0="$alpha" '$1 ~ /^xmixup-a/ { a = $1; sub(/^xmixup-a/, "", a); print a, 100 * $2, 100 * $3 }
                            $1 == "xmixup" { print a0, 100 * $2, 100 * $3 }' "$csv" | sort -g > "$tmp/alpha.dat"
    [ -s "$tmp/alpha.dat" ] || { echo "plot.sh: error: $csv has no xmixup-aALPHA rows (run make full)" >&2; exit 65; }
    base() { awk -F, -v m="$1" '$1 == m { print 100 * $2 }' "$csv"; }
    l2=$(base l2) co=$(base cotrain)
    {
        echo "set terminal png size 800,500; set output '$tmp/out.png'"
        echo "set logscale x 2; set xlabel 'alpha (Beta(alpha, 1))'; set ylabel 'top-1 (%)'; set key bottom right; set grid; set offsets graph 0.02, graph 0.02, graph 0.15, graph 0.15"
        printf "plot '%s' using 1:2:3 with yerrorlines title 'XMixup'" "$tmp/alpha.dat"
        [ -n "$l2" ] && printf ", %s title 'L2' dt 2" "$l2"
        [ -n "$co" ] && printf ", %s title 'Co-Train' dt 3" "$co"
        echo
    } > "$tmp/plot.gp"
    ;;
loss|acc)
    dir=$2 out=$3 seed=$4
    key=loss ylab="training loss" ylog="set logscale y"
    [ "$mode" = acc ] && key=eval_top1 ylab="test top-1 (%)" ylog="set yrange [*:100]"
    shift 4
    plot="plot"
    for m in "$@"; do
        f="$dir/$m-s$seed.metrics.jsonl"
        [ -f "$f" ] || continue
        # xm-train writes `"step": 10, "loss": 1.74` (a space after the colon)
        awk '{ s = l = ""
               if (match($0, /"step": *[0-9]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s) }
               if (match($0, "\"" k "\": *[-+0-9.eE]+")) { l = substr($0, RSTART, RLENGTH); sub(/.*: */, "", l) }
               if (s != "" && l != "") print s, (k == "loss" ? l : 100 * l) }' k="$key" "$f" > "$tmp/$m.dat"
        [ -s "$tmp/$m.dat" ] && plot="$plot '$tmp/$m.dat' using 1:2 with lines title '$m',"
    done
    [ "$plot" != plot ] || { echo "plot.sh: error: no $key values in the metrics files of seed $seed in $dir (acc: fine-tune with CURVE_EVERY=N)" >&2; exit 65; }
    {
        echo "set terminal png size 800,500; set output '$tmp/out.png'"
        echo "set xlabel 'step'; set ylabel '$ylab'; $ylog; set key outside right; set grid"
        echo "${plot%,}"
    } > "$tmp/plot.gp"
    ;;
*) echo "plot.sh: error: mode '$mode': alpha, loss or acc" >&2; exit 2 ;;
esac
gnuplot "$tmp/plot.gp"
mv "$tmp/out.png" "$out"
