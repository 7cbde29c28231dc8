/* xm_h5_attr.c: attributes (strings, string arrays, numbers, arrays). */
#include "xm_h5.h"

#include <stdlib.h>
#include <string.h>

#include "xm_h5_impl.h"

int xm_h5__read_str_array(hid_t obj, int is_attr, hid_t ftype, int64_t n, char ***out);

static int write_attr(hid_t loc, const char *name, hid_t type, hid_t space, const void *v,
                      xm_err *err)
{
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, type, v) < 0)
        rc = xm_h5__fail(loc, err, XM_EIO, "cannot write attribute %s", name);
    if (a >= 0 && H5Aclose(a) < 0 && !rc)
        rc = xm_h5__fail(loc, err, XM_EIO, "cannot write attribute %s", name);
    return rc;
}

int xm_h5_attr_write_str(hid_t loc, const char *name, const char *value, xm_err *err)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = write_attr(loc, name, t, s, &value, err);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

int xm_h5_attr_write_strs(hid_t loc, const char *name, char *const *strs, int64_t n,
                          xm_err *err)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t h = (hsize_t)n;
    /* An empty array is stored as a null dataspace (h5py reads it back as
     * an empty attribute). */
    hid_t s = n ? H5Screate_simple(1, &h, NULL) : H5Screate(H5S_NULL);
    int rc;
    if (n) {
        rc = write_attr(loc, name, t, s, strs, err);
    } else {
        if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
        hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
        rc = a < 0 ? xm_h5__fail(loc, err, XM_EIO, "cannot write attribute %s", name) : 0;
        if (a >= 0) H5Aclose(a);
    }
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

int xm_h5_attr_write_i64(hid_t loc, const char *name, int64_t value, xm_err *err)
{
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = write_attr(loc, name, H5T_NATIVE_INT64, s, &value, err);
    H5Sclose(s);
    return rc;
}

int xm_h5_attr_write_f64(hid_t loc, const char *name, double value, xm_err *err)
{
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = write_attr(loc, name, H5T_NATIVE_DOUBLE, s, &value, err);
    H5Sclose(s);
    return rc;
}

int xm_h5_attr_write_array(hid_t loc, const char *name, xm_h5_type type, const void *v,
                           int64_t n, xm_err *err)
{
    hsize_t h = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &h, NULL);
    int rc = write_attr(loc, name, xm_h5__native(type), s, v, err);
    H5Sclose(s);
    return rc;
}

static hid_t open_attr(hid_t loc, const char *name, xm_err *err)
{
    hid_t a = H5Aexists(loc, name) > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : -1;
    if (a < 0) xm_h5__fail(loc, err, XM_EDATA, "attribute %s is missing", name);
    return a;
}

int xm_h5_attr_read_strs(hid_t loc, const char *name, char ***strs, int64_t *n, xm_err *err)
{
    hid_t a = open_attr(loc, name, err);
    if (a < 0) return err ? err->code : XM_EDATA;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    int rc = 0;
    if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_ndims(s) > 1) {
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s is not a string array", name);
    } else {
        int64_t cnt = H5Sget_simple_extent_type(s) == H5S_NULL
                          ? 0 : (int64_t)H5Sget_simple_extent_npoints(s);
        if (xm_h5__read_str_array(a, 1, t, cnt, strs) < 0)
            rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s: read failed", name);
        else *n = cnt;
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int xm_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t size, xm_err *err)
{
    char **v = NULL;
    int64_t n = 0;
    int rc = xm_h5_attr_read_strs(loc, name, &v, &n, err);
    if (rc) return rc;
    if (n != 1)
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s: expected one string, found %lld",
                         name, (long long)n);
    else if (strlen(v[0]) >= size)
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s: string too long", name);
    else
        memcpy(buf, v[0], strlen(v[0]) + 1);
    xm_h5_strings_free(v, n);
    return rc;
}

int xm_h5_attr_read_array(hid_t loc, const char *name, xm_h5_type type, void *v, int64_t n,
                          int64_t cap, int64_t *n_out, xm_err *err)
{
    hid_t a = open_attr(loc, name, err);
    if (a < 0) return err ? err->code : XM_EDATA;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    char why[128];
    int rc = 0;
    int64_t cnt = (int64_t)H5Sget_simple_extent_npoints(s);
    if (!xm_h5__type_ok(t, type, why, sizeof why) && !(type == XM_H5_F32 && H5Tget_class(t) == H5T_FLOAT))
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s %s", name, why);
    else if (H5Sget_simple_extent_ndims(s) > 1 || (n >= 0 && cnt != n) || (n < 0 && cnt > cap))
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s has %lld values, expected %lld",
                         name, (long long)cnt, (long long)(n >= 0 ? n : cap));
    else if (H5Aread(a, xm_h5__native(type), v) < 0)
        rc = xm_h5__fail(loc, err, XM_EDATA, "attribute %s: read failed", name);
    else if (n_out)
        *n_out = cnt;
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int xm_h5_attr_read_i64(hid_t loc, const char *name, int64_t *value, xm_err *err)
{
    return xm_h5_attr_read_array(loc, name, XM_H5_I64, value, 1, 1, NULL, err);
}

int xm_h5_attr_read_f64(hid_t loc, const char *name, double *value, xm_err *err)
{
    return xm_h5_attr_read_array(loc, name, XM_H5_F64, value, 1, 1, NULL, err);
}
