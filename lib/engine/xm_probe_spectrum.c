/* xm_probe_spectrum.c: singular values of a feature matrix (the paper's
 * Figure 2), as square roots of the eigenvalues of the d x d Gram matrix
 * X^T X in double: cheap for n >> d (n = 50,000 images, d = 64 or 2048)
 * and accurate to sqrt(eps) relative to the largest, which is what a plot
 * of normalised singular values needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"

/* LAPACK (Fortran interface; linked through ${LAPACK_LIBRARIES}). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

int xm_probe_spectrum(const float *x, int64_t n, int d, double *sv, xm_err *err)
{
    if (d <= 0) return xm_err_set(err, XM_EUSAGE, "spectrum of a matrix with %d columns", d);
    double *gram = calloc((size_t)d * d, sizeof(double));
    double *lam = malloc(sizeof(double) * (size_t)d);
    if (!gram || !lam) {
        free(gram), free(lam);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    /* upper triangle; row-major and column-major agree for a symmetric matrix */
#pragma omp parallel for schedule(dynamic)
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)x[(size_t)i * d + a] * x[(size_t)i * d + b];
            gram[(size_t)b * d + a] = gram[(size_t)a * d + b] = s;
        }
    int info = 0, lwork = -1;
    double wq;
    dsyev_("N", "U", &d, gram, &d, lam, &wq, &lwork, &info);
    lwork = info == 0 ? (int)wq : 3 * d;
    double *work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
    int rc = 0;
    if (!work) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    else {
        dsyev_("N", "U", &d, gram, &d, lam, work, &lwork, &info);
        if (info != 0) rc = xm_err_set(err, XM_EFAIL, "spectrum: eigenvalues failed (dsyev info %d)", info);
    }
    int64_t r = n < d ? n : d;
    for (int i = 0; !rc && i < d; i++) {
        double l = lam[d - 1 - i]; /* dsyev: ascending */
        sv[i] = i < r && l > 0 ? sqrt(l) : 0.0;
    }
    free(work), free(gram), free(lam);
    return rc;
}
