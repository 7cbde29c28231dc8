/* test_backend_cpu_conv.c: CPU convolution (forward, backward data,
 * backward weights) against naive double references and finite
 * differences, the weight cache's refresh on params_changed(), and
 * run-to-run determinism (which also caught oneDNN 2.6's jit_1x1
 * backward-weights bug on strided 1x1 convolutions with few channels: its
 * second call returned different, wrong gradients). */
#include "test_backend_cpu.h"

typedef struct shape {
    int n, h, w, ci, co, k, s, p;
} shape;

static size_t xi(const xm_conv_desc *d, int n, int y, int x, int c)
{
    return (((size_t)n * d->h + y) * d->w + x) * d->c_in + c;
}
static size_t yi(const xm_conv_desc *d, int n, int y, int x, int c)
{
    return (((size_t)n * d->oh + y) * d->ow + x) * d->c_out + c;
}
static size_t wi(const xm_conv_desc *d, int o, int i, int ky, int kx)
{
    return (((size_t)o * d->c_in + i) * d->kh + ky) * d->kw + kx;
}

/* One loop nest for all three references: visits every (output, tap) pair
 * whose input pixel is inside the image. mode 0: y += x*w; 1: dx += dy*w;
 * 2: dw += dy*x. */
static void ref_conv(const xm_conv_desc *d, int mode, const float *a, const float *b,
                     double *out)
{
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++)
                for (int ky = 0; ky < d->kh; ky++)
                    for (int kx = 0; kx < d->kw; kx++) {
                        int iy = oy * d->stride_h - d->pad_h + ky;
                        int ix = ox * d->stride_w - d->pad_w + kx;
                        if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                        for (int o = 0; o < d->c_out; o++)
                            for (int i = 0; i < d->c_in; i++) {
                                size_t X = xi(d, n, iy, ix, i), Y = yi(d, n, oy, ox, o),
                                       W = wi(d, o, i, ky, kx);
                                if (mode == 0) out[Y] += (double)a[X] * b[W];
                                else if (mode == 1) out[X] += (double)a[Y] * b[W];
                                else out[W] += (double)a[Y] * b[X];
                            }
                    }
}

typedef struct fd_ctx {
    xm_backend *be;
    void *plan;
    xm_tensor *x, *y;
    float *w;
    const float *r;
} fd_ctx;

static double conv_loss(void *p)
{
    fd_ctx *c = p;
    xm_err err = {0};
    c->be->ops->params_changed(c->be);
    if (c->be->ops->conv_fwd(c->be, c->plan, c->x, c->w, c->y, &err)) return NAN;
    return tb_dot(c->y->data, c->r, xm_tensor_count(c->y));
}

static void test_shape(xm_backend *be, const shape *s, int idx)
{
    xm_err err = {0};
    char name[128];
    xm_conv_desc d = {.n = s->n, .h = s->h, .w = s->w, .c_in = s->ci, .c_out = s->co,
                      .kh = s->k, .kw = s->k, .stride_h = s->s, .stride_w = s->s,
                      .pad_h = s->p, .pad_w = s->p};
    TB_OK(xm_conv_desc_finish(&d, &err));
    void *plan = be->ops->conv_plan(be, &d, &err);
    XM_CHECKF(plan != NULL, "conv_plan: %s", err.msg);
    if (!plan) return;
    xm_tensor x = tb_tensor(be, d.n, d.h, d.w, d.c_in);
    xm_tensor y = tb_tensor(be, d.n, d.oh, d.ow, d.c_out);
    xm_tensor dx = tb_tensor(be, d.n, d.h, d.w, d.c_in);
    size_t nx = xm_tensor_count(&x), ny = xm_tensor_count(&y);
    size_t nw = (size_t)d.c_out * d.c_in * d.kh * d.kw;
    float *w = tb_floats(be, nw), *dw = tb_floats(be, nw), *r = tb_floats(be, ny);
    xm_tensor dy = y;
    dy.data = r;
    tb_fill(x.data, nx, 100 + idx, -1, 1);
    tb_fill(w, nw, 200 + idx, -1, 1);
    tb_fill(r, ny, 300 + idx, -1, 1);
    be->ops->params_changed(be);

    double *ref = calloc(nx > nw ? (nx > ny ? nx : ny) : (nw > ny ? nw : ny), sizeof(double));
    TB_OK(be->ops->conv_fwd(be, plan, &x, w, &y, &err));
    ref_conv(&d, 0, x.data, w, ref);
    snprintf(name, sizeof name, "conv_fwd #%d", idx);
    TB_CLOSE_D(name, y.data, ref, ny, 1e-5);

    TB_OK(be->ops->conv_bwd_data(be, plan, &dy, w, &dx, &err));
    memset(ref, 0, nx * sizeof(double));
    ref_conv(&d, 1, r, w, ref);
    snprintf(name, sizeof name, "conv_bwd_data #%d", idx);
    TB_CLOSE_D(name, dx.data, ref, nx, 1e-5);

    TB_OK(be->ops->conv_bwd_weights(be, plan, &x, &dy, dw, &err));
    memset(ref, 0, nw * sizeof(double));
    ref_conv(&d, 2, r, x.data, ref);
    snprintf(name, sizeof name, "conv_bwd_weights #%d", idx);
    TB_CLOSE_D(name, dw, ref, nw, 1e-5);

    /* finite differences of L = sum(y * r) */
    fd_ctx c = {be, plan, &x, &y, w, r};
    snprintf(name, sizeof name, "conv d/dx #%d", idx);
    tb_fd_check(name, conv_loss, &c, x.data, dx.data, nx, 12, 1e-2f, 1e-2, 400 + idx);
    snprintf(name, sizeof name, "conv d/dw #%d", idx);
    tb_fd_check(name, conv_loss, &c, w, dw, nw, 12, 1e-2f, 1e-2, 500 + idx);

    /* the cached weights follow params_changed(): scale w, expect 2y */
    be->ops->params_changed(be); /* the last FD call cached w - h */
    float *y1 = malloc(ny * sizeof(float));
    TB_OK(be->ops->conv_fwd(be, plan, &x, w, &y, &err));
    memcpy(y1, y.data, ny * sizeof(float));
    for (size_t i = 0; i < nw; i++) w[i] *= 2;
    be->ops->params_changed(be);
    TB_OK(be->ops->conv_fwd(be, plan, &x, w, &y, &err));
    for (size_t i = 0; i < ny; i++) y1[i] *= 2;
    snprintf(name, sizeof name, "conv_fwd after params_changed #%d", idx);
    XM_CHECK_CLOSE(name, (float *)y.data, y1, ny, 1e-6);
    TB_OK(be->ops->conv_bwd_data(be, plan, &dy, w, &dx, &err));
    memset(ref, 0, nx * sizeof(double));
    ref_conv(&d, 1, r, w, ref);
    snprintf(name, sizeof name, "conv_bwd_data after params_changed #%d", idx);
    TB_CLOSE_D(name, dx.data, ref, nx, 1e-5);

    /* determinism: the same call twice gives the same bits */
    float *a = malloc(nw * sizeof(float));
    memcpy(a, dw, nw * sizeof(float));
    TB_OK(be->ops->conv_bwd_weights(be, plan, &x, &dy, dw, &err));
    XM_CHECKF(!memcmp(a, dw, nw * sizeof(float)), "conv_bwd_weights #%d not deterministic", idx);
    memcpy(y1, y.data, ny * sizeof(float));
    TB_OK(be->ops->conv_fwd(be, plan, &x, w, &y, &err));
    XM_CHECKF(!memcmp(y1, y.data, ny * sizeof(float)), "conv_fwd #%d not deterministic", idx);
    float *dx1 = malloc(nx * sizeof(float));
    memcpy(dx1, dx.data, nx * sizeof(float));
    TB_OK(be->ops->conv_bwd_data(be, plan, &dy, w, &dx, &err));
    XM_CHECKF(!memcmp(dx1, dx.data, nx * sizeof(float)), "conv_bwd_data #%d not deterministic",
              idx);
    free(dx1);

    free(a);
    free(y1);
    free(ref);
    be->ops->free(be, w);
    be->ops->free(be, dw);
    be->ops->free(be, r);
    xm_tensor_release(be, &x);
    xm_tensor_release(be, &y);
    xm_tensor_release(be, &dx);
    be->ops->plan_free(be, plan);
}

int main(void)
{
    xm_backend *be = tb_backend(0);
    static const shape shapes[] = {
        /* n  h   w  ci co k  s  p */
        {2, 7, 9, 3, 5, 3, 1, 1},      /* odd sizes, C=3 */
        {2, 8, 8, 4, 6, 1, 2, 0},      /* 1x1 stride 2 (downsample), even input */
        {1, 15, 13, 1, 4, 7, 2, 3},    /* 7x7 stem, C=1 */
        {3, 9, 9, 8, 8, 3, 2, 1},      /* 3x3 stride 2 */
        {2, 6, 6, 16, 32, 3, 1, 1},    /* wider */
        {1, 5, 5, 3, 2, 5, 1, 0},      /* no padding, 5x5 */
        {2, 7, 7, 64, 64, 3, 1, 1},    /* ResNet-like channel count */
        {2, 9, 9, 32, 64, 1, 2, 0},    /* 1x1 stride 2, odd input */
        {2, 10, 10, 3, 16, 1, 2, 0},   /* oneDNN 2.6 jit_1x1 bwd-weights bug shape */
    };
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) test_shape(be, &shapes[i], i);

    /* a plan refuses tensors of another shape */
    xm_err err = {0};
    xm_conv_desc d = {.n = 1, .h = 4, .w = 4, .c_in = 2, .c_out = 2, .kh = 3, .kw = 3,
                      .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    void *plan = be->ops->conv_plan(be, &d, &err);
    xm_tensor x = tb_tensor(be, 1, 5, 4, 2), y = tb_tensor(be, 1, 4, 4, 2);
    float *w = tb_floats(be, 36);
    xm_err_clear(&err);
    XM_CHECK(be->ops->conv_fwd(be, plan, &x, w, &y, &err) == XM_EUSAGE);
    XM_CHECK(strstr(err.msg, "plan expects") != NULL);
    be->ops->plan_free(be, plan);
    be->ops->plan_free(be, NULL);
    xm_tensor_release(be, &x);
    xm_tensor_release(be, &y);
    be->ops->free(be, w);
    xm_backend_free(be);
    return xm_test_finish();
}
