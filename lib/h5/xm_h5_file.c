/* xm_h5_file.c: opening, creating and closing files, groups, existence
 * checks and type mapping. */
#include "xm_h5.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_h5_impl.h"

const char *xm_h5_type_name(xm_h5_type t)
{
    switch (t) {
    case XM_H5_F32: return "float32";
    case XM_H5_F64: return "float64";
    case XM_H5_I32: return "int32";
    case XM_H5_I64: return "int64";
    case XM_H5_U8: return "uint8";
    case XM_H5_I16: return "int16";
    }
    return "?";
}

hid_t xm_h5__native(xm_h5_type t)
{
    switch (t) {
    case XM_H5_F32: return H5T_NATIVE_FLOAT;
    case XM_H5_F64: return H5T_NATIVE_DOUBLE;
    case XM_H5_I32: return H5T_NATIVE_INT32;
    case XM_H5_I64: return H5T_NATIVE_INT64;
    case XM_H5_U8: return H5T_NATIVE_UINT8;
    case XM_H5_I16: return H5T_NATIVE_INT16;
    }
    return H5T_NATIVE_FLOAT;
}

size_t xm_h5__size(xm_h5_type t)
{
    switch (t) {
    case XM_H5_F32: return 4;
    case XM_H5_F64: return 8;
    case XM_H5_I32: return 4;
    case XM_H5_I64: return 8;
    case XM_H5_U8: return 1;
    case XM_H5_I16: return 2;
    }
    return 4;
}

/* The stored type is compatible with the requested one when the class
 * matches and no precision is lost (float64 -> float32 is refused; integer
 * widening is fine, narrowing is checked by HDF5's conversion range). */
int xm_h5__type_ok(hid_t stored, xm_h5_type want, char *why, size_t size)
{
    H5T_class_t cls = H5Tget_class(stored);
    size_t sz = H5Tget_size(stored);
    int want_float = want == XM_H5_F32 || want == XM_H5_F64;
    if (want_float && cls != H5T_FLOAT) {
        snprintf(why, size, "has an integer type, expected %s", xm_h5_type_name(want));
        return 0;
    }
    if (!want_float && cls != H5T_INTEGER) {
        snprintf(why, size, "has a %s type, expected %s",
                 cls == H5T_FLOAT ? "float" : "non-numeric", xm_h5_type_name(want));
        return 0;
    }
    if (sz > xm_h5__size(want)) {
        snprintf(why, size, "has a %zu-byte %s type, expected %s", sz,
                 cls == H5T_FLOAT ? "float" : "integer", xm_h5_type_name(want));
        return 0;
    }
    return 1;
}

void xm_h5_file_name(hid_t loc, char *buf, size_t size)
{
    if (size == 0) return;
    char name[1024];
    ssize_t n = loc >= 0 ? H5Fget_name(loc, name, sizeof name) : -1;
    if (n <= 0) snprintf(buf, size, "?");
    else xm_atomic_display_name(name, buf, size); /* an output's final name */
}

/* The errno of a failed system call that HDF5's file driver recorded on the
 * error stack of the last call ("..., errno = 28, ..."), or 0. */
static herr_t errno_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    const char *p = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (p && !*(int *)data) *(int *)data = atoi(p + 8);
    return 0;
}

int xm_h5__fail(hid_t loc, xm_err *err, int code, const char *fmt, ...)
{
    char file[512], msg[768];
    int e = 0;
    /* before any other HDF5 call: each API call clears the error stack */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, errno_cb, &e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xm_h5_file_name(loc, file, sizeof file);
    /* a read that failed in a system call is an I/O error, not bad data */
    if (e > 0 && code == XM_EDATA) code = XM_EIO;
    if (e > 0) return xm_err_set(err, code, "%s: %s: %s", file, msg, strerror(e));
    return xm_err_set(err, code, "%s: %s", file, msg);
}

/* A file whose close failed (disk full) stays half open inside HDF5 1.10,
 * and the library's exit handler then crashes closing it again; every
 * xm file is closed explicitly, so the handler is not needed. Called before
 * the library's first use (later calls change nothing). */
static void no_exit_handler(void) { H5dont_atexit(); }

hid_t xm_h5_open(const char *path, int write, xm_err *err)
{
    no_exit_handler();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat st;
    if (access(path, write ? R_OK | W_OK : R_OK) != 0 || stat(path, &st) != 0) {
        xm_err_errno(err, XM_ENOINPUT, errno, "%s", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) { /* a FIFO would block HDF5's open() forever */
        xm_err_set(err, XM_ENOINPUT, "%s: not a regular file", path);
        return -1;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        xm_err_set(err, XM_EDATA, "%s: not an HDF5 file", path);
        return -1;
    }
    hid_t f = H5Fopen(path, write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) xm_err_set(err, XM_EDATA, "%s: corrupt or truncated HDF5 file (cannot open)", path);
    return f;
}

hid_t xm_h5_create(const char *path, xm_err *err)
{
    no_exit_handler();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        char shown[1024];
        xm_atomic_display_name(path, shown, sizeof shown);
        xm_err_set(err, XM_ECANTCREAT, "%s: cannot create HDF5 file", shown);
    }
    return f;
}

int xm_h5_close(hid_t file, xm_err *err)
{
    if (file < 0) return 0;
    int rc = 0;
    unsigned intent = 0;
    if (H5Fget_intent(file, &intent) >= 0 && (intent & H5F_ACC_RDWR) &&
        H5Fflush(file, H5F_SCOPE_LOCAL) < 0)
        rc = xm_h5__fail(file, err, XM_EIO, "flush failed");
    if (H5Fclose(file) < 0 && !rc) rc = xm_h5__fail(file, err, XM_EIO, "close failed");
    return rc;
}

int xm_h5_out_open(xm_atomic *a, const char *path, int flags, hid_t *file, xm_err *err)
{
    *file = -1;
    int rc = xm_atomic_open(a, path, flags, err);
    if (rc) return rc;
    xm_atomic_close_fd(a);
    if ((*file = xm_h5_create(a->tmp, err)) < 0) {
        xm_atomic_abort(a);
        return err && err->code ? err->code : XM_ECANTCREAT;
    }
    return 0;
}

int xm_h5_out_close(xm_atomic *a, hid_t file, int rc, const char *name, xm_err *err)
{
    int rc2 = xm_h5_close(file, err);
    if (!rc) rc = rc2;
    if (!rc) return xm_atomic_commit(a, err);
    if (name && err && !strstr(err->msg, name)) xm_err_prefix(err, "%s", name);
    xm_atomic_abort(a);
    return rc;
}

int xm_h5_exists(hid_t loc, const char *name)
{
    /* H5Lexists fails on a missing intermediate group: walk the path. */
    char path[1024];
    size_t len = strlen(name);
    if (len >= sizeof path) return 0;
    memcpy(path, name, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (H5Lexists(loc, path, H5P_DEFAULT) <= 0) return 0;
            path[i] = c;
        }
    }
    return 1;
}

int xm_h5_attr_exists(hid_t loc, const char *name)
{
    return H5Aexists(loc, name) > 0;
}

hid_t xm_h5_group_create(hid_t loc, const char *name, xm_err *err)
{
    if (xm_h5_exists(loc, name)) return xm_h5_group_open(loc, name, err);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(loc, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) xm_h5__fail(loc, err, XM_EIO, "cannot create group %s", name);
    return g;
}

hid_t xm_h5_group_open(hid_t loc, const char *name, xm_err *err)
{
    hid_t g = xm_h5_exists(loc, name) ? H5Gopen2(loc, name, H5P_DEFAULT) : -1;
    if (g < 0) xm_h5__fail(loc, err, XM_EDATA, "group %s is missing", name);
    return g;
}
