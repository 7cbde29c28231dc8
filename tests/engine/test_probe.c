/* test_probe.c: xm-probe's numerical pieces on inputs with known answers:
 * accuracy and confusion from given logits, the logistic-regression probe
 * (a separable set, and a symmetric 1-D case solved in closed form up to a
 * scalar equation), and singular values of known matrices. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"
#include "xm_rng.h"
#include "xm_test.h"

static void test_acc(void)
{
    /* k = 6 so that top-5 is not trivially 1 */
    const float z[] = {
        5, 1, 0, 0, 0, 0,   /* y 0: pred 0 */
        1, 5, 0, 0, 0, 0,   /* y 0: pred 1, true class 2nd */
        0, 0, 0, 0, 1, 9,   /* y 1: pred 5, true class ranked 4th (see below) */
        2, 2, 0, 0, 0, 0,   /* y 1: tie 0/1 -> pred 0, true ranked 2nd */
        0, 0, 0, 0, 0, 0,   /* y 3: all equal: pred 0, rank of 3 = 3 -> top5 */
        0, 0, 0, 0, 0, 0,   /* y -1: not counted */
    };
    /* row 2: z[1] = 0 ties with 0, 2, 3 (lower index 0 counts ahead) and
     * 4 (1), 5 (9) are higher: rank = 3 (classes 0, 4, 5) -> within top 5 */
    const int32_t y[] = {0, 0, 1, 1, 3, -1};
    xm_probe_acc a;
    XM_CHECK(xm_probe_acc_init(&a, 6, NULL) == 0);
    int32_t pred[6];
    float score[6];
    xm_probe_acc_add(&a, z, y, 6, pred, score);
    XM_CHECK(a.n == 5);
    XM_CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == 5 && pred[3] == 0 && pred[4] == 0 && pred[5] == 0);
    XM_CHECK(a.top1 == 1);
    XM_CHECK(a.top5 == 5);
    XM_CHECK(fabs(xm_probe_acc_top1(&a) - 0.2) < 1e-12);
    /* classes with samples: 0 (1/2), 1 (0/2), 3 (0/1) -> mean 1/6 */
    XM_CHECK(fabs(xm_probe_acc_mean_class(&a) - 1.0 / 6) < 1e-12);
    XM_CHECK(a.confusion[0 * 6 + 0] == 1 && a.confusion[0 * 6 + 1] == 1);
    XM_CHECK(a.confusion[1 * 6 + 5] == 1 && a.confusion[1 * 6 + 0] == 1 && a.confusion[3 * 6 + 0] == 1);
    XM_CHECK(xm_probe_acc_class_n(&a, 1) == 2 && xm_probe_acc_class_n(&a, 2) == 0);
    XM_CHECK(fabs(score[4] - 1.0 / 6) < 1e-6);
    XM_CHECK(fabs(score[0] - exp(5) / (exp(5) + exp(1) + 4)) < 1e-6);
    xm_probe_acc_release(&a);
    /* k = 2: top-5 means top-2, always right */
    const float z2[] = {0, 1, 1, 0};
    const int32_t y2[] = {0, 0};
    XM_CHECK(xm_probe_acc_init(&a, 2, NULL) == 0);
    xm_probe_acc_add(&a, z2, y2, 2, NULL, NULL);
    XM_CHECK(a.top1 == 1 && a.top5 == 2);
    xm_probe_acc_release(&a);
}

/* The symmetric case: x = +1 (class 1) and x = -1 (class 0), one sample
 * each. By symmetry b = 0 and w1 = -w0 = a with
 * f(a) = log(1 + exp(-2a)) + l2 a^2, so a solves a = 1 / (l2 (1 + e^{2a})). */
static void test_logreg_symmetric(void)
{
    const float x[] = {1, -1};
    const int32_t y[] = {1, 0};
    double l2 = 0.1, lo = 0, hi = 10;
    for (int i = 0; i < 200; i++) {
        double a = 0.5 * (lo + hi);
        if (a - 1.0 / (l2 * (1 + exp(2 * a))) > 0) hi = a;
        else lo = a;
    }
    xm_logreg m;
    xm_logreg_opts o = {.l2 = l2, .tol = 1e-10, .threads = 2};
    XM_CHECK(xm_logreg_fit(x, y, 2, 1, 2, &o, &m, NULL) == 0);
    XM_CHECKF(m.converged, "not converged: %d iterations, gradient %g", m.iters, m.gnorm);
    XM_CHECKF(fabs(m.w[1] - lo) < 1e-6 && fabs(m.w[0] + lo) < 1e-6, "w = %g %g, expected +-%g", m.w[0],
              m.w[1], lo);
    XM_CHECK(fabs(m.b[0] - m.b[1]) < 1e-6);
    xm_logreg_release(&m);
}

/* Three Gaussian clusters in 5-D, far apart: separable; the probe must
 * classify the training set and a fresh sample perfectly, and give the same
 * weights with 1 and 2 threads. */
static void test_logreg_separable(void)
{
    enum { N = 600, D = 5, K = 3 };
    float *x = malloc(sizeof(float) * 2 * N * D), *z = malloc(sizeof(float) * 2 * N * K);
    int32_t y[2 * N];
    xm_rng r;
    xm_rng_init(&r, 7, 0);
    for (int i = 0; i < 2 * N; i++) {
        y[i] = i % K;
        for (int q = 0; q < D; q++) x[i * D + q] = (float)(xm_rng_normal(&r) + (q == y[i] ? 6.0 : 0.0) - (q == 3 ? 2.0 * y[i] : 0));
    }
    y[5] = -1; /* ignored */
    xm_logreg m, m1;
    xm_logreg_opts o = {.l2 = 1e-3, .threads = 2}, o1 = {.l2 = 1e-3, .threads = 1};
    XM_CHECK(xm_logreg_fit(x, y, N, D, K, &o, &m, NULL) == 0);
    XM_CHECK(xm_logreg_fit(x, y, N, D, K, &o1, &m1, NULL) == 0);
    XM_CHECKF(m.converged, "not converged: %d iterations, gradient %g", m.iters, m.gnorm);
    XM_CHECK(memcmp(m.w, m1.w, sizeof(float) * K * D) == 0 && m.iters == m1.iters);
    xm_logreg_logits(&m, x, 2 * N, z);
    xm_probe_acc tr, te;
    xm_probe_acc_init(&tr, K, NULL);
    xm_probe_acc_init(&te, K, NULL);
    xm_probe_acc_add(&tr, z, y, N, NULL, NULL);
    xm_probe_acc_add(&te, z + N * K, y + N, N, NULL, NULL);
    XM_CHECK(tr.n == N - 1 && tr.top1 == N - 1);
    XM_CHECK(te.top1 == N);
    xm_probe_acc_release(&tr);
    xm_probe_acc_release(&te);
    xm_logreg_release(&m);
    xm_logreg_release(&m1);
    /* no usable label */
    int32_t bad[3] = {-1, 3, 7};
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_logreg_fit(x, bad, 3, D, K, NULL, &m, &err) == XM_EDATA);
    free(x), free(z);
}

static void test_spectrum(void)
{
    /* X = diag(3, 2, 1) stacked over a zero row, columns rotated: the
     * singular values stay 3, 2, 1 */
    double c = cos(0.7), s = sin(0.7);
    const double base[4][3] = {{3, 0, 0}, {0, 2, 0}, {0, 0, 1}, {0, 0, 0}};
    float x[12];
    for (int i = 0; i < 4; i++) {
        x[i * 3 + 0] = (float)(c * base[i][0] - s * base[i][1]);
        x[i * 3 + 1] = (float)(s * base[i][0] + c * base[i][1]);
        x[i * 3 + 2] = (float)base[i][2];
    }
    double sv[3];
    XM_CHECK(xm_probe_spectrum(x, 4, 3, sv, NULL) == 0);
    XM_CHECKF(fabs(sv[0] - 3) < 1e-6 && fabs(sv[1] - 2) < 1e-6 && fabs(sv[2] - 1) < 1e-6, "sv %g %g %g",
              sv[0], sv[1], sv[2]);
    /* n < d: a 1 x 3 row (1, 2, 2) has one singular value, 3 */
    const float row[3] = {1, 2, 2};
    XM_CHECK(xm_probe_spectrum(row, 1, 3, sv, NULL) == 0);
    XM_CHECK(fabs(sv[0] - 3) < 1e-6 && sv[1] == 0 && sv[2] == 0);
}

/* The probe on a class subset: four clusters, of which 0 and 1 overlap
 * (indistinguishable) and 2 and 3 are far apart. Subset {2, 3} must be
 * perfect with 2 classes and the kept rows only; subset {0, 1} near chance;
 * the inputs untouched; fewer than 2 classes refused. */
static void test_linear_subset(void)
{
    enum { N = 400, D = 4, K = 4 };
    float *x = malloc(sizeof(float) * 2 * N * D), *copy = malloc(sizeof(float) * 2 * N * D);
    int32_t y[2 * N];
    xm_rng r;
    xm_rng_init(&r, 11, 0);
    for (int i = 0; i < 2 * N; i++) {
        y[i] = i % K;
        for (int q = 0; q < D; q++)
            x[i * D + q] = (float)(xm_rng_normal(&r) + (y[i] >= 2 && q == y[i] ? 8.0 : 0.0));
    }
    memcpy(copy, x, sizeof(float) * 2 * N * D);
    xm_logreg_opts o = {.l2 = 1e-3, .threads = 2};
    uint8_t far[K] = {0, 0, 1, 1}, near[K] = {1, 1, 0, 0}, one[K] = {0, 0, 1, 0};
    xm_probe_subset_result a, b;
    XM_CHECK(xm_probe_linear_subset(x, y, N, x + N * D, y + N, N, D, K, far, &o, &a, NULL) == 0);
    XM_CHECK(a.classes == 2 && a.acc.k == 2 && a.train_n == N / 2 && a.acc.n == N / 2);
    XM_CHECKF(a.acc.top1 == a.acc.n, "far subset: %lld of %lld", (long long)a.acc.top1, (long long)a.acc.n);
    XM_CHECK(xm_probe_linear_subset(x, y, N, x + N * D, y + N, N, D, K, near, &o, &b, NULL) == 0);
    XM_CHECKF(xm_probe_acc_top1(&b.acc) < 0.65, "near subset: top-1 %.3f, want near 0.5",
              xm_probe_acc_top1(&b.acc));
    XM_CHECK(memcmp(x, copy, sizeof(float) * 2 * N * D) == 0);
    xm_probe_subset_release(&a);
    xm_probe_subset_release(&b);
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_probe_linear_subset(x, y, N, x + N * D, y + N, N, D, K, one, &o, &a, &err) == XM_EDATA);
    free(x), free(copy);
}

int main(void)
{
    test_acc();
    test_logreg_symmetric();
    test_logreg_separable();
    test_linear_subset();
    test_spectrum();
    return xm_test_finish();
}
