#!/bin/sh
# forget.sh PREFIX FORGET.jsonl...
# The forgetting table (the paper's Table 2) from xm-probe's per-subset
# linear-probe lines (`--pairs`, with model and seed added by the Makefile):
# PREFIX.csv (model,subset,mean,std,seeds) and PREFIX.md (one row per model,
# one column per subset: top-1 on the source test set in percent, mean +-
# sample std over seeds). Rows keep the order of the files given. Written
# under temporary names and renamed, the .md last (it is make's target).
set -eu
prefix=$1
shift
cat "$@" | awk -v csv="$prefix.csv.tmp" -v md="$prefix.md.tmp" '
function num(key) {
    if (match($0, "\"" key "\":[-+0-9.eE]+")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3) + 0
    return "nan"
}
function str(key) {
    if (match($0, "\"" key "\":\"[^\"]*\"")) return substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    return ""
}
function label(m) {
    if (m == "pre") return "Pre-trained (before fine-tuning)"
    if (m == "l2") return "L2"
    if (m == "xmixup") return "XMixup"
    return m
}
{
    m = str("model"); s = str("subset"); t = num("top1")
    if (m == "" || s == "" || t == "nan") { print "forget.sh: skipping a line without model, subset or top1: " $0 > "/dev/stderr"; next }
    if (!(m in seen)) { seen[m] = 1; models[++nm] = m }
    if (!(s in sseen)) { sseen[s] = 1; subs[++ns] = s; ncls[s] = num("classes") }
    k = m SUBSEP s
    n[k]++; sum[k] += t; sq[k] += t * t
}
function cell(k,   mean, v) {
    if (!(k in n)) return "-"
    mean = sum[k] / n[k]
    v = n[k] > 1 ? (sq[k] - n[k] * mean * mean) / (n[k] - 1) : 0
    return sprintf("%.2f +- %.2f", 100 * mean, 100 * (v > 0 ? sqrt(v) : 0))
}
END {
    print "model,subset,mean,std,seeds" > csv
    head = "| Model |"; rule = "|---|"
    for (j = 1; j <= ns; j++) {
        s = subs[j]
        name = s == "aux" ? "auxiliary classes" : s == "rest" ? "other classes" : s == "all" ? "all classes" : s
        head = head " " name " (" ncls[s] ") |"; rule = rule "---|"
    }
    print head > md; print rule > md
    for (i = 1; i <= nm; i++) {
        m = models[i]; row = "| " label(m) " |"
        for (j = 1; j <= ns; j++) {
            k = m SUBSEP subs[j]
            row = row " " cell(k) " |"
            if (k in n) {
                mean = sum[k] / n[k]; v = n[k] > 1 ? (sq[k] - n[k] * mean * mean) / (n[k] - 1) : 0
                printf "%s,%s,%.4f,%.4f,%d\n", m, subs[j], mean, (v > 0 ? sqrt(v) : 0), n[k] > csv
            }
        }
        print row > md
    }
}'
mv "$prefix.csv.tmp" "$prefix.csv"
mv "$prefix.md.tmp" "$prefix.md"
