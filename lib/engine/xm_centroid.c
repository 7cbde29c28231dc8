/* xm_centroid.c: see xm_centroid.h. */
#include "xm_centroid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_features.h"
#include "xm_h5.h"

#define ROWS_PER_READ 4096

void xm_centroid_init(xm_centroid *c) { memset(c, 0, sizeof *c); }

void xm_centroid_release(xm_centroid *c)
{
    xm_h5_strings_free(c->classes, c->nclasses);
    free(c->sums);
    free(c->counts);
    memset(c, 0, sizeof *c);
}

/* Allocate zeroed sums/counts for C x D and take ownership of classes. */
static int alloc_set(xm_centroid *c, int64_t nc, int64_t dim, char **classes, const char *path,
                     xm_err *err)
{
    c->nclasses = nc;
    c->dim = dim;
    c->classes = classes;
    size_t n = (size_t)(nc * dim);
    c->sums = calloc(n ? n : 1, sizeof *c->sums);
    c->counts = calloc(nc ? (size_t)nc : 1, sizeof *c->counts);
    if (!c->sums || !c->counts) return xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    return 0;
}

/* Sum a features file's rows per class into a fresh partial set. */
static int partial_from_features(const char *path, xm_centroid *p, xm_err *err)
{
    xm_feat_file ff;
    int rc = xm_feat_open(path, &ff, err);
    if (rc) return rc;
    char **classes = ff.classes;
    ff.classes = NULL; /* moved into p (nclasses kept for label checks) */
    int64_t nc = ff.nclasses;
    rc = alloc_set(p, nc, ff.dim, classes, path, err);
    int64_t block = ROWS_PER_READ;
    double *rows = rc ? NULL : malloc((size_t)(block * ff.dim) * sizeof *rows);
    int64_t *labels = rc ? NULL : malloc((size_t)block * sizeof *labels);
    if (!rc && (!rows || !labels)) rc = xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    for (int64_t r0 = 0; !rc && r0 < ff.n; r0 += block) {
        int64_t n = ff.n - r0 < block ? ff.n - r0 : block;
        if ((rc = xm_feat_read(&ff, r0, n, rows, labels, NULL, err))) break;
        for (int64_t i = 0; i < n; i++) {
            if (labels[i] < 0) {
                rc = xm_err_set(err, XM_EDATA, "%s: row %lld has no label (-1)", path,
                                (long long)(r0 + i));
                break;
            }
            double *s = p->sums + labels[i] * ff.dim;
            const double *x = rows + i * ff.dim;
            for (int64_t j = 0; j < ff.dim; j++) s[j] += x[j];
            p->counts[labels[i]]++;
        }
    }
    free(rows);
    free(labels);
    xm_feat_close(&ff);
    return rc;
}

static int check_finite(const double *v, int64_t rows, int64_t cols, const char *path,
                        const char *what, xm_err *err)
{
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(v[i]))
            return xm_err_set(err, XM_EDATA, "%s: %s row %lld column %lld is not finite", path,
                              what, (long long)(i / cols), (long long)(i % cols));
    return 0;
}

int xm_centroid_read(const char *path, xm_centroid *c, xm_err *err)
{
    xm_centroid_init(c);
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return err ? err->code : XM_ENOINPUT;
    char **classes = NULL;
    int64_t nc = 0, d[XM_H5_MAX_RANK];
    int rank, rc = xm_h5_read_strings(f, "classes", &classes, &nc, err);
    int have_sums = xm_h5_exists(f, "sums");
    const char *vname = have_sums ? "sums" : "means";
    if (!rc && !have_sums && !xm_h5_exists(f, "means"))
        rc = xm_err_set(err, XM_EDATA, "%s: dataset sums is missing (not a centroid file)", path);
    if (!rc) rc = xm_h5_shape(f, vname, &rank, d, err);
    if (!rc && (rank != 2 || d[0] != nc || d[1] < 1))
        rc = xm_err_set(err, XM_EDATA, "%s: dataset %s must be C x D with C = %lld classes, D >= 1",
                        path, vname, (long long)nc);
    if (rc) {
        xm_h5_strings_free(classes, nc);
        xm_h5_close(f, NULL);
        return rc;
    }
    rc = alloc_set(c, nc, d[1], classes, path, err);
    int64_t cshape[1] = {nc};
    if (!rc) rc = xm_h5_read(f, vname, XM_H5_F64, 2, d, c->sums, err);
    if (!rc) rc = xm_h5_read(f, "counts", XM_H5_I64, 1, cshape, c->counts, err);
    if (!rc) rc = check_finite(c->sums, nc, c->dim, path, vname, err);
    for (int64_t k = 0; !rc && k < nc; k++) {
        if (c->counts[k] < 0)
            rc = xm_err_set(err, XM_EDATA, "%s: counts row %lld is negative", path, (long long)k);
        else if (!have_sums)
            for (int64_t j = 0; j < c->dim; j++) c->sums[k * c->dim + j] *= (double)c->counts[k];
    }
    xm_h5_close(f, NULL);
    if (rc) xm_centroid_release(c);
    return rc;
}

int xm_centroid_add_file(xm_centroid *c, const char *path, xm_err *err)
{
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return err ? err->code : XM_ENOINPUT;
    int is_feat = xm_h5_exists(f, "features");
    int is_cent = xm_h5_exists(f, "sums") || xm_h5_exists(f, "means");
    xm_h5_close(f, NULL);
    if (!is_feat && !is_cent)
        return xm_err_set(err, XM_EDATA, "%s: neither a features file (no dataset features) "
                          "nor a centroid file (no dataset sums)", path);
    xm_centroid p;
    xm_centroid_init(&p);
    int rc = is_feat ? partial_from_features(path, &p, err) : xm_centroid_read(path, &p, err);
    if (!rc && c->classes == NULL) {
        *c = p; /* the first input is the total */
        return 0;
    }
    if (!rc && !xm_feat_classes_equal(c->classes, c->nclasses, p.classes, p.nclasses))
        rc = xm_err_set(err, XM_EDATA, "%s: class list differs from the first input's "
                        "(%lld vs %lld classes): files of different data sets?", path,
                        (long long)p.nclasses, (long long)c->nclasses);
    if (!rc && p.dim != c->dim)
        rc = xm_err_set(err, XM_EDATA, "%s: features have dimension %lld, the first input %lld",
                        path, (long long)p.dim, (long long)c->dim);
    for (int64_t i = 0; !rc && i < c->nclasses * c->dim; i++) c->sums[i] += p.sums[i];
    for (int64_t k = 0; !rc && k < c->nclasses; k++) c->counts[k] += p.counts[k];
    xm_centroid_release(&p);
    return rc;
}

void xm_centroid_means(const xm_centroid *c, double *means)
{
    for (int64_t k = 0; k < c->nclasses; k++)
        for (int64_t j = 0; j < c->dim; j++)
            means[k * c->dim + j] =
                c->counts[k] ? c->sums[k * c->dim + j] / (double)c->counts[k] : 0.0;
}

int64_t xm_centroid_empty(const xm_centroid *c)
{
    int64_t e = 0;
    for (int64_t k = 0; k < c->nclasses; k++) e += c->counts[k] == 0;
    return e;
}

int xm_centroid_write(const xm_centroid *c, const char *path, int flags, xm_err *err)
{
    size_t n = (size_t)(c->nclasses * c->dim);
    double *m = malloc((n ? n : 1) * sizeof *m);
    float *mf = malloc((n ? n : 1) * sizeof *mf);
    xm_atomic out;
    int rc = 0;
    if (!m || !mf) rc = xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    hid_t f = -1;
    if (!rc) {
        xm_centroid_means(c, m);
        for (size_t i = 0; i < n; i++) mf[i] = (float)m[i];
        rc = xm_h5_out_open(&out, path, flags, &f, err);
    }
    if (!rc) {
        int64_t d2[2] = {c->nclasses, c->dim}, d1[1] = {c->nclasses};
        rc = xm_h5_write(f, "sums", XM_H5_F64, 2, d2, c->sums, 0, err);
        if (!rc) rc = xm_h5_write(f, "counts", XM_H5_I64, 1, d1, c->counts, 0, err);
        if (!rc) rc = xm_h5_write(f, "means", XM_H5_F32, 2, d2, mf, 0, err);
        if (!rc) rc = xm_h5_write_strings(f, "classes", c->classes, c->nclasses, err);
        rc = xm_h5_out_close(&out, f, rc, NULL, err);
    }
    free(m);
    free(mf);
    return rc;
}
