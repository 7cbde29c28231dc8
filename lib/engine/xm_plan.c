/* xm_plan.c: plan generation (the sampling rules are in xm_plan.h and
 * formats/plan.md). Pure: reads labels and sizes from the .xms indexes,
 * never pixels. */
#include "xm_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_rng.h"

/* RNG streams: slot streams are (step << 20) | slot (< 2^60); the per-pass
 * shuffles live above 2^60 so they never collide with a slot. */
#define SLOT_BITS 20
#define STREAM_TARGET_PASS ((uint64_t)1 << 62)
#define STREAM_AUX_PASS (((uint64_t)1 << 62) | ((uint64_t)1 << 61))

struct xm_plan_gen {
    xm_plan_cfg cfg;
    const xm_xms_set *target, *partner;
    int64_t steps;
    int slots, size;
    int64_t n_target;
    /* partner records by class (CSR): pc_rec[pc_start[c] .. pc_start[c+1]) */
    int n_pclasses;
    int64_t *pc_start, *pc_rec;
    /* source classes paired with each target class (CSR), with cumulative
     * record counts so one uniform draw picks a record of their union */
    int n_tclasses;
    int *tp_start;
    int32_t *tp_src;
    int64_t *tp_cum;
    int n_src;
    int32_t *src;          /* source head classes, ascending */
    int64_t n_aux;
    int64_t *aux;          /* their records, ascending */
    int64_t *perm_t, perm_t_pass;
    int64_t *perm_a, perm_a_pass;
};

static const char *const mode_names[] = {"none", "mixup", "xmixup", "xmixup-nolabel",
                                         "cotrain", "source", "eval"};

const char *xm_plan_mode_name(xm_plan_mode m)
{
    return (unsigned)m < sizeof mode_names / sizeof *mode_names ? mode_names[m] : "?";
}

int xm_plan_mode_parse(const char *s, xm_plan_mode *m, xm_err *err)
{
    for (unsigned i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
        if (!strcmp(s, mode_names[i])) {
            *m = (xm_plan_mode)i;
            return 0;
        }
    return xm_err_set(err, XM_EUSAGE,
                      "unknown mode '%s' (none, mixup, xmixup, xmixup-nolabel, cotrain, "
                      "source, eval)", s);
}

int xm_plan_mode_needs_partner(xm_plan_mode m)
{
    return m == XM_PLAN_XMIXUP || m == XM_PLAN_XMIXUP_NOLABEL || m == XM_PLAN_COTRAIN ||
           m == XM_PLAN_SOURCE;
}

int xm_plan_mode_needs_pairs(xm_plan_mode m)
{
    return m == XM_PLAN_XMIXUP || m == XM_PLAN_XMIXUP_NOLABEL;
}

void xm_plan_cfg_default(xm_plan_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->alpha = 1.0;
    c->beta = 1.0;
    c->flip = 1;
}

void xm_plan_gen_free(xm_plan_gen *g)
{
    if (!g) return;
    free(g->pc_start);
    free(g->pc_rec);
    free(g->tp_start);
    free(g->tp_src);
    free(g->tp_cum);
    free(g->src);
    free(g->aux);
    free(g->perm_t);
    free(g->perm_a);
    free(g);
}

int64_t xm_plan_gen_steps(const xm_plan_gen *g) { return g->steps; }
int xm_plan_gen_slots(const xm_plan_gen *g) { return g->slots; }
int xm_plan_gen_input_size(const xm_plan_gen *g) { return g->size; }

const int32_t *xm_plan_gen_source_classes(const xm_plan_gen *g, int *n)
{
    *n = g->n_src;
    return g->src;
}

const int64_t *xm_plan_gen_aux_records(const xm_plan_gen *g, int64_t *n)
{
    *n = g->n_aux;
    return g->aux;
}

static int oom(xm_err *err) { return xm_err_set(err, XM_EFAIL, "out of memory"); }

/* Channels and (when uniform) the stored size of a set; c 0 = mixed. */
static void set_shape(const xm_xms_set *s, int *h, int *w, int *c)
{
    *h = *w = *c = -1;
    for (int k = 0; k < xm_xms_set_nfiles(s); k++) {
        xm_xms_info in;
        xm_xms_get_info(xm_xms_set_file(s, k), &in);
        if (in.n_records == 0) continue;
        *h = *h == -1 || *h == in.h ? in.h : 0;
        *w = *w == -1 || *w == in.w ? in.w : 0;
        *c = *c == -1 || *c == in.c ? in.c : 0;
    }
    if (*h < 0) *h = *w = *c = 0;
}

/* Partner records grouped by class; records without a label are skipped. */
static int build_partner_classes(xm_plan_gen *g, xm_err *err)
{
    const xm_xms_set *p = g->partner;
    int64_t n = (int64_t)xm_xms_set_count(p);
    int nc = g->n_pclasses = xm_xms_set_nclasses(p);
    g->pc_start = calloc((size_t)nc + 1, sizeof *g->pc_start);
    g->pc_rec = malloc(((size_t)n + 1) * sizeof *g->pc_rec);
    if (!g->pc_start || !g->pc_rec) return oom(err);
    for (int64_t i = 0; i < n; i++) {
        xm_xms_rec r;
        xm_xms_set_peek(p, (uint64_t)i, &r);
        if (r.label >= nc)
            return xm_err_set(err, XM_EDATA, "partner record %lld: label %d >= %d classes",
                              (long long)i, r.label, nc);
        if (r.label >= 0) g->pc_start[r.label + 1]++;
    }
    for (int c = 0; c < nc; c++) g->pc_start[c + 1] += g->pc_start[c];
    int64_t *fill = malloc(((size_t)nc + 1) * sizeof *fill);
    if (!fill) return oom(err);
    memcpy(fill, g->pc_start, (size_t)nc * sizeof *fill);
    for (int64_t i = 0; i < n; i++) {
        xm_xms_rec r;
        xm_xms_set_peek(p, (uint64_t)i, &r);
        if (r.label >= 0) g->pc_rec[fill[r.label]++] = i;
    }
    free(fill);
    return 0;
}

static int64_t class_count(const xm_plan_gen *g, int c)
{
    return g->pc_start[c + 1] - g->pc_start[c];
}

/* The source head: the paired source classes (or all partner classes),
 * ascending, and the auxiliary records. */
static int build_sources(xm_plan_gen *g, const xm_plan_pairs *pairs, xm_err *err)
{
    int nc = g->n_pclasses;
    char *used = calloc((size_t)nc + 1, 1);
    if (!used) return oom(err);
    if (pairs)
        for (int i = 0; i < pairs->n; i++) used[pairs->source[i]] = 1;
    else
        memset(used, 1, (size_t)nc);
    g->src = malloc(((size_t)nc + 1) * sizeof *g->src);
    if (!g->src) {
        free(used);
        return oom(err);
    }
    g->n_src = 0;
    g->n_aux = 0;
    for (int c = 0; c < nc; c++)
        if (used[c]) {
            g->src[g->n_src++] = c;
            g->n_aux += class_count(g, c);
        }
    free(used);
    g->aux = malloc(((size_t)g->n_aux + 1) * sizeof *g->aux);
    if (!g->aux) return oom(err);
    /* ascending record order: merge by scanning the class CSR per record */
    int64_t k = 0, n = (int64_t)xm_xms_set_count(g->partner);
    char *is_src = calloc((size_t)nc + 1, 1);
    if (!is_src) return oom(err);
    for (int i = 0; i < g->n_src; i++) is_src[g->src[i]] = 1;
    for (int64_t i = 0; i < n; i++) {
        xm_xms_rec r;
        xm_xms_set_peek(g->partner, (uint64_t)i, &r);
        if (r.label >= 0 && is_src[r.label]) g->aux[k++] = i;
    }
    free(is_src);
    if (g->n_aux == 0)
        return xm_err_set(err, XM_EDATA, "%s: the source classes have no records",
                          xm_xms_path(xm_xms_set_file(g->partner, 0)));
    return 0;
}

/* For each target class, its paired source classes with cumulative counts. */
static int build_target_pairs(xm_plan_gen *g, const xm_plan_pairs *pairs, xm_err *err)
{
    int nt = g->n_tclasses;
    g->tp_start = calloc((size_t)nt + 1, sizeof *g->tp_start);
    g->tp_src = malloc(((size_t)pairs->n + 1) * sizeof *g->tp_src);
    g->tp_cum = malloc(((size_t)pairs->n + 1) * sizeof *g->tp_cum);
    if (!g->tp_start || !g->tp_src || !g->tp_cum) return oom(err);
    for (int i = 0; i < pairs->n; i++) g->tp_start[pairs->target[i] + 1]++;
    for (int t = 0; t < nt; t++) g->tp_start[t + 1] += g->tp_start[t];
    int *fill = malloc(((size_t)nt + 1) * sizeof *fill);
    if (!fill) return oom(err);
    memcpy(fill, g->tp_start, (size_t)nt * sizeof *fill);
    for (int i = 0; i < pairs->n; i++) g->tp_src[fill[pairs->target[i]]++] = pairs->source[i];
    free(fill);
    for (int t = 0; t < nt; t++) {
        int64_t cum = 0;
        for (int j = g->tp_start[t]; j < g->tp_start[t + 1]; j++) {
            cum += class_count(g, g->tp_src[j]);
            g->tp_cum[j] = cum;
        }
        if (cum == 0)
            return xm_err_set(err, XM_EDATA,
                              "target class %d ('%s') has no paired source class with records",
                              t, xm_xms_set_class(g->target, t));
    }
    return 0;
}

static int check_pairs(const xm_plan_gen *g, const xm_plan_pairs *pairs, xm_err *err)
{
    const char *f = pairs->path ? pairs->path : "pairs";
    for (int i = 0; i < pairs->n; i++) {
        if (pairs->target[i] < 0 || (g->target && pairs->target[i] >= g->n_tclasses))
            return xm_err_set(err, XM_EDATA, "%s: pair %d: target class %d is out of range (%d classes)",
                              f, i, pairs->target[i], g->n_tclasses);
        if (pairs->source[i] < 0 || pairs->source[i] >= g->n_pclasses)
            return xm_err_set(err, XM_EDATA, "%s: pair %d: source class %d is out of range (%d classes)",
                              f, i, pairs->source[i], g->n_pclasses);
    }
    return 0;
}

static int check_cfg(const xm_plan_cfg *c, const xm_xms_set *target, const xm_xms_set *partner,
                     const xm_plan_pairs *pairs, xm_err *err)
{
    if (c->batch < 1 || c->batch > XM_PLAN_MAX_BATCH)
        return xm_err_set(err, XM_EUSAGE, "--batch must be in [1, %d]", XM_PLAN_MAX_BATCH);
    if (c->mode != XM_PLAN_EVAL && (c->steps < 1 || c->steps > XM_PLAN_MAX_STEPS))
        return xm_err_set(err, XM_EUSAGE, "--steps must be in [1, 2^40]");
    if (!(c->alpha > 0) || !(c->beta > 0) || c->alpha > 1e6 || c->beta > 1e6)
        return xm_err_set(err, XM_EUSAGE, "--alpha and --beta must be in (0, 1e6]");
    if (c->input_size < 0 || c->input_size > 65535 || c->pad < 0 || c->pad > 4096)
        return xm_err_set(err, XM_EUSAGE, "--input-size or --pad is out of range");
    if (c->mode != XM_PLAN_SOURCE && !target)
        return xm_err_set(err, XM_EUSAGE, "mode %s needs --target", xm_plan_mode_name(c->mode));
    if (xm_plan_mode_needs_partner(c->mode) && !partner)
        return xm_err_set(err, XM_EUSAGE, "mode %s needs --partner",
                          xm_plan_mode_name(c->mode));
    if (xm_plan_mode_needs_pairs(c->mode) && !pairs)
        return xm_err_set(err, XM_EUSAGE, "mode %s needs --pairs", xm_plan_mode_name(c->mode));
    if (target && xm_xms_set_count(target) == 0)
        return xm_err_set(err, XM_EDATA, "the target set has no records");
    return 0;
}

int xm_plan_gen_new(const xm_plan_cfg *cfg, const xm_xms_set *target,
                    const xm_xms_set *partner, const xm_plan_pairs *pairs,
                    xm_plan_gen **out, xm_err *err)
{
    *out = NULL;
    int rc = check_cfg(cfg, target, partner, pairs, err);
    if (rc) return rc;
    xm_plan_gen *g = calloc(1, sizeof *g);
    if (!g) return oom(err);
    g->cfg = *cfg;
    if (cfg->mode == XM_PLAN_EVAL) g->cfg.flip = 0, g->cfg.pad = 0;
    g->target = target;
    g->partner = xm_plan_mode_needs_partner(cfg->mode) ? partner : NULL;
    g->perm_t_pass = g->perm_a_pass = -1;
    g->slots = cfg->mode == XM_PLAN_COTRAIN ? 2 * cfg->batch : cfg->batch;
    g->n_target = target ? (int64_t)xm_xms_set_count(target) : 0;
    g->n_tclasses = target ? xm_xms_set_nclasses(target) : 0;
    g->steps = cfg->steps;
    if (cfg->mode == XM_PLAN_EVAL && g->steps == 0)
        g->steps = (g->n_target + cfg->batch - 1) / cfg->batch;

    /* shapes: channels must agree; the input size defaults to a uniform
     * stored size */
    int th = 0, tw = 0, tc = 0, ph = 0, pw = 0, pc = 0;
    if (target) set_shape(target, &th, &tw, &tc);
    if (g->partner) set_shape(g->partner, &ph, &pw, &pc);
    const xm_xms_set *first = target ? target : g->partner;
    int fh = target ? th : ph, fw = target ? tw : pw;
    if ((target && tc == 0) || (g->partner && pc == 0) || (target && g->partner && tc != pc)) {
        xm_plan_gen_free(g);
        return xm_err_set(err, XM_EDATA, "%s: records have different channel counts",
                          xm_xms_path(xm_xms_set_file(first, 0)));
    }
    g->size = cfg->input_size;
    if (g->size == 0) {
        if (fh <= 0 || fh != fw) {
            xm_plan_gen_free(g);
            return xm_err_set(err, XM_EUSAGE,
                              "%s: records are not all square of one size: give --input-size",
                              xm_xms_path(xm_xms_set_file(first, 0)));
        }
        g->size = fh;
    }
    /* target labels must name a class: every target record is trained on */
    for (int64_t i = 0; i < g->n_target && cfg->mode != XM_PLAN_EVAL; i++) {
        xm_xms_rec r;
        xm_xms_set_peek(target, (uint64_t)i, &r);
        if (r.label < 0 || r.label >= g->n_tclasses) {
            xm_plan_gen_free(g);
            return xm_err_set(err, XM_EDATA, "target record %lld has no valid label",
                              (long long)i);
        }
    }
    if (g->partner) {
        if ((rc = build_partner_classes(g, err)) ||
            (pairs && (rc = check_pairs(g, pairs, err))) ||
            (rc = build_sources(g, pairs, err)) ||
            (xm_plan_mode_needs_pairs(cfg->mode) && (rc = build_target_pairs(g, pairs, err)))) {
            xm_plan_gen_free(g);
            return rc;
        }
    }
    *out = g;
    return 0;
}

/* Pass `pass` of a shuffle over n items keyed by (seed, stream_base | pass),
 * cached: consecutive steps mostly stay in one pass. */
static const int64_t *pass_perm(int64_t **perm, int64_t *cached, int64_t n, uint64_t seed,
                                uint64_t base, int64_t pass, xm_err *err)
{
    if (!*perm && !(*perm = malloc(((size_t)n + 1) * sizeof **perm))) {
        oom(err);
        return NULL;
    }
    if (*cached != pass) {
        for (int64_t i = 0; i < n; i++) (*perm)[i] = i;
        xm_rng r;
        xm_rng_init(&r, seed, base | (uint64_t)pass);
        xm_rng_shuffle_i64(&r, *perm, n);
        *cached = pass;
    }
    return *perm;
}

/* torchvision's CenterCrop offset: round((stored - size) / 2), half to even. */
static int center(int stored, int size)
{
    int d = stored - size;
    int q = d >= 0 ? d / 2 : -((-d) / 2);
    if (d % 2 != 0) {
        /* exact half: round to the even neighbour */
        int lo = d > 0 ? q : q - 1, hi = lo + 1;
        q = (lo % 2 == 0) ? lo : hi;
    }
    return q;
}

static int16_t crop_at(xm_rng *r, int stored, int size, int pad, int random)
{
    int lo = -pad, hi = stored - size + pad;
    if (!random || hi < lo) return (int16_t)center(stored, size);
    return (int16_t)(lo + (int)xm_rng_below(r, (uint64_t)(hi - lo + 1)));
}

/* Draw a record uniformly from the union of the source classes paired with
 * target class t. */
static int64_t draw_partner(const xm_plan_gen *g, xm_rng *r, int t)
{
    int a = g->tp_start[t], b = g->tp_start[t + 1];
    int64_t u = (int64_t)xm_rng_below(r, (uint64_t)g->tp_cum[b - 1]);
    int j = a;
    while (g->tp_cum[j] <= u) j++; /* few pairs per class: linear is fine */
    int64_t before = j > a ? g->tp_cum[j - 1] : 0;
    int c = g->tp_src[j];
    return g->pc_rec[g->pc_start[c] + (u - before)];
}

static void rec_size(const xm_xms_set *s, int64_t i, int *h, int *w)
{
    xm_xms_rec r;
    xm_xms_set_peek(s, (uint64_t)i, &r);
    *h = r.h;
    *w = r.w;
}

int xm_plan_gen_step(xm_plan_gen *g, int64_t k, const xm_plan_rows *rows, xm_err *err)
{
    const xm_plan_cfg *c = &g->cfg;
    const int B = c->batch, S = g->size;
    if (k < 0 || k >= g->steps)
        return xm_err_set(err, XM_EUSAGE, "step %lld is out of range", (long long)k);
    for (int j = 0; j < g->slots; j++) {
        xm_rng r;
        xm_rng_init(&r, c->seed, ((uint64_t)k << SLOT_BITS) | (uint64_t)j);
        int64_t trec = -1, prec = -1;
        uint8_t dom = 0;
        float lam = 1.0f;
        const xm_xms_set *pset = NULL;
        int is_source_slot = c->mode == XM_PLAN_SOURCE || (c->mode == XM_PLAN_COTRAIN && j >= B);
        if (c->mode == XM_PLAN_EVAL) {
            int64_t q = k * B + j;
            trec = q < g->n_target ? q : -1;
        } else if (is_source_slot) {
            int64_t q = k * B + (j % B);
            const int64_t *perm = pass_perm(&g->perm_a, &g->perm_a_pass, g->n_aux, c->seed,
                                            STREAM_AUX_PASS, q / g->n_aux, err);
            if (!perm) return err->code;
            prec = g->aux[perm[q % g->n_aux]];
            dom = 1;
            lam = 0.0f;
            pset = g->partner;
        } else {
            int64_t q = k * B + j;
            const int64_t *perm = pass_perm(&g->perm_t, &g->perm_t_pass, g->n_target, c->seed,
                                            STREAM_TARGET_PASS, q / g->n_target, err);
            if (!perm) return err->code;
            trec = perm[q % g->n_target];
            if (c->mode == XM_PLAN_MIXUP) {
                prec = (int64_t)xm_rng_below(&r, (uint64_t)g->n_target);
                lam = (float)xm_rng_beta(&r, c->alpha, c->alpha);
                pset = g->target;
            } else if (c->mode == XM_PLAN_XMIXUP || c->mode == XM_PLAN_XMIXUP_NOLABEL) {
                xm_xms_rec tr;
                xm_xms_set_peek(g->target, (uint64_t)trec, &tr);
                prec = draw_partner(g, &r, tr.label);
                dom = 1;
                lam = (float)xm_rng_beta(&r, c->alpha, c->beta);
                pset = g->partner;
            }
        }
        int16_t *cr = rows->crop + (size_t)j * 4;
        uint8_t *fl = rows->flip + (size_t)j * 2;
        int random = c->mode != XM_PLAN_EVAL;
        cr[0] = cr[1] = cr[2] = cr[3] = 0;
        fl[0] = fl[1] = 0;
        int h, w;
        if (trec >= 0) {
            rec_size(g->target, trec, &h, &w);
            cr[0] = crop_at(&r, h, S, c->pad, random);
            cr[1] = crop_at(&r, w, S, c->pad, random);
        }
        if (prec >= 0) {
            rec_size(pset, prec, &h, &w);
            cr[2] = crop_at(&r, h, S, c->pad, random);
            cr[3] = crop_at(&r, w, S, c->pad, random);
        }
        if (c->flip) {
            if (trec >= 0) fl[0] = xm_rng_uniform(&r) < 0.5;
            if (prec >= 0) fl[1] = xm_rng_uniform(&r) < 0.5;
        }
        rows->target_record[j] = trec;
        rows->partner_record[j] = prec;
        rows->partner_domain[j] = dom;
        rows->lambda[j] = lam;
    }
    return 0;
}

/* ---- whole plans ---- */

int xm_plan_alloc(xm_plan *p, int64_t steps, int slots, xm_err *err)
{
    if (steps < 1 || slots < 1 || steps > XM_PLAN_MAX_SLOTS / slots)
        return xm_err_set(err, XM_EUSAGE, "a plan of %lld steps x %d slots: more than %lld slots",
                          (long long)steps, slots, (long long)XM_PLAN_MAX_SLOTS);
    size_t n = (size_t)steps * (size_t)slots;
    p->steps = steps;
    p->slots = slots;
    p->target_record = calloc(n + 1, sizeof *p->target_record);
    p->partner_record = calloc(n + 1, sizeof *p->partner_record);
    p->partner_domain = calloc(n + 1, 1);
    p->lambda = calloc(n + 1, sizeof *p->lambda);
    p->crop = calloc(4 * n + 1, sizeof *p->crop);
    p->flip = calloc(2 * n + 1, 1);
    if (!p->target_record || !p->partner_record || !p->partner_domain || !p->lambda ||
        !p->crop || !p->flip)
        return oom(err);
    return 0;
}

static void free_strs(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

void xm_plan_release(xm_plan *p)
{
    if (!p) return;
    free(p->target_record);
    free(p->partner_record);
    free(p->partner_domain);
    free(p->lambda);
    free(p->crop);
    free(p->flip);
    free_strs(p->target_files, p->n_target_files);
    free_strs(p->partner_files, p->n_partner_files);
    free(p->target_xxh64);
    free(p->partner_xxh64);
    free(p->pairs_file);
    free_strs(p->target_classes, p->n_target_classes);
    free(p->source_classes);
    free_strs(p->source_names, p->n_source);
    memset(p, 0, sizeof *p);
}

xm_plan_rows xm_plan_step_rows(const xm_plan *p, int64_t k)
{
    size_t o = (size_t)k * (size_t)p->slots;
    xm_plan_rows r = {p->target_record + o, p->partner_record + o, p->partner_domain + o,
                      p->lambda + o, p->crop + 4 * o, p->flip + 2 * o};
    return r;
}

static char **copy_classes(const xm_xms_set *s, const int32_t *idx, int n)
{
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < n; i++) {
        const char *name = xm_xms_set_class(s, idx ? idx[i] : i);
        if (!(v[i] = strdup(name ? name : ""))) {
            free_strs(v, i);
            return NULL;
        }
    }
    return v;
}

int xm_plan_generate(xm_plan_gen *g, const xm_xms_set *target, const xm_xms_set *partner,
                     xm_plan *p, xm_err *err)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->cfg = g->cfg;
    p->cfg.input_size = g->size;
    p->cfg.steps = g->steps;
    if ((rc = xm_plan_alloc(p, g->steps, g->slots, err))) return rc;
    for (int64_t k = 0; k < g->steps; k++) {
        xm_plan_rows rows = xm_plan_step_rows(p, k);
        if ((rc = xm_plan_gen_step(g, k, &rows, err))) return rc;
    }
    if (target) {
        p->n_target_classes = xm_xms_set_nclasses(target);
        if (!(p->target_classes = copy_classes(target, NULL, p->n_target_classes)))
            return oom(err);
    }
    if (g->partner && partner && g->n_src > 0) {
        p->n_source = g->n_src;
        p->source_classes = malloc((size_t)g->n_src * sizeof *p->source_classes);
        if (!p->source_classes) return oom(err);
        memcpy(p->source_classes, g->src, (size_t)g->n_src * sizeof *g->src);
        if (!(p->source_names = copy_classes(partner, g->src, g->n_src))) return oom(err);
    }
    return 0;
}
