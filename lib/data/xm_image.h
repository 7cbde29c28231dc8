/* xm_image.h: decode JPEG/PNG into uint8 HWC pixels, PIL-matching resize,
 * and PNG writing. Used by xm-pack (ingest) and --extract.
 *
 * Decoding is per thread: each thread owns one xm_decoder. The library never
 * prints; every failure fills xm_err with "NAME: reason" (XM_EDATA for bad
 * or hostile input, XM_EFAIL for out of memory). */
#ifndef XM_IMAGE_H
#define XM_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include "xm_err.h"

typedef struct xm_image { int h, w, c; uint8_t *px; } xm_image;          /* HWC, px malloc'd */
void xm_image_release(xm_image *im);                                       /* frees px, NULL ok */

typedef struct xm_decode_opts { int channels; /* 0 = keep (gray->1, else 3), 1 or 3 */
    int size; /* 0 = native; S = shorter side to S (antialiased, as PIL bilinear) then center crop SxS */
    int64_t max_pixels; /* 0 = default 64M */ } xm_decode_opts;

#define XM_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)64 * 1024 * 1024)

typedef struct xm_decoder xm_decoder;                                      /* per-thread decode context */
xm_decoder *xm_decoder_new(xm_err *err);
void xm_decoder_free(xm_decoder *d);                                       /* NULL ok */

/* Decode a JPEG or PNG held in memory (format by magic bytes, not by name). Any libjpeg/libpng warning
 * (truncation, corrupt data) is an error XM_EDATA "NAME: reason". */
int xm_image_decode(xm_decoder *d, const uint8_t *buf, size_t len, const char *name,
                    const xm_decode_opts *o, xm_image *out, xm_err *err);

/* Shorter side to `size` (PIL antialiased bilinear, torchvision Resize(size)
 * rounding) then center crop size x size (torchvision CenterCrop). */
int xm_image_resize_crop(const xm_image *in, int size, xm_image *out, xm_err *err); /* for IDX/--size */

/* Write 8-bit gray (c = 1) or RGB (c = 3) pixels as PNG to f. */
int xm_png_write_file(FILE *f, const uint8_t *px, int h, int w, int c, xm_err *err);

#endif
