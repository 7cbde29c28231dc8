/* test_backend_cpu.h: helpers shared by the CPU backend's op tests.
 * On the CPU, backend memory is host memory, so tests read tensors directly. */
#ifndef TEST_BACKEND_CPU_H
#define TEST_BACKEND_CPU_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_backend.h"
#include "xm_rng.h"
#include "xm_test.h"

static inline xm_backend *tb_backend(int threads)
{
    xm_err err = {0};
    xm_backend_cfg cfg = {.threads = threads};
    xm_backend *be = xm_backend_new("cpu", &cfg, &err);
    if (!be) {
        fprintf(stderr, "backend: %s\n", err.msg);
        exit(1);
    }
    return be;
}

static inline xm_tensor tb_tensor(xm_backend *be, int n, int h, int w, int c)
{
    xm_err err = {0};
    xm_tensor t;
    if (xm_tensor_alloc(be, &t, n, h, w, c, XM_DT_F32, &err)) {
        fprintf(stderr, "tensor: %s\n", err.msg);
        exit(1);
    }
    return t;
}

static inline float *tb_floats(xm_backend *be, size_t n)
{
    xm_err err = {0};
    float *p = be->ops->alloc(be, n * sizeof(float), &err);
    if (!p) {
        fprintf(stderr, "alloc: %s\n", err.msg);
        exit(1);
    }
    return p;
}

/* Uniform random floats in [lo, hi) from (seed, stream). */
static inline void tb_fill(float *p, size_t n, uint64_t stream, float lo, float hi)
{
    xm_rng r;
    xm_rng_init(&r, 12345, stream);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)xm_rng_uniform(&r);
}

/* ||a - b|| / ||b|| with a double reference. */
static inline double tb_rel_d(const float *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    if (!isfinite(num)) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#define TB_CLOSE_D(name, a, b, n, tol)                                          \
    do {                                                                        \
        double e_ = tb_rel_d((a), (b), (n));                                    \
        XM_CHECKF(e_ <= (tol), "%s: relative error %.3g > %.3g", (name), e_, (double)(tol)); \
    } while (0)

/* Run a backend call that uses a local `xm_err err`; check it returned 0. */
#define TB_OK(call)                                                             \
    do {                                                                        \
        xm_err_clear(&err);                                                     \
        int rc_ = (call);                                                       \
        XM_CHECKF(rc_ == 0, "%s returned %d: %s", #call, rc_, err.msg);         \
    } while (0)

/* Central finite differences of a scalar loss with respect to `param`
 * (n floats), at `samples` random coordinates, against the analytic
 * gradient `grad`; checks ||fd - grad|| / ||grad|| <= tol over the sample. */
typedef double (*tb_loss_fn)(void *ctx);
static inline void tb_fd_check(const char *name, tb_loss_fn loss, void *ctx, float *param,
                               const float *grad, size_t n, int samples, float h, double tol,
                               uint64_t stream)
{
    xm_rng r;
    xm_rng_init(&r, 777, stream);
    double num = 0, den = 0;
    for (int s = 0; s < samples; s++) {
        size_t i = (size_t)xm_rng_below(&r, n);
        float keep = param[i];
        param[i] = keep + h;
        double lp = loss(ctx);
        param[i] = keep - h;
        double lm = loss(ctx);
        param[i] = keep;
        /* the step actually taken in float */
        double step = (double)(keep + h) - (double)(keep - h);
        double fd = (lp - lm) / step;
        num += (fd - grad[i]) * (fd - grad[i]);
        den += (double)grad[i] * grad[i];
    }
    double e = den > 0 ? sqrt(num / den) : sqrt(num);
    XM_CHECKF(e <= tol, "%s: finite differences disagree: relative error %.3g > %.3g", name, e,
              tol);
}

/* sum(y * r) in double */
static inline double tb_dot(const float *y, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

#endif
