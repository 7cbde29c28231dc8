/* test_net_ref.h: shared by the network tests: the reference weight
 * generator (the C twin of ref_weights() in scripts/make_torch_refs.py) and
 * the comparison of a network against a PyTorch reference file.
 * Header-only (static functions) because each test is one executable. */
#ifndef XM_TEST_NET_REF_H
#define XM_TEST_NET_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_backend.h"
#include "xm_h5.h"
#include "xm_net.h"
#include "xm_test.h"

/* hash_u of the script: n floats in [-1, 1) for tensor number t. */
static inline float ref_hash_u(uint32_t t, uint32_t i)
{
    uint32_t h = i * 0x9E3779B1u + (t + 1u) * 0x85EBCA77u;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return (float)(h >> 8) * 0x1p-23f - 1.0f;
}

/* Fill host slabs w (n_w), buf (n_buf) as ref_weights() does; the tensor
 * number is the index in the parameter table, which is state_dict order. */
static inline void ref_weights(const xm_net *net, float *w, float *buf)
{
    int np;
    const xm_param *ps = xm_net_params(net, &np);
    for (int t = 0; t < np; t++) {
        const xm_param *p = &ps[t];
        float *dst = p->trainable ? w + p->offset : buf + p->offset;
        float scale = 1.0f;
        switch (p->kind) {
        case XM_PK_CONV_W:
            scale = (float)sqrt(6.0 / (double)(p->shape[1] * p->shape[2] * p->shape[3]));
            break;
        case XM_PK_LINEAR_W: scale = (float)(1.0 / sqrt((double)p->shape[1])); break;
        case XM_PK_LINEAR_B: scale = (float)(1.0 / sqrt((double)ps[t - 1].shape[1])); break;
        default: break;
        }
        for (size_t i = 0; i < p->count && p->kind != XM_PK_BN_COUNT; i++) {
            float u = ref_hash_u((uint32_t)t, (uint32_t)i);
            switch (p->kind) {
            case XM_PK_CONV_W:
            case XM_PK_LINEAR_W:
            case XM_PK_LINEAR_B: dst[i] = u * scale; break;
            case XM_PK_BN_W: dst[i] = 1.0f + u * 0.25f; break;
            case XM_PK_BN_B:
            case XM_PK_BN_MEAN: dst[i] = u * 0.125f; break;
            case XM_PK_BN_VAR: dst[i] = 1.25f + u * 0.25f; break;
            default: break;
            }
        }
    }
}

/* Set the generated weights, zero momentum and counters. */
static inline int ref_load_weights(xm_net *net, xm_backend *be, xm_err *err)
{
    const xm_net_slabs *s = xm_net_slabs_get(net);
    float *w = malloc(s->n_w * sizeof(float)), *buf = malloc((s->n_buf + 1) * sizeof(float));
    ref_weights(net, w, buf);
    int rc = xm_net_set_weights(net, w, buf, err);
    free(w);
    free(buf);
    memset(s->nbt, 0, (size_t)s->n_bn * sizeof(int64_t));
    if (!rc && s->mom) rc = be->ops->memset0(be, s->mom, s->n_w * sizeof(float), err);
    return rc;
}

/* ---- comparing a network with a reference file ---- */

typedef struct ref_file {
    hid_t f;
    const char *path;
    float worst;       /* largest relative error seen (for the log) */
    char worst_name[192];
} ref_file;

static inline float *ref_read(ref_file *r, const char *name, int64_t *count)
{
    xm_err err = {0};
    int64_t d[XM_H5_MAX_RANK];
    float *v = xm_h5_read_alloc(r->f, name, XM_H5_F32, -1, NULL, d, &err);
    XM_CHECKF(v != NULL, "%s", err.msg);
    if (count) {
        *count = 1;
        for (int i = 0; i < XM_H5_MAX_RANK; i++) *count *= d[i];
    }
    return v;
}

static inline void ref_note(ref_file *r, const char *name, double e)
{
    if (e > r->worst) {
        r->worst = (float)e;
        snprintf(r->worst_name, sizeof r->worst_name, "%s", name);
    }
}

/* Compare n values at host pointer got with dataset name. */
static inline void ref_cmp(ref_file *r, const char *name, const float *got, size_t n, double tol)
{
    int64_t cnt = 0;
    float *want = ref_read(r, name, &cnt);
    if (!want) return;
    XM_CHECKF((size_t)cnt == n, "%s: %lld values in the reference, %zu computed", name,
              (long long)cnt, n);
    if ((size_t)cnt == n) {
        double e = xm_test_rel_err(got, want, n);
        ref_note(r, name, e);
        XM_CHECKF(e <= tol, "%s: relative error %.3g > %.3g", name, e, tol);
    }
    free(want);
}

static inline void ref_cmp_tensor(ref_file *r, xm_backend *be, const char *name, const xm_tensor *t,
                           double tol)
{
    xm_err err = {0};
    size_t n = xm_tensor_count(t);
    float *h = malloc(n * sizeof(float));
    XM_CHECKF(be->ops->download_f32(be, t, h, &err) == 0, "%s", err.msg);
    ref_cmp(r, name, h, n, tol);
    free(h);
}

/* Compare every tensor of one kind (trainable params from slab, or running
 * stats from buf) with group/<name>, full or at sample_idx/<name>. */
static inline void ref_cmp_group(ref_file *r, const xm_net *net, const char *group, const float *slab,
                          int trainable, const char *norm_group, double tol)
{
    int np;
    const xm_param *ps = xm_net_params(net, &np);
    for (int i = 0; i < np; i++) {
        const xm_param *p = &ps[i];
        if (p->kind == XM_PK_BN_COUNT || p->trainable != trainable) continue;
        char name[160], iname[160];
        snprintf(name, sizeof name, "%s/%s", group, p->name);
        snprintf(iname, sizeof iname, "sample_idx/%s", p->name);
        int64_t cnt = 0;
        float *want = ref_read(r, name, &cnt);
        if (!want) continue;
        const float *got = slab + p->offset;
        float *picked = NULL;
        if ((size_t)cnt != p->count) {
            xm_err err = {0};
            int64_t d[XM_H5_MAX_RANK];
            int64_t *idx = xm_h5_read_alloc(r->f, iname, XM_H5_I64, 1, NULL, d, &err);
            XM_CHECKF(idx && d[0] == cnt, "%s: no sample indices (%s)", name, err.msg);
            if (!idx || d[0] != cnt) {
                free(idx);
                free(want);
                continue;
            }
            picked = malloc((size_t)cnt * sizeof(float));
            for (int64_t k = 0; k < cnt; k++) picked[k] = got[idx[k]];
            got = picked;
            free(idx);
        }
        double e = xm_test_rel_err(got, want, (size_t)cnt);
        ref_note(r, name, e);
        XM_CHECKF(e <= tol, "%s: relative error %.3g > %.3g", name, e, tol);
        if (norm_group) {
            char nname[160];
            snprintf(nname, sizeof nname, "%s/%s", norm_group, p->name);
            double want_norm = 0, s2 = 0;
            xm_err err = {0};
            XM_CHECKF(xm_h5_read(r->f, nname, XM_H5_F64, 0, NULL, &want_norm, &err) == 0, "%s",
                      err.msg);
            for (size_t k = 0; k < p->count; k++)
                s2 += (double)slab[p->offset + k] * slab[p->offset + k];
            double en = fabs(sqrt(s2) - want_norm) / (want_norm > 0 ? want_norm : 1);
            ref_note(r, nname, en);
            XM_CHECKF(en <= tol, "%s: relative error %.3g > %.3g", nname, en, tol);
        }
        free(picked);
        free(want);
    }
}

/* Loss and head gradients with the backend's softmax_xent: the sum over
 * the heads that have targets. */
static inline double ref_loss(xm_backend *be, xm_net *net, xm_tensor *tgt, xm_tensor *dl)
{
    xm_err err = {0};
    double total = 0;
    for (int h = 0; h < 2; h++) {
        if (!tgt[h].data) continue;
        double l = 0;
        XM_CHECKF(be->ops->softmax_xent(be, xm_net_logits(net, h), &tgt[h], &l, &dl[h], &err) == 0,
                  "%s", err.msg);
        total += l;
    }
    return total;
}

/* The whole reference comparison of one file (see make_torch_refs.py). */
static inline void ref_run_case(const char *file, int threads)
{
    xm_err err = {0};
    ref_file r = {.path = file};
    r.f = xm_h5_open(xm_test_path(file), 0, &err);
    XM_CHECKF(r.f >= 0, "%s", err.msg);
    if (r.f < 0) return;
    char arch[32];
    int64_t cin, size, ncls, nsrc, batch, steps;
    double lr, mom, wd;
    float mean[4], std[4];
    XM_CHECK(xm_h5_attr_read_str(r.f, "arch", arch, sizeof arch, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "in_channels", &cin, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "input_size", &size, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "num_classes", &ncls, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "source_classes", &nsrc, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "batch", &batch, &err) == 0);
    XM_CHECK(xm_h5_attr_read_i64(r.f, "steps", &steps, &err) == 0);
    XM_CHECK(xm_h5_attr_read_f64(r.f, "lr", &lr, &err) == 0);
    XM_CHECK(xm_h5_attr_read_f64(r.f, "momentum", &mom, &err) == 0);
    XM_CHECK(xm_h5_attr_read_f64(r.f, "weight_decay", &wd, &err) == 0);
    XM_CHECK(xm_h5_attr_read_array(r.f, "mean", XM_H5_F32, mean, cin, 0, NULL, &err) == 0);
    XM_CHECK(xm_h5_attr_read_array(r.f, "std", XM_H5_F32, std, cin, 0, NULL, &err) == 0);
    XM_CHECKF(err.code == 0, "%s", err.msg);

    xm_backend_cfg bcfg = {.threads = threads};
    xm_backend *be = xm_backend_new("cpu", &bcfg, &err);
    XM_CHECKF(be != NULL, "%s", err.msg);
    xm_net_cfg cfg = {arch, (int)cin, (int)size, (int)ncls, (int)nsrc};
    xm_net *net = be ? xm_net_new(be, &cfg, &err) : NULL;
    XM_CHECKF(net != NULL, "%s", err.msg);
    if (!net) goto out;
    const xm_net_slabs *s = xm_net_slabs_get(net);

    /* The parameter table is torchvision's state_dict, in order. */
    char **names = NULL;
    int64_t nn = 0;
    int np;
    const xm_param *ps = xm_net_params(net, &np);
    XM_CHECK(xm_h5_read_strings(r.f, "names", &names, &nn, &err) == 0);
    XM_CHECKF(nn == np, "%lld names in the reference, %d in the table", (long long)nn, np);
    for (int i = 0; i < np && i < nn; i++)
        XM_CHECKF(!strcmp(names[i], ps[i].name), "tensor %d: %s vs %s", i, ps[i].name, names[i]);
    xm_h5_strings_free(names, nn);
    XM_CHECK(ref_load_weights(net, be, &err) == 0);

    /* The input step against the script's crop/flip/mix/normalise. */
    int64_t nrec = 0, d[XM_H5_MAX_RANK];
    uint8_t *rec_h = xm_h5_read_alloc(r.f, "records", XM_H5_U8, 1, NULL, d, &err);
    nrec = d[0];
    int64_t *it = xm_h5_read_alloc(r.f, "items", XM_H5_I64, 2, NULL, NULL, &err);
    float *lam = ref_read(&r, "lam", NULL);
    XM_CHECKF(rec_h && it && lam, "%s", err.msg);
    xm_mix_item *items = calloc((size_t)batch, sizeof *items);
    for (int i = 0; i < batch; i++) {
        int64_t *v = it + 12 * i;
        items[i] = (xm_mix_item){v[0], v[1], (int32_t)v[2], (int32_t)v[3], (int32_t)v[4],
                                 (int32_t)v[5], (int32_t)v[6], (int32_t)v[7], (int32_t)v[8],
                                 (int32_t)v[9], (int32_t)v[10], (int32_t)v[11], lam[i]};
    }
    uint8_t *rec = be->ops->alloc(be, (size_t)nrec, &err);
    XM_CHECK(rec && be->ops->upload(be, rec, rec_h, (size_t)nrec, &err) == 0);
    xm_tensor x;
    XM_CHECK(xm_tensor_alloc(be, &x, (int)batch, (int)size, (int)size, (int)cin, be->act_dtype,
                             &err) == 0);
    XM_CHECKF(be->ops->input_mix(be, rec, items, mean, std, &x, &err) == 0, "%s", err.msg);
    ref_cmp_tensor(&r, be, "x", &x, 1e-6);
    /* The network runs on the reference input itself. */
    float *xh = ref_read(&r, "x", NULL);
    XM_CHECK(be->ops->upload_f32(be, &x, xh, &err) == 0);

    /* Eval mode with the generated running stats. */
    XM_CHECKF(xm_net_forward(net, &x, 0, &err) == 0, "%s", err.msg);
    ref_cmp_tensor(&r, be, "features_eval", xm_net_features(net), 1e-4);
    ref_cmp_tensor(&r, be, "logits_eval", xm_net_logits(net, 0), 1e-4);

    xm_tensor tgt[2] = {{0}}, dl[2] = {{0}};
    float *th = ref_read(&r, "target", NULL);
    XM_CHECK(xm_tensor_alloc(be, &tgt[0], (int)batch, 1, 1, (int)ncls, XM_DT_F32, &err) == 0);
    XM_CHECK(xm_tensor_alloc(be, &dl[0], (int)batch, 1, 1, (int)ncls, XM_DT_F32, &err) == 0);
    XM_CHECK(be->ops->upload_f32(be, &tgt[0], th, &err) == 0);
    free(th);
    if (nsrc) {
        th = ref_read(&r, "target_source", NULL);
        XM_CHECK(xm_tensor_alloc(be, &tgt[1], (int)batch, 1, 1, (int)nsrc, XM_DT_F32, &err) == 0);
        XM_CHECK(xm_tensor_alloc(be, &dl[1], (int)batch, 1, 1, (int)nsrc, XM_DT_F32, &err) == 0);
        XM_CHECK(be->ops->upload_f32(be, &tgt[1], th, &err) == 0);
        free(th);
    }
    const xm_tensor *dlp[2] = {&dl[0], nsrc ? &dl[1] : NULL};
    float *wh = malloc(s->n_w * sizeof(float)), *bh = malloc((s->n_buf + 1) * sizeof(float));
    double loss_ref[8] = {0};
    XM_CHECK(steps <= 8 && xm_h5_read(r.f, "loss", XM_H5_F64, 1, &steps, loss_ref, &err) == 0);

    for (int nesterov = 0; nesterov < 2; nesterov++) {
        xm_sgd_cfg sgd = {(float)lr, (float)mom, (float)wd, 0, nesterov};
        if (nesterov) {
            XM_CHECK(ref_load_weights(net, be, &err) == 0);
            XM_CHECK(xm_h5_read(r.f, "loss_nesterov", XM_H5_F64, 1, &steps, loss_ref, &err) == 0);
        }
        for (int step = 0; step < steps; step++) {
            XM_CHECKF(xm_net_forward(net, &x, 1, &err) == 0, "%s", err.msg);
            double loss = ref_loss(be, net, tgt, dl);
            double el = fabs(loss - loss_ref[step]) / fabs(loss_ref[step]);
            ref_note(&r, "loss", el);
            XM_CHECKF(el <= 1e-4, "%sstep %d loss %.7g, reference %.7g", nesterov ? "nesterov " : "",
                      step + 1, loss, loss_ref[step]);
            XM_CHECKF(xm_net_backward(net, dlp, NULL, &err) == 0, "%s", err.msg);
            if (step == 0 && !nesterov) {
                ref_cmp_tensor(&r, be, "features", xm_net_features(net), 1e-4);
                ref_cmp_tensor(&r, be, "logits", xm_net_logits(net, 0), 1e-4);
                if (nsrc) ref_cmp_tensor(&r, be, "logits_source", xm_net_logits(net, 1), 1e-4);
                XM_CHECK(be->ops->download(be, wh, s->g, s->n_w * sizeof(float), &err) == 0);
                ref_cmp_group(&r, net, "grad", wh, 1, "grad_norm", 1e-4);
                XM_CHECK(xm_net_get_weights(net, NULL, bh, &err) == 0);
                ref_cmp_group(&r, net, "stats1", bh, 0, NULL, 1e-4);
            }
            XM_CHECKF(xm_net_sgd_step(net, &sgd, NULL, &err) == 0, "%s", err.msg);
        }
        XM_CHECK(xm_net_get_weights(net, wh, bh, &err) == 0);
        ref_cmp_group(&r, net, nesterov ? "params3_nesterov" : "params3", wh, 1, NULL, 1e-4);
        if (!nesterov) {
            ref_cmp_group(&r, net, "stats3", bh, 0, NULL, 1e-4);
            for (int b = 0; b < s->n_bn; b++)
                XM_CHECKF(s->nbt[b] == steps, "num_batches_tracked %lld", (long long)s->nbt[b]);
        }
    }
    printf("%s (%d threads): worst relative error %.3g (%s)\n", file, threads, r.worst,
           r.worst_name);
    XM_CHECKF(err.code == 0, "%s", err.msg);
    free(wh);
    free(bh);
    free(xh);
    free(rec_h);
    free(it);
    free(lam);
    free(items);
    for (int h = 0; h < 2; h++) {
        xm_tensor_release(be, &tgt[h]);
        xm_tensor_release(be, &dl[h]);
    }
    xm_tensor_release(be, &x);
    be->ops->free(be, rec);
out:
    xm_net_free(net);
    xm_backend_free(be);
    xm_h5_close(r.f, NULL);
}

#endif
