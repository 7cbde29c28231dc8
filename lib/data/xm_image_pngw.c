/* xm_image_pngw.c: write 8-bit gray or RGB pixels as PNG (xm-pack --extract). */
#include "xm_image.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>

typedef struct png_sink {
    char error[256];
} png_sink;

static void on_error(png_structp png, png_const_charp msg)
{
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->error, sizeof s->error, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

int xm_png_write_file(FILE *f, const uint8_t *px, int h, int w, int c, xm_err *err)
{
    if (!f || !px || h <= 0 || w <= 0 || (c != 1 && c != 3))
        return xm_err_set(err, XM_EUSAGE, "png write: invalid image (%d x %d x %d)", h, w, c);
    png_sink s = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return xm_err_set(err, XM_EFAIL, "png write: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return xm_err_set(err, XM_EIO, "png write: %s", s.error);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * w * c));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fflush(f) != 0 || ferror(f)) return xm_err_set(err, XM_EIO, "png write: I/O error");
    return XM_OK;
}
