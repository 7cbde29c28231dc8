/* xm_h5.h: a small layer over the HDF5 C API for xm's files.
 *
 * HDF5's own error printing is switched off (STYLE.md 16); every failure is
 * reported through xm_err as "FILE: reason", where FILE is the name the file
 * was opened with. Dataset and attribute names are paths relative to the
 * given location (a file or group id), e.g. "layer1.0.conv1.weight".
 *
 * Shapes are int64_t arrays of up to XM_H5_MAX_RANK dimensions. In a shape
 * check, -1 accepts any extent in that dimension.
 */
#ifndef XM_H5_H
#define XM_H5_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "xm_atomic.h"
#include "xm_err.h"

#define XM_H5_MAX_RANK 8

/* Element types of datasets and attributes, mapped to native HDF5 types. */
typedef enum xm_h5_type {
    XM_H5_F32 = 0,
    XM_H5_F64 = 1,
    XM_H5_I32 = 2,
    XM_H5_I64 = 3,
    XM_H5_U8 = 4,
    XM_H5_I16 = 5
} xm_h5_type;

const char *xm_h5_type_name(xm_h5_type t);

/* Open an existing file read-only (write = 0) or read-write. Returns a file
 * id >= 0, or -1 with *err filled (XM_ENOINPUT when missing/unreadable,
 * XM_EDATA when not an HDF5 file). */
hid_t xm_h5_open(const char *path, int write, xm_err *err);
/* Create (truncate) a file. Returns -1 with XM_ECANTCREAT on failure. */
hid_t xm_h5_create(const char *path, xm_err *err);
/* Close a file id (flushes). Returns 0, or XM_EIO when the flush failed.
 * id < 0 is ignored. */
int xm_h5_close(hid_t file, xm_err *err);
/* An HDF5 output written atomically (xm_atomic.h): opens the temporary
 * name of path and creates the file there (*file). Returns 0, or the
 * status with *err filled and nothing left behind. */
int xm_h5_out_open(xm_atomic *a, const char *path, int flags, hid_t *file, xm_err *err);
/* Finish an output of xm_h5_out_open given the writer's status rc: close
 * the file, then rename it into place when rc and the close are 0, else
 * remove it. Returns the first failure. With name, a message that does not
 * mention name is prefixed with it. */
int xm_h5_out_close(xm_atomic *a, hid_t file, int rc, const char *name, xm_err *err);

/* The file name of any object id, for messages (static fallback "?"). */
void xm_h5_file_name(hid_t loc, char *buf, size_t size);

/* 1 when a link (dataset or group) exists at name, else 0. Intermediate
 * groups are checked too, so "a/b/c" is safe to ask. */
int xm_h5_exists(hid_t loc, const char *name);
/* 1 when the attribute exists on loc. */
int xm_h5_attr_exists(hid_t loc, const char *name);

/* Create a group (and missing parents). Returns its id or -1. */
hid_t xm_h5_group_create(hid_t loc, const char *name, xm_err *err);
hid_t xm_h5_group_open(hid_t loc, const char *name, xm_err *err);

/* ---- datasets ---- */

/* Rank and shape of a dataset, and its element class checked against type
 * (integer vs float, size). *rank receives the rank, dims up to
 * XM_H5_MAX_RANK extents. */
int xm_h5_shape(hid_t loc, const char *name, int *rank, int64_t *dims, xm_err *err);

/* Read a whole dataset into buf (converted to `type`), after checking that
 * its rank and shape equal `rank`/`dims` (-1 = any extent) and that its
 * stored class matches the type (float for F32/F64, integer otherwise; a
 * stored float64 read as F32 is refused, so a file never loses precision
 * silently). buf must hold the product of the actual extents. */
int xm_h5_read(hid_t loc, const char *name, xm_h5_type type, int rank, const int64_t *dims,
               void *buf, xm_err *err);
/* Same, but allocates the buffer (malloc) and returns the actual shape in
 * dims_out (may be NULL). */
void *xm_h5_read_alloc(hid_t loc, const char *name, xm_h5_type type, int rank,
                       const int64_t *dims, int64_t *dims_out, xm_err *err);
/* Read rows [row0, row0+nrows) of a dataset of rank >= 1 whose trailing
 * extents are known to the caller (a hyperslab read). */
int xm_h5_read_rows(hid_t loc, const char *name, xm_h5_type type, int64_t row0,
                    int64_t nrows, void *buf, xm_err *err);

/* Write a dataset (created; an existing one of that name is an error).
 * rank 0 writes a scalar. gzip > 0 compresses with deflate level gzip in
 * chunks (ignored for scalars). */
int xm_h5_write(hid_t loc, const char *name, xm_h5_type type, int rank, const int64_t *dims,
                const void *buf, int gzip, xm_err *err);
/* Write a 1-D dataset of n variable-length UTF-8 strings. */
int xm_h5_write_strings(hid_t loc, const char *name, char *const *strs, int64_t n,
                        xm_err *err);
/* Read a 1-D string dataset (fixed or variable length); *strs receives a
 * malloc'd array of n malloc'd strings (free with xm_h5_strings_free). */
int xm_h5_read_strings(hid_t loc, const char *name, char ***strs, int64_t *n, xm_err *err);
void xm_h5_strings_free(char **strs, int64_t n);

/* ---- chunked, growable 2-D float32 datasets (features: rows x cols) ---- */

/* Create an empty rows x cols dataset with unlimited rows, chunked by
 * chunk_rows rows. */
int xm_h5_f32_2d_create(hid_t loc, const char *name, int64_t cols, int64_t chunk_rows,
                        xm_err *err);
/* Append nrows rows (row-major) to the end of that dataset. */
int xm_h5_f32_2d_append(hid_t loc, const char *name, const float *rows, int64_t nrows,
                        xm_err *err);

/* ---- attributes (on a file, group or dataset id) ---- */

int xm_h5_attr_write_str(hid_t loc, const char *name, const char *value, xm_err *err);
int xm_h5_attr_write_strs(hid_t loc, const char *name, char *const *strs, int64_t n,
                          xm_err *err);
int xm_h5_attr_write_i64(hid_t loc, const char *name, int64_t value, xm_err *err);
int xm_h5_attr_write_f64(hid_t loc, const char *name, double value, xm_err *err);
/* A 1-D attribute of n values of `type`. */
int xm_h5_attr_write_array(hid_t loc, const char *name, xm_h5_type type, const void *v,
                           int64_t n, xm_err *err);

/* Read a string attribute (fixed or variable length) into buf (truncation
 * is an error). */
int xm_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t size, xm_err *err);
/* Read a 1-D (or scalar) string array attribute: malloc'd array. */
int xm_h5_attr_read_strs(hid_t loc, const char *name, char ***strs, int64_t *n, xm_err *err);
int xm_h5_attr_read_i64(hid_t loc, const char *name, int64_t *value, xm_err *err);
int xm_h5_attr_read_f64(hid_t loc, const char *name, double *value, xm_err *err);
/* Read a scalar or 1-D numeric attribute of exactly n values (n < 0: any
 * count up to cap, the count is returned through *n_out). Unlike datasets,
 * a float64 attribute may be read as F32 (h5py writes Python floats as
 * float64; attributes hold settings such as mean/std, not data). */
int xm_h5_attr_read_array(hid_t loc, const char *name, xm_h5_type type, void *v, int64_t n,
                          int64_t cap, int64_t *n_out, xm_err *err);

/* ---- iteration ---- */

/* Names of all datasets directly under loc (malloc'd array of malloc'd
 * strings, in name order); n receives the count. */
int xm_h5_list_datasets(hid_t loc, char ***names, int64_t *n, xm_err *err);

#endif
