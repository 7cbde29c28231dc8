/* xm_eig.h: eigen decomposition of a small dense symmetric matrix on the
 * host (LAPACK dsyev with its workspace query), shared by BSS (xm_bss.c)
 * and the feature spectrum (xm_probe_spectrum.c). */
#ifndef XM_EIG_H
#define XM_EIG_H

#include "xm_err.h"

/* a: m x m symmetric (its upper triangle is read; column- and row-major
 * agree), overwritten; with vectors, by the orthonormal eigenvectors in its
 * columns (column-major). w: the m eigenvalues, ascending. Returns 0, or
 * XM_EFAIL ("out of memory", "eigen decomposition failed (dsyev info N)"). */
int xm_eig_sym(double *a, int m, double *w, int vectors, xm_err *err);

#endif
