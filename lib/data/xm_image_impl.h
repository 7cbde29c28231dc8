/* xm_image_impl.h: internals shared by the xm_image*.c files (not installed,
 * not for callers). Each decoder returns gray (c = 1) or RGB (c = 3). */
#ifndef XM_IMAGE_IMPL_H
#define XM_IMAGE_IMPL_H

#include "xm_image.h"

/* JPEG through TurboJPEG. `size` > 0 lets it decode at a reduced DCT scale
 * (1/2, 1/4, 1/8) while the shorter side stays >= size, as PIL's draft(). */
int xm_image_decode_jpeg(void *tj, const uint8_t *buf, size_t len, const char *name,
                         int size, int64_t max_pixels, xm_image *out, xm_err *err);

/* PNG through libpng: 16-bit keeps the high byte, palette expands to RGB,
 * alpha is dropped (as PIL's convert('RGB')). */
int xm_image_decode_png(const uint8_t *buf, size_t len, const char *name,
                        int64_t max_pixels, xm_image *out, xm_err *err);

/* Force 1 or 3 channels in place with PIL's formulas. */
int xm_image_convert(xm_image *im, int channels, const char *name, xm_err *err);

#endif
