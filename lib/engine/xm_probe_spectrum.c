/* xm_probe_spectrum.c: singular values of a feature matrix (the paper's
 * Figure 2), as square roots of the eigenvalues of the d x d Gram matrix
 * X^T X in double: cheap for n >> d (n = 50,000 images, d = 64 or 2048)
 * and accurate to sqrt(eps) relative to the largest, which is what a plot
 * of normalised singular values needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_eig.h"
#include "xm_probe.h"

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
    int rc = xm_eig_sym(gram, d, lam, 0, err);
    if (rc) xm_err_prefix(err, "spectrum");
    int64_t r = n < d ? n : d;
    for (int i = 0; !rc && i < d; i++) {
        double l = lam[d - 1 - i]; /* dsyev: ascending */
        sv[i] = i < r && l > 0 ? sqrt(l) : 0.0;
    }
    free(gram), free(lam);
    return rc;
}
