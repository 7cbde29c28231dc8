/* xm_centroid.h: per-class feature sums, counts and means
 * (formats/centroids.md).
 *
 * A centroid set holds, for C classes of D-dimensional features, the float64
 * sum and the int64 count of each class. Inputs are features files and
 * centroid files, recognised by their datasets.
 *
 * What is exact (and tested): every input contributes one float64 partial
 * sum per class: a features file's rows are summed in row order into a
 * zeroed float64 buffer; a centroid file contributes its stored `sums`. The
 * partials are then added to the total in input order. Hence
 *   xm-centroid f1 ... fk  ==  xm-centroid c1 ... ck   (bit for bit)
 * where ci = xm-centroid fi, counts are always exact, and for two inputs the
 * result does not depend on their order (IEEE addition commutes). Against a
 * single file holding all rows (another summation order) the sums agree to
 * rounding: about 1e-15 relative, tested at 1e-12. */
#ifndef XM_CENTROID_H
#define XM_CENTROID_H

#include <stdint.h>

#include "xm_err.h"

typedef struct xm_centroid {
    int64_t nclasses, dim;   /* 0 until the first input is added */
    char **classes;          /* nclasses names */
    double *sums;            /* nclasses x dim */
    int64_t *counts;         /* nclasses */
} xm_centroid;

void xm_centroid_init(xm_centroid *c);
void xm_centroid_release(xm_centroid *c);

/* Add one input (features or centroid file). The first input fixes the
 * class table and dimension; later ones must match (XM_EDATA naming the
 * file: "class lists differ (different data sets?)", "dimension 64, expected
 * 512"). A features row without a label (-1) is an error. */
int xm_centroid_add_file(xm_centroid *c, const char *path, xm_err *err);

/* Read a centroid file as it is (not merged): `sums` C x D float64 and
 * `counts` C int64 (>= 0) and `classes`; a file with `means` and `counts`
 * but no `sums` (another program's) gets sums = means * counts. Non-finite
 * values: XM_EDATA naming dataset and row. */
int xm_centroid_read(const char *path, xm_centroid *c, xm_err *err);

/* means[k*D + j] = sums / counts in float64 (0 for an empty class). */
void xm_centroid_means(const xm_centroid *c, double *means);

/* Number of classes with count 0. */
int64_t xm_centroid_empty(const xm_centroid *c);

/* Write sums, counts, means (float32) and classes to `path` atomically
 * (flags: XM_ATOMIC_FORCE). */
int xm_centroid_write(const xm_centroid *c, const char *path, int flags, xm_err *err);

#endif
