/* xm_image_png.c: PNG decoding through libpng from memory. Errors longjmp
 * back here; warnings (bad ancillary CRC, extra data) are recorded and turn
 * the decode into an error, so a damaged file is never half-trusted. */
#include "xm_image_impl.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    char warning[256]; /* first libpng warning, "" if none */
    char error[256];
} png_src;

static void on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->error, sizeof s->error, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (!s->warning[0]) snprintf(s->warning, sizeof s->warning, "%s", msg);
}

static void on_read(png_structp png, png_bytep dst, png_size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG (premature end of data)");
    memcpy(dst, s->buf + s->pos, n);
    s->pos += n;
}

/* Chunks we never use: skipping them means their oddities (sRGB profile
 * complaints etc.) cannot reject a good image. Their CRCs are still checked. */
static const png_byte ignored_chunks[] =
    "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0"
    "sRGB\0tEXt\0tIME\0tRNS\0zTXt";

static int fail(png_src *s, const char *name, xm_err *err)
{
    const char *m = s->error[0] ? s->error : s->warning;
    if (strstr(m, "truncated PNG") || strstr(m, "Not enough") || strstr(m, "Read Error"))
        return xm_err_set(err, XM_EDATA, "%s: truncated PNG (premature end of data)", name);
    return xm_err_set(err, XM_EDATA, "%s: corrupt PNG (%s)", name, m);
}

int xm_image_decode_png(const uint8_t *buf, size_t len, const char *name,
                        int64_t max_pixels, xm_image *out, xm_err *err)
{
    png_src s = {.buf = buf, .len = len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return xm_err_set(err, XM_EFAIL, "%s: out of memory", name);
    }
    /* volatile: assigned after setjmp and used after a longjmp */
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    int rc = XM_OK;
    if (setjmp(png_jmpbuf(png))) {
        rc = fail(&s, name, err);
        goto done;
    }
    png_set_read_fn(png, &s, on_read);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
                                (int)(sizeof ignored_chunks / 5));
    /* our own pixel limit is checked below; lift libpng's 1M-column default */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    if (s.warning[0]) {
        rc = fail(&s, name, err);
        goto done;
    }
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w == 0 || h == 0) {
        rc = xm_err_set(err, XM_EDATA, "%s: empty PNG image (%u x %u)", name, w, h);
        goto done;
    }
    if ((int64_t)w * h > max_pixels) {
        rc = xm_err_set(err, XM_EDATA, "%s: image too large (%u x %u = %lld pixels > %lld)", name,
                        w, h, (long long)w * h, (long long)max_pixels);
        goto done;
    }
    int ct = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    /* 16-bit keeps the high byte, as PIL's "RGB;16B" unpacker does */
    if (depth == 16) png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png); /* PIL's convert('RGB') drops it */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if ((c != 1 && c != 3) || png_get_bit_depth(png, info) != 8) {
        rc = xm_err_set(err, XM_EDATA, "%s: unsupported PNG layout (color type %d, depth %d)",
                        name, ct, depth);
        goto done;
    }
    size_t stride = (size_t)w * (size_t)c;
    if (png_get_rowbytes(png, info) != stride) {
        rc = xm_err_set(err, XM_EDATA, "%s: unexpected PNG row size", name);
        goto done;
    }
    px = malloc(stride * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!px || !rows) {
        rc = xm_err_set(err, XM_EFAIL, "%s: out of memory (%u x %u)", name, w, h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* checks the remaining chunks' CRCs and IEND */
    if (s.warning[0]) {
        rc = fail(&s, name, err);
        goto done;
    }
    out->h = (int)h;
    out->w = (int)w;
    out->c = c;
    out->px = px;
    px = NULL;
done:
    free(rows);
    free(px);
    png_destroy_read_struct(&png, &info, NULL);
    return rc;
}
