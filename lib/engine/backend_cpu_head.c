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
    /* Blocks of 4 outputs: 4 rows of w stay in L1 while the batch's rows of
     * x (in L2) pass over them, so w streams from memory once, and the 4
     * independent sums keep the adder busy. */
    const long nob = (out + 3) / 4;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long t = 0; t < nob * n; t++) {
        const int o0 = (int)(t / n) * 4, i = (int)(t % n);
        const float *xi = xd + (size_t)i * in;
        float *yi = yd + (size_t)i * out;
        if (o0 + 4 <= out) {
            const float *w0 = w + (size_t)o0 * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int k = 0; k < in; k++) {
                s0 += xi[k] * w0[k];
                s1 += xi[k] * w1[k];
                s2 += xi[k] * w2[k];
                s3 += xi[k] * w3[k];
            }
            yi[o0] = s0;
            yi[o0 + 1] = s1;
            yi[o0 + 2] = s2;
            yi[o0 + 3] = s3;
        } else {
            for (int o = o0; o < out; o++) yi[o] = dot(xi, w + (size_t)o * in, in);
        }
        if (b)
            for (int o = o0; o < o0 + 4 && o < out; o++) yi[o] += b[o];
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
    /* dx[i,:] = sum_o dy[i,o] w[o,:], split by column block: a block of dx
     * for the whole batch stays in L1 while w streams once */
    float *dxd = dx->data;
    const int kb = 128, nkb = (in + kb - 1) / kb;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nkb; t++) {
        const int k0 = t * kb, k1 = k0 + kb < in ? k0 + kb : in;
        for (int i = 0; i < n; i++)
            for (int k = k0; k < k1; k++) dxd[(size_t)i * in + k] = 0.0f;
        for (int o = 0; o < out; o++) {
            const float *wo = w + (size_t)o * in;
            for (int i = 0; i < n; i++) {
                const float go = g[(size_t)i * out + o];
                float *row = dxd + (size_t)i * in;
#pragma omp simd
                for (int k = k0; k < k1; k++) row[k] += go * wo[k];
            }
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
