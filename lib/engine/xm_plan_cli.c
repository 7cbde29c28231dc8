/* xm_plan_cli.c: `xm-pack --mix MODE ...`, the plan-writing mode of
 * xm-pack. It lives here (not in tools/xm-pack.c) so the pack tool only
 * dispatches to it; it is tool code: it parses options and prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_cli.h"
#include "xm_hash.h"
#include "xm_log.h"
#include "xm_plan.h"

#define TOOL "xm-pack"

typedef struct mix_opts {
    const char *mode, *target, *partner, *pairs, *out, *aux_out;
    int64_t steps, batch, seed, input_size, pad;
    double alpha, beta;
    int no_flip, eval;
    xm_cli cli;
} mix_opts;

static int open_set(const char *path, xm_xms_set **s, xm_err *err)
{
    const char *paths[1] = {path};
    return xm_xms_set_open(paths, 1, NULL, s, err);
}

/* Record a file name and its checksum in the plan. */
static int add_file(const char *path, char ***names, uint64_t **xxh, int *n, xm_err *err)
{
    *names = calloc(2, sizeof **names);
    *xxh = calloc(2, sizeof **xxh);
    if (!*names || !*xxh || !((*names)[0] = strdup(path)))
        return xm_err_set(err, XM_EFAIL, "out of memory");
    *n = 1;
    return xm_hash_file(path, &(*xxh)[0], err);
}

static int run(mix_opts *o, const xm_log *log, xm_err *err)
{
    xm_plan_cfg cfg;
    xm_plan_cfg_default(&cfg);
    int rc = xm_plan_mode_parse(o->eval ? "eval" : o->mode, &cfg.mode, err);
    if (rc) return xm_err_prefix(err, "--mix");
    cfg.steps = o->steps;
    cfg.batch = (int)o->batch;
    cfg.alpha = o->alpha;
    cfg.beta = o->beta;
    cfg.seed = (uint64_t)o->seed;
    cfg.input_size = (int)o->input_size;
    cfg.pad = (int)o->pad;
    cfg.flip = !o->no_flip;
    if (!o->out) return xm_err_set(err, XM_EUSAGE, "no output: give -o PLAN.h5");
    if (cfg.mode != XM_PLAN_EVAL && o->steps == 0)
        return xm_err_set(err, XM_EUSAGE, "--steps is required");
    if (o->batch == 0) return xm_err_set(err, XM_EUSAGE, "--batch is required");
    if (o->aux_out && !xm_plan_mode_needs_partner(cfg.mode))
        return xm_err_set(err, XM_EUSAGE, "--aux-out needs a mode with a partner set");
    if (o->partner && !xm_plan_mode_needs_partner(cfg.mode))
        return xm_err_set(err, XM_EUSAGE, "mode %s takes no --partner", xm_plan_mode_name(cfg.mode));
    int flags = o->cli.force ? XM_ATOMIC_FORCE : 0;

    xm_xms_set *target = NULL, *partner = NULL;
    int32_t *pt = NULL, *ps = NULL;
    int npairs = 0;
    xm_plan_gen *gen = NULL;
    xm_plan plan;
    memset(&plan, 0, sizeof plan);
    xm_plan_pairs pairs;
    const char *partner_path = o->partner;
    if (o->target && (rc = open_set(o->target, &target, err))) goto done;
    if (o->partner && (rc = open_set(o->partner, &partner, err))) goto done;
    if (o->pairs) {
        if ((rc = xm_plan_read_pairs(o->pairs, &pt, &ps, &npairs, err))) goto done;
        pairs = (xm_plan_pairs){npairs, pt, ps, o->pairs};
    }
    if ((rc = xm_plan_gen_new(&cfg, target, partner, o->pairs ? &pairs : NULL, &gen, err)))
        goto done;
    if (o->aux_out) {
        /* write the shard, then plan over it: same classes, same draws */
        int64_t naux;
        const int64_t *aux = xm_plan_gen_aux_records(gen, &naux);
        if ((rc = xm_plan_write_aux(partner, aux, naux, o->aux_out, flags, err))) goto done;
        xm_log_verbose(log, "%s: %lld auxiliary records", o->aux_out, (long long)naux);
        xm_plan_gen_free(gen);
        gen = NULL;
        xm_xms_set_close(partner);
        partner = NULL;
        partner_path = o->aux_out;
        if ((rc = open_set(partner_path, &partner, err)) ||
            (rc = xm_plan_gen_new(&cfg, target, partner, o->pairs ? &pairs : NULL, &gen, err)))
            goto done;
    }
    if ((rc = xm_plan_generate(gen, target, partner, &plan, err))) goto done;
    if (o->target &&
        (rc = add_file(o->target, &plan.target_files, &plan.target_xxh64, &plan.n_target_files,
                       err)))
        goto done;
    if (partner &&
        (rc = add_file(partner_path, &plan.partner_files, &plan.partner_xxh64,
                       &plan.n_partner_files, err)))
        goto done;
    if (o->pairs) {
        if (!(plan.pairs_file = strdup(o->pairs))) {
            rc = xm_err_set(err, XM_EFAIL, "out of memory");
            goto done;
        }
        if ((rc = xm_hash_file(o->pairs, &plan.pairs_xxh64, err))) goto done;
    }
    if ((rc = xm_plan_save(&plan, o->out, flags, err))) goto done;
    int64_t naux = 0;
    xm_plan_gen_aux_records(gen, &naux);
    xm_log_info(log, "%s: plan %s, %lld steps x %d slots, input %d, %d source classes, %lld "
                "auxiliary records", o->out, xm_plan_mode_name(cfg.mode), (long long)plan.steps,
                plan.slots, plan.cfg.input_size, plan.n_source, (long long)naux);
done:
    xm_plan_release(&plan);
    xm_plan_gen_free(gen);
    xm_xms_set_close(target);
    xm_xms_set_close(partner);
    free(pt);
    free(ps);
    return rc;
}

int xm_plan_cli_main(int argc, char **argv)
{
    mix_opts o = {.alpha = 1.0, .beta = 1.0};
    const xm_opt table[] = {
        {"mix", 0, XM_OPT_STR, &o.mode, "MODE", "none, mixup, xmixup, xmixup-nolabel, cotrain, source or eval", 0, 0},
        {"target", 0, XM_OPT_STR, &o.target, "T.xms", "target training (or, with --eval, test) set", 0, 0},
        {"partner", 0, XM_OPT_STR, &o.partner, "S.xms", "source set the partners are drawn from", 0, 0},
        {"pairs", 0, XM_OPT_STR, &o.pairs, "P.h5", "pairs file (xm-pair): source classes of each target class", 0, 0},
        {"steps", 0, XM_OPT_INT, &o.steps, "N", "training steps", 1, XM_PLAN_MAX_STEPS},
        {"batch", 0, XM_OPT_INT, &o.batch, "B", "samples per step (cotrain: B target + B source)", 1, XM_PLAN_MAX_BATCH},
        {"alpha", 0, XM_OPT_DOUBLE, &o.alpha, "A", "lambda ~ Beta(A, B) (mixup: Beta(A, A)); default 1", 0, 0},
        {"beta", 0, XM_OPT_DOUBLE, &o.beta, "B", "default 1", 0, 0},
        {"seed", 0, XM_OPT_INT, &o.seed, "K", "random seed (default 0)", 0, INT64_MAX},
        {"input-size", 0, XM_OPT_INT, &o.input_size, "S", "crop side (default: the stored size)", 1, 65535},
        {"pad", 0, XM_OPT_INT, &o.pad, "P", "random crops reach P zero pixels past each edge", 0, 4096},
        {"no-flip", 0, XM_OPT_FLAG, &o.no_flip, NULL, "no random horizontal flips", 0, 0},
        {"eval", 0, XM_OPT_FLAG, &o.eval, NULL, "center crops of every --target record, in order", 0, 0},
        {"aux-out", 0, XM_OPT_STR, &o.aux_out, "AUX.xms", "copy the paired source classes' records here and plan over it", 0, 0},
        {"output", 'o', XM_OPT_STR, &o.out, "PLAN.h5", "output plan", 0, 0},
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "--mix MODE --target T.xms [--partner S.xms --pairs P.h5]\n"
                              "               --steps N --batch B [--alpha A --beta B] --seed K -o PLAN.h5",
                     .about = "Write the mixed-batch plan of a training run (formats/plan.md).",
                     .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&o.cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&o.cli);
        return 0;
    }
    xm_log log;
    xm_log_init(&log, TOOL, o.cli.verbosity);
    if (!rc && o.cli.nargs > 0)
        rc = xm_err_set(&err, XM_EUSAGE, "unexpected argument '%s'", o.cli.args[0]);
    if (!rc && !o.mode && !o.eval) rc = xm_err_set(&err, XM_EUSAGE, "--mix needs a MODE");
    if (!rc) {
        xm_atomic_install_signals(); /* SIGINT/SIGTERM remove the temporary plan */
        rc = run(&o, &log, &err);
    }
    xm_cli_release(&o.cli);
    if (rc) return xm_tool_fail(TOOL, &err);
    return 0;
}
