/* xm_image.c: decoder context, format dispatch by magic bytes, channel
 * conversion (PIL's convert('L') / convert('RGB') formulas). */
#include "xm_image_impl.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

struct xm_decoder {
    tjhandle tj; /* TurboJPEG handles are not thread-safe: one per thread */
};

void xm_image_release(xm_image *im)
{
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

xm_decoder *xm_decoder_new(xm_err *err)
{
    xm_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    d->tj = tjInitDecompress();
    if (!d->tj) {
        xm_err_set(err, XM_EFAIL, "cannot start TurboJPEG: %s", tjGetErrorStr2(NULL));
        free(d);
        return NULL;
    }
    return d;
}

void xm_decoder_free(xm_decoder *d)
{
    if (!d) return;
    if (d->tj) tjDestroy(d->tj);
    free(d);
}

/* PIL's rgb2l: L = R*299/1000 + G*587/1000 + B*114/1000, as the fixed-point
 * L24 macro of Convert.c computes it (rounded, 16 fractional bits). */
static uint8_t rgb_to_l(const uint8_t *p)
{
    return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

int xm_image_convert(xm_image *im, int channels, const char *name, xm_err *err)
{
    if (channels == 0 || channels == im->c) return XM_OK;
    size_t n = (size_t)im->h * (size_t)im->w;
    if (channels == 1 && im->c == 3) {
        /* in place: output index i never passes input index 3i */
        for (size_t i = 0; i < n; i++) im->px[i] = rgb_to_l(im->px + 3 * i);
        uint8_t *p = realloc(im->px, n ? n : 1);
        if (p) im->px = p;
        im->c = 1;
        return XM_OK;
    }
    if (channels == 3 && im->c == 1) {
        uint8_t *p = malloc(n * 3);
        if (!p) return xm_err_set(err, XM_EFAIL, "%s: out of memory", name);
        for (size_t i = 0; i < n; i++) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = im->px[i];
        free(im->px);
        im->px = p;
        im->c = 3;
        return XM_OK;
    }
    return xm_err_set(err, XM_EUSAGE, "%s: cannot convert %d to %d channels", name, im->c,
                      channels);
}

static int is_jpeg(const uint8_t *b, size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
static int is_png(const uint8_t *b, size_t n)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    return n >= 8 && memcmp(b, sig, 8) == 0;
}

int xm_image_decode(xm_decoder *d, const uint8_t *buf, size_t len, const char *name,
                    const xm_decode_opts *o, xm_image *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    xm_decode_opts def = {0, 0, 0};
    if (!o) o = &def;
    if (!d || (!buf && len)) return xm_err_set(err, XM_EUSAGE, "%s: no decoder or buffer", name);
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return xm_err_set(err, XM_EUSAGE, "%s: channels must be 0, 1 or 3, not %d", name,
                          o->channels);
    if (o->size < 0) return xm_err_set(err, XM_EUSAGE, "%s: negative size %d", name, o->size);
    int64_t maxpx = o->max_pixels > 0 ? o->max_pixels : XM_IMAGE_MAX_PIXELS_DEFAULT;
    if (len == 0) return xm_err_set(err, XM_EDATA, "%s: empty file", name);

    xm_image im = {0};
    int rc;
    if (is_jpeg(buf, len))
        rc = xm_image_decode_jpeg(d->tj, buf, len, name, o->size, maxpx, &im, err);
    else if (is_png(buf, len))
        rc = xm_image_decode_png(buf, len, name, maxpx, &im, err);
    else
        return xm_err_set(err, XM_EDATA, "%s: not a JPEG or PNG file (unknown magic bytes)", name);
    if (rc) return rc;

    /* channel conversion before the resize, as img.convert(mode) then the
     * torchvision transforms do */
    rc = xm_image_convert(&im, o->channels, name, err);
    if (!rc && o->size > 0) {
        xm_image r;
        rc = xm_image_resize_crop(&im, o->size, &r, err);
        if (rc) xm_err_prefix(err, "%s", name);
        else {
            xm_image_release(&im);
            im = r;
        }
    }
    if (rc) {
        xm_image_release(&im);
        return rc;
    }
    *out = im;
    return XM_OK;
}
