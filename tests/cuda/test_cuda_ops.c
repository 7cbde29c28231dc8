/* test_cuda_ops.c: every op of the CUDA backend against the CPU backend on
 * the same random inputs, in F32 (rel err < 1e-4, TF32 off), BF16 and F16
 * (rel err < 1e-2; inputs pre-rounded to the GPU dtype by tc_round, so both
 * sides see the same values). Without a GPU: "skipped: no GPU", exit 77.
 * XM_TEST_VERBOSE=1 prints every comparison; XM_TEST_PRECISIONS=f32,bf16
 * runs only those. With XM_CUDA_BN_RED=parts or XM_CUDA_POOL_VEC=1 it also
 * checks that their kernels ran (and without, that they did not). */
#include "test_cuda_common.h"

#ifdef XM_HAVE_CUDA

static xm_backend *cpu, *gpu;
static xm_dtype act; /* the GPU's activation dtype */
static double tol;   /* for act-dtype outputs */
static char tag[96];
static xm_precision cur_prec;
static const char *prec_tag(void) { return tc_prec_name(cur_prec); }

static const char *nm(const char *what)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "%s %s", tag, what);
    return buf;
}

/* Random act-dtype input in both backends (rounded to the GPU dtype). */
static tc_pair act_input(int n, int h, int w, int c, uint64_t seed, float scale)
{
    tc_pair p = tc_pair_new(cpu, gpu, n, h, w, c, act);
    size_t cnt = (size_t)n * h * w * c;
    float *v = tc_xmalloc(cnt * 4);
    tc_normal(v, cnt, seed, scale);
    tc_round(v, cnt, act);
    tc_pair_set(cpu, gpu, &p, v);
    free(v);
    return p;
}

static float *rounded_normal(size_t n, uint64_t seed, float scale)
{
    float *v = tc_xmalloc(n * 4);
    tc_normal(v, n, seed, scale);
    tc_round(v, n, act);
    return v;
}

/* ---- convolution ---- */

static void test_conv(int n, int h, int w, int ci, int co, int k, int s, int pad)
{
    snprintf(tag, sizeof tag, "[%s] conv %dx%dx%dx%d->%d k%d s%d p%d", prec_tag(), n, h, w,
             ci, co, k, s, pad);
    xm_err err = {0};
    xm_conv_desc d = {.n = n, .h = h, .w = w, .c_in = ci, .c_out = co, .kh = k, .kw = k,
                      .stride_h = s, .stride_w = s, .pad_h = pad, .pad_w = pad};
    if (xm_conv_desc_finish(&d, &err)) tc_die("conv desc", &err);
    void *pc = cpu->ops->conv_plan(cpu, &d, &err);
    if (!pc) tc_die("cpu conv plan", &err);
    void *pg = gpu->ops->conv_plan(gpu, &d, &err);
    XM_CHECKF(pg != NULL, "%s: conv_plan: %s", tag, err.msg);
    if (!pg) {
        cpu->ops->plan_free(cpu, pc);
        return;
    }
    size_t nw = (size_t)co * ci * k * k;
    float *wh = rounded_normal(nw, 11 + k, 1.f / sqrtf((float)(ci * k * k)));
    tc_buf wb = tc_buf_new(cpu, gpu, nw, wh);
    tc_pair x = act_input(n, h, w, ci, 1 + ci, 1.f);
    tc_pair y = tc_pair_new(cpu, gpu, n, d.oh, d.ow, co, act);
    TC_OK(cpu->ops->conv_fwd(cpu, pc, &x.c, wb.c, &y.c, err));
    TC_OK(gpu->ops->conv_fwd(gpu, pg, &x.g, wb.g, &y.g, err));
    tc_pair_cmp(cpu, gpu, &y, nm("fwd"), tol);

    /* backward data and weights from the same dy */
    size_t ny = (size_t)n * d.oh * d.ow * co;
    float *dyh = rounded_normal(ny, 5 + co, 1.f);
    tc_pair dy = tc_pair_new(cpu, gpu, n, d.oh, d.ow, co, act);
    tc_pair_set(cpu, gpu, &dy, dyh);
    tc_pair dx = tc_pair_new(cpu, gpu, n, h, w, ci, act);
    TC_OK(cpu->ops->conv_bwd_data(cpu, pc, &dy.c, wb.c, &dx.c, err));
    TC_OK(gpu->ops->conv_bwd_data(gpu, pg, &dy.g, wb.g, &dx.g, err));
    tc_pair_cmp(cpu, gpu, &dx, nm("bwd_data"), tol);
    tc_buf dw = tc_buf_new(cpu, gpu, nw, NULL);
    TC_OK(cpu->ops->conv_bwd_weights(cpu, pc, &x.c, &dy.c, dw.c, err));
    TC_OK(gpu->ops->conv_bwd_weights(gpu, pg, &x.g, &dy.g, dw.g, err));
    tc_buf_cmp(cpu, gpu, &dw, nm("bwd_weights"), tol);

    /* new weights through the slab: the cached converted copy must follow */
    for (size_t i = 0; i < nw; i++) wh[i] = -0.5f * wh[i] + (i % 7 == 0 ? 0.0625f : 0.f);
    tc_round(wh, nw, act);
    TC_OK(cpu->ops->upload(cpu, wb.c, wh, nw * 4, err));
    TC_OK(gpu->ops->upload(gpu, wb.g, wh, nw * 4, err));
    cpu->ops->params_changed(cpu);
    gpu->ops->params_changed(gpu);
    TC_OK(cpu->ops->conv_fwd(cpu, pc, &x.c, wb.c, &y.c, err));
    TC_OK(gpu->ops->conv_fwd(gpu, pg, &x.g, wb.g, &y.g, err));
    tc_pair_cmp(cpu, gpu, &y, nm("fwd after weight change"), tol);

    free(wh);
    free(dyh);
    tc_buf_free(cpu, gpu, &wb);
    tc_buf_free(cpu, gpu, &dw);
    tc_pair_free(cpu, gpu, &x);
    tc_pair_free(cpu, gpu, &y);
    tc_pair_free(cpu, gpu, &dy);
    tc_pair_free(cpu, gpu, &dx);
    cpu->ops->plan_free(cpu, pc);
    gpu->ops->plan_free(gpu, pg);
}

/* ---- batch norm ---- */

static void test_bn(int n, int h, int w, int c, int relu)
{
    snprintf(tag, sizeof tag, "[%s] bn %dx%dx%dx%d relu%d", prec_tag(), n, h, w, c, relu);
    size_t cnt = (size_t)n * h * w * c;
    float *g = tc_xmalloc(c * 4), *b = tc_xmalloc(c * 4), *rm = tc_xmalloc(c * 4),
          *rv = tc_xmalloc(c * 4);
    tc_uniform(g, c, 3, 0.5f, 1.5f);
    tc_normal(b, c, 4, 0.3f);
    tc_normal(rm, c, 5, 0.2f);
    tc_uniform(rv, c, 6, 0.5f, 2.f);
    tc_buf gb = tc_buf_new(cpu, gpu, c, g), bb = tc_buf_new(cpu, gpu, c, b),
           rmb = tc_buf_new(cpu, gpu, c, rm), rvb = tc_buf_new(cpu, gpu, c, rv),
           sm = tc_buf_new(cpu, gpu, c, NULL), si = tc_buf_new(cpu, gpu, c, NULL);
    /* x with a channel-dependent offset (mean far from 0 tests cancellation) */
    float *xh = tc_xmalloc(cnt * 4);
    tc_normal(xh, cnt, 7, 1.5f);
    for (size_t i = 0; i < cnt; i++) xh[i] += (float)(i % c) * 0.25f - 1.f;
    tc_round(xh, cnt, act);
    tc_pair x = tc_pair_new(cpu, gpu, n, h, w, c, act);
    tc_pair_set(cpu, gpu, &x, xh);
    tc_pair y = tc_pair_new(cpu, gpu, n, h, w, c, act);
    TC_OK(cpu->ops->bn_fwd_train(cpu, &x.c, gb.c, bb.c, rmb.c, rvb.c, 0.1f, 1e-5f, sm.c, si.c,
                                 relu, &y.c, err));
    TC_OK(gpu->ops->bn_fwd_train(gpu, &x.g, gb.g, bb.g, rmb.g, rvb.g, 0.1f, 1e-5f, sm.g, si.g,
                                 relu, &y.g, err));
    tc_pair_cmp(cpu, gpu, &y, nm("fwd_train y"), tol);
    tc_buf_cmp(cpu, gpu, &sm, nm("save_mean"), 1e-5);
    tc_buf_cmp(cpu, gpu, &si, nm("save_invstd"), 1e-5);
    tc_buf_cmp(cpu, gpu, &rmb, nm("running_mean"), 1e-5);
    tc_buf_cmp(cpu, gpu, &rvb, nm("running_var"), 1e-5);

    /* inference with the updated running stats */
    TC_OK(cpu->ops->bn_fwd_infer(cpu, &x.c, gb.c, bb.c, rmb.c, rvb.c, 1e-5f, relu, &y.c, err));
    TC_OK(gpu->ops->bn_fwd_infer(gpu, &x.g, gb.g, bb.g, rmb.g, rvb.g, 1e-5f, relu, &y.g, err));
    tc_pair_cmp(cpu, gpu, &y, nm("fwd_infer y"), tol);

    /* backward: both sides get the same y (the CPU's training output, rounded,
     * so the ReLU masks agree) and the same saved statistics */
    TC_OK(cpu->ops->bn_fwd_train(cpu, &x.c, gb.c, bb.c, rmb.c, rvb.c, 0.1f, 1e-5f, sm.c, si.c,
                                 relu, &y.c, err));
    float *yh = tc_xmalloc(cnt * 4), *smh = tc_xmalloc(c * 4), *sih = tc_xmalloc(c * 4);
    xm_err err0 = {0};
    if (cpu->ops->download_f32(cpu, &y.c, yh, &err0) ||
        cpu->ops->download(cpu, smh, sm.c, c * 4, &err0) ||
        cpu->ops->download(cpu, sih, si.c, c * 4, &err0))
        tc_die("cpu download", &err0);
    tc_round(yh, cnt, act);
    tc_pair_set(cpu, gpu, &y, yh);
    TC_OK(gpu->ops->upload(gpu, sm.g, smh, c * 4, err));
    TC_OK(gpu->ops->upload(gpu, si.g, sih, c * 4, err));
    tc_pair dy = act_input(n, h, w, c, 8, 1.f);
    tc_pair dx = tc_pair_new(cpu, gpu, n, h, w, c, act);
    tc_buf dg = tc_buf_new(cpu, gpu, c, NULL), db = tc_buf_new(cpu, gpu, c, NULL);
    TC_OK(cpu->ops->bn_bwd(cpu, &x.c, relu ? &y.c : NULL, &dy.c, gb.c, sm.c, si.c, &dx.c, dg.c,
                           db.c, err));
    TC_OK(gpu->ops->bn_bwd(gpu, &x.g, relu ? &y.g : NULL, &dy.g, gb.g, sm.g, si.g, &dx.g, dg.g,
                           db.g, err));
    tc_pair_cmp(cpu, gpu, &dx, nm("bwd dx"), tol);
    tc_buf_cmp(cpu, gpu, &dg, nm("bwd dgamma"), relu || act != XM_DT_F32 ? tol : 1e-4);
    tc_buf_cmp(cpu, gpu, &db, nm("bwd dbeta"), relu || act != XM_DT_F32 ? tol : 1e-4);
    /* in place on the GPU: dx aliases dy */
    TC_OK(gpu->ops->bn_bwd(gpu, &x.g, relu ? &y.g : NULL, &dy.g, gb.g, sm.g, si.g, &dy.g, dg.g,
                           db.g, err));
    tc_pair in_place = {dx.c, dy.g};
    tc_pair_cmp(cpu, gpu, &in_place, nm("bwd dx in place"), tol);

    free(g), free(b), free(rm), free(rv), free(xh), free(yh), free(smh), free(sih);
    tc_buf *bufs[] = {&gb, &bb, &rmb, &rvb, &sm, &si, &dg, &db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tc_buf_free(cpu, gpu, bufs[i]);
    tc_pair_free(cpu, gpu, &x);
    tc_pair_free(cpu, gpu, &y);
    tc_pair_free(cpu, gpu, &dy);
    tc_pair_free(cpu, gpu, &dx);
}

/* ---- elementwise, pooling ---- */

/* n*h*w*c a multiple of 8 takes the vectorised paths, else the scalar ones */
static void test_eltwise(int n, int h, int w, int c)
{
    snprintf(tag, sizeof tag, "[%s] eltwise %dx%dx%dx%d", prec_tag(), n, h, w, c);
    tc_pair a = act_input(n, h, w, c, 21, 1.f), b = act_input(n, h, w, c, 22, 1.f);
    tc_pair y = tc_pair_new(cpu, gpu, n, h, w, c, act);
    for (int relu = 0; relu <= 1; relu++) {
        TC_OK(cpu->ops->add(cpu, &a.c, &b.c, relu, &y.c, err));
        TC_OK(gpu->ops->add(gpu, &a.g, &b.g, relu, &y.g, err));
        tc_pair_cmp(cpu, gpu, &y, nm(relu ? "add relu" : "add"), tol);
    }
    /* y aliases a */
    TC_OK(cpu->ops->add(cpu, &a.c, &b.c, 1, &a.c, err));
    TC_OK(gpu->ops->add(gpu, &a.g, &b.g, 1, &a.g, err));
    tc_pair_cmp(cpu, gpu, &a, nm("add relu in place"), tol);
    /* relu_bwd with y = the in-place result above (same values both sides) */
    tc_pair dx = tc_pair_new(cpu, gpu, n, h, w, c, act);
    TC_OK(cpu->ops->relu_bwd(cpu, &a.c, &b.c, &dx.c, err));
    TC_OK(gpu->ops->relu_bwd(gpu, &a.g, &b.g, &dx.g, err));
    tc_pair_cmp(cpu, gpu, &dx, nm("relu_bwd"), 1e-6);
    TC_OK(gpu->ops->relu_bwd(gpu, &a.g, &b.g, &b.g, err));
    tc_pair ip = {dx.c, b.g};
    tc_pair_cmp(cpu, gpu, &ip, nm("relu_bwd in place"), 1e-6);

    /* F32 tensors whatever the act dtype (gradients of the pooled features
     * from two heads are summed with add) */
    {
        tc_pair fa = tc_pair_new(cpu, gpu, n, 1, 1, 24, XM_DT_F32),
                fb = tc_pair_new(cpu, gpu, n, 1, 1, 24, XM_DT_F32);
        float *hv = tc_xmalloc((size_t)n * 24 * 4);
        tc_normal(hv, (size_t)n * 24, 25, 1.f);
        tc_pair_set(cpu, gpu, &fa, hv);
        tc_normal(hv, (size_t)n * 24, 26, 1.f);
        tc_pair_set(cpu, gpu, &fb, hv);
        TC_OK(cpu->ops->add(cpu, &fa.c, &fb.c, 0, &fa.c, err));
        TC_OK(gpu->ops->add(gpu, &fa.g, &fb.g, 0, &fa.g, err));
        tc_pair_cmp(cpu, gpu, &fa, nm("add f32 tensors in place"), 1e-6);
        free(hv);
        tc_pair_free(cpu, gpu, &fa);
        tc_pair_free(cpu, gpu, &fb);
    }

    /* global average pool: act -> F32 and back */
    int gh = 7, gw = 7, gc = 70;
    tc_pair gx = act_input(2, gh, gw, gc, 23, 1.f);
    tc_pair gy = tc_pair_new(cpu, gpu, 2, 1, 1, gc, XM_DT_F32);
    TC_OK(cpu->ops->gap_fwd(cpu, &gx.c, &gy.c, err));
    TC_OK(gpu->ops->gap_fwd(gpu, &gx.g, &gy.g, err));
    tc_pair_cmp(cpu, gpu, &gy, nm("gap_fwd"), 1e-5);
    float *gdy = tc_xmalloc(2 * gc * 4);
    tc_normal(gdy, 2 * gc, 24, 1.f);
    tc_pair_set(cpu, gpu, &gy, gdy);
    TC_OK(cpu->ops->gap_bwd(cpu, &gy.c, &gx.c, err));
    TC_OK(gpu->ops->gap_bwd(gpu, &gy.g, &gx.g, err));
    tc_pair_cmp(cpu, gpu, &gx, nm("gap_bwd"), act == XM_DT_F32 ? 1e-6 : tol);
    free(gdy);
    tc_pair_free(cpu, gpu, &a);
    tc_pair_free(cpu, gpu, &b);
    tc_pair_free(cpu, gpu, &y);
    tc_pair_free(cpu, gpu, &dx);
    tc_pair_free(cpu, gpu, &gx);
    tc_pair_free(cpu, gpu, &gy);
}

/* Like tc_pair_cmp, but NaN must sit at the same places in both (and
 * counts as equal there). */
static void cmp_with_nans(const tc_pair *p, const char *name, double tol)
{
    xm_err err = {0};
    size_t n = xm_tensor_count(&p->c), nans = 0, off = 0;
    float *a = tc_xmalloc(n * 4), *b = tc_xmalloc(n * 4);
    if (cpu->ops->download_f32(cpu, &p->c, a, &err)) tc_die("cpu download", &err);
    if (gpu->ops->download_f32(gpu, &p->g, b, &err)) tc_die("gpu download", &err);
    for (size_t i = 0; i < n; i++) {
        if ((a[i] != a[i]) != (b[i] != b[i])) off++;
        if (a[i] != a[i]) nans++;
        if (a[i] != a[i] || b[i] != b[i]) a[i] = b[i] = 0.f;
    }
    double e = xm_test_rel_err(b, a, n);
    XM_CHECKF(off == 0 && nans > 0, "%s: %zu of %zu NaN places differ (CPU has %zu NaN)", name,
              off, n, nans);
    XM_CHECKF(e <= tol, "%s: relative error %.3g > %.3g (NaN places aside)", name, e, tol);
    free(a);
    free(b);
}

/* nan_every > 0: every nan_every-th input is NaN (several per window), which
 * must win its windows and take their gradient in both backends. */
static void test_maxpool_nan(int n, int h, int w, int c, int k, int s, int pad, int nan_every)
{
    snprintf(tag, sizeof tag, "[%s] maxpool %dx%dx%dx%d k%d s%d p%d%s", prec_tag(), n, h, w, c,
             k, s, pad, nan_every ? " NaN" : "");
    xm_err err = {0};
    xm_pool_desc d = {.n = n, .h = h, .w = w, .c = c, .k = k, .stride = s, .pad = pad};
    if (xm_pool_desc_finish(&d, &err)) tc_die("pool desc", &err);
    void *pc = cpu->ops->pool_plan(cpu, &d, &err);
    void *pg = gpu->ops->pool_plan(gpu, &d, &err);
    XM_CHECKF(pc && pg, "%s: pool_plan: %s", tag, err.msg);
    if (!pc || !pg) return;
    /* distinct values per (n, c) plane, exact in bf16: no ties */
    size_t cnt = (size_t)n * h * w * c;
    float *xh = tc_xmalloc(cnt * 4);
    xm_rng r;
    xm_rng_init(&r, 31, 1);
    int64_t *perm = tc_xmalloc((size_t)h * w * 8);
    for (int ni = 0; ni < n; ni++)
        for (int ci = 0; ci < c; ci++) {
            for (int i = 0; i < h * w; i++) perm[i] = i;
            xm_rng_shuffle_i64(&r, perm, h * w);
            for (int i = 0; i < h * w; i++)
                xh[((size_t)ni * h * w + i) * c + ci] = (float)(perm[i] - h * w / 2) * 0.25f;
        }
    if (nan_every > 0)
        for (size_t i = 3; i < cnt; i += (size_t)nan_every) xh[i] = NAN;
    tc_pair x = tc_pair_new(cpu, gpu, n, h, w, c, act);
    tc_pair_set(cpu, gpu, &x, xh);
    tc_pair y = tc_pair_new(cpu, gpu, n, d.oh, d.ow, c, act);
    TC_OK(cpu->ops->maxpool_fwd(cpu, pc, &x.c, &y.c, err));
    TC_OK(gpu->ops->maxpool_fwd(gpu, pg, &x.g, &y.g, err));
    if (nan_every > 0) cmp_with_nans(&y, nm("fwd"), 1e-6);
    else tc_pair_cmp(cpu, gpu, &y, nm("fwd"), 1e-6);
    tc_pair dy = act_input(n, d.oh, d.ow, c, 32, 1.f);
    tc_pair dx = tc_pair_new(cpu, gpu, n, h, w, c, act);
    TC_OK(cpu->ops->maxpool_bwd(cpu, pc, &x.c, &y.c, &dy.c, &dx.c, err));
    TC_OK(gpu->ops->maxpool_bwd(gpu, pg, &x.g, &y.g, &dy.g, &dx.g, err));
    tc_pair_cmp(cpu, gpu, &dx, nm("bwd"), act == XM_DT_F32 ? 1e-6 : tol);
    free(xh);
    free(perm);
    tc_pair_free(cpu, gpu, &x);
    tc_pair_free(cpu, gpu, &y);
    tc_pair_free(cpu, gpu, &dy);
    tc_pair_free(cpu, gpu, &dx);
    cpu->ops->plan_free(cpu, pc);
    gpu->ops->plan_free(gpu, pg);
}

static void test_maxpool(int n, int h, int w, int c, int k, int s, int pad)
{
    test_maxpool_nan(n, h, w, c, k, s, pad, 0);
}

/* ---- F32 head: linear, loss ---- */

static void test_linear(int n, int in, int out, int bias)
{
    snprintf(tag, sizeof tag, "[%s] linear %d %d->%d bias%d", prec_tag(), n, in, out, bias);
    float *xh = tc_xmalloc((size_t)n * in * 4), *wh = tc_xmalloc((size_t)out * in * 4),
          *bh = tc_xmalloc(out * 4), *dyh = tc_xmalloc((size_t)n * out * 4);
    tc_normal(xh, (size_t)n * in, 41, 1.f);
    tc_normal(wh, (size_t)out * in, 42, 0.2f);
    tc_normal(bh, out, 43, 0.5f);
    tc_normal(dyh, (size_t)n * out, 44, 1.f);
    tc_pair x = tc_pair_new(cpu, gpu, n, 1, 1, in, XM_DT_F32);
    tc_pair_set(cpu, gpu, &x, xh);
    tc_pair y = tc_pair_new(cpu, gpu, n, 1, 1, out, XM_DT_F32);
    tc_pair dy = tc_pair_new(cpu, gpu, n, 1, 1, out, XM_DT_F32);
    tc_pair_set(cpu, gpu, &dy, dyh);
    tc_pair dx = tc_pair_new(cpu, gpu, n, 1, 1, in, XM_DT_F32);
    tc_buf wb = tc_buf_new(cpu, gpu, (size_t)out * in, wh), bb = tc_buf_new(cpu, gpu, out, bh);
    tc_buf dw = tc_buf_new(cpu, gpu, (size_t)out * in, NULL), db = tc_buf_new(cpu, gpu, out, NULL);
    TC_OK(cpu->ops->linear_fwd(cpu, &x.c, wb.c, bias ? bb.c : NULL, &y.c, err));
    TC_OK(gpu->ops->linear_fwd(gpu, &x.g, wb.g, bias ? bb.g : NULL, &y.g, err));
    tc_pair_cmp(cpu, gpu, &y, nm("fwd"), 1e-5);
    TC_OK(cpu->ops->linear_bwd(cpu, &x.c, &dy.c, wb.c, &dx.c, dw.c, bias ? db.c : NULL, err));
    TC_OK(gpu->ops->linear_bwd(gpu, &x.g, &dy.g, wb.g, &dx.g, dw.g, bias ? db.g : NULL, err));
    tc_pair_cmp(cpu, gpu, &dx, nm("bwd dx"), 1e-5);
    tc_buf_cmp(cpu, gpu, &dw, nm("bwd dw"), 1e-5);
    if (bias) tc_buf_cmp(cpu, gpu, &db, nm("bwd db"), 1e-5);
    /* dx not needed */
    TC_OK(gpu->ops->linear_bwd(gpu, &x.g, &dy.g, wb.g, NULL, dw.g, NULL, err));
    tc_buf_cmp(cpu, gpu, &dw, nm("bwd dw (dx NULL)"), 1e-5);
    free(xh), free(wh), free(bh), free(dyh);
    tc_pair_free(cpu, gpu, &x);
    tc_pair_free(cpu, gpu, &y);
    tc_pair_free(cpu, gpu, &dy);
    tc_pair_free(cpu, gpu, &dx);
    tc_buf_free(cpu, gpu, &wb);
    tc_buf_free(cpu, gpu, &bb);
    tc_buf_free(cpu, gpu, &dw);
    tc_buf_free(cpu, gpu, &db);
}

static void test_loss(int n, int k)
{
    snprintf(tag, sizeof tag, "[%s] softmax_xent %dx%d", prec_tag(), n, k);
    float *z = tc_xmalloc((size_t)n * k * 4), *t = tc_xmalloc((size_t)n * k * 4);
    tc_normal(z, (size_t)n * k, 51, 3.f);
    /* soft labels: two classes per row weighted lam, 1 - lam, rows scaled by
     * a head weight that is not 1 (split label mode) */
    xm_rng r;
    xm_rng_init(&r, 52, 0);
    for (int i = 0; i < n; i++) {
        float lam = (float)xm_rng_uniform(&r), hw = 0.3f + 0.7f * (float)(i % 2);
        t[(size_t)i * k + xm_rng_below(&r, k)] += lam * hw;
        t[(size_t)i * k + xm_rng_below(&r, k)] += (1.f - lam) * hw;
    }
    tc_pair zl = tc_pair_new(cpu, gpu, n, 1, 1, k, XM_DT_F32);
    tc_pair tl = tc_pair_new(cpu, gpu, n, 1, 1, k, XM_DT_F32);
    tc_pair dz = tc_pair_new(cpu, gpu, n, 1, 1, k, XM_DT_F32);
    tc_pair_set(cpu, gpu, &zl, z);
    tc_pair_set(cpu, gpu, &tl, t);
    double lc = -1, lg = -2;
    TC_OK(cpu->ops->softmax_xent(cpu, &zl.c, &tl.c, &lc, &dz.c, err));
    TC_OK(gpu->ops->softmax_xent(gpu, &zl.g, &tl.g, &lg, &dz.g, err));
    XM_CHECKF(fabs(lc - lg) <= 1e-5 * fabs(lc) + 1e-7, "%s: loss %.9g vs cpu %.9g", tag, lg, lc);
    tc_pair_cmp(cpu, gpu, &dz, nm("dlogits"), 1e-5);
    /* loss only, no gradient */
    lg = -3;
    TC_OK(gpu->ops->softmax_xent(gpu, &zl.g, &tl.g, &lg, NULL, err));
    XM_CHECKF(fabs(lc - lg) <= 1e-5 * fabs(lc) + 1e-7, "%s: loss (no grad) %.9g vs %.9g", tag, lg,
              lc);
    free(z), free(t);
    tc_pair_free(cpu, gpu, &zl);
    tc_pair_free(cpu, gpu, &tl);
    tc_pair_free(cpu, gpu, &dz);
}

/* ---- the input step ---- */

static void test_input_mix(int c, int S)
{
    snprintf(tag, sizeof tag, "[%s] input_mix c%d S%d", prec_tag(), c, S);
    xm_err err = {0};
    int sizes[3][2] = {{20, 24}, {S, S}, {30, 13}};
    int64_t off[3];
    size_t bytes = 0;
    for (int i = 0; i < 3; i++) {
        off[i] = (int64_t)bytes;
        bytes += (size_t)sizes[i][0] * sizes[i][1] * c;
    }
    uint8_t *rec = tc_xmalloc(bytes);
    xm_rng r;
    xm_rng_init(&r, 61, 0);
    for (size_t i = 0; i < bytes; i++) rec[i] = (uint8_t)xm_rng_below(&r, 256);
    uint8_t *rc = cpu->ops->alloc(cpu, bytes, &err), *rg = gpu->ops->alloc(gpu, bytes, &err);
    if (!rc || !rg) tc_die("records", &err);
    if (cpu->ops->upload(cpu, rc, rec, bytes, &err) || gpu->ops->upload(gpu, rg, rec, bytes, &err))
        tc_die("records upload", &err);
    enum { N = 6 };
    xm_mix_item it[N];
    memset(it, 0, sizeof it);
    for (int i = 0; i < N; i++) {
        int a = i % 3, b = (i + 1) % 3;
        it[i].off_a = off[a];
        it[i].ha = sizes[a][0], it[i].wa = sizes[a][1];
        it[i].off_b = (i == 2 || i == 5) ? -1 : off[b];
        it[i].hb = sizes[b][0], it[i].wb = sizes[b][1];
        it[i].lam = 0.15f * (float)(i + 1);
        it[i].flip_a = i & 1;
        it[i].flip_b = (i >> 1) & 1;
    }
    /* crops: inside, straddling the top-left, straddling the bottom-right,
     * entirely outside, exactly aligned */
    it[0].ya = 2, it[0].xa = 3, it[0].yb = 0, it[0].xb = 0;
    it[1].ya = -4, it[1].xa = -3, it[1].yb = 5, it[1].xb = 7;
    it[2].ya = 10, it[2].xa = 12;
    it[3].ya = 100, it[3].xa = -100, it[3].yb = -2, it[3].xb = 1;
    it[4].ya = 0, it[4].xa = 0, it[4].yb = 20, it[4].xb = -5;
    it[5].ya = -1, it[5].xa = 2;
    float mean[4] = {0.485f, 0.456f, 0.406f, 0.5f}, sd[4] = {0.229f, 0.224f, 0.225f, 0.25f};
    tc_pair x = tc_pair_new(cpu, gpu, N, S, S, c, act);
    TC_OK(cpu->ops->input_mix(cpu, rc, it, mean, sd, &x.c, err));
    TC_OK(gpu->ops->input_mix(gpu, rg, it, mean, sd, &x.g, err));
    tc_pair_cmp(cpu, gpu, &x, nm("x"), act == XM_DT_F32 ? 1e-5 : tol);
    /* reuse of the staging buffer: change the items, run again */
    for (int i = 0; i < N; i++) it[i].flip_a = !it[i].flip_a, it[i].lam = 1.f - it[i].lam;
    TC_OK(cpu->ops->input_mix(cpu, rc, it, mean, sd, &x.c, err));
    TC_OK(gpu->ops->input_mix(gpu, rg, it, mean, sd, &x.g, err));
    tc_pair_cmp(cpu, gpu, &x, nm("x (second batch)"), act == XM_DT_F32 ? 1e-5 : tol);
    free(rec);
    cpu->ops->free(cpu, rc);
    gpu->ops->free(gpu, rg);
    tc_pair_free(cpu, gpu, &x);
}

/* ---- optimizer ---- */

static void test_sgd(int nesterov, float l2sp)
{
    snprintf(tag, sizeof tag, "[%s] sgd nesterov%d l2sp%g", prec_tag(), nesterov,
             (double)l2sp);
    size_t n = 100003;
    float *w = tc_xmalloc(n * 4), *g = tc_xmalloc(n * 4);
    tc_normal(w, n, 71, 1.f);
    tc_buf wb = tc_buf_new(cpu, gpu, n, w), w0 = tc_buf_new(cpu, gpu, n, w),
           gb = tc_buf_new(cpu, gpu, n, NULL), mb = tc_buf_new(cpu, gpu, n, NULL);
    xm_sgd_cfg cfg = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .l2sp = l2sp,
                      .nesterov = nesterov};
    for (int step = 0; step < 3; step++) {
        tc_normal(g, n, 72 + step, 1.f);
        TC_OK(cpu->ops->upload(cpu, gb.c, g, n * 4, err));
        TC_OK(gpu->ops->upload(gpu, gb.g, g, n * 4, err));
        TC_OK(cpu->ops->sgd_update(cpu, wb.c, gb.c, mb.c, l2sp != 0.f ? w0.c : NULL, n, &cfg, err));
        TC_OK(gpu->ops->sgd_update(gpu, wb.g, gb.g, mb.g, l2sp != 0.f ? w0.g : NULL, n, &cfg, err));
    }
    tc_buf_cmp(cpu, gpu, &wb, nm("w after 3 steps"), 1e-6);
    tc_buf_cmp(cpu, gpu, &mb, nm("momentum after 3 steps"), 1e-6);
    free(w), free(g);
    tc_buf_free(cpu, gpu, &wb);
    tc_buf_free(cpu, gpu, &w0);
    tc_buf_free(cpu, gpu, &gb);
    tc_buf_free(cpu, gpu, &mb);
}

/* loss scaling: the same bits as the CPU (one multiply), and the finite flag
 * for an overflow, a NaN near the start and an inf in the last element */
static void test_scale(void)
{
    snprintf(tag, sizeof tag, "[%s] scale_f32", prec_tag());
    size_t n = 300007;
    float *h = tc_xmalloc(n * 4);
    tc_normal(h, n, 81, 1.f);
    tc_buf b = tc_buf_new(cpu, gpu, n, h);
    int fc = -1, fg = -1;
    TC_OK(cpu->ops->scale_f32(cpu, b.c, n, 65536.f, &fc, err));
    TC_OK(gpu->ops->scale_f32(gpu, b.g, n, 65536.f, &fg, err));
    XM_CHECKF(fc == 1 && fg == 1, "%s: finite flags %d (cpu) %d (gpu)", tag, fc, fg);
    TC_OK(gpu->ops->scale_f32(gpu, b.g, n, 1.f / 1024.f, NULL, err));
    TC_OK(cpu->ops->scale_f32(cpu, b.c, n, 1.f / 1024.f, NULL, err));
    tc_buf_cmp(cpu, gpu, &b, nm("scaled values"), 0.0);
    TC_OK(gpu->ops->scale_f32(gpu, b.g, n, 0x1p127f, &fg, err));
    XM_CHECKF(fg == 0, "%s: overflow not reported", tag);
    const float bad[2] = {NAN, INFINITY};
    const size_t at[2] = {3, n - 1};
    for (int k = 0; k < 2; k++) {
        TC_OK(gpu->ops->upload(gpu, b.g, h, n * 4, err));
        TC_OK(gpu->ops->upload(gpu, b.g + at[k], &bad[k], 4, err));
        fg = -1;
        TC_OK(gpu->ops->scale_f32(gpu, b.g, n, 0.5f, &fg, err));
        XM_CHECKF(fg == 0, "%s: %s at %zu not reported", tag, k ? "inf" : "NaN", at[k]);
    }
    free(h);
    tc_buf_free(cpu, gpu, &b);
}

#ifndef TC_FAKE_GPU
static int env_is(const char *name, const char *v)
{
    const char *e = getenv(name);
    return e && !strcmp(e, v);
}

/* With their switches set, the optional kernels ran (shapes above qualify
 * for each); without, they did not. Else a run with the switches would pass
 * on the default kernels and prove nothing about the new ones. */
static void check_paths(void)
{
    unsigned used = xm_cuda_paths_used(gpu), want = 0;
    if (env_is("XM_CUDA_BN_RED", "parts") && !env_is("XM_CUDA_BN_VEC", "0"))
        want |= XM_CUDA_PATH_BN_PARTS_FWD | XM_CUDA_PATH_BN_PARTS_BWD;
    const char *pv = getenv("XM_CUDA_POOL_VEC");
    if (pv && *pv && strcmp(pv, "0"))
        want |= XM_CUDA_PATH_POOL_VEC_FWD | XM_CUDA_PATH_POOL_VEC_BWD;
    XM_CHECKF(used == want, "[%s] optional kernels run: 0x%x, switches ask for 0x%x", prec_tag(),
              used, want);
    fprintf(stderr, "[%s] optional kernels run: 0x%x\n", prec_tag(), used);
}
#endif

static void run_all(xm_precision prec)
{
    cur_prec = prec;
    gpu = tc_gpu_new(prec);
    act = gpu->act_dtype;
    tol = prec == XM_PREC_F32 ? 1e-4 : 1e-2;
    fprintf(stderr, "precision %s (activations %s)\n", tc_prec_name(prec),
            act == XM_DT_F32 ? "f32" : act == XM_DT_BF16 ? "bf16" : "f16");
    /* stride 2, padding, 1x1, 7x7, c_in 1 and 3 */
    test_conv(2, 9, 9, 3, 8, 3, 1, 1);
    test_conv(2, 10, 10, 4, 6, 3, 2, 1);
    test_conv(2, 8, 8, 16, 32, 1, 1, 0);
    test_conv(2, 8, 8, 8, 16, 1, 2, 0);
    test_conv(1, 20, 20, 3, 8, 7, 2, 3);
    test_conv(3, 7, 7, 1, 4, 3, 1, 1);
    test_conv(2, 6, 6, 5, 7, 3, 1, 0);
    test_conv(2, 14, 14, 64, 64, 3, 1, 1);
    test_bn(4, 5, 5, 8, 0);
    test_bn(4, 5, 5, 8, 1);
    test_bn(2, 3, 3, 40, 1);
    test_bn(8, 16, 16, 64, 0);
    test_bn(2, 5, 5, 12, 1); /* C not a multiple of 8: scalar paths */
    test_bn(3, 4, 5, 3, 0);
    /* large C over few rows (one 256-group slice; two slices), many rows */
    test_bn(2, 2, 3, 2048, 0);
    test_bn(2, 3, 2, 4096, 1);
    test_bn(4, 7, 7, 1024, 1);
    test_bn(64, 8, 8, 256, 1);
    test_bn(2, 4, 4, 24, 0); /* C = 8 G with G not a power of two */
    /* uneven rows per thread in the partials (XM_CUDA_BN_RED=parts): a
     * leftover row in many blocks, and two channel slices over many blocks */
    test_bn(3, 7, 7, 64, 1);
    test_bn(5, 9, 9, 2048, 0);
    test_bn(3, 7, 7, 4096, 1);
    test_eltwise(3, 5, 7, 19);
    test_eltwise(2, 4, 4, 16);
    test_maxpool(2, 9, 9, 4, 3, 2, 1);
    test_maxpool(2, 8, 8, 3, 2, 2, 0);
    test_maxpool(1, 7, 7, 5, 3, 1, 1);
    /* C % 8 == 0: the 8-channel kernels when XM_CUDA_POOL_VEC=1 */
    test_maxpool(2, 11, 11, 16, 3, 2, 1);
    test_maxpool(3, 12, 10, 64, 3, 2, 1);
    test_maxpool(1, 6, 6, 8, 2, 2, 0);
    test_maxpool_nan(2, 9, 9, 4, 3, 2, 1, 5);  /* scalar kernels */
    test_maxpool_nan(2, 11, 11, 16, 3, 2, 1, 7); /* 8 channels a thread with XM_CUDA_POOL_VEC=1 */
    test_linear(5, 37, 11, 1);
    test_linear(8, 64, 10, 0);
    test_loss(6, 13);
    test_loss(4, 1000);
    test_input_mix(3, 16);
    test_input_mix(1, 12);
    test_sgd(0, 0.f);
    test_sgd(1, 0.01f);
    test_scale();
#ifndef TC_FAKE_GPU
    check_paths();
#endif
    xm_backend_free(gpu);
    gpu = NULL;
}

/* name is one of the comma-separated words of list */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t w = strcspn(p, ",");
        if (w == n && !strncmp(p, name, n)) return 1;
        p += w + (p[w] == ',');
    }
    return 0;
}

int main(void)
{
    if (xm_cuda_device_count() <= 0) return xm_test_skip("no GPU");
    cpu = tc_cpu_new();
    /* XM_TEST_PRECISIONS=f32,bf16 (e.g. under compute-sanitizer): only those */
    const char *only = getenv("XM_TEST_PRECISIONS");
    const xm_precision all[3] = {XM_PREC_F32, XM_PREC_BF16, XM_PREC_F16};
    for (int i = 0; i < 3; i++)
        if (!only || listed(only, tc_prec_name(all[i]))) run_all(all[i]);
    xm_backend_free(cpu);
    return xm_test_finish();
}

#else

int main(void) { return xm_test_skip("no GPU (this build has no CUDA backend)"); }

#endif
