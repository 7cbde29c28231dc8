/* xm_idx.h: IDX files (MNIST family), gzip'd or raw (zlib gzopen reads both).
 * Layout: magic 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dims, then the
 * data. Only TYPE 0x08 (uint8) is accepted: images and labels. */
#ifndef XM_IDX_H
#define XM_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"

typedef struct xm_idx { int ndim; int64_t dims[4]; uint8_t type; uint8_t *data; size_t bytes; } xm_idx;

/* Read the whole file. Validates magic, type, ndim (1..4), dims (> 0), the
 * overflow-checked product of dims against max_bytes (0 = no limit) and
 * against the decompressed size: too short or trailing bytes are XM_EDATA
 * naming the file. Missing file: XM_ENOINPUT. */
int xm_idx_read(const char *path, int64_t max_bytes, xm_idx *out, xm_err *err);  /* validates magic, dims, size */
/* The same checks on an uncompressed IDX image in memory (fuzzing, tests);
 * the data is copied. name is used in messages. */
int xm_idx_parse(const uint8_t *buf, size_t len, const char *name, int64_t max_bytes,
                 xm_idx *out, xm_err *err);
void xm_idx_release(xm_idx *x);                                                 /* NULL ok */

#endif
