/* test_net.c: the network description (parameter counts and names as
 * torchvision's), initialisation statistics, slab layout, and determinism:
 * the same seed and thread count give bit-identical gradients run after
 * run; 1 and 2 threads agree (reported, and checked bit-exact because the
 * CPU backend's reductions use fixed chunking). Also a batch-size change,
 * the feature-gradient path (BSS) and a missing head's zero gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_net_ref.h"
#include "xm_net.h"
#include "xm_test.h"

/* Counts from torchvision 0.14 (1000 classes, 3 channels) and from
 * scripts/make_torch_refs.py's CIFAR ResNets (10 classes, 1 channel). */
static const struct {
    const char *arch;
    int cin, classes;
    size_t n_w, n_buf;
    int n_tensors;
} COUNTS[] = {
    {"resnet18", 3, 1000, 11689512, 9600, 122},
    {"resnet34", 3, 1000, 21797672, 17024, 218},
    {"resnet50", 3, 1000, 25557032, 53120, 320},
    {"resnet101", 3, 1000, 44549160, 105344, 626},
    {"resnet20", 1, 10, 272186, 1568, 128},
    {"resnet32", 1, 10, 466618, 2464, 200},
    {"resnet56", 1, 10, 855482, 4256, 344},
};

static void check_tables(xm_backend *be)
{
    xm_err err = {0};
    for (size_t i = 0; i < sizeof COUNTS / sizeof COUNTS[0]; i++) {
        xm_net_cfg cfg = {COUNTS[i].arch, COUNTS[i].cin, COUNTS[i].cin == 3 ? 224 : 32,
                          COUNTS[i].classes, 0};
        xm_net *net = xm_net_new(be, &cfg, &err);
        XM_CHECKF(net, "%s", err.msg);
        if (!net) continue;
        const xm_net_slabs *s = xm_net_slabs_get(net);
        int np;
        const xm_param *ps = xm_net_params(net, &np);
        XM_CHECKF(s->n_w == COUNTS[i].n_w, "%s: %zu params, expected %zu", cfg.arch, s->n_w,
                  COUNTS[i].n_w);
        XM_CHECK(s->n_buf == COUNTS[i].n_buf);
        XM_CHECK(np == COUNTS[i].n_tensors);
        /* Backbone first, then fc; offsets contiguous in table order. */
        size_t off = 0;
        for (int k = 0; k < np; k++)
            if (ps[k].trainable) {
                XM_CHECKF(ps[k].offset == off, "%s: %s offset", cfg.arch, ps[k].name);
                off += ps[k].count;
            }
        XM_CHECK(!strcmp(ps[np - 1].name, "fc.bias"));
        XM_CHECK(s->n_backbone == s->n_w - (size_t)COUNTS[i].classes *
                                               (xm_net_feature_dim(net) + 1));
        xm_net_free(net);
    }
    /* Names of a few well-known tensors, and the source head after fc. */
    xm_net_cfg cfg = {"resnet50", 3, 224, 10, 7};
    xm_net *net = xm_net_new(be, &cfg, &err);
    XM_CHECK(net != NULL);
    int i = xm_net_param_find(net, "layer2.0.downsample.0.weight");
    int np;
    const xm_param *ps = xm_net_params(net, &np);
    XM_CHECK(i >= 0 && ps[i].shape[0] == 512 && ps[i].shape[1] == 256);
    i = xm_net_param_find(net, "layer3.5.conv2.weight");
    XM_CHECK(i >= 0 && ps[i].shape[0] == 256 && ps[i].shape[2] == 3);
    XM_CHECK(xm_net_feature_dim(net) == 2048);
    XM_CHECK(!strcmp(ps[np - 2].name, "source_fc.weight") && ps[np - 2].shape[0] == 7);
    XM_CHECK(ps[np - 2].group == XM_PG_SOURCE_FC && ps[np - 4].group == XM_PG_FC);
    xm_net_free(net);
    /* Bad configurations are refused with a message. */
    xm_net_cfg bad = {"resnet19", 3, 224, 10, 0};
    XM_CHECK(xm_net_new(be, &bad, &err) == NULL && strstr(err.msg, "resnet19"));
    xm_err_clear(&err);
    xm_net_cfg small = {"resnet18", 3, 16, 10, 0};
    XM_CHECK(xm_net_new(be, &small, &err) == NULL && err.code == XM_EUSAGE);
}

static void check_init(xm_backend *be)
{
    xm_err err = {0};
    xm_net_cfg cfg = {"resnet20", 3, 32, 100, 0};
    xm_net *net = xm_net_new(be, &cfg, &err);
    XM_CHECK(xm_net_init(net, 42, &err) == 0);
    const xm_net_slabs *s = xm_net_slabs_get(net);
    float *w = malloc(s->n_w * sizeof(float)), *buf = malloc(s->n_buf * sizeof(float));
    XM_CHECK(xm_net_get_weights(net, w, buf, &err) == 0);
    int np;
    const xm_param *ps = xm_net_params(net, &np);
    for (int i = 0; i < np; i++) {
        const xm_param *p = &ps[i];
        const float *v = p->trainable ? w + p->offset : buf + p->offset;
        double m = 0, q = 0, mx = 0;
        for (size_t k = 0; k < p->count; k++) {
            m += v[k];
            q += (double)v[k] * v[k];
            mx = fmax(mx, fabs(v[k]));
        }
        m /= (double)p->count;
        double sd = sqrt(q / (double)p->count - m * m);
        if (p->kind == XM_PK_CONV_W && p->count >= 2000) {
            double want = sqrt(2.0 / (double)(p->shape[0] * p->shape[2] * p->shape[3]));
            XM_CHECKF(fabs(sd / want - 1) < 0.1 && fabs(m) < 0.1 * want, "%s: std %.4g, "
                      "expected %.4g", p->name, sd, want);
        } else if (p->kind == XM_PK_BN_W || p->kind == XM_PK_BN_VAR) {
            XM_CHECK(m == 1.0 && sd == 0);
        } else if (p->kind == XM_PK_BN_B || p->kind == XM_PK_BN_MEAN) {
            XM_CHECK(mx == 0);
        } else if (p->kind == XM_PK_LINEAR_W) {
            double bound = 1.0 / sqrt((double)p->shape[1]);
            XM_CHECK(mx <= bound && fabs(sd / (bound / sqrt(3.0)) - 1) < 0.1);
        }
    }
    /* The same seed gives the same weights; re-initialising a head keeps
     * the backbone. */
    float *w2 = malloc(s->n_w * sizeof(float));
    XM_CHECK(xm_net_init(net, 42, &err) == 0);
    XM_CHECK(xm_net_get_weights(net, w2, NULL, &err) == 0);
    XM_CHECK(memcmp(w, w2, s->n_w * sizeof(float)) == 0);
    XM_CHECK(xm_net_init_group(net, XM_PG_FC, 7, &err) == 0);
    XM_CHECK(xm_net_get_weights(net, w2, NULL, &err) == 0);
    XM_CHECK(memcmp(w, w2, s->n_backbone * sizeof(float)) == 0);
    XM_CHECK(memcmp(w + s->n_backbone, w2 + s->n_backbone,
                    (s->n_w - s->n_backbone) * sizeof(float)) != 0);
    free(w);
    free(w2);
    free(buf);
    xm_net_free(net);
}

/* One training step of a small two-head ResNet-20 from seed 5 on a fixed
 * input; returns the gradient slab (host, malloc'd). */
static float *grads_for(int threads, int batch, int with_dfeat, int no_source, size_t *n)
{
    xm_err err = {0};
    xm_backend_cfg bc = {.threads = threads};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    xm_net_cfg cfg = {"resnet20", 3, 16, 5, 4};
    xm_net *net = xm_net_new(be, &cfg, &err);
    XM_CHECK(net && xm_net_init(net, 5, &err) == 0);
    xm_tensor x, dl[2], df;
    XM_CHECK(xm_tensor_alloc(be, &x, batch, 16, 16, 3, be->act_dtype, &err) == 0);
    XM_CHECK(xm_tensor_alloc(be, &dl[0], batch, 1, 1, 5, XM_DT_F32, &err) == 0);
    XM_CHECK(xm_tensor_alloc(be, &dl[1], batch, 1, 1, 4, XM_DT_F32, &err) == 0);
    XM_CHECK(xm_tensor_alloc(be, &df, batch, 1, 1, 64, XM_DT_F32, &err) == 0);
    size_t nx = xm_tensor_count(&x);
    float *h = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) h[i] = ref_hash_u(99, (uint32_t)i);
    XM_CHECK(be->ops->upload_f32(be, &x, h, &err) == 0);
    for (int k = 0; k < batch * 64; k++) h[k] = 0.01f * ref_hash_u(98, (uint32_t)k);
    XM_CHECK(be->ops->upload_f32(be, &df, h, &err) == 0);
    for (int k = 0; k < batch * 5; k++) h[k] = ref_hash_u(97, (uint32_t)k);
    XM_CHECK(be->ops->upload_f32(be, &dl[0], h, &err) == 0);
    for (int k = 0; k < batch * 4; k++) h[k] = ref_hash_u(96, (uint32_t)k);
    XM_CHECK(be->ops->upload_f32(be, &dl[1], h, &err) == 0);
    /* Run a different batch size first: plans and buffers are recreated. */
    xm_tensor x2;
    XM_CHECK(xm_tensor_alloc(be, &x2, batch + 3, 16, 16, 3, be->act_dtype, &err) == 0);
    XM_CHECK(xm_net_forward(net, &x2, 0, &err) == 0);
    XM_CHECK(xm_net_forward(net, &x, 1, &err) == 0);
    const xm_tensor *dlp[2] = {&dl[0], no_source ? NULL : &dl[1]};
    XM_CHECKF(xm_net_backward(net, dlp, with_dfeat ? &df : NULL, &err) == 0, "%s", err.msg);
    /* A second identical step must give the same numbers (buffers reused). */
    XM_CHECK(xm_net_forward(net, &x, 1, &err) == 0);
    XM_CHECKF(xm_net_backward(net, dlp, with_dfeat ? &df : NULL, &err) == 0, "%s", err.msg);
    const xm_net_slabs *s = xm_net_slabs_get(net);
    float *g = malloc(s->n_w * sizeof(float));
    XM_CHECK(be->ops->download(be, g, s->g, s->n_w * sizeof(float), &err) == 0);
    *n = s->n_w;
    free(h);
    xm_tensor_release(be, &x);
    xm_tensor_release(be, &x2);
    xm_tensor_release(be, &dl[0]);
    xm_tensor_release(be, &dl[1]);
    xm_tensor_release(be, &df);
    xm_net_free(net);
    xm_backend_free(be);
    return g;
}

static void check_determinism(void)
{
    size_t n;
    float *a = grads_for(2, 6, 0, 0, &n), *b = grads_for(2, 6, 0, 0, &n);
    XM_CHECKF(memcmp(a, b, n * sizeof(float)) == 0, "2 threads: gradients differ run to run");
    float *c = grads_for(1, 6, 0, 0, &n);
    double e = xm_test_rel_err(c, a, n);
    printf("1 vs 2 threads: gradient relative difference %.3g%s\n", e,
           memcmp(a, c, n * sizeof(float)) ? "" : " (bit-identical)");
    XM_CHECK(e < 1e-5);
    /* The feature gradient adds to the heads' contribution: backbone
     * gradients change, head gradients do not. */
    float *d = grads_for(1, 6, 1, 0, &n);
    size_t head = n - (5 * 65 + 4 * 65);
    XM_CHECK(memcmp(c + head, d + head, (n - head) * sizeof(float)) == 0);
    XM_CHECK(xm_test_rel_err(d, c, head) > 1e-4);
    /* Without a source-head gradient its parameters get exactly zero. */
    float *z = grads_for(1, 6, 0, 1, &n);
    int zero = 1;
    for (size_t i = n - 4 * 65; i < n; i++) zero &= z[i] == 0.0f;
    XM_CHECK(zero);
    free(a);
    free(b);
    free(c);
    free(d);
    free(z);
}

int main(void)
{
    xm_err err = {0};
    xm_backend_cfg bc = {.threads = 1};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    XM_CHECKF(be != NULL, "%s", err.msg);
    if (!be) return xm_test_finish();
    check_tables(be);
    check_init(be);
    xm_backend_free(be);
    check_determinism();
    return xm_test_finish();
}
