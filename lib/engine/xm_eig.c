/* xm_eig.c: see xm_eig.h. */
#include "xm_eig.h"

#include <stdlib.h>

/* LAPACK (Fortran interface; linked through ${LAPACK_LIBRARIES}). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

int xm_eig_sym(double *a, int m, double *w, int vectors, xm_err *err)
{
    const char *job = vectors ? "V" : "N";
    int info = 0, lwork = -1;
    double wq;
    dsyev_(job, "U", &m, a, &m, w, &wq, &lwork, &info);
    lwork = info == 0 ? (int)wq : 3 * m;
    double *work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
    if (!work) return xm_err_set(err, XM_EFAIL, "out of memory");
    dsyev_(job, "U", &m, a, &m, w, work, &lwork, &info);
    free(work);
    if (info != 0) return xm_err_set(err, XM_EFAIL, "eigen decomposition failed (dsyev info %d)", info);
    return 0;
}
