/* xm_h5_dset.c: reading and writing whole datasets with shape and type
 * checks, string datasets, growable 2-D float datasets, listing. */
#include "xm_h5.h"

#include <stdlib.h>
#include <string.h>

#include "xm_h5_impl.h"

static void shape_str(char *buf, size_t size, int rank, const int64_t *d)
{
    size_t o = 0;
    if (rank == 0) {
        snprintf(buf, size, "scalar");
        return;
    }
    buf[0] = '\0';
    for (int i = 0; i < rank && o < size; i++) {
        if (d[i] < 0) o += snprintf(buf + o, size - o, "%s*", i ? "x" : "");
        else o += snprintf(buf + o, size - o, "%s%lld", i ? "x" : "", (long long)d[i]);
    }
}

static hid_t open_dset(hid_t loc, const char *name, xm_err *err)
{
    hid_t d = xm_h5_exists(loc, name) ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
    if (d < 0) xm_h5__fail(loc, err, XM_EDATA, "dataset %s is missing", name);
    return d;
}

int xm_h5_shape(hid_t loc, const char *name, int *rank, int64_t *dims, xm_err *err)
{
    hid_t d = open_dset(loc, name, err);
    if (d < 0) return err ? err->code : XM_EDATA;
    hid_t s = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(s);
    hsize_t h[H5S_MAX_RANK];
    int rc = 0;
    if (r < 0 || r > XM_H5_MAX_RANK) {
        rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s has an unsupported rank", name);
    } else {
        H5Sget_simple_extent_dims(s, h, NULL);
        *rank = r;
        for (int i = 0; i < r; i++) dims[i] = (int64_t)h[i];
    }
    H5Sclose(s);
    H5Dclose(d);
    return rc;
}

/* Open name, check class, rank and shape; return the dataset id or -1. */
static hid_t open_checked(hid_t loc, const char *name, xm_h5_type type, int rank,
                          const int64_t *dims, int64_t *actual, xm_err *err)
{
    int r;
    int64_t got[XM_H5_MAX_RANK];
    if (xm_h5_shape(loc, name, &r, got, err)) return -1;
    int ok = rank < 0 || r == rank;
    for (int i = 0; ok && rank >= 0 && i < r; i++)
        if (dims && dims[i] >= 0 && dims[i] != got[i]) ok = 0;
    if (!ok) {
        char a[128], b[128];
        shape_str(a, sizeof a, r, got);
        shape_str(b, sizeof b, rank, dims);
        xm_h5__fail(loc, err, XM_EDATA, "dataset %s has shape %s, expected %s", name, a, b);
        return -1;
    }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    char why[128];
    ok = xm_h5__type_ok(t, type, why, sizeof why);
    H5Tclose(t);
    if (!ok) {
        H5Dclose(d);
        xm_h5__fail(loc, err, XM_EDATA, "dataset %s %s", name, why);
        return -1;
    }
    if (actual) {
        for (int i = 0; i < r; i++) actual[i] = got[i];
        for (int i = r; i < XM_H5_MAX_RANK; i++) actual[i] = 1;
    }
    return d;
}

int xm_h5_read(hid_t loc, const char *name, xm_h5_type type, int rank, const int64_t *dims,
               void *buf, xm_err *err)
{
    hid_t d = open_checked(loc, name, type, rank, dims, NULL, err);
    if (d < 0) return err ? err->code : XM_EDATA;
    int rc = 0;
    if (H5Dread(d, xm_h5__native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s: read failed (values out of range "
                         "for %s, or a corrupt file)", name, xm_h5_type_name(type));
    H5Dclose(d);
    return rc;
}

void *xm_h5_read_alloc(hid_t loc, const char *name, xm_h5_type type, int rank,
                       const int64_t *dims, int64_t *dims_out, xm_err *err)
{
    int64_t got[XM_H5_MAX_RANK];
    hid_t d = open_checked(loc, name, type, rank, dims, got, err);
    if (d < 0) return NULL;
    size_t n = 1;
    for (int i = 0; i < XM_H5_MAX_RANK; i++) n *= (size_t)got[i];
    void *buf = malloc(n ? n * xm_h5__size(type) : 1);
    if (!buf) {
        xm_h5__fail(loc, err, XM_EFAIL, "dataset %s: out of memory", name);
    } else if (n && H5Dread(d, xm_h5__native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        xm_h5__fail(loc, err, XM_EDATA, "dataset %s: read failed", name);
        free(buf);
        buf = NULL;
    }
    H5Dclose(d);
    if (buf && dims_out) memcpy(dims_out, got, sizeof got);
    return buf;
}

int xm_h5_read_rows(hid_t loc, const char *name, xm_h5_type type, int64_t row0,
                    int64_t nrows, void *buf, xm_err *err)
{
    int64_t got[XM_H5_MAX_RANK];
    hid_t d = open_checked(loc, name, type, -1, NULL, got, err);
    if (d < 0) return err ? err->code : XM_EDATA;
    hid_t fs = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(fs);
    int rc = 0;
    if (r < 1 || row0 < 0 || nrows < 0 || row0 + nrows > got[0]) {
        rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s: rows %lld..%lld out of range",
                         name, (long long)row0, (long long)(row0 + nrows));
    } else if (nrows > 0) {
        hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
        for (int i = 0; i < r; i++) count[i] = (hsize_t)got[i];
        start[0] = (hsize_t)row0;
        count[0] = (hsize_t)nrows;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(r, count, NULL);
        if (H5Dread(d, xm_h5__native(type), ms, fs, H5P_DEFAULT, buf) < 0)
            rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s: read failed", name);
        H5Sclose(ms);
    }
    H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

int xm_h5_write(hid_t loc, const char *name, xm_h5_type type, int rank, const int64_t *dims,
                const void *buf, int gzip, xm_err *err)
{
    hsize_t h[XM_H5_MAX_RANK];
    size_t n = 1;
    if (rank < 0 || rank > XM_H5_MAX_RANK)
        return xm_h5__fail(loc, err, XM_EUSAGE, "dataset %s: bad rank %d", name, rank);
    for (int i = 0; i < rank; i++) {
        h[i] = (hsize_t)dims[i];
        n *= (size_t)dims[i];
    }
    hid_t s = rank ? H5Screate_simple(rank, h, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (gzip > 0 && rank > 0 && n > 0) {
        /* Chunks of about 64k elements along the leading dimension. */
        hsize_t ch[XM_H5_MAX_RANK];
        size_t inner = 1;
        for (int i = 1; i < rank; i++) {
            ch[i] = h[i];
            inner *= h[i] ? h[i] : 1;
        }
        size_t rows = 65536 / (inner ? inner : 1);
        ch[0] = rows < 1 ? 1 : rows > h[0] ? h[0] : rows;
        H5Pset_chunk(dcpl, rank, ch);
        H5Pset_deflate(dcpl, (unsigned)gzip);
    }
    /* Store in the native (little-endian on our targets) type. */
    hid_t d = H5Dcreate2(loc, name, xm_h5__native(type), s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (d < 0)
        rc = xm_h5__fail(loc, err, XM_EIO, "cannot create dataset %s", name);
    else if (n && H5Dwrite(d, xm_h5__native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
    /* small datasets reach the file only here (HDF5's sieve buffer) */
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
        rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
    H5Pclose(dcpl);
    H5Sclose(s);
    return rc;
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int xm_h5_write_strings(hid_t loc, const char *name, char *const *strs, int64_t n,
                        xm_err *err)
{
    hsize_t h = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &h, NULL);
    hid_t t = vlen_str_type();
    hid_t d = H5Dcreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0)
        rc = xm_h5__fail(loc, err, XM_EIO, "cannot create dataset %s", name);
    else if (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs) < 0)
        rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
        rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
    H5Tclose(t);
    H5Sclose(s);
    return rc;
}

void xm_h5_strings_free(char **strs, int64_t n)
{
    if (!strs) return;
    for (int64_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

/* Read n strings from a dataset or attribute (obj, type t, space s) into a
 * malloc'd array, whether stored fixed-length or variable-length. */
int xm_h5__read_str_array(hid_t obj, int is_attr, hid_t ftype, int64_t n, char ***out)
{
    char **v = calloc(n ? (size_t)n : 1, sizeof *v);
    if (!v) return -1;
    int rc = 0;
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t t = vlen_str_type();
        char **raw = calloc(n ? (size_t)n : 1, sizeof *raw);
        if (!raw || (n && (is_attr ? H5Aread(obj, t, raw)
                                   : H5Dread(obj, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0))
            rc = -1;
        for (int64_t i = 0; !rc && i < n; i++)
            if (!(v[i] = strdup(raw[i] ? raw[i] : ""))) rc = -1;
        if (raw && n) {
            hsize_t h = (hsize_t)n;
            hid_t s = H5Screate_simple(1, &h, NULL);
            H5Dvlen_reclaim(t, s, H5P_DEFAULT, raw);
            H5Sclose(s);
        }
        free(raw);
        H5Tclose(t);
    } else {
        size_t len = H5Tget_size(ftype);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, len);
        H5Tset_strpad(t, H5T_STR_NULLPAD);
        char *raw = malloc(len * (size_t)n + 1);
        if (!raw || (n && (is_attr ? H5Aread(obj, t, raw)
                                   : H5Dread(obj, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0))
            rc = -1;
        for (int64_t i = 0; !rc && i < n; i++) {
            v[i] = calloc(len + 1, 1);
            if (!v[i]) rc = -1;
            else memcpy(v[i], raw + (size_t)i * len, len);
        }
        free(raw);
        H5Tclose(t);
    }
    if (rc) {
        xm_h5_strings_free(v, n);
        return -1;
    }
    *out = v;
    return 0;
}

int xm_h5_read_strings(hid_t loc, const char *name, char ***strs, int64_t *n, xm_err *err)
{
    hid_t d = open_dset(loc, name, err);
    if (d < 0) return err ? err->code : XM_EDATA;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int rc = 0;
    int r = H5Sget_simple_extent_ndims(s);
    if (H5Tget_class(t) != H5T_STRING || r > 1) {
        rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s is not a 1-D string array", name);
    } else {
        int64_t cnt = (int64_t)H5Sget_simple_extent_npoints(s);
        if (xm_h5__read_str_array(d, 0, t, cnt, strs) < 0)
            rc = xm_h5__fail(loc, err, XM_EDATA, "dataset %s: read failed", name);
        else *n = cnt;
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return rc;
}

int xm_h5_f32_2d_create(hid_t loc, const char *name, int64_t cols, int64_t chunk_rows,
                        xm_err *err)
{
    hsize_t dims[2] = {0, (hsize_t)cols}, maxd[2] = {H5S_UNLIMITED, (hsize_t)cols};
    hsize_t ch[2] = {(hsize_t)(chunk_rows > 0 ? chunk_rows : 256), (hsize_t)(cols ? cols : 1)};
    hid_t s = H5Screate_simple(2, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, ch);
    hid_t d = H5Dcreate2(loc, name, H5T_NATIVE_FLOAT, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? xm_h5__fail(loc, err, XM_EIO, "cannot create dataset %s", name) : 0;
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
        rc = xm_h5__fail(loc, err, XM_EIO, "cannot create dataset %s", name);
    H5Pclose(dcpl);
    H5Sclose(s);
    return rc;
}

int xm_h5_f32_2d_append(hid_t loc, const char *name, const float *rows, int64_t nrows,
                        xm_err *err)
{
    int64_t got[XM_H5_MAX_RANK];
    hid_t d = open_checked(loc, name, XM_H5_F32, 2, NULL, got, err);
    if (d < 0) return err ? err->code : XM_EDATA;
    int rc = 0;
    if (nrows > 0) {
        hsize_t nd[2] = {(hsize_t)(got[0] + nrows), (hsize_t)got[1]};
        hsize_t start[2] = {(hsize_t)got[0], 0}, count[2] = {(hsize_t)nrows, (hsize_t)got[1]};
        if (H5Dset_extent(d, nd) < 0) {
            rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: cannot extend", name);
        } else {
            hid_t fs = H5Dget_space(d), ms = H5Screate_simple(2, count, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
            if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, rows) < 0)
                rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    }
    if (H5Dclose(d) < 0 && !rc) rc = xm_h5__fail(loc, err, XM_EIO, "dataset %s: write failed", name);
    return rc;
}

typedef struct list_ctx {
    char **names;
    int64_t n, cap;
    int failed;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    list_ctx *c = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    if (c->n == c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 64;
        char **p = realloc(c->names, (size_t)cap * sizeof *p);
        if (!p) {
            c->failed = 1;
            return -1;
        }
        c->names = p;
        c->cap = cap;
    }
    if (!(c->names[c->n] = strdup(name))) {
        c->failed = 1;
        return -1;
    }
    c->n++;
    return 0;
}

int xm_h5_list_datasets(hid_t loc, char ***names, int64_t *n, xm_err *err)
{
    list_ctx c = {0};
    if (H5Literate(loc, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &c) < 0 || c.failed) {
        xm_h5_strings_free(c.names, c.n);
        return xm_h5__fail(loc, err, XM_EDATA, "cannot list datasets");
    }
    *names = c.names;
    *n = c.n;
    return 0;
}
