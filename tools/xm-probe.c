/* xm-probe: evaluate a model on .xms files (formats/probe.md).
 *
 * Prints one JSON line on stdout: top1, top5, mean_class_acc, n (and what
 * was measured how). Optional outputs, each written atomically: the
 * confusion matrix, per-record predictions, the feature spectrum. With
 * --linear-probe TRAIN.xms the model's heads are ignored: a logistic
 * regression fitted on the frozen pooled features of TRAIN.xms classifies
 * the evaluated files (the paper's forgetting analysis). The numbers are
 * computed by lib/engine/xm_probe.h; this file is options and output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_backend.h"
#include "xm_cli.h"
#include "xm_json.h"
#include "xm_log.h"
#include "xm_model.h"
#include "xm_plan.h"
#include "xm_probe.h"
#include "xm_progress.h"
#include "xm_xms.h"

#define TOOL "xm-probe"

typedef struct opts {
    const char *model, *device, *head, *confusion, *predictions, *linear, *spectrum, *pairs, *subsets;
    int64_t threads, batch, max_iter, readers;
    double l2, tol;
    int per_class;
    xm_cli cli;
    xm_log log;
} opts;

/* What the evaluation accumulates; filled batch by batch. */
typedef struct eval_ctx {
    xm_probe_acc acc;
    int64_t skipped;      /* records whose class the classifier lacks */
    FILE *pred;           /* --predictions, or NULL */
    const xm_xms_set *set;
    int32_t *pbuf;        /* batch predictions */
    float *sbuf;          /* batch scores */
    int cap;
    float *feat;          /* features kept (spectrum, linear probe), n x d */
    int32_t *flab;        /* their labels */
    int64_t nfeat;
    int keep_feat, d;
    xm_progress prog;
} eval_ctx;

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Count one batch of logits; write its predictions. */
static int account(eval_ctx *e, int64_t first, int n, const int32_t *labels, const float *logits, xm_err *err)
{
    if (n > e->cap) {
        free(e->pbuf), free(e->sbuf);
        e->pbuf = malloc(sizeof(int32_t) * (size_t)n);
        e->sbuf = malloc(sizeof(float) * (size_t)n);
        e->cap = n;
        if (!e->pbuf || !e->sbuf) return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    xm_probe_acc_add(&e->acc, logits, labels, n, e->pbuf, e->sbuf);
    for (int i = 0; i < n; i++) {
        e->skipped += labels[i] < 0;
        if (!e->pred) continue;
        xm_xms_rec r;
        xm_xms_set_peek(e->set, (uint64_t)(first + i), &r);
        fprintf(e->pred, "%lld,%d,%d,%.6f,", (long long)(first + i), labels[i], e->pbuf[i], e->sbuf[i]);
        csv_field(e->pred, r.name ? r.name : "");
        fputc('\n', e->pred);
    }
    return 0;
}

static int keep_features(eval_ctx *e, const xm_probe_batch *b, xm_err *err)
{
    size_t need = (size_t)(e->nfeat + b->n);
    float *f = realloc(e->feat, need * (size_t)b->d * sizeof(float));
    int32_t *l = f ? realloc(e->flab, need * sizeof(int32_t)) : NULL;
    if (f) e->feat = f;
    if (l) e->flab = l;
    if (!f || !l) return xm_err_set(err, XM_EFAIL, "out of memory (features of %zu records)", need);
    memcpy(e->feat + (size_t)e->nfeat * b->d, b->features, sizeof(float) * (size_t)b->n * b->d);
    memcpy(e->flab + e->nfeat, b->labels, sizeof(int32_t) * (size_t)b->n);
    e->nfeat += b->n;
    e->d = b->d;
    return 0;
}

static int on_batch(void *ctx, const xm_probe_batch *b, xm_err *err)
{
    eval_ctx *e = ctx;
    int rc = b->logits ? account(e, b->first, b->n, b->labels, b->logits, err) : 0;
    if (!rc && e->keep_feat) rc = keep_features(e, b, err);
    return rc;
}

static void on_progress(void *ctx, int64_t done, int64_t total)
{
    eval_ctx *e = ctx;
    e->prog.total = total;
    xm_progress_update(&e->prog, done);
}

static int write_confusion(const char *path, const xm_probe_acc *a, char *const *names, int force, xm_err *err)
{
    xm_atomic at;
    int rc = xm_atomic_open(&at, path, force ? XM_ATOMIC_FORCE : 0, err);
    if (rc) return rc;
    FILE *f = xm_atomic_file(&at);
    if (!f) {
        xm_atomic_abort(&at);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    fputs("true\\predicted", f);
    for (int j = 0; j < a->k; j++) fputc(',', f), csv_field(f, names[j]);
    fputc('\n', f);
    for (int c = 0; c < a->k; c++) {
        csv_field(f, names[c]);
        for (int j = 0; j < a->k; j++) fprintf(f, ",%lld", (long long)a->confusion[(size_t)c * a->k + j]);
        fputc('\n', f);
    }
    return xm_atomic_commit(&at, err);
}

static int write_spectrum(const char *path, const eval_ctx *e, int force, xm_err *err)
{
    if (e->nfeat == 0) return xm_err_set(err, XM_EDATA, "--spectrum: no records");
    double *sv = malloc(sizeof(double) * (size_t)e->d);
    if (!sv) return xm_err_set(err, XM_EFAIL, "out of memory");
    int rc = xm_probe_spectrum(e->feat, e->nfeat, e->d, sv, err);
    xm_atomic at;
    if (!rc) rc = xm_atomic_open(&at, path, force ? XM_ATOMIC_FORCE : 0, err);
    FILE *f = rc ? NULL : xm_atomic_file(&at);
    if (!rc && !f) {
        xm_atomic_abort(&at);
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    }
    if (!rc) {
        fputs("index,sigma,normalised\n", f);
        for (int i = 0; i < e->d; i++)
            fprintf(f, "%d,%.9g,%.9g\n", i, sv[i], sv[0] > 0 ? sv[i] / sv[0] : 0.0);
        rc = xm_atomic_commit(&at, err);
    }
    free(sv);
    return rc;
}

/* Class names of the classifier being evaluated, for the outputs. */
static char **class_names(char *const *given, int k, const xm_xms_set *set)
{
    char **v = calloc((size_t)k, sizeof *v);
    for (int j = 0; v && j < k; j++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", j);
        const char *s = given && given[j] ? given[j] : j < xm_xms_set_nclasses(set) && !given ? xm_xms_set_class(set, j) : buf;
        v[j] = strdup(s);
    }
    return v;
}

static void print_result(const opts *o, const eval_ctx *e, char *const *names, const char *extra)
{
    const xm_probe_acc *a = &e->acc;
    printf("{\"top1\":%.6f,\"top5\":%.6f,\"mean_class_acc\":%.6f,\"n\":%lld,\"skipped\":%lld%s",
           xm_probe_acc_top1(a), xm_probe_acc_top5(a), xm_probe_acc_mean_class(a), (long long)a->n,
           (long long)e->skipped, extra);
    if (o->per_class) {
        printf(",\"per_class\":[");
        int first = 1;
        for (int c = 0; c < a->k; c++) {
            int64_t nc = xm_probe_acc_class_n(a, c), ok = a->confusion[(size_t)c * a->k + c];
            if (!nc) continue;
            printf("%s{\"class\":", first ? "" : ",");
            xm_json_str(stdout, names[c]);
            printf(",\"n\":%lld,\"correct\":%lld,\"acc\":%.6f}", (long long)nc, (long long)ok, (double)ok / nc);
            first = 0;
            if (o->log.level >= XM_LOG_NORMAL)
                fprintf(stderr, "%s: class %-4d %-24s %7lld images  %7.2f %%\n", TOOL, c, names[c], (long long)nc,
                        100.0 * ok / nc);
        }
        printf("]");
    }
    printf("}\n");
    fflush(stdout);
}

static int open_set(opts *o, const char *const *paths, int n, xm_xms_set **set, xm_err *err)
{
    (void)o;
    return xm_xms_set_open(paths, n, NULL, set, err);
}

/* --pairs with --linear-probe: one probe per subset of the training set's
 * classes (aux: the source classes of the pairs file, rest: the others,
 * all), one JSON line each (the paper's Table 2). */
static int run_subsets(const opts *o, const float *trf, const int32_t *trl, int64_t ntr,
                       const float *evf, const int32_t *evl, int64_t nev, int d, int k, xm_err *err)
{
    int32_t *pt = NULL, *ps = NULL;
    int np = 0;
    int rc = xm_plan_read_pairs(o->pairs, &pt, &ps, &np, err);
    uint8_t *aux = rc ? NULL : calloc((size_t)k, 1), *keep = rc ? NULL : calloc((size_t)k, 1);
    if (!rc && (!aux || !keep)) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; !rc && i < np; i++) {
        if (ps[i] < 0 || ps[i] >= k)
            rc = xm_err_set(err, XM_EDATA, "%s: source class %d is not a class of %s (%d classes)", o->pairs,
                            (int)ps[i], o->linear, k);
        else
            aux[ps[i]] = 1;
    }
    char *list = rc ? NULL : strdup(o->subsets), *save = NULL;
    if (!rc && !list) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (char *name = list ? strtok_r(list, ",", &save) : NULL; !rc && name; name = strtok_r(NULL, ",", &save)) {
        int which = !strcmp(name, "aux") ? 0 : !strcmp(name, "rest") ? 1 : !strcmp(name, "all") ? 2 : -1;
        if (which < 0) {
            rc = xm_err_set(err, XM_EUSAGE, "--subsets: unknown subset '%s' (aux, rest or all)", name);
            break;
        }
        int m = 0;
        for (int c = 0; c < k; c++) m += keep[c] = which == 2 ? 1 : which == 0 ? aux[c] : !aux[c];
        if (m < 2 && strcmp(o->subsets, name)) {
            /* e.g. "rest" when the pairs use every source class */
            xm_log_warn(&o->log, "subset %s has %d classes: no probe", name, m);
            continue;
        }
        xm_logreg_opts lo = {.l2 = o->l2, .tol = o->tol, .max_iter = (int)o->max_iter, .threads = (int)o->threads};
        xm_probe_subset_result r;
        if ((rc = xm_probe_linear_subset(trf, trl, ntr, evf, evl, nev, d, k, keep, &lo, &r, err))) {
            xm_err_prefix(err, "subset %s", name);
            break;
        }
        if (!r.lr.converged)
            xm_log_warn(&o->log, "linear probe (%s): not converged after %d iterations (largest gradient %.3g)",
                        name, r.lr.iters, r.lr.gnorm);
        printf("{\"subset\":\"%s\",\"classes\":%d,\"top1\":%.6f,\"top5\":%.6f,\"mean_class_acc\":%.6f,"
               "\"n\":%lld,\"probe\":\"linear\",\"train_n\":%lld,\"l2\":%g,\"iters\":%d,"
               "\"converged\":%s,\"train_loss\":%.6f}\n",
               name, r.classes, xm_probe_acc_top1(&r.acc), xm_probe_acc_top5(&r.acc),
               xm_probe_acc_mean_class(&r.acc), (long long)r.acc.n, (long long)r.train_n,
               o->l2 > 0 ? o->l2 : 1e-4, r.lr.iters, r.lr.converged ? "true" : "false", r.lr.loss);
        fflush(stdout);
        xm_probe_subset_release(&r);
    }
    free(list), free(aux), free(keep), free(pt), free(ps);
    return rc;
}

static int run(opts *o, xm_err *err)
{
    if (!o->model) return xm_err_set(err, XM_EUSAGE, "no model: give -m MODEL.h5");
    if (o->cli.nargs == 0) return xm_err_set(err, XM_EUSAGE, "no data: give one or more .xms files");
    int head = 0;
    if (!strcmp(o->head, "source")) head = 1;
    else if (strcmp(o->head, "fc") && strcmp(o->head, "target"))
        return xm_err_set(err, XM_EUSAGE, "--head: '%s': must be fc (target) or source", o->head);
    if (o->linear && head) return xm_err_set(err, XM_EUSAGE, "--linear-probe replaces the heads: drop --head");
    xm_backend_cfg bc = {.threads = (int)o->threads, .precision = XM_PREC_F32};
    xm_backend *be = xm_backend_new(o->device, &bc, err);
    if (!be) return err->code ? err->code : XM_EFAIL;
    xm_model_meta meta;
    memset(&meta, 0, sizeof meta);
    xm_net *net = xm_model_load(be, o->model, &meta, err);
    int rc = net ? 0 : (err->code ? err->code : XM_EFAIL);
    xm_xms_set *set = NULL, *train = NULL;
    if (!rc) rc = open_set(o, (const char *const *)o->cli.args, o->cli.nargs, &set, err);
    if (!rc && o->linear) rc = open_set(o, &o->linear, 1, &train, err);
    eval_ctx e = {.set = set, .keep_feat = o->spectrum || o->linear};
    int nclass = set ? xm_xms_set_nclasses(set) : 0;
    int32_t *map = calloc((size_t)(nclass > 0 ? nclass : 1), sizeof *map);
    char *const *head_names = head ? meta.source_names : meta.classes;
    int k = head ? meta.source_classes : meta.num_classes;
    if (!rc && !map) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc && head && k <= 0) rc = xm_err_set(err, XM_EUSAGE, "%s: the model has no source head (source_fc)", o->model);
    if (!rc && o->linear) {
        k = xm_xms_set_nclasses(train);
        head_names = NULL;
    }
    if (!rc) {
        /* the data's classes, by name, in the classifier's order */
        char **tn = NULL;
        if (o->linear) {
            tn = calloc((size_t)k, sizeof *tn);
            for (int j = 0; tn && j < k; j++) tn[j] = (char *)xm_xms_set_class(train, j);
        }
        int mapped = xm_probe_map_classes(o->linear ? (const char *const *)tn : (const char *const *)head_names, k,
                                          set, map);
        free(tn);
        if (mapped == 0)
            rc = xm_err_set(err, XM_EDATA, "%s: none of the data's %d classes is a class of the %s", o->cli.args[0],
                            nclass, o->linear ? "linear-probe training set" : "model's head");
        else if (mapped < nclass)
            xm_log_warn(&o->log, "%d of the data's %d classes are not classes of the %s: their records are skipped",
                        nclass - mapped, nclass, o->linear ? "linear-probe training set" : "model's head");
    }
    xm_atomic pat;
    int pred_open = 0;
    if (!rc) rc = xm_probe_acc_init(&e.acc, k, err);
    if (!rc && o->predictions) {
        if (!(rc = xm_atomic_open(&pat, o->predictions, o->cli.force ? XM_ATOMIC_FORCE : 0, err))) {
            pred_open = 1;
            e.pred = xm_atomic_file(&pat);
            if (!e.pred) rc = xm_err_set(err, XM_EFAIL, "out of memory");
            else fputs("record,label,predicted,score,name\n", e.pred);
        }
    }
    xm_probe_run_opts ro = {.batch = (int)o->batch, .head = head, .want_logits = !o->linear,
                            .readers = (int)o->readers,
                            .want_features = e.keep_feat, .map = map, .progress = on_progress, .progress_ctx = &e};
    char extra[512] = "";
    char **names = NULL;
    xm_logreg lr = {0};
    if (!rc && o->linear) {
        /* 1: features of the training set, labelled by its own classes */
        eval_ctx te = {.keep_feat = 1, .set = train};
        xm_probe_run_opts tro = ro;
        tro.want_logits = 0, tro.map = NULL, tro.progress_ctx = &te;
        xm_progress_init(&te.prog, "train features", (int64_t)xm_xms_set_count(train), o->log.level >= XM_LOG_NORMAL);
        rc = xm_probe_run(be, net, &meta, train, &tro, on_batch, &te, err);
        xm_progress_end(&te.prog);
        /* 2: features of the evaluated files */
        xm_progress_init(&e.prog, "features", (int64_t)xm_xms_set_count(set), o->log.level >= XM_LOG_NORMAL);
        if (!rc) rc = xm_probe_run(be, net, &meta, set, &ro, on_batch, &e, err);
        xm_progress_end(&e.prog);
        if (!rc && o->pairs) {
            rc = run_subsets(o, te.feat, te.flab, te.nfeat, e.feat, e.flab, e.nfeat, te.d, k, err);
            free(te.feat), free(te.flab);
            goto done;
        }
        /* 3: standardise with the training statistics, fit, classify */
        float *mu = malloc(sizeof(float) * (size_t)(te.d > 0 ? te.d : 1)), *sd = malloc(sizeof(float) * (size_t)(te.d > 0 ? te.d : 1));
        float *z = malloc(sizeof(float) * (size_t)k * (size_t)(e.nfeat > 0 ? e.nfeat : 1));
        if (!rc && (!mu || !sd || !z)) rc = xm_err_set(err, XM_EFAIL, "out of memory");
        float *eval_std = NULL;
        if (!rc) {
            eval_std = malloc(sizeof(float) * (size_t)(e.nfeat > 0 ? e.nfeat : 1) * te.d);
            if (!eval_std) rc = xm_err_set(err, XM_EFAIL, "out of memory");
        }
        if (!rc) {
            xm_probe_standardise(te.feat, te.nfeat, te.d, mu, sd, 1);
            memcpy(eval_std, e.feat, sizeof(float) * (size_t)e.nfeat * te.d);
            xm_probe_standardise(eval_std, e.nfeat, te.d, mu, sd, 0);
            xm_logreg_opts lo = {.l2 = o->l2, .tol = o->tol, .max_iter = (int)o->max_iter, .threads = (int)o->threads};
            rc = xm_logreg_fit(te.feat, te.flab, te.nfeat, te.d, k, &lo, &lr, err);
        }
        if (!rc) {
            xm_logreg_logits(&lr, eval_std, e.nfeat, z);
            rc = account(&e, 0, (int)e.nfeat, e.flab, z, err);
            if (!lr.converged)
                xm_log_warn(&o->log, "linear probe: not converged after %d iterations (largest gradient %.3g)",
                            lr.iters, lr.gnorm);
            snprintf(extra, sizeof extra,
                     ",\"probe\":\"linear\",\"train_n\":%lld,\"l2\":%g,\"iters\":%d,\"converged\":%s,\"train_loss\":%.6f",
                     (long long)te.nfeat, o->l2 > 0 ? o->l2 : 1e-4, lr.iters, lr.converged ? "true" : "false", lr.loss);
        }
        free(mu), free(sd), free(z), free(eval_std), free(te.feat), free(te.flab);
    } else if (!rc) {
        xm_progress_init(&e.prog, "evaluating", (int64_t)xm_xms_set_count(set), o->log.level >= XM_LOG_NORMAL);
        rc = xm_probe_run(be, net, &meta, set, &ro, on_batch, &e, err);
        xm_progress_end(&e.prog);
        snprintf(extra, sizeof extra, ",\"head\":\"%s\"", head ? "source" : "fc");
    }
    if (!rc) {
        if (o->linear) {
            char **tn = calloc((size_t)k, sizeof *tn);
            for (int j = 0; tn && j < k; j++) tn[j] = (char *)xm_xms_set_class(train, j);
            names = class_names(tn, k, set);
            free(tn);
        } else {
            names = class_names(head_names, k, set);
        }
        if (!names) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    }
    if (!rc && o->predictions) rc = xm_atomic_commit(&pat, err), pred_open = 0;
    if (!rc && o->confusion) rc = write_confusion(o->confusion, &e.acc, names, o->cli.force, err);
done:
    if (!rc && o->spectrum) rc = write_spectrum(o->spectrum, &e, o->cli.force, err);
    if (!rc && o->pairs) goto out;
    if (!rc && e.acc.n == 0) rc = xm_err_set(err, XM_EDATA, "no record has a class of the classifier: nothing evaluated");
    if (!rc) print_result(o, &e, names, extra);
out:
    if (pred_open) xm_atomic_abort(&pat);
    for (int j = 0; names && j < k; j++) free(names[j]);
    free(names);
    xm_logreg_release(&lr);
    xm_probe_acc_release(&e.acc);
    free(e.pbuf), free(e.sbuf), free(e.feat), free(e.flab), free(map);
    xm_xms_set_close(set);
    xm_xms_set_close(train);
    xm_net_free(net);
    xm_model_meta_release(&meta);
    xm_backend_free(be);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.device = "auto", .head = "fc", .batch = 256};
    const xm_opt table[] = {
        {"model", 'm', XM_OPT_STR, &o.model, "MODEL.h5", "the model file to evaluate", 0, 0},
        {"device", 0, XM_OPT_STR, &o.device, "DEV", "cpu, cuda or auto (default: cuda when present)", 0, 0},
        {"threads", 'j', XM_OPT_INT, &o.threads, "N", "CPU threads (0 = all cores, the default)", 0, 4096},
        {"batch", 'b', XM_OPT_INT, &o.batch, "B", "images per forward pass (default 256)", 1, 65536},
        {"readers", 0, XM_OPT_INT, &o.readers, "N", "threads reading records (0 = half the cores, 1 to 8)", 0, 64},
        {"head", 0, XM_OPT_STR, &o.head, "fc|source", "evaluate the target head fc (default) or source_fc", 0, 0},
        {"per-class", 0, XM_OPT_FLAG, &o.per_class, NULL, "add per-class accuracy to the JSON (and a table on stderr)", 0, 0},
        {"confusion", 0, XM_OPT_STR, &o.confusion, "FILE", "write the confusion matrix as CSV (rows: true class)", 0, 0},
        {"predictions", 0, XM_OPT_STR, &o.predictions, "FILE", "write record,label,predicted,score,name as CSV", 0, 0},
        {"linear-probe", 0, XM_OPT_STR, &o.linear, "TRAIN.xms", "fit a logistic regression on frozen features of TRAIN.xms and evaluate it", 0, 0},
        {"l2", 0, XM_OPT_DOUBLE, &o.l2, "L", "linear probe: L2 weight (default 1e-4)", 0, 0},
        {"tol", 0, XM_OPT_DOUBLE, &o.tol, "T", "linear probe: stop when every gradient entry is below T (default 1e-5)", 0, 0},
        {"max-iter", 0, XM_OPT_INT, &o.max_iter, "N", "linear probe: L-BFGS iterations at most (default 1000)", 1, 1000000},
        {"pairs", 0, XM_OPT_STR, &o.pairs, "PAIRS.h5", "linear probe per class subset: aux (the pairs' source classes), rest, all", 0, 0},
        {"subsets", 0, XM_OPT_STR, &o.subsets, "LIST", "with --pairs: which subsets, e.g. aux,rest (default aux,rest,all)", 0, 0},
        {"spectrum", 0, XM_OPT_STR, &o.spectrum, "FILE", "write the singular values of the feature matrix as CSV", 0, 0},
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "-m MODEL.h5 [--head fc|source] [--per-class] [--confusion FILE]\n"
                              "                [--predictions FILE] [--spectrum FILE] [--linear-probe TRAIN.xms] DATA.xms...",
                     .about = "Evaluate a model on .xms files (center crop to its input size); print top1, top5,\n"
                              "mean_class_acc and n as one JSON line.",
                     .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&o.cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&o.cli);
        return 0;
    }
    xm_log_init(&o.log, TOOL, o.cli.verbosity);
    if (!rc && (o.l2 < 0 || o.tol < 0)) rc = xm_err_set(&err, XM_EUSAGE, "--l2 and --tol must be positive");
    if (!rc && (o.pairs || o.subsets) && !o.linear)
        rc = xm_err_set(&err, XM_EUSAGE, "--pairs and --subsets are for --linear-probe");
    if (!rc && o.subsets && !o.pairs) rc = xm_err_set(&err, XM_EUSAGE, "--subsets needs --pairs PAIRS.h5");
    if (!rc && o.pairs && (o.per_class || o.confusion || o.predictions))
        rc = xm_err_set(&err, XM_EUSAGE, "--pairs prints one line per subset: drop --per-class, --confusion and --predictions");
    if (!rc && o.pairs && !o.subsets) o.subsets = "aux,rest,all";
    if (!rc && !o.linear && (o.l2 || o.tol || o.max_iter))
        rc = xm_err_set(&err, XM_EUSAGE, "--l2, --tol and --max-iter are for --linear-probe");
    if (!rc) {
        xm_atomic_install_signals();
        rc = run(&o, &err);
    }
    xm_cli_release(&o.cli);
    return rc ? xm_tool_fail(TOOL, &err) : 0;
}
