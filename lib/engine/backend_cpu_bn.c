/* backend_cpu_bn.c: batch norm (PyTorch BatchNorm2d), optionally fused
 * with ReLU, on NHWC float32.
 *
 * Statistics are sums over the m = n*h*w rows of c channels, accumulated in
 * double per fixed chunk of rows (cpu_nchunks) and reduced in chunk order:
 * the result does not depend on the thread count. Normalisation is
 * y = x*a + b with a = gamma*invstd, b = beta - mean*a, as PyTorch's CPU
 * kernel computes it. */
#include "backend_cpu.h"

#include <math.h>

static int bn_check(const xm_tensor *x, const xm_tensor *y, const char *op, xm_err *err)
{
    if (cpu_check_f32(x, "x", op, err) || cpu_check_f32(y, "y", op, err) ||
        cpu_check_same(x, y, op, err))
        return err->code;
    return 0;
}

/* Per-chunk sums of x and x*x over rows [lo, hi). */
static void chunk_moments(const float *x, size_t lo, size_t hi, int c, double *s, double *q)
{
    for (int j = 0; j < c; j++) s[j] = q[j] = 0;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = x + r * c;
#pragma omp simd
        for (int j = 0; j < c; j++) {
            double v = xr[j];
            s[j] += v;
            q[j] += v * v;
        }
    }
}

/* y = x*a + b per channel (a, b: c floats), then max(0, .) if relu. */
static void bn_apply(const cpu_impl *ci, const float *x, float *y, size_t m, int c,
                     const float *a, const float *b, int relu)
{
#pragma omp parallel for schedule(static) num_threads(ci->threads)
    for (size_t r = 0; r < m; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        if (relu) {
#pragma omp simd
            for (int j = 0; j < c; j++) {
                float v = xr[j] * a[j] + b[j];
                yr[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < c; j++) yr[j] = xr[j] * a[j] + b[j];
        }
    }
}

int cpu_bn_fwd_train(xm_backend *be, const xm_tensor *x, const float *gamma, const float *beta,
                     float *running_mean, float *running_var, float momentum, float eps,
                     float *save_mean, float *save_invstd, int relu, xm_tensor *y,
                     xm_err *err)
{
    cpu_impl *ci = cpu_of(be);
    if (bn_check(x, y, "bn_fwd_train", err)) return err->code;
    const int c = x->c;
    const size_t m = (size_t)x->n * x->h * x->w;
    if (m < 2)
        return xm_err_set(err, XM_EUSAGE,
                          "cpu backend: bn_fwd_train: need more than 1 value per channel");
    const int k = cpu_nchunks(m);
    /* scratch: k*c sums, k*c squares, then 2*c floats for a and b */
    double *part = cpu_scratch(be, (size_t)2 * k * c + c, err);
    if (!part) return err->code;
    const float *xd = x->data;
#pragma omp parallel for schedule(static) num_threads(ci->threads)
    for (int i = 0; i < k; i++)
        chunk_moments(xd, cpu_chunk_lo(m, k, i), cpu_chunk_lo(m, k, i + 1), c,
                      part + (size_t)i * c, part + (size_t)(k + i) * c);
    float *ab = (float *)(part + (size_t)2 * k * c); /* c doubles = 2c floats */
    float *a = ab, *b = ab + c;
    for (int j = 0; j < c; j++) {
        double s = 0, q = 0;
        for (int i = 0; i < k; i++) {
            s += part[(size_t)i * c + j];
            q += part[(size_t)(k + i) * c + j];
        }
        double mean = s / (double)m;
        double var = q / (double)m - mean * mean;
        if (var < 0) var = 0;
        double invstd = 1.0 / sqrt(var + (double)eps);
        save_mean[j] = (float)mean;
        save_invstd[j] = (float)invstd;
        if (running_mean)
            running_mean[j] = (float)((1.0 - momentum) * running_mean[j] + momentum * mean);
        if (running_var)
            running_var[j] = (float)((1.0 - momentum) * running_var[j] +
                                     momentum * var * (double)m / (double)(m - 1));
        a[j] = (float)(gamma[j] * invstd);
        b[j] = (float)(beta[j] - mean * a[j]);
    }
    bn_apply(ci, xd, y->data, m, c, a, b, relu);
    return 0;
}

int cpu_bn_fwd_infer(xm_backend *be, const xm_tensor *x, const float *gamma, const float *beta,
                     const float *running_mean, const float *running_var, float eps, int relu,
                     xm_tensor *y, xm_err *err)
{
    if (bn_check(x, y, "bn_fwd_infer", err)) return err->code;
    const int c = x->c;
    double *ab = cpu_scratch(be, (size_t)c, err);
    if (!ab) return err->code;
    float *a = (float *)ab, *b = a + c;
    for (int j = 0; j < c; j++) {
        double invstd = 1.0 / sqrt((double)running_var[j] + (double)eps);
        a[j] = (float)(gamma[j] * invstd);
        b[j] = (float)(beta[j] - running_mean[j] * (double)a[j]);
    }
    bn_apply(cpu_of(be), x->data, y->data, (size_t)x->n * x->h * x->w, c, a, b, relu);
    return 0;
}

/* Per-chunk sum(g) and sum(g*(x-mean)), g = dy masked by y > 0 if y. */
static void chunk_bwd_sums(const float *x, const float *y, const float *dy, const float *mean,
                           size_t lo, size_t hi, int c, double *sg, double *sgx)
{
    for (int j = 0; j < c; j++) sg[j] = sgx[j] = 0;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = x + r * c, *dr = dy + r * c;
        if (y) {
            /* mask into a float buffer first: a select inside the double
             * accumulation defeats GCC's vectorizer */
            const float *yr = y + r * c;
            for (int j0 = 0; j0 < c; j0 += 64) {
                const int nb = c - j0 < 64 ? c - j0 : 64;
                float gb[64];
#pragma omp simd
                for (int j = 0; j < nb; j++) {
                    float d = dr[j0 + j];
                    gb[j] = yr[j0 + j] > 0.0f ? d : 0.0f;
                }
#pragma omp simd
                for (int j = 0; j < nb; j++) {
                    double g = gb[j];
                    sg[j0 + j] += g;
                    sgx[j0 + j] += g * (double)(xr[j0 + j] - mean[j0 + j]);
                }
            }
        } else {
#pragma omp simd
            for (int j = 0; j < c; j++) {
                double g = dr[j];
                sg[j] += g;
                sgx[j] += g * (double)(xr[j] - mean[j]);
            }
        }
    }
}

int cpu_bn_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *y, const xm_tensor *dy,
               const float *gamma, const float *save_mean, const float *save_invstd,
               xm_tensor *dx, float *dgamma, float *dbeta, xm_err *err)
{
    cpu_impl *ci = cpu_of(be);
    if (bn_check(x, dy, "bn_bwd", err) || bn_check(x, dx, "bn_bwd", err)) return err->code;
    if (y && bn_check(x, y, "bn_bwd", err)) return err->code;
    const int c = x->c;
    const size_t m = (size_t)x->n * x->h * x->w;
    const int k = cpu_nchunks(m);
    double *part = cpu_scratch(be, (size_t)2 * k * c + (size_t)3 * c, err);
    if (!part) return err->code;
    const float *xd = x->data, *yd = y ? y->data : NULL, *dyd = dy->data;
#pragma omp parallel for schedule(static) num_threads(ci->threads)
    for (int i = 0; i < k; i++)
        chunk_bwd_sums(xd, yd, dyd, save_mean, cpu_chunk_lo(m, k, i), cpu_chunk_lo(m, k, i + 1),
                       c, part + (size_t)i * c, part + (size_t)(k + i) * c);
    /* dx = (g - (x-mean)*proj - sum(g)/m) * invstd*gamma, as PyTorch */
    float *coef = (float *)(part + (size_t)2 * k * c);
    float *proj = coef, *gmean = coef + c, *scale = coef + 2 * c;
    for (int j = 0; j < c; j++) {
        double sg = 0, sgx = 0;
        for (int i = 0; i < k; i++) {
            sg += part[(size_t)i * c + j];
            sgx += part[(size_t)(k + i) * c + j];
        }
        double invstd = save_invstd[j];
        if (dbeta) dbeta[j] = (float)sg;
        if (dgamma) dgamma[j] = (float)(sgx * invstd);
        proj[j] = (float)(sgx * invstd * invstd / (double)m);
        gmean[j] = (float)(sg / (double)m);
        scale[j] = (float)(invstd * gamma[j]);
    }
    float *dxd = dx->data;
#pragma omp parallel for schedule(static) num_threads(ci->threads)
    for (size_t r = 0; r < m; r++) {
        const float *xr = xd + r * c, *dr = dyd + r * c;
        float *out = dxd + r * c;
        if (yd) {
            const float *yr = yd + r * c;
#pragma omp simd
            for (int j = 0; j < c; j++) {
                float d = dr[j];
                float g = yr[j] > 0.0f ? d : 0.0f;
                out[j] = (g - (xr[j] - save_mean[j]) * proj[j] - gmean[j]) * scale[j];
            }
        } else {
#pragma omp simd
            for (int j = 0; j < c; j++)
                out[j] = (dr[j] - (xr[j] - save_mean[j]) * proj[j] - gmean[j]) * scale[j];
        }
    }
    return 0;
}
