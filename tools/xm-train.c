/* xm-train: fine-tune a model by executing a plan (lib/engine/xm_train.h).
 * A thin tool: options into xm_train_cfg, signal handling, progress. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_backend.h"
#include "xm_cli.h"
#include "xm_log.h"
#include "xm_parse.h"
#include "xm_progress.h"
#include "xm_train.h"

#define TOOL "xm-train"

/* The one piece of process state a signal handler needs. */
static volatile sig_atomic_t g_stop;

/* The first signal asks for a checkpoint and a clean stop; a second one
 * ends the process at once through xm_atomic's handler, which removes the
 * temporary file of a checkpoint being written and exits 130 / 143. */
static void on_signal(int sig)
{
    g_stop = sig;
    xm_atomic_install_signals();
}

typedef struct report {
    xm_log log;
    xm_progress prog;
    double last_loss;
    double top1, mca;
    int have_eval;
} report;

static void on_event(void *ctx, const xm_train_event *ev)
{
    report *r = ctx;
    switch (ev->kind) {
    case XM_TRAIN_EV_START:
        xm_progress_init(&r->prog, "training", ev->steps, r->log.level > XM_LOG_QUIET);
        if (ev->first_step)
            xm_log_info(&r->log, "resuming at step %lld of %lld", (long long)ev->first_step,
                        (long long)ev->steps);
        break;
    case XM_TRAIN_EV_STEP:
        r->last_loss = ev->loss;
        xm_progress_update(&r->prog, ev->step);
        xm_log_debug(&r->log, "step %lld loss %.5f lr %.5g %.1f img/s", (long long)ev->step,
                     ev->loss, ev->lr, ev->images_per_s);
        break;
    case XM_TRAIN_EV_EVAL:
        r->top1 = ev->top1;
        r->mca = ev->mean_class_acc;
        r->have_eval = 1;
        xm_progress_end(&r->prog);
        xm_log_verbose(&r->log, "step %lld: eval top1 %.4f, mean class acc %.4f (%lld images)",
                       (long long)ev->step, ev->top1, ev->mean_class_acc, (long long)ev->n);
        break;
    case XM_TRAIN_EV_CKPT:
        xm_log_debug(&r->log, "checkpoint %s at step %lld", ev->path, (long long)ev->step);
        break;
    case XM_TRAIN_EV_NOTE:
        xm_log_verbose(&r->log, "%s", ev->text);
        break;
    }
}

static int pick(const char *opt, const char *v, const char *const *names, int n, int *out,
                xm_err *err)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return 0;
        }
    return xm_err_set(err, XM_EUSAGE, "--%s: unknown value '%s'", opt, v);
}

int main(int argc, char **argv)
{
    xm_train_cfg c;
    xm_train_cfg_default(&c);
    const char *label = "joint", *sched = "multistep", *reg = "l2", *miles = NULL, *prec = "f32",
               *lscale = NULL;
    int64_t init_seed = 0, eval_every = 0, ckpt_every = 0, stop_after = 0, warmup = 0,
            ls_window = 2000;
    int64_t bss_k = 1, threads = 0, readers = 0, log_every = 10;
    int nesterov = 0;
    const xm_opt table[] = {
        {"model", 'm', XM_OPT_STR, &c.model_path, "MODEL.h5", "start from this model (backbone; heads by class name)", 0, 0},
        {"arch", 0, XM_OPT_STR, &c.arch, "ARCH", "no model: a fresh network (resnet20, resnet18, ...)", 0, 0},
        {"init-seed", 0, XM_OPT_INT, &init_seed, "K", "seed of fresh networks and new heads (default 0)", 0, INT64_MAX},
        {"output", 'o', XM_OPT_STR, &c.out_path, "OUT.h5", "the fine-tuned model", 0, 0},
        {"label-mode", 0, XM_OPT_STR, &label, "MODE", "joint (one softmax over both heads, default) or split", 0, 0},
        {"lr", 0, XM_OPT_DOUBLE, &c.lr, "LR", "learning rate (default 0.01)", 0, 0},
        {"momentum", 0, XM_OPT_DOUBLE, &c.momentum, "M", "SGD momentum (default 0.9)", 0, 0},
        {"wd", 0, XM_OPT_DOUBLE, &c.wd, "WD", "weight decay (default 1e-4; off with --reg l2sp)", 0, 0},
        {"nesterov", 0, XM_OPT_FLAG, &nesterov, NULL, "Nesterov momentum", 0, 0},
        {"schedule", 0, XM_OPT_STR, &sched, "S", "multistep (default), cosine or constant", 0, 0},
        {"milestones", 0, XM_OPT_STR, &miles, "K,K", "multistep steps (default: 2/3 of the steps)", 0, 0},
        {"gamma", 0, XM_OPT_DOUBLE, &c.gamma, "G", "multistep factor (default 0.1)", 0, 0},
        {"warmup", 0, XM_OPT_INT, &warmup, "N", "linear warmup steps", 0, INT64_MAX},
        {"head-lr-mult", 0, XM_OPT_DOUBLE, &c.head_lr_mult, "X", "learning-rate factor of the heads (default 1)", 0, 0},
        {"freeze-upto", 0, XM_OPT_STR, &c.freeze_upto, "LAYER", "do not update LAYER and everything before it (e.g. layer2)", 0, 0},
        {"reg", 0, XM_OPT_STR, &reg, "R", "l2 (default), l2sp or bss", 0, 0},
        {"l2sp-alpha", 0, XM_OPT_DOUBLE, &c.l2sp_alpha, "A", "L2-SP pull to the start (default 0.1)", 0, 0},
        {"l2sp-beta", 0, XM_OPT_DOUBLE, &c.l2sp_beta, "B", "L2-SP decay of the heads (default 0.01)", 0, 0},
        {"bss-k", 0, XM_OPT_INT, &bss_k, "K", "BSS: smallest singular values shrunk (default 1)", 1, 65536},
        {"bss-eta", 0, XM_OPT_DOUBLE, &c.bss_eta, "E", "BSS weight (default 0.001)", 0, 0},
        {"eval", 0, XM_OPT_STR, &c.eval_path, "TEST.xms", "evaluate top-1 and mean class accuracy", 0, 0},
        {"eval-every", 0, XM_OPT_INT, &eval_every, "N", "also every N steps", 1, INT64_MAX},
        {"ckpt", 0, XM_OPT_STR, &c.ckpt_path, "FILE", "checkpoint (default: OUT with .ckpt.h5)", 0, 0},
        {"ckpt-every", 0, XM_OPT_INT, &ckpt_every, "N", "checkpoint every N steps (and at the end)", 1, INT64_MAX},
        {"stop-after", 0, XM_OPT_INT, &stop_after, "K", "checkpoint and exit after step K", 1, INT64_MAX},
        {"resume", 0, XM_OPT_STR, &c.resume_path, "CKPT.h5", "continue from a checkpoint", 0, 0},
        {"metrics", 0, XM_OPT_STR, &c.metrics_path, "FILE", "JSON lines: step, loss, lr, images/s, ms/step waiting for data, eval", 0, 0},
        {"log-every", 0, XM_OPT_INT, &log_every, "N", "metrics line every N steps (default 10)", 1, INT64_MAX},
        {"device", 0, XM_OPT_STR, &c.device, "D", "cpu (default), cuda or auto", 0, 0},
        {"precision", 0, XM_OPT_STR, &prec, "P", "f32 (default), tf32, bf16 or f16 (half activations, f32 master weights; CUDA)", 0, 0},
        {"loss-scale", 0, XM_OPT_STR, &lscale, "S", "none, dynamic, dynamic:S or S (a power of two; default: dynamic for f16, else none)", 0, 0},
        {"loss-scale-window", 0, XM_OPT_INT, &ls_window, "N", "dynamic scale: double after N finite steps (default 2000)", 1, INT64_MAX},
        {"threads", 'j', XM_OPT_INT, &threads, "N", "CPU threads (0 = all cores)", 0, 4096},
        {"readers", 0, XM_OPT_INT, &readers, "N", "threads reading records ahead of the device (0 = half the cores, 1 to 8)", 0, 64},
        {0}};
    xm_cli cli = {.tool = TOOL,
                  .usage = "-m MODEL.h5 PLAN.h5 -o OUT.h5 [--eval TEST.xms] [--resume CKPT.h5]\n"
                           "       xm-train --arch resnet20 --init-seed K PLAN.h5 -o OUT.h5",
                  .about = "Fine-tune a model by executing a plan written by xm-pack --mix.",
                  .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&cli);
        return 0;
    }
    report rep;
    memset(&rep, 0, sizeof rep);
    xm_log_init(&rep.log, TOOL, cli.verbosity);
    static const char *const lm[] = {"joint", "split"}, *const sk[] = {"multistep", "cosine", "constant"},
                             *const rk[] = {"l2", "l2sp", "bss"};
    int v = 0;
    if (!rc && cli.nargs != 1) rc = xm_err_set(&err, XM_EUSAGE, "give exactly one PLAN.h5 (see --help)");
    if (!rc && !c.out_path) rc = xm_err_set(&err, XM_EUSAGE, "no output: give -o OUT.h5");
    if (!rc && !(rc = pick("label-mode", label, lm, 2, &v, &err))) c.label_mode = v;
    int pi = xm_precision_parse(prec);
    if (!rc && pi < 0) rc = xm_err_set(&err, XM_EUSAGE, "--precision: unknown value '%s'", prec);
    if (!rc) c.precision = pi;
    if (!rc && lscale) rc = xm_train_parse_loss_scale(lscale, &c, &err);
    if (!rc && !(rc = pick("schedule", sched, sk, 3, &v, &err))) c.sched = v;
    if (!rc && !(rc = pick("reg", reg, rk, 3, &v, &err))) c.reg = v;
    if (!rc && !(c.lr > 0 && c.lr < 1e3)) rc = xm_err_set(&err, XM_EUSAGE, "--lr must be in (0, 1000)");
    if (!rc && !(c.momentum >= 0 && c.momentum < 1)) rc = xm_err_set(&err, XM_EUSAGE, "--momentum must be in [0, 1)");
    if (!rc && !(c.wd >= 0 && c.wd < 1)) rc = xm_err_set(&err, XM_EUSAGE, "--wd must be in [0, 1)");
    if (!rc && !(c.gamma > 0 && c.gamma <= 1)) rc = xm_err_set(&err, XM_EUSAGE, "--gamma must be in (0, 1]");
    if (!rc && !(c.head_lr_mult >= 0 && c.head_lr_mult <= 1e3)) rc = xm_err_set(&err, XM_EUSAGE, "--head-lr-mult must be in [0, 1000]");
    if (!rc && !(c.l2sp_alpha >= 0 && c.l2sp_beta >= 0 && c.bss_eta >= 0)) rc = xm_err_set(&err, XM_EUSAGE, "regularizer weights must be >= 0");
    if (!rc && c.model_path && c.arch) rc = xm_err_set(&err, XM_EUSAGE, "-m and --arch exclude each other");
    if (!rc && eval_every && !c.eval_path) rc = xm_err_set(&err, XM_EUSAGE, "--eval-every needs --eval");
    if (!rc && miles) {
        int64_t *m = NULL;
        size_t n = 0;
        if ((rc = xm_parse_list_i64(miles, 1, INT64_MAX, &m, &n, &err))) xm_err_prefix(&err, "--milestones");
        else if (n > XM_TRAIN_MAX_MILESTONES) rc = xm_err_set(&err, XM_EUSAGE, "--milestones: at most %d", XM_TRAIN_MAX_MILESTONES);
        for (size_t i = 0; !rc && i < n; i++) c.milestones[i] = m[i];
        c.n_milestones = (int)n;
        free(m);
    }
    if (rc) {
        xm_cli_release(&cli);
        return xm_tool_fail(TOOL, &err);
    }
    c.plan_path = cli.args[0];
    c.init_seed = (uint64_t)init_seed;
    c.eval_every = eval_every;
    c.ckpt_every = ckpt_every;
    c.stop_after = stop_after;
    c.warmup = warmup;
    c.loss_scale_window = ls_window;
    c.bss_k = (int)bss_k;
    c.threads = (int)threads;
    c.readers = (int)readers;
    c.log_every = log_every;
    c.nesterov = nesterov;
    c.force = cli.force;
    c.stop = &g_stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int early = 0;
    rc = xm_train_run(&c, on_event, &rep, &early, &err);
    xm_progress_end(&rep.prog);
    if (rc) {
        xm_cli_release(&cli);
        return xm_tool_fail(TOOL, &err);
    }
    if (early)
        xm_log_info(&rep.log, "stopped after step %lld (continue with --resume)", (long long)stop_after);
    else if (rep.have_eval)
        xm_log_info(&rep.log, "%s: final loss %.4f, eval top1 %.4f, mean class acc %.4f", c.out_path,
                    rep.last_loss, rep.top1, rep.mca);
    else
        xm_log_info(&rep.log, "%s: final loss %.4f", c.out_path, rep.last_loss);
    xm_cli_release(&cli);
    return 0;
}
