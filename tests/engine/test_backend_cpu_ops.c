/* test_backend_cpu_ops.c: the CPU backend's non-convolution ops against
 * naive double references and finite differences: batch norm (training,
 * inference, backward, running statistics, fused ReLU), add, relu_bwd, max
 * pool, global average pool, linear, softmax cross-entropy with soft
 * labels, the input step and SGD; plus bit-identical results for 1 and 2
 * threads. */
#include "test_backend_cpu.h"

static xm_err err;

/* ---------------- batch norm ---------------- */

typedef struct bn_ctx {
    xm_backend *be;
    xm_tensor *x, *y;
    float *gamma, *beta, *r;
    int relu;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *c = p;
    int ch = c->x->c;
    float rm[64], rv[64], sm[64], si[64];
    memset(rm, 0, sizeof rm);
    memset(rv, 0, sizeof rv);
    if (c->be->ops->bn_fwd_train(c->be, c->x, c->gamma, c->beta, rm, rv, 0.1f, 1e-5f, sm, si,
                                 c->relu, c->y, &err))
        return NAN;
    (void)ch;
    return tb_dot(c->y->data, c->r, xm_tensor_count(c->y));
}

static void test_bn(xm_backend *be, int n, int h, int w, int ch, float offset, int relu, int id)
{
    char name[96];
    xm_tensor x = tb_tensor(be, n, h, w, ch), y = tb_tensor(be, n, h, w, ch);
    xm_tensor dx = tb_tensor(be, n, h, w, ch), dy = tb_tensor(be, n, h, w, ch);
    size_t cnt = xm_tensor_count(&x), m = cnt / ch;
    float *g = tb_floats(be, ch), *b = tb_floats(be, ch), *rm = tb_floats(be, ch),
          *rv = tb_floats(be, ch), *sm = tb_floats(be, ch), *si = tb_floats(be, ch),
          *dg = tb_floats(be, ch), *db = tb_floats(be, ch);
    float *xd = x.data;
    tb_fill(xd, cnt, 1000 + id, -1, 1);
    for (size_t i = 0; i < cnt; i++) xd[i] = xd[i] * (1.0f + (float)(i % ch)) + offset;
    tb_fill(g, ch, 1100 + id, 0.5f, 1.5f);
    tb_fill(b, ch, 1200 + id, -0.5f, 0.5f);
    tb_fill(rm, ch, 1300 + id, -0.2f, 0.2f);
    tb_fill(rv, ch, 1400 + id, 0.5f, 1.5f);
    tb_fill(dy.data, cnt, 1500 + id, -1, 1);
    float *rm0 = malloc(ch * sizeof(float)), *rv0 = malloc(ch * sizeof(float));
    memcpy(rm0, rm, ch * sizeof(float));
    memcpy(rv0, rv, ch * sizeof(float));

    TB_OK(be->ops->bn_fwd_train(be, &x, g, b, rm, rv, 0.1f, 1e-5f, sm, si, relu, &y, &err));

    /* reference */
    double *mean = calloc(ch, sizeof(double)), *var = calloc(ch, sizeof(double));
    double *ref = malloc(cnt * sizeof(double)), *rd = malloc(2 * ch * sizeof(double));
    for (size_t i = 0; i < cnt; i++) mean[i % ch] += xd[i];
    for (int j = 0; j < ch; j++) mean[j] /= (double)m;
    for (size_t i = 0; i < cnt; i++) var[i % ch] += (xd[i] - mean[i % ch]) * (xd[i] - mean[i % ch]);
    for (int j = 0; j < ch; j++) var[j] /= (double)m;
    for (size_t i = 0; i < cnt; i++) {
        int j = (int)(i % ch);
        double v = (xd[i] - mean[j]) / sqrt(var[j] + 1e-5) * g[j] + b[j];
        ref[i] = relu && v < 0 ? 0 : v;
    }
    snprintf(name, sizeof name, "bn_fwd_train y #%d", id);
    TB_CLOSE_D(name, y.data, ref, cnt, 1e-5);
    for (int j = 0; j < ch; j++) {
        rd[j] = mean[j];
        rd[ch + j] = 1 / sqrt(var[j] + 1e-5);
    }
    snprintf(name, sizeof name, "bn save_mean #%d", id);
    TB_CLOSE_D(name, sm, rd, ch, 1e-6);
    snprintf(name, sizeof name, "bn save_invstd #%d", id);
    TB_CLOSE_D(name, si, rd + ch, ch, 1e-6);
    for (int j = 0; j < ch; j++) {
        rd[j] = 0.9 * rm0[j] + 0.1 * mean[j];
        rd[ch + j] = 0.9 * rv0[j] + 0.1 * var[j] * (double)m / (double)(m - 1);
    }
    snprintf(name, sizeof name, "bn running_mean #%d", id);
    TB_CLOSE_D(name, rm, rd, ch, 1e-6);
    snprintf(name, sizeof name, "bn running_var #%d", id);
    TB_CLOSE_D(name, rv, rd + ch, ch, 1e-6);

    /* backward, analytic reference in double */
    TB_OK(be->ops->bn_bwd(be, &x, relu ? &y : NULL, &dy, g, sm, si, &dx, dg, db, &err));
    const float *dyd = dy.data, *yd = y.data;
    double *sg = calloc(ch, sizeof(double)), *sgx = calloc(ch, sizeof(double));
    for (size_t i = 0; i < cnt; i++) {
        int j = (int)(i % ch);
        double gi = (!relu || yd[i] > 0) ? dyd[i] : 0;
        sg[j] += gi;
        sgx[j] += gi * (xd[i] - mean[j]) / sqrt(var[j] + 1e-5);
    }
    for (size_t i = 0; i < cnt; i++) {
        int j = (int)(i % ch);
        double is = 1 / sqrt(var[j] + 1e-5), xh = (xd[i] - mean[j]) * is;
        double gi = (!relu || yd[i] > 0) ? dyd[i] : 0;
        ref[i] = g[j] * is / (double)m * ((double)m * gi - sg[j] - xh * sgx[j]);
    }
    snprintf(name, sizeof name, "bn_bwd dx #%d", id);
    TB_CLOSE_D(name, dx.data, ref, cnt, 1e-5);
    snprintf(name, sizeof name, "bn_bwd dgamma #%d", id);
    TB_CLOSE_D(name, dg, sgx, ch, 1e-5);
    snprintf(name, sizeof name, "bn_bwd dbeta #%d", id);
    TB_CLOSE_D(name, db, sg, ch, 1e-5);

    /* dx may alias dy */
    float *dyc = malloc(cnt * sizeof(float)), *dx1 = malloc(cnt * sizeof(float));
    memcpy(dyc, dy.data, cnt * sizeof(float));
    memcpy(dx1, dx.data, cnt * sizeof(float));
    TB_OK(be->ops->bn_bwd(be, &x, relu ? &y : NULL, &dy, g, sm, si, &dy, dg, db, &err));
    snprintf(name, sizeof name, "bn_bwd in place #%d", id);
    XM_CHECKF(!memcmp(dy.data, dx1, cnt * sizeof(float)), "%s differs", name);
    memcpy(dy.data, dyc, cnt * sizeof(float));

    /* finite differences of L = sum(bn(x) * dy). With ReLU fused, gamma and
     * beta move whole channels across the kink, which finite differences
     * cannot follow: those cases are checked against the analytic reference
     * above, and by differences in x only. */
    if (ch <= 64) {
        bn_ctx c = {be, &x, &y, g, b, dyc, relu};
        snprintf(name, sizeof name, "bn d/dx #%d", id);
        tb_fd_check(name, bn_loss, &c, xd, dx.data, cnt, 12, 1e-2f, 1e-2, 1600 + id);
        if (!relu) {
            snprintf(name, sizeof name, "bn d/dgamma #%d", id);
            tb_fd_check(name, bn_loss, &c, g, dg, ch, 6, 1e-2f, 1e-2, 1700 + id);
            snprintf(name, sizeof name, "bn d/dbeta #%d", id);
            tb_fd_check(name, bn_loss, &c, b, db, ch, 6, 1e-2f, 1e-2, 1800 + id);
        }
    }

    /* inference with the running statistics */
    TB_OK(be->ops->bn_fwd_infer(be, &x, g, b, rm, rv, 1e-5f, relu, &y, &err));
    for (size_t i = 0; i < cnt; i++) {
        int j = (int)(i % ch);
        double v = (xd[i] - rm[j]) / sqrt((double)rv[j] + 1e-5) * g[j] + b[j];
        ref[i] = relu && v < 0 ? 0 : v;
    }
    snprintf(name, sizeof name, "bn_fwd_infer #%d", id);
    TB_CLOSE_D(name, y.data, ref, cnt, 1e-5);

    free(mean); free(var); free(ref); free(rd); free(sg); free(sgx); free(dyc); free(dx1);
    free(rm0); free(rv0);
    float *fl[] = {g, b, rm, rv, sm, si, dg, db};
    for (int i = 0; i < 8; i++) be->ops->free(be, fl[i]);
    xm_tensor_release(be, &x); xm_tensor_release(be, &y);
    xm_tensor_release(be, &dx); xm_tensor_release(be, &dy);
}

/* ---------------- add, relu_bwd ---------------- */

static void test_add_relu(xm_backend *be)
{
    xm_tensor a = tb_tensor(be, 2, 3, 5, 7), b = tb_tensor(be, 2, 3, 5, 7), y = tb_tensor(be, 2, 3, 5, 7);
    size_t n = xm_tensor_count(&a);
    tb_fill(a.data, n, 2000, -1, 1);
    tb_fill(b.data, n, 2001, -1, 1);
    const float *ad = a.data, *bd = b.data;
    double *ref = malloc(n * sizeof(double));
    for (int relu = 0; relu < 2; relu++) {
        TB_OK(be->ops->add(be, &a, &b, relu, &y, &err));
        for (size_t i = 0; i < n; i++) {
            double v = (double)ad[i] + bd[i];
            ref[i] = relu && v < 0 ? 0 : v;
        }
        TB_CLOSE_D(relu ? "add+relu" : "add", y.data, ref, n, 1e-7);
    }
    /* y aliases a */
    float *keep = malloc(n * sizeof(float));
    memcpy(keep, y.data, n * sizeof(float));
    TB_OK(be->ops->add(be, &a, &b, 1, &a, &err));
    XM_CHECK(!memcmp(a.data, keep, n * sizeof(float)));
    /* relu_bwd: y from the add above; dx aliases dy */
    tb_fill(b.data, n, 2002, -1, 1);
    for (size_t i = 0; i < n; i++) ref[i] = ((float *)y.data)[i] > 0 ? bd[i] : 0;
    TB_OK(be->ops->relu_bwd(be, &y, &b, &b, &err));
    TB_CLOSE_D("relu_bwd", b.data, ref, n, 0);
    free(ref);
    free(keep);
    xm_tensor_release(be, &a); xm_tensor_release(be, &b); xm_tensor_release(be, &y);
}

/* ---------------- max pool ---------------- */

typedef struct pool_ctx {
    xm_backend *be;
    void *plan;
    xm_tensor *x, *y;
    const float *r;
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    if (c->be->ops->maxpool_fwd(c->be, c->plan, c->x, c->y, &err)) return NAN;
    return tb_dot(c->y->data, c->r, xm_tensor_count(c->y));
}

static void test_maxpool(xm_backend *be, int n, int h, int w, int ch, int k, int s, int p,
                         int zeros, int id)
{
    char name[96];
    xm_pool_desc d = {.n = n, .h = h, .w = w, .c = ch, .k = k, .stride = s, .pad = p};
    TB_OK(xm_pool_desc_finish(&d, &err));
    void *plan = be->ops->pool_plan(be, &d, &err);
    XM_CHECKF(plan != NULL, "pool_plan: %s", err.msg);
    xm_tensor x = tb_tensor(be, n, h, w, ch), y = tb_tensor(be, n, d.oh, d.ow, ch);
    xm_tensor dx = tb_tensor(be, n, h, w, ch), dy = tb_tensor(be, n, d.oh, d.ow, ch);
    size_t nx = xm_tensor_count(&x), ny = xm_tensor_count(&y);
    float *xd = x.data;
    if (!zeros) {
        /* distinct values 0.01 apart, so a finite-difference step of 1e-3
         * never changes which element is the maximum */
        int64_t *perm = malloc(nx * sizeof(int64_t));
        for (size_t i = 0; i < nx; i++) perm[i] = (int64_t)i;
        xm_rng r;
        xm_rng_init(&r, 1, 2100 + id);
        xm_rng_shuffle_i64(&r, perm, (int64_t)nx);
        for (size_t i = 0; i < nx; i++) xd[i] = (float)(perm[i] - (int64_t)nx / 2) * 0.01f;
        free(perm);
    }
    tb_fill(dy.data, ny, 2200 + id, -1, 1);
    TB_OK(be->ops->maxpool_fwd(be, plan, &x, &y, &err));
    TB_OK(be->ops->maxpool_bwd(be, plan, &x, &y, &dy, &dx, &err));
    double *ry = malloc(ny * sizeof(double)), *rdx = calloc(nx, sizeof(double));
    const float *dyd = dy.data;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < d.oh; oy++)
            for (int ox = 0; ox < d.ow; ox++)
                for (int c = 0; c < ch; c++) {
                    double best = -INFINITY;
                    size_t arg = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            size_t i = (((size_t)b * h + iy) * w + ix) * ch + c;
                            if (xd[i] > best) { best = xd[i]; arg = i; }
                        }
                    size_t o = (((size_t)b * d.oh + oy) * d.ow + ox) * ch + c;
                    ry[o] = best;
                    rdx[arg] += dyd[o];
                }
    snprintf(name, sizeof name, "maxpool_fwd #%d", id);
    TB_CLOSE_D(name, y.data, ry, ny, 0);
    snprintf(name, sizeof name, "maxpool_bwd #%d", id);
    TB_CLOSE_D(name, dx.data, rdx, nx, 1e-6);
    if (!zeros) {
        pool_ctx c = {be, plan, &x, &y, dy.data};
        snprintf(name, sizeof name, "maxpool d/dx #%d", id);
        tb_fd_check(name, pool_loss, &c, xd, dx.data, nx, 16, 1e-3f, 1e-2, 2300 + id);
    }
    free(ry); free(rdx);
    be->ops->plan_free(be, plan);
    xm_tensor_release(be, &x); xm_tensor_release(be, &y);
    xm_tensor_release(be, &dx); xm_tensor_release(be, &dy);
}

/* ---------------- global average pool ---------------- */

typedef struct gap_ctx {
    xm_backend *be;
    xm_tensor *x, *y;
    const float *r;
} gap_ctx;

static double gap_loss(void *p)
{
    gap_ctx *c = p;
    if (c->be->ops->gap_fwd(c->be, c->x, c->y, &err)) return NAN;
    return tb_dot(c->y->data, c->r, xm_tensor_count(c->y));
}

static void test_gap(xm_backend *be, int n, int h, int w, int ch, int id)
{
    char name[64];
    xm_tensor x = tb_tensor(be, n, h, w, ch), y = tb_tensor(be, n, 1, 1, ch);
    xm_tensor dx = tb_tensor(be, n, h, w, ch), dy = tb_tensor(be, n, 1, 1, ch);
    size_t nx = xm_tensor_count(&x), ny = xm_tensor_count(&y), hw = (size_t)h * w;
    tb_fill(x.data, nx, 2400 + id, -1, 2);
    tb_fill(dy.data, ny, 2500 + id, -1, 1);
    TB_OK(be->ops->gap_fwd(be, &x, &y, &err));
    TB_OK(be->ops->gap_bwd(be, &dy, &dx, &err));
    double *ry = calloc(ny, sizeof(double)), *rdx = malloc(nx * sizeof(double));
    const float *xd = x.data, *dyd = dy.data;
    for (size_t i = 0; i < nx; i++) {
        size_t o = (i / (hw * ch)) * ch + i % ch;
        ry[o] += xd[i] / (double)hw;
        rdx[i] = dyd[o] / (double)hw;
    }
    snprintf(name, sizeof name, "gap_fwd #%d", id);
    TB_CLOSE_D(name, y.data, ry, ny, 1e-6);
    snprintf(name, sizeof name, "gap_bwd #%d", id);
    TB_CLOSE_D(name, dx.data, rdx, nx, 1e-6);
    gap_ctx c = {be, &x, &y, dy.data};
    snprintf(name, sizeof name, "gap d/dx #%d", id);
    tb_fd_check(name, gap_loss, &c, x.data, dx.data, nx, 12, 1e-2f, 1e-2, 2600 + id);
    free(ry); free(rdx);
    xm_tensor_release(be, &x); xm_tensor_release(be, &y);
    xm_tensor_release(be, &dx); xm_tensor_release(be, &dy);
}

/* ---------------- linear ---------------- */

typedef struct lin_ctx {
    xm_backend *be;
    xm_tensor *x, *y;
    float *w, *b;
    const float *r;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    if (c->be->ops->linear_fwd(c->be, c->x, c->w, c->b, c->y, &err)) return NAN;
    return tb_dot(c->y->data, c->r, xm_tensor_count(c->y));
}

static void test_linear(xm_backend *be, int n, int in, int out, int bias, int id)
{
    char name[64];
    xm_tensor x = tb_tensor(be, n, 1, 1, in), y = tb_tensor(be, n, 1, 1, out);
    xm_tensor dx = tb_tensor(be, n, 1, 1, in), dy = tb_tensor(be, n, 1, 1, out);
    float *w = tb_floats(be, (size_t)out * in), *dw = tb_floats(be, (size_t)out * in);
    float *b = bias ? tb_floats(be, out) : NULL, *db = tb_floats(be, out);
    tb_fill(x.data, (size_t)n * in, 2700 + id, -1, 1);
    tb_fill(w, (size_t)out * in, 2800 + id, -1, 1);
    if (b) tb_fill(b, out, 2900 + id, -1, 1);
    tb_fill(dy.data, (size_t)n * out, 3000 + id, -1, 1);
    TB_OK(be->ops->linear_fwd(be, &x, w, b, &y, &err));
    TB_OK(be->ops->linear_bwd(be, &x, &dy, w, &dx, dw, b ? db : NULL, &err));
    const float *xd = x.data, *g = dy.data;
    double *ry = calloc((size_t)n * out, sizeof(double)), *rdx = calloc((size_t)n * in, sizeof(double));
    double *rdw = calloc((size_t)out * in, sizeof(double)), *rdb = calloc(out, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int k = 0; k < in; k++) {
                s += (double)xd[i * in + k] * w[(size_t)o * in + k];
                rdx[i * in + k] += (double)g[i * out + o] * w[(size_t)o * in + k];
                rdw[(size_t)o * in + k] += (double)g[i * out + o] * xd[i * in + k];
            }
            ry[i * out + o] = s;
            rdb[o] += g[i * out + o];
        }
    snprintf(name, sizeof name, "linear_fwd #%d", id);
    TB_CLOSE_D(name, y.data, ry, (size_t)n * out, 1e-5);
    snprintf(name, sizeof name, "linear_bwd dx #%d", id);
    TB_CLOSE_D(name, dx.data, rdx, (size_t)n * in, 1e-5);
    snprintf(name, sizeof name, "linear_bwd dw #%d", id);
    TB_CLOSE_D(name, dw, rdw, (size_t)out * in, 1e-5);
    if (b) {
        snprintf(name, sizeof name, "linear_bwd db #%d", id);
        TB_CLOSE_D(name, db, rdb, out, 1e-5);
    }
    /* dx not needed: NULL */
    memset(dw, 0, (size_t)out * in * sizeof(float));
    TB_OK(be->ops->linear_bwd(be, &x, &dy, w, NULL, dw, NULL, &err));
    snprintf(name, sizeof name, "linear_bwd dw (dx NULL) #%d", id);
    TB_CLOSE_D(name, dw, rdw, (size_t)out * in, 1e-5);
    lin_ctx c = {be, &x, &y, w, b, dy.data};
    snprintf(name, sizeof name, "linear d/dx #%d", id);
    tb_fd_check(name, lin_loss, &c, x.data, dx.data, (size_t)n * in, 10, 1e-2f, 1e-2, 3100 + id);
    snprintf(name, sizeof name, "linear d/dw #%d", id);
    tb_fd_check(name, lin_loss, &c, w, dw, (size_t)out * in, 10, 1e-2f, 1e-2, 3200 + id);
    if (b) {
        snprintf(name, sizeof name, "linear d/db #%d", id);
        tb_fd_check(name, lin_loss, &c, b, db, out, 5, 1e-2f, 1e-2, 3300 + id);
    }
    free(ry); free(rdx); free(rdw); free(rdb);
    be->ops->free(be, w); be->ops->free(be, dw); be->ops->free(be, b); be->ops->free(be, db);
    xm_tensor_release(be, &x); xm_tensor_release(be, &y);
    xm_tensor_release(be, &dx); xm_tensor_release(be, &dy);
}

/* ---------------- softmax cross-entropy ---------------- */

typedef struct xent_ctx {
    xm_backend *be;
    xm_tensor *z, *t;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    double loss = NAN;
    if (c->be->ops->softmax_xent(c->be, c->z, c->t, &loss, NULL, &err)) return NAN;
    return loss;
}

static void test_xent(xm_backend *be, int n, int k, int id)
{
    char name[64];
    xm_tensor z = tb_tensor(be, n, 1, 1, k), t = tb_tensor(be, n, 1, 1, k), dz = tb_tensor(be, n, 1, 1, k);
    float *zd = z.data, *td = t.data;
    tb_fill(zd, (size_t)n * k, 3400 + id, -4, 4);
    zd[0] = 60.0f; /* a large logit: the max shift must keep exp finite */
    tb_fill(td, (size_t)n * k, 3500 + id, 0, 1);
    /* soft labels with row sums 0.6..1.4, and one row all zero */
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) s += td[i * k + j];
        double want = i == n - 1 ? 0 : 0.6 + 0.8 * (double)i / n;
        for (int j = 0; j < k; j++) td[i * k + j] = (float)(td[i * k + j] / s * want);
    }
    double loss = 0;
    TB_OK(be->ops->softmax_xent(be, &z, &t, &loss, &dz, &err));
    double rl = 0, *rg = malloc((size_t)n * k * sizeof(double));
    for (int i = 0; i < n; i++) {
        double mx = -INFINITY, se = 0, st = 0;
        for (int j = 0; j < k; j++) mx = fmax(mx, zd[i * k + j]);
        for (int j = 0; j < k; j++) se += exp(zd[i * k + j] - mx);
        for (int j = 0; j < k; j++) st += td[i * k + j];
        for (int j = 0; j < k; j++) {
            double lp = zd[i * k + j] - mx - log(se);
            rl -= td[i * k + j] * lp / n;
            rg[i * k + j] = (exp(lp) * st - td[i * k + j]) / n;
        }
    }
    snprintf(name, sizeof name, "softmax_xent loss #%d", id);
    XM_CHECKF(fabs(loss - rl) <= 1e-6 * fabs(rl), "%s: %.9g vs %.9g", name, loss, rl);
    snprintf(name, sizeof name, "softmax_xent grad #%d", id);
    TB_CLOSE_D(name, dz.data, rg, (size_t)n * k, 1e-6);
    xent_ctx c = {be, &z, &t};
    snprintf(name, sizeof name, "softmax_xent d/dz #%d", id);
    tb_fd_check(name, xent_loss, &c, zd, dz.data, (size_t)n * k, 12, 1e-2f, 1e-2, 3600 + id);
    free(rg);
    xm_tensor_release(be, &z); xm_tensor_release(be, &t); xm_tensor_release(be, &dz);
}

/* ---------------- input step ---------------- */

static void test_input_mix(xm_backend *be, int ch)
{
    char name[64];
    /* three stored images of different sizes */
    const int hs[3] = {10, 7, 12}, ws[3] = {9, 11, 6};
    int64_t off[3], total = 0;
    for (int i = 0; i < 3; i++) {
        off[i] = total;
        total += (int64_t)hs[i] * ws[i] * ch;
    }
    uint8_t *rec = be->ops->alloc(be, (size_t)total, &err);
    xm_rng r;
    xm_rng_init(&r, 3, 3700 + ch);
    for (int64_t i = 0; i < total; i++) rec[i] = (uint8_t)xm_rng_below(&r, 256);
    const int S = 8, n = 5;
    xm_mix_item it[5] = {
        {off[0], off[1], 10, 9, 7, 11, 1, 0, 0, 2, 0, 0, 0.7f},   /* plain */
        {off[1], off[2], 7, 11, 12, 6, -2, -3, 5, 1, 1, 0, 0.25f}, /* negative crop, flip a */
        {off[2], off[0], 12, 6, 10, 9, 4, 1, 3, 4, 1, 1, 0.5f},    /* past the edge, both flipped */
        {off[0], -1, 10, 9, 0, 0, 1, 1, 0, 0, 1, 0, 0.1f},          /* no partner */
        {off[2], off[1], 12, 6, 7, 11, 0, 0, 0, 0, 0, 1, 1.0f},     /* lam 1 */
    };
    float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    xm_tensor x = tb_tensor(be, n, S, S, ch);
    TB_OK(be->ops->input_mix(be, rec, it, mean, sd, &x, &err));
    double *ref = malloc(xm_tensor_count(&x) * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int oy = 0; oy < S; oy++)
            for (int ox = 0; ox < S; ox++)
                for (int c = 0; c < ch; c++) {
                    double v[2] = {0, 0};
                    for (int s = 0; s < 2; s++) {
                        int64_t o = s ? it[i].off_b : it[i].off_a;
                        if (o < 0) continue;
                        int hh = s ? it[i].hb : it[i].ha, ww = s ? it[i].wb : it[i].wa;
                        int cy = oy, cx = (s ? it[i].flip_b : it[i].flip_a) ? S - 1 - ox : ox;
                        int yy = (s ? it[i].yb : it[i].ya) + cy, xx = (s ? it[i].xb : it[i].xa) + cx;
                        if (yy >= 0 && yy < hh && xx >= 0 && xx < ww)
                            v[s] = rec[o + ((int64_t)yy * ww + xx) * ch + c];
                    }
                    double mix = it[i].off_b < 0 ? v[0] : it[i].lam * v[0] + (1 - it[i].lam) * v[1];
                    ref[(((size_t)i * S + oy) * S + ox) * ch + c] = (mix / 255 - mean[c]) / sd[c];
                }
    snprintf(name, sizeof name, "input_mix c=%d", ch);
    TB_CLOSE_D(name, x.data, ref, xm_tensor_count(&x), 1e-6);
    free(ref);
    be->ops->free(be, rec);
    xm_tensor_release(be, &x);
}

/* ---------------- SGD ---------------- */

static void test_sgd(xm_backend *be)
{
    /* hand-computed: w = 1, g = 0.5 every step, lr 0.1, momentum 0.9 */
    float w[1] = {1}, g[1] = {0.5f}, m[1] = {0};
    xm_sgd_cfg cfg = {.lr = 0.1f, .momentum = 0.9f};
    const double plain[3] = {0.95, 0.855, 0.7195}, nest[3] = {0.905, 0.7695, 0.59755};
    for (int s = 0; s < 3; s++) {
        TB_OK(be->ops->sgd_update(be, w, g, m, NULL, 1, &cfg, &err));
        XM_CHECKF(fabs(w[0] - plain[s]) < 1e-6, "sgd step %d: %.7f vs %.7f", s, w[0], plain[s]);
    }
    w[0] = 1; m[0] = 0; cfg.nesterov = 1;
    for (int s = 0; s < 3; s++) {
        TB_OK(be->ops->sgd_update(be, w, g, m, NULL, 1, &cfg, &err));
        XM_CHECKF(fabs(w[0] - nest[s]) < 1e-6, "nesterov step %d: %.7f vs %.7f", s, w[0], nest[s]);
    }
    /* weight decay and L2-SP, against the formula in double, 3 steps */
    enum { N = 37 };
    float W[N], G[N], M[N], W0[N];
    double rw[N], rm[N];
    tb_fill(W, N, 3800, -1, 1);
    tb_fill(W0, N, 3801, -1, 1);
    for (int nes = 0; nes < 2; nes++) {
        xm_sgd_cfg c = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-2f, .l2sp = 0.1f,
                        .nesterov = nes};
        for (int i = 0; i < N; i++) { rw[i] = W[i]; rm[i] = 0; M[i] = 0; }
        for (int s = 0; s < 3; s++) {
            tb_fill(G, N, 3900 + s, -1, 1);
            TB_OK(be->ops->sgd_update(be, W, G, M, W0, N, &c, &err));
            for (int i = 0; i < N; i++) {
                double d = G[i] + 1e-2 * rw[i] + 0.1 * (rw[i] - W0[i]);
                rm[i] = 0.9 * rm[i] + d;
                rw[i] -= 0.05 * (nes ? d + 0.9 * rm[i] : rm[i]);
            }
        }
        TB_CLOSE_D(nes ? "sgd wd+l2sp nesterov" : "sgd wd+l2sp", W, rw, N, 1e-6);
        TB_CLOSE_D("sgd momentum buffer", M, rm, N, 1e-6);
    }
    /* l2sp without w0 is a usage error */
    xm_sgd_cfg bad = {.lr = 0.1f, .l2sp = 0.1f};
    xm_err_clear(&err);
    XM_CHECK(be->ops->sgd_update(be, W, G, M, NULL, N, &bad, &err) == XM_EUSAGE);
}

/* ---------------- loss scaling ---------------- */

static void test_scale(xm_backend *be)
{
    enum { N = 1000 };
    float p[N], q[N];
    tb_fill(p, N, 4100, -3, 3);
    memcpy(q, p, sizeof p);
    int fin = -1;
    /* a power of two and back: exact, and reported finite */
    TB_OK(be->ops->scale_f32(be, p, N, 65536.0f, &fin, &err));
    XM_CHECK(fin == 1 && p[7] == q[7] * 65536.0f);
    TB_OK(be->ops->scale_f32(be, p, N, 1.0f / 65536.0f, NULL, &err));
    XM_CHECK(memcmp(p, q, sizeof p) == 0);
    /* overflow to inf, a NaN, and an inf in the last element */
    TB_OK(be->ops->scale_f32(be, p, N, 0x1p127f, &fin, &err));
    XM_CHECK(fin == 0);
    memcpy(p, q, sizeof p);
    p[500] = NAN;
    TB_OK(be->ops->scale_f32(be, p, N, 2.0f, &fin, &err));
    XM_CHECK(fin == 0);
    memcpy(p, q, sizeof p);
    p[N - 1] = INFINITY;
    TB_OK(be->ops->scale_f32(be, p, N, 0.5f, &fin, &err));
    XM_CHECK(fin == 0);
    fin = -1;
    TB_OK(be->ops->scale_f32(be, p, 0, 2.0f, &fin, &err)); /* empty: finite */
    XM_CHECK(fin == 1);
}

/* the batch size joins an out-of-device-memory line, once; other errors
 * are left alone */
static void test_oom_batch(void)
{
    xm_err e;
    xm_err_clear(&e);
    xm_err_set(&e, XM_EFAIL, "CUDA: " XM_OOM_TEXT " allocating 100 bytes for the loss");
    xm_backend_oom_batch(&e, 256);
    xm_backend_oom_batch(&e, 256);
    XM_CHECKF(!strcmp(e.msg, "batch size 256: CUDA: out of GPU memory allocating 100 bytes for "
                             "the loss"), "oom line: %s", e.msg);
    xm_err_clear(&e);
    xm_err_set(&e, XM_EDATA, "f.h5: not a model");
    xm_backend_oom_batch(&e, 256);
    XM_CHECKF(!strcmp(e.msg, "f.h5: not a model"), "other line: %s", e.msg);
    xm_err_clear(&e);
    xm_backend_oom_batch(&e, 256); /* no error: nothing */
    XM_CHECK(e.code == 0 && e.msg[0] == 0);
}

/* ---------------- determinism across thread counts ---------------- */

/* Run bn train+bwd, maxpool, gap, linear and the loss; return a checksum
 * buffer of all outputs (caller frees). */
static float *det_run(xm_backend *be, size_t *len)
{
    const int n = 4, h = 23, w = 21, ch = 24, cls = 10;
    xm_tensor x = tb_tensor(be, n, h, w, ch), y = tb_tensor(be, n, h, w, ch), dx = tb_tensor(be, n, h, w, ch);
    size_t cnt = xm_tensor_count(&x);
    float *g = tb_floats(be, ch), *b = tb_floats(be, ch), *st = tb_floats(be, 6 * ch);
    tb_fill(x.data, cnt, 4000, -1, 3);
    tb_fill(dx.data, cnt, 4001, -1, 1);
    tb_fill(g, ch, 4002, 0.5f, 1.5f);
    tb_fill(b, ch, 4003, -1, 1);
    be->ops->bn_fwd_train(be, &x, g, b, st, st + ch, 0.1f, 1e-5f, st + 2 * ch, st + 3 * ch, 1, &y, &err);
    be->ops->bn_bwd(be, &x, &y, &dx, g, st + 2 * ch, st + 3 * ch, &dx, st + 4 * ch, st + 5 * ch, &err);
    xm_pool_desc pd = {.n = n, .h = h, .w = w, .c = ch, .k = 3, .stride = 2, .pad = 1};
    xm_pool_desc_finish(&pd, &err);
    void *plan = be->ops->pool_plan(be, &pd, &err);
    xm_tensor py = tb_tensor(be, n, pd.oh, pd.ow, ch), pf = tb_tensor(be, n, 1, 1, ch);
    be->ops->maxpool_fwd(be, plan, &y, &py, &err);
    be->ops->maxpool_bwd(be, plan, &y, &py, &py, &x, &err);
    be->ops->gap_fwd(be, &py, &pf, &err);
    xm_tensor z = tb_tensor(be, n, 1, 1, cls), t = tb_tensor(be, n, 1, 1, cls), dz = tb_tensor(be, n, 1, 1, cls);
    float *lw = tb_floats(be, cls * ch), *ldw = tb_floats(be, cls * ch);
    tb_fill(lw, cls * ch, 4004, -1, 1);
    tb_fill(t.data, n * cls, 4005, 0, 0.2f);
    be->ops->linear_fwd(be, &pf, lw, NULL, &z, &err);
    double loss;
    be->ops->softmax_xent(be, &z, &t, &loss, &dz, &err);
    be->ops->linear_bwd(be, &pf, &dz, lw, &pf, ldw, NULL, &err);
    *len = 2 * cnt + 6 * ch + cls * ch + n * ch + 2;
    float *out = malloc(*len * sizeof(float)), *o = out;
    memcpy(o, y.data, cnt * 4); o += cnt;
    memcpy(o, x.data, cnt * 4); o += cnt;
    memcpy(o, st, 6 * ch * 4); o += 6 * ch;
    memcpy(o, ldw, cls * ch * 4); o += cls * ch;
    memcpy(o, pf.data, n * ch * 4); o += n * ch;
    memcpy(o, &loss, 8);
    be->ops->plan_free(be, plan);
    xm_tensor *ts[] = {&x, &y, &dx, &py, &pf, &z, &t, &dz};
    for (int i = 0; i < 8; i++) xm_tensor_release(be, ts[i]);
    float *fs[] = {g, b, st, lw, ldw};
    for (int i = 0; i < 5; i++) be->ops->free(be, fs[i]);
    return out;
}

static void test_determinism(void)
{
    size_t l1, l2, l3;
    xm_backend *b1 = tb_backend(1);
    float *a = det_run(b1, &l1);
    xm_backend_free(b1);
    xm_backend *b2 = tb_backend(2);
    float *b = det_run(b2, &l2);
    float *c = det_run(b2, &l3);
    xm_backend_free(b2);
    XM_CHECK(l1 == l2 && l2 == l3);
    XM_CHECKF(!memcmp(b, c, l2 * sizeof(float)), "two runs with 2 threads differ");
    XM_CHECKF(!memcmp(a, b, l1 * sizeof(float)), "1 and 2 threads differ");
    free(a); free(b); free(c);
}

int main(void)
{
    xm_backend *be = tb_backend(0);
    /* n h w c offset relu id */
    test_bn(be, 2, 5, 7, 3, 0.0f, 0, 0);
    test_bn(be, 4, 3, 3, 16, 0.0f, 1, 1);
    test_bn(be, 4, 17, 19, 8, 5.0f, 0, 2);  /* several chunks, mean far from 0 */
    test_bn(be, 8, 32, 32, 4, 0.0f, 1, 3);
    test_bn(be, 1, 1, 3, 2, 0.0f, 0, 4);    /* three values per channel */
    test_bn(be, 2, 4, 4, 64, -3.0f, 1, 5);
    test_bn(be, 2, 4, 4, 64, -3.0f, 0, 6);
    test_add_relu(be);
    /* n h w c k s p zeros id */
    test_maxpool(be, 2, 7, 9, 3, 3, 2, 1, 0, 0);
    test_maxpool(be, 1, 8, 8, 16, 2, 2, 0, 0, 1);
    test_maxpool(be, 2, 11, 11, 5, 3, 2, 1, 0, 2);
    test_maxpool(be, 1, 5, 5, 1, 3, 1, 1, 0, 3);
    test_maxpool(be, 2, 6, 6, 20, 3, 2, 1, 1, 4); /* all ties: the first max wins */
    test_gap(be, 2, 7, 5, 3, 0);
    test_gap(be, 3, 4, 4, 130, 1);
    test_gap(be, 1, 1, 1, 1, 2);
    test_linear(be, 3, 17, 5, 1, 0);
    test_linear(be, 5, 300, 7, 0, 1);
    test_linear(be, 2, 512, 100, 1, 2);
    test_xent(be, 4, 10, 0);
    test_xent(be, 7, 3, 1);
    test_input_mix(be, 3);
    test_input_mix(be, 1);
    test_sgd(be);
    test_scale(be);
    test_oom_batch();
    xm_backend_free(be);
    test_determinism();
    return xm_test_finish();
}
