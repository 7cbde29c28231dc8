#!/bin/sh
# results.sh PREFIX PROBE.json...
# Aggregate the probe JSON lines (xm-probe's line plus method, seed, seconds
# added by the Makefile) into PREFIX.csv (method,mean,std,seeds,seconds) and
# PREFIX.md (the table in the paper's layout): top-1 accuracy in percent,
# mean +- sample std over seeds, mean training seconds. Rows keep the order
# of the files given. Both outputs are written under temporary names and
# renamed, the .md last (it is make's target).
set -eu
prefix=$1
shift
cat "$@" | awk -v csv="$prefix.csv.tmp" -v md="$prefix.md.tmp" '
function num(key,   m) {
    if (match($0, "\"" key "\":[-+0-9.eE]+")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3) + 0
    return "nan"
}
function str(key) {
    if (match($0, "\"" key "\":\"[^\"]*\"")) return substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    return ""
}
function label(m,   a) {
    if (m == "l2") return "L2"
    if (m == "l2sp") return "L2-SP"
    if (m == "bss") return "BSS"
    if (m == "seqtrain") return "Seq-Train"
    if (m == "cotrain") return "Co-Train"
    if (m == "xmixup") return "XMixup"
    if (m == "scratch") return "From scratch (no pre-training)"
    if (m == "mixup") return "In-domain Mixup"
    if (m == "xmixup-nolabel") return "XMixup without source labels"
    if (m == "xmixup-random") return "XMixup, random auxiliary classes"
    if (m == "xmixup-split") return "XMixup, split label mode"
    if (m ~ /^xmixup-a/) { a = m; sub(/^xmixup-a/, "", a); return "XMixup, alpha = " a }
    if (m ~ /^xmixup-r/) { a = m; sub(/^xmixup-r/, "", a); return "XMixup, pairing rounds " a }
    return m
}
{
    m = str("method"); t = num("top1"); s = num("seconds")
    if (m == "" || t == "nan") { print "results.sh: skipping a line without method or top1: " $0 > "/dev/stderr"; next }
    if (!(m in n)) order[++nm] = m
    n[m]++; sum[m] += t; sq[m] += t * t
    if (s != "nan") { secs[m] += s; ns[m]++ }
}
END {
    print "method,mean,std,seeds,seconds" > csv
    print "| Method | Top-1 (%) | Seeds | Seconds |" > md
    print "|---|---|---|---|" > md
    for (i = 1; i <= nm; i++) {
        m = order[i]; k = n[m]
        mean = sum[m] / k
        v = k > 1 ? (sq[m] - k * mean * mean) / (k - 1) : 0
        sd = v > 0 ? sqrt(v) : 0
        sec = ns[m] ? secs[m] / ns[m] : "nan"
        printf "%s,%.4f,%.4f,%d,%s\n", m, mean, sd, k, sec == "nan" ? "" : sprintf("%.1f", sec) > csv
        printf "| %s | %.2f +- %.2f | %d | %s |\n", label(m), 100 * mean, 100 * sd, k, sec == "nan" ? "-" : sprintf("%.0f", sec) > md
    }
}'
mv "$prefix.csv.tmp" "$prefix.csv"
mv "$prefix.md.tmp" "$prefix.md"
