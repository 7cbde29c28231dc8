/* test_train.c: xm-train's library against PyTorch (tests/refs/train_ref.h5,
 * written by tests/refs/make_train_refs.py): a hand-written 3-step xmixup
 * plan on a ResNet-20 in three configurations (joint + l2 with head lr and
 * a milestone, split + l2sp, joint + bss); resume exactness (stop after
 * step 1, resume: bit-identical weights); BSS gradient by finite
 * differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_net_ref.h"
#include "xm_atomic.h"
#include "xm_hash.h"
#include "xm_model.h"
#include "xm_plan.h"
#include "xm_train.h"
#include "xm_xms_out.h"

static char dir[] = "/tmp/xm_test_train_XXXXXX";
static char tgt_path[512], src_path[512], model_path[512], plan_path[512];

enum { NT = 3, NS = 4, SIZE = 8, SLOTS = 4, STEPS = 3 };

static const int64_t TREC[3][4] = {{0, 1, 2, 3}, {4, 5, 0, 1}, {2, 3, 4, 5}};
static const int64_t PREC[3][4] = {{1, 2, 3, 0}, {5, 6, 7, 4}, {3, 1, 0, 2}};
static const float LAM[3][4] = {{0.7f, 0.3f, 0.5f, 0.9f}, {0.2f, 0.6f, 0.8f, 0.4f},
                                {0.55f, 0.45f, 0.65f, 0.35f}};

static void make_xms(const char *path, int n, int side, int a, int b, int c, int nclass,
                     const char *prefix)
{
    xm_err err;
    xm_err_clear(&err);
    xm_xms_out *o = NULL;
    XM_CHECK(xm_xms_out_open(path, 0, XM_ATOMIC_FORCE, NULL, &o, &err) == 0);
    char names[8][24];
    const char *cn[8];
    for (int k = 0; k < nclass; k++) {
        snprintf(names[k], sizeof names[k], "%s%d", prefix, k);
        cn[k] = names[k];
    }
    XM_CHECK(xm_xms_out_set_classes(o, cn, nclass, &err) == 0);
    uint8_t px[144];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < side * side; k++) px[k] = (uint8_t)((i * a + k * b + c) % 256);
        XM_CHECK(xm_xms_out_add(o, px, side, side, 1, i % nclass, NULL, &err) == 0);
    }
    XM_CHECKF(xm_xms_out_commit(o, &err) == 0, "%s", err.msg);
    xm_xms_out_free(o);
}

static char **names(const char *prefix, int n)
{
    char **v = calloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++) {
        v[i] = malloc(24);
        snprintf(v[i], 24, "%s%d", prefix, i);
    }
    return v;
}

static int make_inputs(void)
{
    xm_err err;
    xm_err_clear(&err);
    snprintf(tgt_path, sizeof tgt_path, "%s/tgt.xms", dir);
    snprintf(src_path, sizeof src_path, "%s/src.xms", dir);
    snprintf(model_path, sizeof model_path, "%s/model.h5", dir);
    snprintf(plan_path, sizeof plan_path, "%s/plan.h5", dir);
    make_xms(tgt_path, 6, 10, 37, 11, 5, 3, "t");
    make_xms(src_path, 8, 12, 53, 7, 101, 4, "s");

    /* the model: the reference generator's weights, classes t*, source s* */
    xm_backend_cfg bc = {1, 0, XM_PREC_F32, 0};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    xm_net_cfg nc = {"resnet20", 1, SIZE, NT, NS};
    xm_net *net = be ? xm_net_new(be, &nc, &err) : NULL;
    XM_CHECKF(net != NULL, "%s", err.msg);
    if (!net) return 1;
    XM_CHECK(ref_load_weights(net, be, &err) == 0);
    xm_model_meta m;
    xm_model_meta_default(&m, &nc);
    m.classes = names("t", NT);
    m.source_names = names("s", NS);
    XM_CHECKF(xm_model_save(net, &m, model_path, XM_MODEL_FORCE, &err) == 0, "%s", err.msg);
    xm_model_meta_release(&m);
    xm_net_free(net);
    xm_backend_free(be);

    /* the hand-written plan (the script has the same numbers) */
    xm_plan p;
    memset(&p, 0, sizeof p);
    xm_plan_cfg_default(&p.cfg);
    p.cfg.mode = XM_PLAN_XMIXUP;
    p.cfg.steps = STEPS;
    p.cfg.batch = SLOTS;
    p.cfg.input_size = SIZE;
    XM_CHECK(xm_plan_alloc(&p, STEPS, SLOTS, &err) == 0);
    for (int s = 0; s < STEPS; s++)
        for (int j = 0; j < SLOTS; j++) {
            size_t i = (size_t)s * SLOTS + j;
            p.target_record[i] = TREC[s][j];
            p.partner_record[i] = PREC[s][j];
            p.partner_domain[i] = 1;
            p.lambda[i] = LAM[s][j];
            p.crop[4 * i + 0] = (int16_t)((s + j) % 5 - 1);
            p.crop[4 * i + 1] = (int16_t)((2 * s + j) % 5 - 2);
            p.crop[4 * i + 2] = (int16_t)((3 * j + s) % 7 - 1);
            p.crop[4 * i + 3] = (int16_t)((s + 2 * j) % 8 - 2);
            p.flip[2 * i + 0] = (uint8_t)((s + j) % 2);
            p.flip[2 * i + 1] = (uint8_t)((s * j) % 2);
        }
    p.n_target_files = p.n_partner_files = 1;
    p.target_files = names("", 1);
    p.partner_files = names("", 1);
    free(p.target_files[0]);
    free(p.partner_files[0]);
    p.target_files[0] = strdup("tgt.xms"); /* relative: found next to the plan */
    p.partner_files[0] = strdup(src_path);
    p.target_xxh64 = calloc(1, 8);
    p.partner_xxh64 = calloc(1, 8);
    XM_CHECK(xm_hash_file(tgt_path, p.target_xxh64, &err) == 0);
    XM_CHECK(xm_hash_file(src_path, p.partner_xxh64, &err) == 0);
    p.n_target_classes = NT;
    p.target_classes = names("t", NT);
    p.n_source = NS;
    p.source_classes = calloc(NS, sizeof(int32_t));
    for (int i = 0; i < NS; i++) p.source_classes[i] = i;
    p.source_names = names("s", NS);
    XM_CHECKF(xm_plan_save(&p, plan_path, XM_ATOMIC_FORCE, &err) == 0, "%s", err.msg);
    xm_plan_release(&p);
    return 0;
}

typedef struct losses {
    double v[16];
    int n;
} losses;

static void on_event(void *ctx, const xm_train_event *ev)
{
    losses *l = ctx;
    if (ev->kind == XM_TRAIN_EV_STEP && l->n < 16) l->v[l->n++] = ev->loss;
}

static void base_cfg(xm_train_cfg *c, const char *out)
{
    xm_train_cfg_default(c);
    c->model_path = model_path;
    c->plan_path = plan_path;
    c->out_path = out;
    c->force = 1;
    c->threads = 1;
    c->lr = 0.05;
    c->wd = 5e-4;
    c->sched = XM_SCHED_CONSTANT;
    c->log_every = 1;
}

/* Compare the output model with the reference group. */
static void compare(const char *out, const char *ref_path, const char *gname, const losses *l,
                    double tol)
{
    xm_err err;
    xm_err_clear(&err);
    hid_t rf = xm_h5_open(ref_path, 0, &err), of = xm_h5_open(out, 0, &err);
    XM_CHECKF(rf >= 0 && of >= 0, "%s", err.msg);
    if (rf < 0 || of < 0) return;
    hid_t g = xm_h5_group_open(rf, gname, &err);
    double want[3];
    const int64_t d3[1] = {3};
    XM_CHECK(xm_h5_read(g, "losses", XM_H5_F64, 1, d3, want, &err) == 0);
    XM_CHECK(l->n == 3);
    for (int i = 0; i < 3 && i < l->n; i++)
        XM_CHECKF(fabs(l->v[i] - want[i]) <= 1e-4 * fabs(want[i]) + 1e-6,
                  "%s: loss of step %d: %.7f, PyTorch %.7f", gname, i + 1, l->v[i], want[i]);
    char **ds = NULL;
    int64_t nd = 0;
    XM_CHECK(xm_h5_list_datasets(of, &ds, &nd, &err) == 0);
    double worst = 0;
    char worst_name[96] = "";
    int compared = 0;
    for (int64_t k = 0; k < nd; k++) {
        char full[160], idx[160], val[160];
        snprintf(full, sizeof full, "full/%s", ds[k]);
        snprintf(idx, sizeof idx, "idx/%s", ds[k]);
        snprintf(val, sizeof val, "val/%s", ds[k]);
        if (strstr(ds[k], "num_batches_tracked")) {
            int64_t a = -1, b = -2;
            char in[160];
            snprintf(in, sizeof in, "int/%s", ds[k]);
            XM_CHECK(xm_h5_read(of, ds[k], XM_H5_I64, 0, NULL, &a, &err) == 0 &&
                     xm_h5_read(g, in, XM_H5_I64, 0, NULL, &b, &err) == 0 && a == b);
            continue;
        }
        int64_t dims[XM_H5_MAX_RANK], n = 1;
        float *got = xm_h5_read_alloc(of, ds[k], XM_H5_F32, -1, NULL, dims, &err);
        int r;
        int64_t sd[XM_H5_MAX_RANK];
        xm_h5_shape(of, ds[k], &r, sd, &err);
        for (int i = 0; i < r; i++) n *= sd[i];
        double e;
        if (xm_h5_exists(g, full)) {
            int64_t dn[1] = {n};
            float *w = malloc((size_t)n * sizeof *w);
            XM_CHECK(xm_h5_read(g, full, XM_H5_F32, 1, dn, w, &err) == 0);
            e = xm_test_rel_err(got, w, (size_t)n);
            free(w);
        } else {
            int64_t ids[256], dn[1] = {256};
            float w[256], gv[256];
            XM_CHECKF(xm_h5_read(g, idx, XM_H5_I64, 1, dn, ids, &err) == 0, "%s", err.msg);
            XM_CHECK(xm_h5_read(g, val, XM_H5_F32, 1, dn, w, &err) == 0);
            for (int i = 0; i < 256; i++) gv[i] = got[ids[i]];
            e = xm_test_rel_err(gv, w, 256);
        }
        compared++;
        if (e > worst) {
            worst = e;
            snprintf(worst_name, sizeof worst_name, "%s", ds[k]);
        }
        XM_CHECKF(e <= tol, "%s: %s: relative error %.3g > %.3g", gname, ds[k], e, tol);
        free(got);
    }
    printf("%s: %d tensors, worst relative error %.3g (%s), losses %.6f %.6f %.6f\n", gname,
           compared, worst, worst_name, l->v[0], l->v[1], l->v[2]);
    XM_CHECK(compared > 60);
    xm_h5_strings_free(ds, nd);
    H5Gclose(g);
    xm_h5_close(rf, NULL);
    xm_h5_close(of, NULL);
}

static void test_refs(const char *ref)
{
    xm_err err;
    xm_err_clear(&err);
    char out[600];
    int early = 0;
    xm_train_cfg c;
    losses l;

    snprintf(out, sizeof out, "%s/joint_l2.h5", dir);
    base_cfg(&c, out);
    c.head_lr_mult = 2.0;
    c.sched = XM_SCHED_MULTISTEP;
    c.n_milestones = 1;
    c.milestones[0] = 2;
    memset(&l, 0, sizeof l);
    XM_CHECKF(xm_train_run(&c, on_event, &l, &early, &err) == 0, "%s", err.msg);
    compare(out, ref, "joint_l2", &l, 2e-4);

    snprintf(out, sizeof out, "%s/split_l2sp.h5", dir);
    base_cfg(&c, out);
    c.label_mode = XM_LABEL_SPLIT;
    c.reg = XM_REG_L2SP;
    memset(&l, 0, sizeof l);
    xm_err_clear(&err);
    XM_CHECKF(xm_train_run(&c, on_event, &l, &early, &err) == 0, "%s", err.msg);
    compare(out, ref, "split_l2sp", &l, 2e-4);

    snprintf(out, sizeof out, "%s/joint_bss.h5", dir);
    base_cfg(&c, out);
    c.reg = XM_REG_BSS;
    c.bss_k = 1;
    c.bss_eta = 0.5;
    memset(&l, 0, sizeof l);
    xm_err_clear(&err);
    XM_CHECKF(xm_train_run(&c, on_event, &l, &early, &err) == 0, "%s", err.msg);
    compare(out, ref, "joint_bss", &l, 2e-4);
}

/* Every dataset of two files bit-identical. */
static int same_files(const char *a, const char *b)
{
    xm_err err;
    xm_err_clear(&err);
    hid_t fa = xm_h5_open(a, 0, &err), fb = xm_h5_open(b, 0, &err);
    char **ds = NULL;
    int64_t nd = 0;
    int same = fa >= 0 && fb >= 0 && xm_h5_list_datasets(fa, &ds, &nd, &err) == 0 && nd > 60;
    for (int64_t k = 0; same && k < nd; k++) {
        int64_t da[XM_H5_MAX_RANK], db[XM_H5_MAX_RANK];
        if (strstr(ds[k], "num_batches_tracked")) {
            int64_t x = 0, y = 1;
            same = !xm_h5_read(fa, ds[k], XM_H5_I64, 0, NULL, &x, &err) &&
                   !xm_h5_read(fb, ds[k], XM_H5_I64, 0, NULL, &y, &err) && x == y;
            continue;
        }
        float *x = xm_h5_read_alloc(fa, ds[k], XM_H5_F32, -1, NULL, da, &err);
        float *y = xm_h5_read_alloc(fb, ds[k], XM_H5_F32, -1, NULL, db, &err);
        int r;
        int64_t sd[XM_H5_MAX_RANK], n = 1;
        xm_h5_shape(fa, ds[k], &r, sd, &err);
        for (int i = 0; i < r; i++) n *= sd[i];
        same = x && y && !memcmp(x, y, (size_t)n * sizeof *x);
        if (!same) fprintf(stderr, "differs: %s\n", ds[k]);
        free(x);
        free(y);
    }
    xm_h5_strings_free(ds, nd);
    xm_h5_close(fa, NULL);
    xm_h5_close(fb, NULL);
    return same;
}

static void test_resume(void)
{
    xm_err err;
    xm_err_clear(&err);
    char full[600], part[600], ck[600];
    int early = 0;
    xm_train_cfg c;
    snprintf(full, sizeof full, "%s/full.h5", dir);
    snprintf(part, sizeof part, "%s/part.h5", dir);
    snprintf(ck, sizeof ck, "%s/part.ckpt.h5", dir);
    base_cfg(&c, full);
    c.threads = 2;
    c.reg = XM_REG_L2SP; /* exercises momentum and w0 in the checkpoint */
    c.nesterov = 1;
    XM_CHECKF(xm_train_run(&c, NULL, NULL, &early, &err) == 0 && !early, "%s", err.msg);
    base_cfg(&c, part);
    c.threads = 2;
    c.reg = XM_REG_L2SP;
    c.nesterov = 1;
    c.stop_after = 1;
    XM_CHECKF(xm_train_run(&c, NULL, NULL, &early, &err) == 0 && early, "%s", err.msg);
    FILE *f = fopen(part, "r");
    XM_CHECKF(f == NULL, "--stop-after must not write the final model");
    if (f) fclose(f);
    hid_t h = xm_h5_open(ck, 0, &err);
    int64_t step = -1;
    hid_t g = h >= 0 ? xm_h5_group_open(h, "train", &err) : -1;
    XM_CHECK(g >= 0 && xm_h5_attr_read_i64(g, "step", &step, &err) == 0 && step == 1);
    if (g >= 0) H5Gclose(g);
    xm_h5_close(h, NULL);
    c.stop_after = 0;
    c.resume_path = ck;
    c.model_path = NULL;
    XM_CHECKF(xm_train_run(&c, NULL, NULL, &early, &err) == 0 && !early, "%s", err.msg);
    XM_CHECKF(same_files(full, part), "resumed run differs from the uninterrupted one");
    /* resuming an l2sp checkpoint as l2 is fine; a plain model is not a
     * checkpoint */
    xm_err_clear(&err);
    c.resume_path = full;
    XM_CHECK(xm_train_run(&c, NULL, NULL, &early, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "not a training checkpoint") != NULL, "%s", err.msg);
}

/* Finite differences of the BSS loss w.r.t. the features. */
static void test_bss(void)
{
    xm_err err;
    xm_err_clear(&err);
    const int shapes[3][3] = {{5, 3, 1}, {3, 6, 2}, {4, 4, 1}};
    for (int s = 0; s < 3; s++) {
        int n = shapes[s][0], d = shapes[s][1], k = shapes[s][2];
        float f[64], df[64], tmp[64], junk[64];
        for (int i = 0; i < n * d; i++) f[i] = (float)sin(1.3 * i + s) + 0.1f * (float)i;
        double l0;
        XM_CHECK(xm_bss_grad(f, n, d, k, 0.7, &l0, df, &err) == 0);
        double worst = 0;
        for (int i = 0; i < n * d; i++) {
            double lp, lm;
            const float h = 1e-2f;
            memcpy(tmp, f, sizeof tmp);
            tmp[i] += h;
            xm_bss_grad(tmp, n, d, k, 0.7, &lp, junk, &err);
            memcpy(tmp, f, sizeof tmp);
            tmp[i] -= h;
            xm_bss_grad(tmp, n, d, k, 0.7, &lm, junk, &err);
            double fd = (lp - lm) / (2.0 * h);
            double e = fabs(fd - df[i]) / (fabs(fd) + 1e-3);
            if (e > worst) worst = e;
        }
        XM_CHECKF(worst < 2e-2, "bss %dx%d k=%d: finite-difference error %.3g", n, d, k, worst);
    }
    /* a repeated eigenvalue at the boundary: the gradient is symmetric
     * (orthogonal rows of equal norm: F F^T = 4 I) */
    float f[8] = {1, 1, 1, 1, 1, -1, 1, -1}, df[8];
    double l;
    XM_CHECK(xm_bss_grad(f, 2, 4, 1, 1.0, &l, df, &err) == 0);
    XM_CHECKF(fabs(l - 4.0) < 1e-9, "bss loss %.9f, want 4", l);
    /* each row gets half the weight: dF = 2 * 0.5 * F */
    for (int i = 0; i < 8; i++) XM_CHECKF(fabs(df[i] - f[i]) < 1e-5, "df[%d] = %g", i, df[i]);
}

int main(void)
{
    const char *ref = xm_test_path("refs/train_ref.h5");
    FILE *rf = fopen(ref, "rb");
    if (!rf) return xm_test_skip("tests/refs/train_ref.h5 missing");
    fclose(rf);
    if (!mkdtemp(dir)) return xm_test_skip("mkdtemp failed");
    test_bss();
    if (make_inputs() == 0) {
        test_refs(ref);
        test_resume();
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (xm_test_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return xm_test_finish();
}
