/* backend_cpu_head.c: the F32 head: linear layers and the soft-label
 * softmax cross-entropy. Sizes are small (batch x 512..2048 x classes), so
 * these are plain OpenMP loops: every output element is one dot product or
 * one ordered sum, identical for any thread count. */
#include "backend_cpu.h"

#include <math.h>
#include <string.h>

static int vec_check(const xm_tensor *t, const char *what, const char *op, xm_err *err)
{
    if (cpu_check_f32(t, what, op, err)) return err->code;
    if (t->h != 1 || t->w != 1)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: %s must be n x 1 x 1 x c", op, what);
    return 0;
}

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

int cpu_linear_fwd(xm_backend *be, const xm_tensor *x, const float *w, const float *b,
                   xm_tensor *y, xm_err *err)
{
    if (vec_check(x, "x", "linear_fwd", err) || vec_check(y, "y", "linear_fwd", err))
        return err->code;
    if (x->n != y->n)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: linear_fwd: batch %d vs %d", x->n, y->n);
    const int n = x->n, in = x->c, out = y->c;
    const float *xd = x->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long t = 0; t < (long)n * out; t++) {
        int i = (int)(t / out), o = (int)(t % out);
        float s = dot(xd + (size_t)i * in, w + (size_t)o * in, in);
        yd[t] = b ? s + b[o] : s;
    }
    return 0;
}

int cpu_linear_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *dy, const float *w,
                   xm_tensor *dx, float *dw, float *db, xm_err *err)
{
    if (vec_check(x, "x", "linear_bwd", err) || vec_check(dy, "dy", "linear_bwd", err) ||
        (dx && vec_check(dx, "dx", "linear_bwd", err)))
        return err->code;
    if (x->n != dy->n || (dx && (dx->n != x->n || dx->c != x->c)))
        return xm_err_set(err, XM_EUSAGE, "cpu backend: linear_bwd: shapes disagree");
    const int n = x->n, in = x->c, out = dy->c;
    const float *xd = x->data, *g = dy->data;
    const int nt = cpu_of(be)->threads;
    /* dw[o,:] = sum_i dy[i,o] x[i,:], rows of dw split between threads */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int o = 0; o < out; o++) {
        float *row = dw + (size_t)o * in;
        memset(row, 0, (size_t)in * sizeof(float));
        for (int i = 0; i < n; i++) {
            const float gi = g[(size_t)i * out + o];
            const float *xi = xd + (size_t)i * in;
#pragma omp simd
            for (int k = 0; k < in; k++) row[k] += gi * xi[k];
        }
        if (db) {
            float s = 0.0f;
            for (int i = 0; i < n; i++) s += g[(size_t)i * out + o];
            db[o] = s;
        }
    }
    if (!dx) return 0;
    /* dx[i,:] = sum_o dy[i,o] w[o,:]: split by (row, column block) */
    float *dxd = dx->data;
    const int kb = 256, nkb = (in + kb - 1) / kb;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long t = 0; t < (long)n * nkb; t++) {
        int i = (int)(t / nkb), k0 = (int)(t % nkb) * kb;
        int k1 = k0 + kb < in ? k0 + kb : in;
        float *row = dxd + (size_t)i * in;
        for (int k = k0; k < k1; k++) row[k] = 0.0f;
        for (int o = 0; o < out; o++) {
            const float go = g[(size_t)i * out + o];
            const float *wo = w + (size_t)o * in;
#pragma omp simd
            for (int k = k0; k < k1; k++) row[k] += go * wo[k];
        }
    }
    return 0;
}

int cpu_softmax_xent(xm_backend *be, const xm_tensor *logits, const xm_tensor *target,
                     double *loss_host, xm_tensor *dlogits, xm_err *err)
{
    if (vec_check(logits, "logits", "softmax_xent", err) ||
        vec_check(target, "target", "softmax_xent", err) ||
        cpu_check_same(logits, target, "softmax_xent", err) ||
        (dlogits && (vec_check(dlogits, "dlogits", "softmax_xent", err) ||
                     cpu_check_same(logits, dlogits, "softmax_xent", err))))
        return err->code;
    const int n = logits->n, k = logits->c;
    const float *z = logits->data, *t = target->data;
    float *dz = dlogits ? dlogits->data : NULL;
    double *row_loss = cpu_scratch(be, (size_t)n, err);
    if (!row_loss) return err->code;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k, *ti = t + (size_t)i * k;
        double mx = zi[0];
        for (int j = 1; j < k; j++)
            if (zi[j] > mx) mx = zi[j];
        double se = 0, st = 0, stz = 0;
        for (int j = 0; j < k; j++) {
            se += exp((double)zi[j] - mx);
            st += ti[j];
            stz += (double)ti[j] * ((double)zi[j] - mx);
        }
        double lse = log(se);
        /* -sum_j t_j (z_j - mx - lse) */
        row_loss[i] = st * lse - stz;
        if (dz) {
            float *di = dz + (size_t)i * k;
            for (int j = 0; j < k; j++) {
                double p = exp((double)zi[j] - mx - lse);
                di[j] = (float)((p * st - ti[j]) / (double)n);
            }
        }
    }
    if (loss_host) {
        double s = 0;
        for (int i = 0; i < n; i++) s += row_loss[i];
        *loss_host = s / (double)n;
    }
    return 0;
}
