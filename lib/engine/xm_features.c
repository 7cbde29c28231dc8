/* xm_features.c: see xm_features.h. */
#include "xm_features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct xm_feat_writer {
    xm_atomic out;
    hid_t h5;
    int64_t dim, n, cap;
    int32_t *labels;
    int64_t *records;
    char **classes;
    int nclasses;
    int done;
};

xm_feat_writer *xm_feat_writer_new(const char *path, int64_t dim, char *const *classes,
                                   int nclasses, int flags, xm_err *err)
{
    if (dim <= 0 || nclasses < 0) {
        xm_err_set(err, XM_EUSAGE, "%s: bad features shape (dim %lld)", path, (long long)dim);
        return NULL;
    }
    xm_feat_writer *w = calloc(1, sizeof *w);
    if (!w) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    w->h5 = -1;
    w->dim = dim;
    w->out.fd = -1;
    w->out.slot = -1;
    if (xm_atomic_open(&w->out, path, flags, err)) {
        free(w);
        return NULL;
    }
    xm_atomic_close_fd(&w->out);
    w->classes = calloc(nclasses ? (size_t)nclasses : 1, sizeof *w->classes);
    for (int i = 0; w->classes && i < nclasses; i++)
        if (!(w->classes[i] = strdup(classes[i]))) break;
    w->nclasses = nclasses;
    if (!w->classes || (nclasses && !w->classes[nclasses - 1])) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        xm_feat_writer_free(w);
        return NULL;
    }
    w->h5 = xm_h5_create(w->out.tmp, err);
    /* Chunks of about 256 KiB: whole rows, readable row by row. */
    int64_t chunk = 65536 / dim;
    if (w->h5 < 0 || xm_h5_f32_2d_create(w->h5, "features", dim, chunk < 1 ? 1 : chunk, err)) {
        xm_err_prefix(err, "%s", path);
        xm_feat_writer_free(w);
        return NULL;
    }
    return w;
}

hid_t xm_feat_writer_h5(xm_feat_writer *w) { return w->h5; }
int64_t xm_feat_writer_count(const xm_feat_writer *w) { return w->n; }

int xm_feat_writer_add(xm_feat_writer *w, const float *rows, const int32_t *labels,
                       const int64_t *records, int64_t n, xm_err *err)
{
    if (n <= 0) return 0;
    if (w->n + n > w->cap) {
        int64_t cap = w->cap ? w->cap : 1024;
        while (cap < w->n + n) cap *= 2;
        int32_t *l = realloc(w->labels, (size_t)cap * sizeof *l);
        if (l) w->labels = l;
        int64_t *r = l ? realloc(w->records, (size_t)cap * sizeof *r) : NULL;
        if (!r) return xm_err_set(err, XM_EFAIL, "%s: out of memory", w->out.path);
        w->records = r;
        w->cap = cap;
    }
    if (xm_h5_f32_2d_append(w->h5, "features", rows, n, err))
        return err ? err->code : XM_EIO;
    memcpy(w->labels + w->n, labels, (size_t)n * sizeof *labels);
    memcpy(w->records + w->n, records, (size_t)n * sizeof *records);
    w->n += n;
    return 0;
}

int xm_feat_writer_finish(xm_feat_writer *w, xm_err *err)
{
    int64_t n = w->n, c = w->nclasses;
    int rc = xm_h5_write(w->h5, "labels", XM_H5_I32, 1, &n, w->labels, 0, err);
    if (!rc) rc = xm_h5_write(w->h5, "records", XM_H5_I64, 1, &n, w->records, 0, err);
    if (!rc) rc = xm_h5_write_strings(w->h5, "classes", w->classes, c, err);
    int rc2 = xm_h5_close(w->h5, err);
    w->h5 = -1;
    if (!rc) rc = rc2;
    if (!rc) rc = xm_atomic_commit(&w->out, err);
    if (!rc) w->done = 1;
    return rc;
}

void xm_feat_writer_free(xm_feat_writer *w)
{
    if (!w) return;
    if (w->h5 >= 0) xm_h5_close(w->h5, NULL);
    if (!w->done) xm_atomic_abort(&w->out);
    for (int i = 0; w->classes && i < w->nclasses; i++) free(w->classes[i]);
    free(w->classes);
    free(w->labels);
    free(w->records);
    free(w);
}

/* ---- reading ---- */

int xm_feat_open(const char *path, xm_feat_file *ff, xm_err *err)
{
    memset(ff, 0, sizeof *ff);
    ff->h5 = -1;
    ff->path = path;
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return err ? err->code : XM_ENOINPUT;
    ff->h5 = f;
    int rank;
    int64_t d[XM_H5_MAX_RANK];
    int rc = xm_h5_shape(f, "features", &rank, d, err);
    if (!rc && rank != 2)
        rc = xm_err_set(err, XM_EDATA, "%s: dataset features has rank %d, expected 2 (N x D)",
                        path, rank);
    if (!rc && d[1] < 1)
        rc = xm_err_set(err, XM_EDATA, "%s: features have dimension 0", path);
    if (rc) goto fail;
    ff->n = d[0];
    ff->dim = d[1];
    const char *vec[2] = {"labels", "records"};
    for (int k = 0; k < 2; k++) {
        if ((rc = xm_h5_shape(f, vec[k], &rank, d, err))) goto fail;
        if (rank != 1 || d[0] != ff->n) {
            rc = xm_err_set(err, XM_EDATA, "%s: dataset %s has %s%lld entries, features %lld rows",
                            path, vec[k], rank != 1 ? "rank != 1, " : "",
                            (long long)(rank ? d[0] : 0), (long long)ff->n);
            goto fail;
        }
    }
    if ((rc = xm_h5_read_strings(f, "classes", &ff->classes, &ff->nclasses, err))) goto fail;
    return 0;
fail:
    xm_feat_close(ff);
    return rc ? rc : XM_EDATA;
}

int xm_feat_read(const xm_feat_file *ff, int64_t row0, int64_t n, double *rows,
                 int64_t *labels, int64_t *records, xm_err *err)
{
    if (rows) {
        if (xm_h5_read_rows(ff->h5, "features", XM_H5_F64, row0, n, rows, err))
            return err ? err->code : XM_EDATA;
        for (int64_t i = 0; i < n * ff->dim; i++)
            if (!isfinite(rows[i]))
                return xm_err_set(err, XM_EDATA, "%s: features row %lld column %lld is not finite",
                                  ff->path, (long long)(row0 + i / ff->dim),
                                  (long long)(i % ff->dim));
    }
    if (labels) {
        /* int64 reads accept int32 and int64 storage (numpy's default). */
        if (xm_h5_read_rows(ff->h5, "labels", XM_H5_I64, row0, n, labels, err))
            return err ? err->code : XM_EDATA;
        for (int64_t i = 0; i < n; i++)
            if (labels[i] < -1 || labels[i] >= ff->nclasses)
                return xm_err_set(err, XM_EDATA, "%s: labels row %lld is %lld, outside [-1, %lld)",
                                  ff->path, (long long)(row0 + i), (long long)labels[i],
                                  (long long)ff->nclasses);
    }
    if (records && xm_h5_read_rows(ff->h5, "records", XM_H5_I64, row0, n, records, err))
        return err ? err->code : XM_EDATA;
    return 0;
}

void xm_feat_close(xm_feat_file *ff)
{
    if (ff->h5 >= 0) xm_h5_close(ff->h5, NULL);
    ff->h5 = -1;
    xm_h5_strings_free(ff->classes, ff->nclasses);
    ff->classes = NULL;
    ff->nclasses = 0;
}

int xm_feat_classes_equal(char *const *a, int64_t na, char *const *b, int64_t nb)
{
    if (na != nb) return 0;
    for (int64_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}
