/* test_plan.c: plan generation statistics, reproducibility, per-step
 * regeneration, file round trip and the auxiliary shard. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_plan.h"
#include "xm_test.h"
#include "xm_xms_out.h"

static char dir[] = "/tmp/xm_test_plan_XXXXXX";

/* n records of side x side x 1, label i % nclass, pixel values from i. */
static void make_xms(const char *name, int n, int nclass, int side, char *path)
{
    xm_err err;
    xm_err_clear(&err);
    snprintf(path, 512, "%s/%s", dir, name);
    xm_xms_out *o = NULL;
    XM_CHECK(xm_xms_out_open(path, 0, 0, NULL, &o, &err) == 0);
    char names[64][16];
    const char *cn[64];
    for (int c = 0; c < nclass; c++) {
        snprintf(names[c], sizeof names[c], "%s%d", name, c);
        cn[c] = names[c];
    }
    XM_CHECK(xm_xms_out_set_classes(o, cn, nclass, &err) == 0);
    uint8_t px[64 * 64];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < side * side; k++) px[k] = (uint8_t)(i * 7 + k);
        XM_CHECK(xm_xms_out_add(o, px, side, side, 1, i % nclass, NULL, &err) == 0);
    }
    XM_CHECKF(xm_xms_out_commit(o, &err) == 0, "%s", err.msg);
    xm_xms_out_free(o);
}

static xm_xms_set *open1(const char *path)
{
    xm_err err;
    xm_xms_set *s = NULL;
    const char *p[1] = {path};
    XM_CHECKF(xm_xms_set_open(p, 1, NULL, &s, &err) == 0, "%s", err.msg);
    return s;
}

/* pairs: t0->s1, t1->s3, t2->{s0, s5}, t3->s2 (s4 unused) */
static const int32_t pt[] = {0, 1, 2, 2, 3};
static const int32_t ps[] = {1, 3, 0, 5, 2};
static const xm_plan_pairs pairs = {5, pt, ps, NULL};

static int paired(int t, int s)
{
    for (int i = 0; i < pairs.n; i++)
        if (pt[i] == t && ps[i] == s) return 1;
    return 0;
}

static int label_of(const xm_xms_set *s, int64_t i)
{
    xm_xms_rec r;
    xm_xms_set_peek(s, (uint64_t)i, &r);
    return r.label;
}

static void gen_plan(const xm_plan_cfg *cfg, const xm_xms_set *t, const xm_xms_set *p,
                     const xm_plan_pairs *pr, xm_plan *out)
{
    xm_err err;
    xm_err_clear(&err);
    xm_plan_gen *g = NULL;
    XM_CHECKF(xm_plan_gen_new(cfg, t, p, pr, &g, &err) == 0, "%s", err.msg);
    XM_CHECKF(g && xm_plan_generate(g, t, p, out, &err) == 0, "%s", err.msg);
    xm_plan_gen_free(g);
}

static int same_rows(const xm_plan *a, const xm_plan *b)
{
    size_t n = (size_t)a->steps * (size_t)a->slots;
    return a->steps == b->steps && a->slots == b->slots &&
           !memcmp(a->target_record, b->target_record, n * 8) &&
           !memcmp(a->partner_record, b->partner_record, n * 8) &&
           !memcmp(a->partner_domain, b->partner_domain, n) &&
           !memcmp(a->lambda, b->lambda, n * 4) && !memcmp(a->crop, b->crop, n * 8) &&
           !memcmp(a->flip, b->flip, n * 2);
}

static void test_xmixup(const xm_xms_set *t, const xm_xms_set *p)
{
    xm_plan_cfg cfg;
    xm_plan_cfg_default(&cfg);
    cfg.mode = XM_PLAN_XMIXUP;
    cfg.steps = 500;
    cfg.batch = 16;
    cfg.alpha = 2.0;
    cfg.beta = 1.0;
    cfg.seed = 42;
    cfg.input_size = 8;
    cfg.pad = 2;
    xm_plan plan;
    gen_plan(&cfg, t, p, &pairs, &plan);
    const size_t n = (size_t)plan.steps * plan.slots;
    XM_CHECK(plan.slots == 16 && plan.cfg.input_size == 8);
    /* mean lambda of Beta(2, 1) is 2/3; its sd is sqrt(2/36) = 0.236, so
     * with 8000 draws the standard error is 0.0026: allow 5 of them */
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += plan.lambda[i];
    double mean = sum / (double)n;
    XM_CHECKF(fabs(mean - 2.0 / 3.0) < 0.013, "mean lambda %.4f, expected 0.6667", mean);
    /* every partner from a source class paired with its target's class */
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (plan.partner_domain[i] != 1 ||
            !paired(label_of(t, plan.target_record[i]), label_of(p, plan.partner_record[i])))
            bad++;
    XM_CHECKF(bad == 0, "%d partners not from a paired class", bad);
    /* target records once per pass: 40 records, 200 full passes */
    int nt = (int)xm_xms_set_count(t);
    int counts[64];
    for (size_t pass = 0; pass < n / nt; pass++) {
        memset(counts, 0, sizeof counts);
        for (int q = 0; q < nt; q++) counts[plan.target_record[pass * nt + q]]++;
        for (int r = 0; r < nt; r++) XM_CHECKF(counts[r] == 1, "pass %zu record %d: %d times", pass, r, counts[r]);
    }
    /* passes differ (the shuffle is keyed by the pass) */
    XM_CHECK(memcmp(plan.target_record, plan.target_record + nt, nt * 8) != 0);
    /* crops within [-pad, stored - size + pad], every offset reached; flips ~ half */
    int seen_t[16] = {0}, seen_p[16] = {0}, flips = 0;
    for (size_t i = 0; i < n; i++) {
        const int16_t *c = plan.crop + 4 * i;
        XM_CHECK(c[0] >= -2 && c[0] <= 4 && c[1] >= -2 && c[1] <= 4);
        XM_CHECK(c[2] >= -2 && c[2] <= 6 && c[3] >= -2 && c[3] <= 6);
        seen_t[c[0] + 2] = 1;
        seen_p[c[3] + 2] = 1;
        flips += plan.flip[2 * i] + plan.flip[2 * i + 1];
    }
    for (int k = 0; k <= 6; k++) XM_CHECK(seen_t[k]);
    for (int k = 0; k <= 8; k++) XM_CHECK(seen_p[k]);
    /* 16000 fair coins: sd 63 */
    XM_CHECKF(abs(flips - (int)n) < 400, "flips %d of %zu", flips, 2 * n);
    /* source head: the paired classes, ascending */
    XM_CHECK(plan.n_source == 5);
    const int32_t want[5] = {0, 1, 2, 3, 5};
    XM_CHECK(plan.source_classes && !memcmp(plan.source_classes, want, sizeof want));
    XM_CHECK(plan.source_names && !strcmp(plan.source_names[4], "src5"));

    /* any step regenerated alone equals the full plan's step */
    xm_err err;
    xm_err_clear(&err);
    xm_plan_gen *g = NULL;
    XM_CHECK(xm_plan_gen_new(&cfg, t, p, &pairs, &g, &err) == 0);
    xm_plan one;
    memset(&one, 0, sizeof one);
    XM_CHECK(xm_plan_alloc(&one, 1, plan.slots, &err) == 0);
    const int64_t steps[] = {377, 3, 499, 0, 2, 250};
    for (int i = 0; i < 6; i++) {
        xm_plan_rows r = xm_plan_step_rows(&one, 0);
        XM_CHECK(xm_plan_gen_step(g, steps[i], &r, &err) == 0);
        xm_plan_rows f = xm_plan_step_rows(&plan, steps[i]);
        XM_CHECKF(!memcmp(r.target_record, f.target_record, 16 * 8) &&
                      !memcmp(r.partner_record, f.partner_record, 16 * 8) &&
                      !memcmp(r.lambda, f.lambda, 16 * 4) && !memcmp(r.crop, f.crop, 16 * 8) &&
                      !memcmp(r.flip, f.flip, 16 * 2),
                  "step %lld regenerated alone differs", (long long)steps[i]);
    }
    xm_plan_release(&one);
    xm_plan_gen_free(g);

    /* same seed -> identical plan file datasets; another seed differs */
    char f1[512], f2[512];
    snprintf(f1, sizeof f1, "%s/a.h5", dir);
    snprintf(f2, sizeof f2, "%s/b.h5", dir);
    xm_plan again, other, l1, l2;
    gen_plan(&cfg, t, p, &pairs, &again);
    XM_CHECK(xm_plan_save(&plan, f1, 0, &err) == 0);
    XM_CHECK(xm_plan_save(&again, f2, 0, &err) == 0);
    XM_CHECKF(xm_plan_load(f1, &l1, &err) == 0, "%s", err.msg);
    XM_CHECKF(xm_plan_load(f2, &l2, &err) == 0, "%s", err.msg);
    XM_CHECK(same_rows(&l1, &l2) && same_rows(&l1, &plan));
    XM_CHECK(l1.cfg.mode == XM_PLAN_XMIXUP && l1.cfg.alpha == 2.0 && l1.cfg.seed == 42 &&
             l1.cfg.input_size == 8 && l1.cfg.pad == 2 && l1.cfg.batch == 16);
    XM_CHECK(l1.n_source == 5 && !memcmp(l1.source_classes, want, sizeof want));
    XM_CHECK(l1.n_target_classes == 4 && !strcmp(l1.target_classes[3], "tgt3"));
    /* an existing output is refused without force */
    XM_CHECK(xm_plan_save(&plan, f1, 0, &err) == XM_ECANTCREAT);
    cfg.seed = 43;
    gen_plan(&cfg, t, p, &pairs, &other);
    XM_CHECK(!same_rows(&other, &plan));
    xm_plan_release(&again);
    xm_plan_release(&other);
    xm_plan_release(&l1);
    xm_plan_release(&l2);

    /* --aux-out: the shard holds just the paired classes' records; a plan
     * over it draws the same samples in the shard's numbering */
    char auxp[512];
    snprintf(auxp, sizeof auxp, "%s/aux.xms", dir);
    cfg.seed = 42;
    XM_CHECK(xm_plan_gen_new(&cfg, t, p, &pairs, &g, &err) == 0);
    int64_t naux;
    const int64_t *aux = xm_plan_gen_aux_records(g, &naux);
    XM_CHECK(naux == 50); /* 60 records, class 4 (10 records) unused */
    XM_CHECKF(xm_plan_write_aux(p, aux, naux, auxp, 0, &err) == 0, "%s", err.msg);
    xm_xms_set *a = open1(auxp);
    xm_plan pa;
    gen_plan(&cfg, t, a, &pairs, &pa);
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= aux[pa.partner_record[i]] == plan.partner_record[i] &&
                pa.lambda[i] == plan.lambda[i] && pa.target_record[i] == plan.target_record[i];
    XM_CHECK(same);
    xm_plan_release(&pa);
    xm_xms_set_close(a);
    xm_plan_gen_free(g);
    xm_plan_release(&plan);
}

static void test_modes(const xm_xms_set *t, const xm_xms_set *p)
{
    xm_err err;
    xm_err_clear(&err);
    xm_plan_cfg cfg;
    xm_plan_cfg_default(&cfg);
    cfg.steps = 400;
    cfg.batch = 10;
    cfg.seed = 7;
    cfg.alpha = 0.4;
    /* mixup: partners from the target set, Beta(a, a) has mean 1/2
     * (sd 0.375 for a = 0.4: 4000 draws, se 0.006) */
    cfg.mode = XM_PLAN_MIXUP;
    xm_plan m;
    gen_plan(&cfg, t, NULL, NULL, &m);
    double sum = 0;
    int ok = 1;
    for (size_t i = 0; i < 4000; i++) {
        sum += m.lambda[i];
        ok &= m.partner_domain[i] == 0 && m.partner_record[i] >= 0 && m.partner_record[i] < 40;
    }
    XM_CHECK(ok);
    XM_CHECKF(fabs(sum / 4000 - 0.5) < 0.03, "mixup mean lambda %.4f", sum / 4000);
    XM_CHECK(m.cfg.input_size == 10 && m.n_source == 0);
    xm_plan_release(&m);

    /* none: lambda 1, no partner */
    cfg.mode = XM_PLAN_NONE;
    gen_plan(&cfg, t, NULL, NULL, &m);
    ok = 1;
    for (size_t i = 0; i < 4000; i++) ok &= m.lambda[i] == 1.0f && m.partner_record[i] == -1;
    XM_CHECK(ok);
    xm_plan_release(&m);

    /* cotrain: B target slots then B pure source slots; source slots cover
     * the auxiliary set once per pass */
    cfg.mode = XM_PLAN_COTRAIN;
    gen_plan(&cfg, t, p, &pairs, &m);
    XM_CHECK(m.slots == 20 && m.n_source == 5);
    ok = 1;
    int cnt[64] = {0};
    for (int64_t k = 0; k < 5; k++) /* 50 source slots: one pass */
        for (int j = 0; j < 20; j++) {
            size_t i = (size_t)k * 20 + j;
            if (j < 10)
                ok &= m.target_record[i] >= 0 && m.partner_record[i] == -1 && m.lambda[i] == 1.0f;
            else {
                ok &= m.target_record[i] == -1 && m.partner_domain[i] == 1 && m.lambda[i] == 0.0f;
                cnt[m.partner_record[i]]++;
            }
        }
    XM_CHECK(ok);
    for (int r = 0; r < 60; r++) XM_CHECKF(cnt[r] == (r % 6 == 4 ? 0 : 1), "aux record %d: %d", r, cnt[r]);
    xm_plan_release(&m);

    /* source without pairs: every partner class */
    cfg.mode = XM_PLAN_SOURCE;
    gen_plan(&cfg, NULL, p, NULL, &m);
    XM_CHECK(m.slots == 10 && m.n_source == 6 && m.cfg.input_size == 12);
    xm_plan_release(&m);

    /* eval: records in order, center crops, empty slots after the end */
    cfg.mode = XM_PLAN_EVAL;
    cfg.steps = 0;
    cfg.batch = 16;
    cfg.input_size = 7;
    gen_plan(&cfg, t, NULL, NULL, &m);
    XM_CHECK(m.steps == 3);
    ok = 1;
    for (int i = 0; i < 48; i++) {
        ok &= m.target_record[i] == (i < 40 ? i : -1) && m.partner_record[i] == -1;
        /* torchvision: round((10 - 7) / 2) = round(1.5) = 2 */
        if (i < 40) ok &= m.crop[4 * i] == 2 && m.crop[4 * i + 1] == 2 && m.flip[2 * i] == 0;
    }
    XM_CHECK(ok);
    xm_plan_release(&m);

    /* a target class without a paired source class is refused */
    xm_plan_pairs few = {2, pt, ps, NULL};
    cfg.mode = XM_PLAN_XMIXUP;
    cfg.steps = 2;
    xm_plan_gen *g = NULL;
    XM_CHECK(xm_plan_gen_new(&cfg, t, p, &few, &g, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "tgt2") != NULL, "%s", err.msg);
    xm_err_clear(&err);
    XM_CHECK(xm_plan_gen_new(&cfg, t, p, NULL, &g, &err) == XM_EUSAGE);
    xm_err_clear(&err);
    const int32_t badsrc[1] = {9}, badt[1] = {0};
    xm_plan_pairs bad = {1, badt, badsrc, NULL};
    XM_CHECK(xm_plan_gen_new(&cfg, t, p, &bad, &g, &err) == XM_EDATA);
}

int main(void)
{
    if (!mkdtemp(dir)) return xm_test_skip("mkdtemp failed");
    char tp[512], pp[512];
    make_xms("tgt", 40, 4, 10, tp);
    make_xms("src", 60, 6, 12, pp);
    xm_xms_set *t = open1(tp), *p = open1(pp);
    if (t && p) {
        test_xmixup(t, p);
        test_modes(t, p);
    }
    xm_xms_set_close(t);
    xm_xms_set_close(p);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return xm_test_finish();
}
