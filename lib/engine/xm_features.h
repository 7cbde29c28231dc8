/* xm_features.h: features files (formats/features.md).
 *
 * HDF5, root group: `features` N x D float32 (chunked by rows, growable),
 * `labels` N int32 (-1: no label), `records` N int64 (record index in the
 * embedded data set), `classes` C strings. Provenance attributes (model,
 * inputs, transform) are written by xm-embed but optional on input, so files
 * written by other programs (h5py, a PyTorch script) are accepted.
 *
 * Writing goes to a temporary name and is renamed on finish (xm_atomic);
 * labels and records are kept in memory (12 bytes a row) and written at
 * finish, features are appended as they come.
 *
 * Reading checks the schema (names, ranks, shapes, element classes), and each
 * block of rows read for finiteness and label range, naming file and row. */
#ifndef XM_FEATURES_H
#define XM_FEATURES_H

#include <stdint.h>

#include "xm_atomic.h"
#include "xm_err.h"
#include "xm_h5.h"

typedef struct xm_feat_writer xm_feat_writer;

/* Create `path` (flags: XM_ATOMIC_FORCE) for rows of `dim` floats with the
 * given class table (copied). */
xm_feat_writer *xm_feat_writer_new(const char *path, int64_t dim, char *const *classes,
                                   int nclasses, int flags, xm_err *err);
/* The open HDF5 file, for provenance attributes on the root. */
hid_t xm_feat_writer_h5(xm_feat_writer *w);
/* Append n rows (n x dim, row-major) with their labels and record ids. */
int xm_feat_writer_add(xm_feat_writer *w, const float *rows, const int32_t *labels,
                       const int64_t *records, int64_t n, xm_err *err);
int64_t xm_feat_writer_count(const xm_feat_writer *w);
/* Write labels, records and classes, close and rename to the final name. */
int xm_feat_writer_finish(xm_feat_writer *w, xm_err *err);
/* Free; an unfinished output is removed. NULL ok. */
void xm_feat_writer_free(xm_feat_writer *w);

/* An open features file. */
typedef struct xm_feat_file {
    hid_t h5;
    const char *path;  /* as given to open (not copied) */
    int64_t n, dim;
    int64_t nclasses;
    char **classes;
} xm_feat_file;

/* Open and check the schema. Missing file: XM_ENOINPUT; anything else wrong
 * (missing dataset, shape, dtype, N mismatch, D = 0): XM_EDATA. */
int xm_feat_open(const char *path, xm_feat_file *ff, xm_err *err);
/* Read rows [row0, row0 + n) as float64 (float32 and float64 storage are
 * both accepted) with labels and records (either may be NULL). Refuses a
 * non-finite value ("PATH: features row R column J is not finite") and a
 * label outside [-1, C). */
int xm_feat_read(const xm_feat_file *ff, int64_t row0, int64_t n, double *rows,
                 int64_t *labels, int64_t *records, xm_err *err);
void xm_feat_close(xm_feat_file *ff);

/* 1 when two class tables are identical (same count, same names in order). */
int xm_feat_classes_equal(char *const *a, int64_t na, char *const *b, int64_t nb);

#endif
