/* backend_cpu_ops.c: elementwise ops and pooling on NHWC float32.
 * Plain OpenMP loops with static schedules and no cross-thread reductions,
 * so results are identical for any thread count. */
#include "backend_cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cpu_add(xm_backend *be, const xm_tensor *a, const xm_tensor *b, int relu, xm_tensor *y,
            xm_err *err)
{
    if (cpu_check_f32(a, "a", "add", err) || cpu_check_f32(b, "b", "add", err) ||
        cpu_check_f32(y, "y", "add", err) || cpu_check_same(a, b, "add", err) ||
        cpu_check_same(a, y, "add", err))
        return err->code;
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
    const size_t n = xm_tensor_count(a);
    if (relu) {
#pragma omp parallel for simd schedule(static) num_threads(cpu_of(be)->threads)
        for (size_t i = 0; i < n; i++) {
            float v = ad[i] + bd[i];
            yd[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
#pragma omp parallel for simd schedule(static) num_threads(cpu_of(be)->threads)
        for (size_t i = 0; i < n; i++) yd[i] = ad[i] + bd[i];
    }
    return 0;
}

int cpu_relu_bwd(xm_backend *be, const xm_tensor *y, const xm_tensor *dy, xm_tensor *dx,
                 xm_err *err)
{
    if (cpu_check_f32(y, "y", "relu_bwd", err) || cpu_check_f32(dy, "dy", "relu_bwd", err) ||
        cpu_check_f32(dx, "dx", "relu_bwd", err) || cpu_check_same(y, dy, "relu_bwd", err) ||
        cpu_check_same(y, dx, "relu_bwd", err))
        return err->code;
    const float *yd = y->data, *dyd = dy->data;
    float *dxd = dx->data;
    const size_t n = xm_tensor_count(y);
#pragma omp parallel for simd schedule(static) num_threads(cpu_of(be)->threads)
    for (size_t i = 0; i < n; i++) {
        float d = dyd[i]; /* loaded unconditionally: the select vectorizes */
        dxd[i] = yd[i] > 0.0f ? d : 0.0f;
    }
    return 0;
}

/* ---- max pool: PyTorch semantics (padding never wins; first max on ties;
 * NaN propagates). The backward recomputes the argmax from x, so the plan
 * holds no state between forward and backward. ---- */

typedef struct pool_plan {
    int kind; /* CPU_PLAN_POOL; first member */
    xm_pool_desc d;
} pool_plan;

void *cpu_pool_plan(xm_backend *be, const xm_pool_desc *d, xm_err *err)
{
    (void)be;
    xm_pool_desc dd = *d;
    if (xm_pool_desc_finish(&dd, err)) return NULL;
    pool_plan *p = calloc(1, sizeof *p);
    if (!p) {
        xm_err_set(err, XM_EFAIL, "cpu backend: pool_plan: out of memory");
        return NULL;
    }
    p->kind = CPU_PLAN_POOL;
    p->d = dd;
    return p;
}

void cpu_pool_plan_free(void *plan)
{
    free(plan);
}

static int pool_check(const void *plan, const xm_tensor *t, int out, const char *what,
                      const char *op, xm_err *err)
{
    const pool_plan *p = plan;
    if (!p || p->kind != CPU_PLAN_POOL)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: not a pooling plan", op);
    if (cpu_check_f32(t, what, op, err)) return err->code;
    const xm_pool_desc *d = &p->d;
    int h = out ? d->oh : d->h, w = out ? d->ow : d->w;
    if (t->n != d->n || t->h != h || t->w != w || t->c != d->c)
        return xm_err_set(err, XM_EUSAGE,
                          "cpu backend: %s: %s is %dx%dx%dx%d, the plan expects %dx%dx%dx%d",
                          op, what, t->n, t->h, t->w, t->c, d->n, h, w, d->c);
    return 0;
}

/* Window rows/cols of output (oy, ox), clipped to the image. */
static inline void pool_window(const xm_pool_desc *d, int oy, int ox, int *y0, int *y1,
                               int *x0, int *x1)
{
    *y0 = oy * d->stride - d->pad;
    *x0 = ox * d->stride - d->pad;
    *y1 = *y0 + d->k;
    *x1 = *x0 + d->k;
    if (*y0 < 0) *y0 = 0;
    if (*x0 < 0) *x0 = 0;
    if (*y1 > d->h) *y1 = d->h;
    if (*x1 > d->w) *x1 = d->w;
}

int cpu_maxpool_fwd(xm_backend *be, void *plan, const xm_tensor *x, xm_tensor *y, xm_err *err)
{
    if (pool_check(plan, x, 0, "x", "maxpool_fwd", err) ||
        pool_check(plan, y, 1, "y", "maxpool_fwd", err))
        return err->code;
    const xm_pool_desc *d = &((pool_plan *)plan)->d;
    const float *xd = x->data;
    float *yd = y->data;
    const int c = d->c;
    const long rows = (long)d->n * d->oh;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / d->oh), oy = (int)(r % d->oh);
        for (int ox = 0; ox < d->ow; ox++) {
            float *out = yd + (((size_t)n * d->oh + oy) * d->ow + ox) * c;
            int y0, y1, x0, x1;
            pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
            for (int j = 0; j < c; j++) out[j] = -INFINITY;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) {
                    const float *in = xd + (((size_t)n * d->h + iy) * d->w + ix) * c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        float v = in[j];
                        /* v != v: NaN wins, as in PyTorch */
                        out[j] = (v > out[j] || v != v) ? v : out[j];
                    }
                }
        }
    }
    return 0;
}

/* The max is a copy of the first element that reached it, so that element
 * is the first one with the same bits: comparing bits finds it, also for
 * -0/+0 ties and NaN, and unlike a float select GCC vectorizes it. */
static inline uint32_t bits_eq(float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return -(uint32_t)(ua == ub);
}
static inline float fbits_and(float f, uint32_t mask)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u &= mask;
    memcpy(&f, &u, 4);
    return f;
}

int cpu_maxpool_bwd(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *y,
                    const xm_tensor *dy, xm_tensor *dx, xm_err *err)
{
    (void)y;
    if (pool_check(plan, x, 0, "x", "maxpool_bwd", err) ||
        pool_check(plan, dy, 1, "dy", "maxpool_bwd", err) ||
        pool_check(plan, dx, 0, "dx", "maxpool_bwd", err))
        return err->code;
    const xm_pool_desc *d = &((pool_plan *)plan)->d;
    const float *xd = x->data, *dyd = dy->data;
    float *dxd = dx->data;
    const int c = d->c;
    /* Windows overlap, so the scatter is split by image and channel block:
     * every (n, channel block) pair owns its part of dx. Per window: the
     * max (as the forward), then the gradient goes to the first element
     * equal to it; `left` holds what is still to be routed (0 after the
     * first hit), so the loops have no branches and vectorize. */
    enum { CB = 64 };
    const int nblk = (c + CB - 1) / CB;
    const long tasks = (long)d->n * nblk;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long t = 0; t < tasks; t++) {
        const int n = (int)(t / nblk), j0 = (int)(t % nblk) * CB;
        const int nb = c - j0 < CB ? c - j0 : CB;
        float mx[CB], left[CB];
        const float *xn = xd + (size_t)n * d->h * d->w * c + j0;
        float *dxn = dxd + (size_t)n * d->h * d->w * c + j0;
        for (size_t i = 0; i < (size_t)d->h * d->w; i++)
            memset(dxn + i * c, 0, (size_t)nb * sizeof(float));
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0, y1, x0, x1;
                pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
                const float *g = dyd + (((size_t)n * d->oh + oy) * d->ow + ox) * c + j0;
                for (int j = 0; j < nb; j++) {
                    mx[j] = -INFINITY;
                    left[j] = g[j];
                }
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        const float *in = xn + ((size_t)iy * d->w + ix) * c;
#pragma omp simd
                        for (int j = 0; j < nb; j++) {
                            float v = in[j];
                            mx[j] = (v > mx[j] || v != v) ? v : mx[j];
                        }
                    }
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        const size_t o = ((size_t)iy * d->w + ix) * c;
                        const float *in = xn + o;
                        float *out = dxn + o;
#pragma omp simd
                        for (int j = 0; j < nb; j++) {
                            float l = left[j];
                            float r = fbits_and(l, bits_eq(in[j], mx[j])); /* routed here */
                            out[j] += r;
                            left[j] = l - r;
                        }
                    }
            }
    }
    return 0;
}

/* ---- global average pool ---- */

int cpu_gap_fwd(xm_backend *be, const xm_tensor *x, xm_tensor *y, xm_err *err)
{
    if (cpu_check_f32(x, "x", "gap_fwd", err) || cpu_check_f32(y, "y", "gap_fwd", err))
        return err->code;
    if (y->n != x->n || y->h != 1 || y->w != 1 || y->c != x->c)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: gap_fwd: y must be %dx1x1x%d", x->n,
                          x->c);
    const int c = x->c;
    const size_t hw = (size_t)x->h * x->w;
    const float *xd = x->data;
    float *yd = y->data;
    /* (n, channel block) tasks; sums in double over the pixels in order */
    const int cb = 64, nblk = (c + cb - 1) / cb;
    const long tasks = (long)x->n * nblk;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long t = 0; t < tasks; t++) {
        int n = (int)(t / nblk), j0 = (int)(t % nblk) * cb;
        int j1 = j0 + cb < c ? j0 + cb : c;
        double s[64] = {0};
        const float *xn = xd + (size_t)n * hw * c;
        for (size_t i = 0; i < hw; i++) {
            const float *in = xn + i * c + j0;
#pragma omp simd
            for (int j = 0; j < j1 - j0; j++) s[j] += in[j];
        }
        for (int j = j0; j < j1; j++) yd[(size_t)n * c + j] = (float)(s[j - j0] / (double)hw);
    }
    return 0;
}

int cpu_gap_bwd(xm_backend *be, const xm_tensor *dy, xm_tensor *dx, xm_err *err)
{
    if (cpu_check_f32(dy, "dy", "gap_bwd", err) || cpu_check_f32(dx, "dx", "gap_bwd", err))
        return err->code;
    if (dy->n != dx->n || dy->h != 1 || dy->w != 1 || dy->c != dx->c)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: gap_bwd: dy must be %dx1x1x%d", dx->n,
                          dx->c);
    const int c = dx->c;
    const size_t hw = (size_t)dx->h * dx->w;
    const float scale = (float)(1.0 / (double)hw);
    const float *dyd = dy->data;
    float *dxd = dx->data;
    const long rows = (long)dx->n * (long)hw;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long r = 0; r < rows; r++) {
        const float *g = dyd + (size_t)(r / (long)hw) * c;
        float *out = dxd + (size_t)r * c;
#pragma omp simd
        for (int j = 0; j < c; j++) out[j] = g[j] * scale;
    }
    return 0;
}
