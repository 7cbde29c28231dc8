/* xm_probe_logreg.c: the linear probe, multinomial logistic regression with
 * L2 on frozen features, fitted by L-BFGS to a small gradient.
 *
 * Objective and gradient are computed in double. Work is split so that the
 * result does not depend on the thread count: softmax rows in parallel over
 * samples, per-sample losses summed in order, gradient rows in parallel over
 * classes (each thread owns whole rows). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"

#define LBFGS_M 10

typedef struct lr_ctx {
    const float *x;
    const int32_t *y;
    const int64_t *idx; /* samples with a valid label */
    int64_t n;          /* their number */
    int d, k, threads;
    double l2;
    double *p;          /* n x k: softmax - onehot */
    double *li;         /* n: per-sample loss */
} lr_ctx;

/* f(theta) and its gradient g; theta = [W (k x d), b (k)]. */
static double objective(const lr_ctx *c, const double *th, double *g)
{
    int d = c->d, k = c->k;
    const double *W = th, *bias = th + (size_t)k * d;
    int nt = c->threads > 0 ? c->threads : 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt != 1)
    for (int64_t s = 0; s < c->n; s++) {
        const float *xi = c->x + (size_t)c->idx[s] * d;
        double *z = c->p + (size_t)s * k, mx = -INFINITY, sum = 0;
        for (int j = 0; j < k; j++) {
            const double *wj = W + (size_t)j * d;
            double v = bias[j];
            for (int q = 0; q < d; q++) v += wj[q] * xi[q];
            z[j] = v;
            if (v > mx) mx = v;
        }
        for (int j = 0; j < k; j++) sum += (z[j] = exp(z[j] - mx));
        int y = c->y[c->idx[s]];
        c->li[s] = -(log(z[y] / sum));
        for (int j = 0; j < k; j++) z[j] /= sum;
        z[y] -= 1.0;
    }
    double f = 0, wn = 0;
    for (int64_t s = 0; s < c->n; s++) f += c->li[s];
    f /= (double)c->n;
    for (size_t q = 0; q < (size_t)k * d; q++) wn += W[q] * W[q];
    f += 0.5 * c->l2 * wn;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt != 1)
    for (int j = 0; j < k; j++) {
        double *gj = g + (size_t)j * d, gb = 0;
        memset(gj, 0, sizeof(double) * d);
        for (int64_t s = 0; s < c->n; s++) {
            double pj = c->p[(size_t)s * k + j];
            if (pj == 0) continue;
            const float *xi = c->x + (size_t)c->idx[s] * d;
            for (int q = 0; q < d; q++) gj[q] += pj * xi[q];
            gb += pj;
        }
        for (int q = 0; q < d; q++) gj[q] = gj[q] / (double)c->n + c->l2 * W[(size_t)j * d + q];
        g[(size_t)k * d + j] = gb / (double)c->n;
    }
    return f;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double maxabs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

int xm_logreg_fit(const float *x, const int32_t *y, int64_t n, int d, int k, const xm_logreg_opts *o,
                  xm_logreg *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    if (d <= 0 || k <= 0) return xm_err_set(err, XM_EUSAGE, "logistic regression: d = %d, k = %d", d, k);
    double l2 = o && o->l2 > 0 ? o->l2 : 1e-4, tol = o && o->tol > 0 ? o->tol : 1e-5;
    int max_iter = o && o->max_iter > 0 ? o->max_iter : 1000;
    size_t np = (size_t)k * d + k;
    lr_ctx c = {.x = x, .y = y, .d = d, .k = k, .threads = o ? o->threads : 0, .l2 = l2};
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; idx && i < n; i++)
        if (y[i] >= 0 && y[i] < k) idx[c.n++] = i;
    c.idx = idx;
    double *mem = NULL;
    if (idx) mem = calloc(np * (5 + 2 * LBFGS_M) + (size_t)c.n * (k + 1) + 2 * LBFGS_M, sizeof(double));
    if (!idx || !mem) {
        free(idx);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    if (c.n == 0) {
        free(idx), free(mem);
        return xm_err_set(err, XM_EDATA, "logistic regression: no sample has a label of the %d classes", k);
    }
    double *th = mem, *g = th + np, *dir = g + np, *th2 = dir + np, *g2 = th2 + np;
    double *S = g2 + np, *Y = S + np * LBFGS_M, *rho = Y + np * LBFGS_M, *alpha = rho + LBFGS_M;
    c.p = alpha + LBFGS_M;
    c.li = c.p + (size_t)c.n * k;
    int m = 0, head = 0, it = 0, rc = 0;
    double f = objective(&c, th, g);
    for (; it < max_iter && maxabs(g, np) >= tol; it++) {
        /* two-loop recursion: dir = -H g */
        for (size_t i = 0; i < np; i++) dir[i] = -g[i];
        for (int j = 0; j < m; j++) {
            int s = (head - 1 - j + LBFGS_M) % LBFGS_M;
            alpha[s] = rho[s] * dot(S + s * np, dir, np);
            for (size_t i = 0; i < np; i++) dir[i] -= alpha[s] * Y[s * np + i];
        }
        if (m) {
            int s = (head - 1 + LBFGS_M) % LBFGS_M;
            double gam = dot(S + s * np, Y + s * np, np) / dot(Y + s * np, Y + s * np, np);
            for (size_t i = 0; i < np; i++) dir[i] *= gam;
        }
        for (int j = m - 1; j >= 0; j--) {
            int s = (head - 1 - j + LBFGS_M) % LBFGS_M;
            double beta = rho[s] * dot(Y + s * np, dir, np);
            for (size_t i = 0; i < np; i++) dir[i] += (alpha[s] - beta) * S[s * np + i];
        }
        double gd = dot(g, dir, np);
        if (!(gd < 0)) { /* not a descent direction: forget the curvature pairs */
            m = 0;
            for (size_t i = 0; i < np; i++) dir[i] = -g[i];
            gd = dot(g, dir, np);
        }
        /* backtracking line search (Armijo); the first steepest step is scaled */
        double t = m ? 1.0 : 1.0 / fmax(1.0, sqrt(-gd)), f2 = f;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++, t *= 0.5) {
            for (size_t i = 0; i < np; i++) th2[i] = th[i] + t * dir[i];
            f2 = objective(&c, th2, g2);
            if (isfinite(f2) && f2 <= f + 1e-4 * t * gd) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            if (m) { /* retry from steepest descent */
                m = 0;
                continue;
            }
            break; /* no progress possible at double precision */
        }
        double *s = S + (size_t)head * np, *yv = Y + (size_t)head * np;
        for (size_t i = 0; i < np; i++) s[i] = th2[i] - th[i], yv[i] = g2[i] - g[i];
        double sy = dot(s, yv, np);
        if (sy > 1e-12 * sqrt(dot(s, s, np) * dot(yv, yv, np))) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (m < LBFGS_M) m++;
        }
        memcpy(th, th2, np * sizeof(double));
        memcpy(g, g2, np * sizeof(double));
        f = f2;
    }
    out->d = d, out->k = k, out->iters = it, out->loss = f, out->gnorm = maxabs(g, np);
    out->converged = out->gnorm < tol;
    out->w = malloc(sizeof(float) * (size_t)k * d);
    out->b = malloc(sizeof(float) * (size_t)k);
    if (!out->w || !out->b) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (size_t i = 0; !rc && i < (size_t)k * d; i++) out->w[i] = (float)th[i];
    for (int j = 0; !rc && j < k; j++) out->b[j] = (float)th[(size_t)k * d + j];
    if (rc) xm_logreg_release(out);
    free(idx), free(mem);
    return rc;
}

void xm_logreg_release(xm_logreg *m)
{
    free(m->w), free(m->b);
    memset(m, 0, sizeof *m);
}

void xm_logreg_logits(const xm_logreg *m, const float *x, int64_t n, float *logits)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < m->k; j++) {
            double v = m->b[j];
            for (int q = 0; q < m->d; q++) v += (double)m->w[(size_t)j * m->d + q] * x[(size_t)i * m->d + q];
            logits[(size_t)i * m->k + j] = (float)v;
        }
}

void xm_probe_standardise(float *x, int64_t n, int d, float *mean, float *std, int compute)
{
    if (compute)
        for (int q = 0; q < d; q++) {
            double s = 0, ss = 0;
            for (int64_t i = 0; i < n; i++) s += x[(size_t)i * d + q];
            double mu = n ? s / (double)n : 0;
            for (int64_t i = 0; i < n; i++) {
                double v = x[(size_t)i * d + q] - mu;
                ss += v * v;
            }
            double sd = n ? sqrt(ss / (double)n) : 0;
            mean[q] = (float)mu;
            std[q] = sd > 1e-12 ? (float)sd : 1.0f;
        }
    for (int64_t i = 0; i < n; i++)
        for (int q = 0; q < d; q++) x[(size_t)i * d + q] = (x[(size_t)i * d + q] - mean[q]) / std[q];
}
