/* xm_bss.c: Batch Spectral Shrinkage (Chen et al., 2019) on the host.
 *
 * L = eta * sum of the k smallest squared singular values of the batch
 * feature matrix F (n x d). The squared singular values are the
 * eigenvalues of the smaller Gram matrix: G = F F^T (n <= d) or F^T F.
 * For a simple eigenvalue lam_i with unit eigenvector u_i of F F^T,
 * d lam_i / dF = 2 u_i u_i^T F (and 2 F v_i v_i^T for F^T F). */
#include "xm_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_eig.h"

int xm_bss_grad(const float *f, int n, int d, int k, double eta, double *loss, float *df,
                xm_err *err)
{
    *loss = 0.0;
    if (n <= 0 || d <= 0) return xm_err_set(err, XM_EUSAGE, "bss: empty feature matrix");
    const int rows = n <= d; /* Gram over rows (n x n) or columns (d x d) */
    const int m = rows ? n : d;
    if (k > m) k = m;
    memset(df, 0, (size_t)n * d * sizeof *df);
    if (k <= 0 || eta == 0.0) return 0;
    double *g = calloc((size_t)m * m, sizeof *g), *lam = malloc((size_t)m * sizeof *lam);
    double *wts = calloc((size_t)m, sizeof *wts);
    if (!g || !lam || !wts) {
        free(g);
        free(lam);
        free(wts);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    /* Gram matrix in double (column-major for LAPACK; it is symmetric) */
    for (int i = 0; i < m; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            if (rows)
                for (int t = 0; t < d; t++) s += (double)f[(size_t)i * d + t] * f[(size_t)j * d + t];
            else
                for (int t = 0; t < n; t++) s += (double)f[(size_t)t * d + i] * f[(size_t)t * d + j];
            g[(size_t)i * m + j] = g[(size_t)j * m + i] = s;
        }
    int rc = xm_eig_sym(g, m, lam, 1, err);
    if (rc) {
        free(g);
        free(lam);
        free(wts);
        xm_err_prefix(err, "bss");
        return rc;
    }
    /* ascending eigenvalues; clamp tiny negatives from rounding */
    for (int i = 0; i < m; i++)
        if (lam[i] < 0) lam[i] = 0;
    double s = 0;
    for (int i = 0; i < k; i++) s += lam[i];
    *loss = eta * s;
    /* weights: 1 below the boundary; a cluster of near-equal eigenvalues
     * straddling it shares the remaining weight equally (the eigenvectors
     * of a repeated eigenvalue are not unique, their span is) */
    const double tol = 1e-7 * (lam[m - 1] > 0 ? lam[m - 1] : 1.0);
    int a = k - 1, b = k - 1;
    while (a > 0 && lam[k - 1] - lam[a - 1] <= tol) a--;
    while (b + 1 < m && lam[b + 1] - lam[k - 1] <= tol) b++;
    for (int i = 0; i < a; i++) wts[i] = 1.0;
    for (int i = a; i <= b; i++) wts[i] = (double)(k - a) / (double)(b - a + 1);
    /* P = sum_i w_i e_i e_i^T (m x m), eigenvectors are the columns of g */
    double *p = calloc((size_t)m * m, sizeof *p);
    if (!p) {
        free(g);
        free(lam);
        free(wts);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    for (int i = 0; i <= b; i++) {
        const double *e = g + (size_t)i * m; /* column i, column-major */
        for (int r = 0; r < m; r++)
            for (int c = 0; c < m; c++) p[(size_t)r * m + c] += wts[i] * e[r] * e[c];
    }
    /* dF = 2 eta P F (rows) or 2 eta F P (columns) */
    for (int i = 0; i < n; i++)
        for (int t = 0; t < d; t++) {
            double v = 0;
            if (rows)
                for (int r = 0; r < n; r++) v += p[(size_t)i * m + r] * f[(size_t)r * d + t];
            else
                for (int c = 0; c < d; c++) v += f[(size_t)i * d + c] * p[(size_t)c * m + t];
            df[(size_t)i * d + t] = (float)(2.0 * eta * v);
        }
    free(p);
    free(g);
    free(lam);
    free(wts);
    return 0;
}
