/* xm-pair: source and target centroid files -> pairs file
 * (formats/pairs.md), a pairing table on stdout, optionally the full
 * similarity matrix and a PNG montage.
 *
 * A thin tool: options and their conflicts, then the library: xm_pair_load
 * both files, xm_pair_similarity, xm_pair_run, xm_pair_write. */
#include <stdio.h>
#include <stdlib.h>

#include "xm_atomic.h"
#include "xm_cli.h"
#include "xm_json.h"
#include "xm_log.h"
#include "xm_pair.h"

#define TOOL "xm-pair"

typedef struct opts {
    const char *source, *target, *out, *method, *sim_out, *montage, *tdata, *sdata;
    int64_t rounds, min_aux, seed, per, tile;
    int json;
    xm_cli cli;
    xm_log log;
} opts;

static void report(const opts *o, const xm_pairs *p, const xm_centroid *t, const xm_centroid *s)
{
    if (o->json) {
        for (int64_t i = 0; i < p->k; i++) {
            printf("{\"round\":%d,\"target\":%d,\"target_class\":", p->round[i], p->target[i]);
            xm_json_str(stdout, t->classes[p->target[i]]);
            printf(",\"source\":%d,\"source_class\":", p->source[i]);
            xm_json_str(stdout, s->classes[p->source[i]]);
            printf(",\"similarity\":%.6f,\"source_count\":%lld}\n", p->similarity[i],
                   (long long)s->counts[p->source[i]]);
        }
        printf("{\"method\":\"%s\",\"pairs\":%lld,\"rounds\":%lld,\"aux_size\":%lld}\n",
               o->method, (long long)p->k, (long long)p->rounds, (long long)p->aux_size);
        return;
    }
    if (o->log.level < XM_LOG_NORMAL) return;
    printf("%-5s  %-28s  %-28s  %10s  %8s\n", "round", "target", "source", "similarity", "samples");
    for (int64_t i = 0; i < p->k; i++)
        printf("%-5d  %-28s  %-28s  %10.4f  %8lld\n", p->round[i], t->classes[p->target[i]],
               s->classes[p->source[i]], p->similarity[i], (long long)s->counts[p->source[i]]);
}

static int run(opts *o, xm_err *err)
{
    xm_centroid src, tgt;
    xm_centroid_init(&src);
    xm_centroid_init(&tgt);
    double *sm = NULL, *tm = NULL, *sim = NULL;
    xm_pairs p = {0};
    int flags = o->cli.force ? XM_ATOMIC_FORCE : 0;
    int rc = xm_pair_load(o->source, &src, &sm, err);
    if (!rc) rc = xm_pair_load(o->target, &tgt, &tm, err);
    if (!rc && src.dim != tgt.dim)
        rc = xm_err_set(err, XM_EDATA, "%s: features have dimension %lld, the source (%s) %lld",
                        o->target, (long long)tgt.dim, o->source, (long long)src.dim);
    if (!rc && !(sim = malloc((size_t)(tgt.nclasses * src.nclasses) * sizeof *sim)))
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) rc = xm_pair_similarity(tm, tgt.nclasses, sm, src.nclasses, src.dim, sim, err);
    xm_pair_cfg cfg = {.method = (xm_pair_method)xm_pair_method_parse(o->method),
                       .rounds = o->rounds, .min_aux = o->min_aux, .seed = (uint64_t)o->seed};
    if (!rc) rc = xm_pair_run(sim, tgt.nclasses, src.nclasses, src.counts, &cfg, &p, err);
    if (!rc) rc = xm_pair_write(o->out, &p, &cfg, &tgt, o->target, &src, o->source, flags, err);
    if (!rc && o->sim_out) rc = xm_pair_write_similarity(o->sim_out, sim, &tgt, &src, flags, err);
    if (!rc && o->montage)
        rc = xm_pair_montage(o->montage, &p, tgt.nclasses, &o->tdata, 1, &o->sdata, 1,
                             (int)o->per, (int)o->tile, flags, err);
    if (!rc) {
        report(o, &p, &tgt, &src);
        xm_log_info(&o->log, "%s: %lld pairs (%s, %lld round%s), auxiliary set %lld samples",
                    o->out, (long long)p.k, o->method, (long long)p.rounds,
                    p.rounds == 1 ? "" : "s", (long long)p.aux_size);
    }
    xm_pairs_release(&p);
    free(sim);
    free(sm);
    free(tm);
    xm_centroid_release(&src);
    xm_centroid_release(&tgt);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.method = "greedy", .per = 4, .tile = 64};
    const xm_opt table[] = {
        {"source", 's', XM_OPT_STR, &o.source, "SRC.h5", "source centroid file", 0, 0},
        {"target", 't', XM_OPT_STR, &o.target, "TGT.h5", "target centroid file", 0, 0},
        {"output", 'o', XM_OPT_STR, &o.out, "PAIRS.h5", "output pairs file", 0, 0},
        {"method", 'm', XM_OPT_STR, &o.method, "M", "greedy (default), optimal, random or all", 0, 0},
        {"rounds", 0, XM_OPT_INT, &o.rounds, "R", "exactly R rounds (default 1)", 1, INT32_MAX},
        {"min-aux", 0, XM_OPT_INT, &o.min_aux, "N", "whole rounds until the paired source classes hold >= N samples", 1, INT64_MAX},
        {"seed", 0, XM_OPT_INT, &o.seed, "K", "seed of --method random (default 0)", 0, INT64_MAX},
        {"similarity-out", 0, XM_OPT_STR, &o.sim_out, "FILE", "write the full target x source cosine matrix", 0, 0},
        {"montage", 0, XM_OPT_STR, &o.montage, "FILE.png", "picture of the round-0 pairs (needs --target-data, --source-data)", 0, 0},
        {"target-data", 0, XM_OPT_STR, &o.tdata, "T.xms", "target images for --montage", 0, 0},
        {"source-data", 0, XM_OPT_STR, &o.sdata, "S.xms", "source images for --montage", 0, 0},
        {"per-class", 0, XM_OPT_INT, &o.per, "N", "images per class in the montage (default 4)", 1, 16},
        {"tile", 0, XM_OPT_INT, &o.tile, "PX", "montage tile side (default 64)", 8, 512},
        {"json", 0, XM_OPT_FLAG, &o.json, NULL, "JSON lines on stdout (one per pair, then a summary) instead of the table", 0, 0},
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "--source SRC.h5 --target TGT.h5 -o PAIRS.h5 [--method greedy|optimal|random|all]\n"
                              "               [--rounds R | --min-aux N] [--seed K] [--similarity-out FILE]\n"
                              "               [--montage FILE.png --target-data T.xms --source-data S.xms]",
                     .about = "Pair every target class with distinct source classes by the cosine similarity\n"
                              "of their centroids (xm-centroid files). A round gives each target class one\n"
                              "unused source class; --min-aux adds whole rounds until the paired source\n"
                              "classes hold N samples.",
                     .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&o.cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&o.cli);
        return 0;
    }
    xm_log_init(&o.log, TOOL, o.cli.verbosity);
    int m = xm_pair_method_parse(o.method);
    if (!rc && (!o.source || !o.target || !o.out))
        rc = xm_err_set(&err, XM_EUSAGE, "--source, --target and -o are required");
    if (!rc && o.cli.nargs)
        rc = xm_err_set(&err, XM_EUSAGE, "unexpected argument '%s' (inputs are --source and --target)",
                        o.cli.args[0]);
    if (!rc && m < 0)
        rc = xm_err_set(&err, XM_EUSAGE, "--method: '%s': must be greedy, optimal, random or all", o.method);
    if (!rc && o.rounds && o.min_aux)
        rc = xm_err_set(&err, XM_EUSAGE, "--rounds and --min-aux exclude each other");
    if (!rc && m == XM_PAIR_ALL && (o.rounds || o.min_aux))
        rc = xm_err_set(&err, XM_EUSAGE, "--method all pairs every source class: no --rounds or --min-aux");
    if (!rc && o.montage && (!o.tdata || !o.sdata))
        rc = xm_err_set(&err, XM_EUSAGE, "--montage needs --target-data and --source-data");
    if (!rc) {
        xm_atomic_install_signals();
        rc = run(&o, &err);
    }
    xm_cli_release(&o.cli);
    return rc ? xm_tool_fail(TOOL, &err) : 0;
}
