/* xm_train.c: the training loop: steps from the loader, evaluation,
 * metrics, checkpoints, interruption. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_hash.h"
#include "xm_progress.h"
#include "xm_train_impl.h"

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

void xm_train_cfg_default(xm_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->lr = 0.01;
    c->momentum = 0.9;
    c->wd = 1e-4;
    c->sched = XM_SCHED_MULTISTEP;
    c->gamma = 0.1;
    c->head_lr_mult = 1.0;
    c->l2sp_alpha = 0.1;
    c->l2sp_beta = 0.01;
    c->bss_k = 1;
    c->bss_eta = 0.001;
    c->log_every = 10;
    c->device = "cpu";
    c->loss_scale = -1;
}

static void emit(xm_train_cb cb, void *ctx, xm_train_event ev)
{
    if (cb) cb(ctx, &ev);
}

/* Top-1 and mean per-class accuracy of the target head on the test set,
 * center crops, batch = the plan's slots (keeps the network's buffers). */
static int evaluate(xm_trainer *t, double *top1, double *mca, int64_t *nout, xm_err *err)
{
    xm_plan_cfg pc;
    xm_plan_cfg_default(&pc);
    pc.mode = XM_PLAN_EVAL;
    pc.batch = t->plan.slots;
    pc.input_size = t->plan.cfg.input_size;
    xm_plan_gen *g = NULL;
    xm_plan ep;
    memset(&ep, 0, sizeof ep);
    xm_loader *ld = NULL;
    const int nc = t->nt;
    int64_t *hit = calloc((size_t)nc, sizeof *hit), *tot = calloc((size_t)nc, sizeof *tot);
    float *lg = malloc((size_t)pc.batch * nc * sizeof *lg);
    int rc = hit && tot && lg ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) rc = xm_plan_gen_new(&pc, t->test, NULL, NULL, &g, err);
    if (!rc) rc = xm_plan_generate(g, t->test, NULL, &ep, err);
    xm_loader_src src = {&ep, t->test, NULL, NULL};
    if (!rc) rc = xm_loader_start(&src, 0, ep.steps, t->cfg->readers, &ld, err);
    int64_t right = 0, n = 0;
    for (int64_t k = 0; k < ep.steps && !rc; k++) {
        const xm_batch *b;
        int sig = t->cfg->stop ? (int)*t->cfg->stop : 0;
        if (sig) {
            rc = xm_err_set(err, sig == 15 ? XM_EINTR_TERM : XM_EINTR_INT,
                            "interrupted during evaluation after step %lld", (long long)t->step);
            break;
        }
        if ((rc = xm_loader_next(ld, &b, err)) || (rc = xm_train_upload_batch(t, b, err)) ||
            (rc = xm_net_forward(t->net, &t->x, 0, err)))
            break;
        const xm_tensor *l = xm_net_logits(t->net, 0);
        if (t->be->ops->download(t->be, lg, l->data, (size_t)b->n * nc * sizeof *lg, err)) {
            rc = code_of(err);
            break;
        }
        for (int j = 0; j < b->valid; j++) {
            int y = b->label_t[j];
            if (y < 0 || y >= nc) continue; /* unlabelled test records are skipped */
            const float *r = lg + (size_t)j * nc;
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (r[c] > r[best]) best = c;
            tot[y]++;
            n++;
            if (best == y) {
                hit[y]++;
                right++;
            }
        }
    }
    if (!rc) {
        double s = 0;
        int m = 0;
        for (int c = 0; c < nc; c++)
            if (tot[c]) {
                s += (double)hit[c] / (double)tot[c];
                m++;
            }
        *top1 = n ? (double)right / (double)n : 0;
        *mca = m ? s / m : 0;
        *nout = n;
    }
    xm_loader_free(ld);
    xm_plan_release(&ep);
    xm_plan_gen_free(g);
    free(hit);
    free(tot);
    free(lg);
    return rc;
}

/* One line of the metrics file; a failed write (disk full) fails the run. */
static int metrics_line(xm_trainer *t, xm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int metrics_line(xm_trainer *t, xm_err *err, const char *fmt, ...)
{
    if (!t->metrics) return 0;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->metrics, fmt, ap);
    va_end(ap);
    fputc('\n', t->metrics);
    errno = 0;
    if (fflush(t->metrics) != 0 || ferror(t->metrics))
        return xm_err_errno(err, XM_EIO, errno ? errno : EIO, "%s", t->cfg->metrics_path);
    return 0;
}

static int open_metrics(xm_trainer *t, xm_err *err)
{
    const char *p = t->cfg->metrics_path;
    if (!p) return 0;
    /* a resumed run appends to its metrics; a new run needs --force to
     * replace an existing file */
    if (!t->cfg->resume_path && !t->cfg->force) {
        FILE *e = fopen(p, "r");
        if (e) {
            fclose(e);
            return xm_err_set(err, XM_ECANTCREAT, "%s: exists (use --force to overwrite)", p);
        }
    }
    if (!(t->metrics = fopen(p, t->cfg->resume_path ? "a" : "w")))
        return xm_err_errno(err, XM_ECANTCREAT, errno, "%s", p);
    return 0;
}

/* XM_ECANTCREAT when the directory of `path` cannot take new files
 * (missing, read-only, no permission). */
static int check_dir(const char *path, xm_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else slash[slash == dir] = '\0'; /* "/name" -> "/" */
    if (access(dir, W_OK | X_OK) != 0) return xm_err_errno(err, XM_ECANTCREAT, errno, "%s", path);
    return 0;
}

static int setup(xm_trainer *t, const xm_train_cfg *cfg, const char *ckpt, xm_err *err)
{
    int rc;
    uint64_t ph;
    t->cfg = cfg;
    /* refuse an existing output or one that cannot be written now, not
     * after hours of training */
    if (!cfg->force && access(cfg->out_path, F_OK) == 0)
        return xm_err_set(err, XM_ECANTCREAT, "%s: exists (use --force to overwrite)",
                          cfg->out_path);
    if ((rc = check_dir(cfg->out_path, err)) || (rc = check_dir(ckpt, err))) return rc;
    if ((rc = xm_hash_file(cfg->plan_path, &ph, err))) return rc;
    snprintf(t->plan_xxh, sizeof t->plan_xxh, "%016" PRIx64, ph);
    if ((rc = xm_plan_load(cfg->plan_path, &t->plan, err))) return rc;
    xm_backend_cfg bc = {cfg->threads, 0, (xm_precision)cfg->precision, 0};
    if (!(t->be = xm_backend_new(cfg->device ? cfg->device : "cpu", &bc, err)))
        return code_of(err);
    if ((rc = xm_train_scale_setup(t, err)) || (rc = xm_trainer_open_data(t, err)) ||
        (rc = xm_trainer_build_net(t, err)) || (rc = xm_trainer_alloc(t, err)))
        return rc;
    if (cfg->resume_path && (rc = xm_ckpt_load(t, cfg->resume_path, err))) return rc;
    if (cfg->stop_after < 0 || (cfg->stop_after && cfg->stop_after <= t->step))
        return xm_err_set(err, XM_EUSAGE, "--stop-after %lld is not after the start step %lld",
                          (long long)cfg->stop_after, (long long)t->step);
    if (!(t->config_json = xm_train_config_json(cfg)))
        return xm_err_set(err, XM_EFAIL, "out of memory");
    return open_metrics(t, err);
}

static int do_eval(xm_trainer *t, int64_t step, xm_train_cb cb, void *ctx, xm_err *err)
{
    double top1 = 0, mca = 0;
    int64_t n = 0;
    int rc = evaluate(t, &top1, &mca, &n, err);
    if (rc) return rc;
    if ((rc = metrics_line(t, err, "{\"step\": %lld, \"eval_top1\": %.6f, "
                           "\"eval_mean_class_acc\": %.6f, \"eval_n\": %lld}", (long long)step,
                           top1, mca, (long long)n)))
        return rc;
    emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_EVAL, .step = step, .top1 = top1,
                                   .mean_class_acc = mca, .n = n});
    return 0;
}

int xm_train_run(const xm_train_cfg *cfg, xm_train_cb cb, void *ctx, int *stopped_early,
                 xm_err *err)
{
    xm_trainer t;
    memset(&t, 0, sizeof t);
    *stopped_early = 0;
    char ckpt[4096];
    if (cfg->ckpt_path) snprintf(ckpt, sizeof ckpt, "%s", cfg->ckpt_path);
    else {
        snprintf(ckpt, sizeof ckpt, "%s", cfg->out_path);
        size_t l = strlen(ckpt);
        if (l > 3 && !strcmp(ckpt + l - 3, ".h5")) ckpt[l - 3] = 0;
        strncat(ckpt, ".ckpt.h5", sizeof ckpt - strlen(ckpt) - 1);
    }
    int rc = setup(&t, cfg, ckpt, err);
    if (rc) goto done;
    for (char *s = t.notes, *e; *s; s = e + (*e ? 1 : 0)) {
        e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(e - s), s);
        emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_NOTE, .text = line});
    }
    const int64_t S = t.plan.steps;
    const int64_t end = cfg->stop_after ? (cfg->stop_after < S ? cfg->stop_after : S) : S;
    emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_START, .steps = S, .first_step = t.step});
    xm_loader *ld = NULL;
    xm_loader_src src = {&t.plan, t.target, t.partner, t.src_row};
    if (t.step < end && (rc = xm_loader_start(&src, t.step, end, cfg->readers, &ld, err)))
        goto done;
    double t0 = xm_now(), tl = t0, lsum = 0, loss1 = -1;
    const double loop0 = t0;
    const int64_t step0 = t.step;
    double wait0 = 0; /* the loader's wait at the window's start */
    int64_t lcount = 0;
    while (t.step < end) {
        const xm_batch *b;
        double lr = xm_train_lr(cfg, t.step, S), loss = 0;
        if ((rc = xm_loader_next(ld, &b, err)) || (rc = xm_train_step(&t, b, lr, &loss, err)))
            break;
        /* a finite but exploded loss (too high a learning rate, a gradient
         * spike): stop before the weights become the output */
        if (loss1 < 0) loss1 = loss;
        if (loss > 100.0 && loss > 1000.0 * loss1) {
            rc = xm_err_set(err, XM_EFAIL, "step %lld: the loss diverged (%.4g, over 1000x the first "
                            "step's %.4g): try a lower --lr", (long long)t.step + 1, loss, loss1);
            break;
        }
        t.step++;
        lsum += loss;
        lcount++;
        double now = xm_now();
        double ips = (double)t.plan.slots / (now - tl > 0 ? now - tl : 1e-9);
        tl = now;
        emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_STEP, .step = t.step, .steps = S,
                                       .loss = loss, .lr = lr, .images_per_s = ips});
        if (cfg->log_every && (t.step % cfg->log_every == 0 || t.step == end)) {
            double el = now - t0;
            char ls[96] = "";
            if (t.ls_scale > 0)
                snprintf(ls, sizeof ls, ", \"loss_scale\": %.17g, \"skipped\": %lld", t.ls_scale,
                         (long long)t.ls_skipped);
            /* data_wait_ms: per step, the trainer blocked on the loader */
            double wait = xm_loader_wait_s(ld);
            rc = metrics_line(&t, err, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, "
                              "\"images_per_s\": %.1f, \"data_wait_ms\": %.3f%s}",
                              (long long)t.step, lsum / (double)lcount, lr,
                              el > 0 ? (double)(t.plan.slots * lcount) / el : 0.0,
                              1e3 * (wait - wait0) / (double)lcount, ls);
            wait0 = wait;
            lsum = 0;
            lcount = 0;
            t0 = xm_now();
            if (rc) break;
        }
        if (t.test && cfg->eval_every && t.step % cfg->eval_every == 0 && t.step != S &&
            (rc = do_eval(&t, t.step, cb, ctx, err)))
            break;
        int sig = cfg->stop ? (int)*cfg->stop : 0;
        if ((cfg->ckpt_every && t.step % cfg->ckpt_every == 0) || t.step == end || sig) {
            if ((rc = xm_ckpt_save(&t, ckpt, err))) break;
            emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_CKPT, .step = t.step, .path = ckpt});
        }
        if (sig) {
            rc = xm_err_set(err, sig == 15 ? XM_EINTR_TERM : XM_EINTR_INT,
                            "interrupted after step %lld; checkpoint %s (continue with --resume)",
                            (long long)t.step, ckpt);
            break;
        }
    }
    if (!rc && t.step > step0) {
        char line[200];
        double loop = xm_now() - loop0, wait = xm_loader_wait_s(ld);
        snprintf(line, sizeof line, "waited %.3f s for data in %.3f s of %lld step(s) (%.1f%%)",
                 wait, loop, (long long)(t.step - step0), loop > 0 ? 100.0 * wait / loop : 0.0);
        emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_NOTE, .text = line});
    }
    xm_loader_free(ld);
    if (rc) goto done;
    if (t.ls_scale > 0) {
        char line[160];
        snprintf(line, sizeof line, "loss scale %.17g at step %lld; %lld step(s) skipped for "
                 "non-finite gradients", t.ls_scale, (long long)t.step, (long long)t.ls_skipped);
        emit(cb, ctx, (xm_train_event){.kind = XM_TRAIN_EV_NOTE, .text = line});
    }
    if (end < S) {
        *stopped_early = 1;
        goto done;
    }
    if (t.test && (rc = do_eval(&t, t.step, cb, ctx, err))) goto done;
    rc = xm_train_save_model(&t, cfg->out_path, cfg->force ? XM_ATOMIC_FORCE : 0, err);
done:
    if (rc) xm_backend_oom_batch(err, t.plan.slots);
    xm_trainer_release(&t);
    return rc;
}
