/* xm_image_jpeg.c: JPEG decoding through TurboJPEG (2.x API), at a reduced
 * DCT scale when the target size allows, like PIL's Image.draft(). Any
 * libjpeg warning (truncation, corrupt data) is an error. */
#include "xm_image_impl.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* PIL's JpegImageFile.draft picks sc in {8, 4, 2, 1}, the largest with
 * sc <= min(W // S, H // S); we take the same one when TurboJPEG offers it,
 * so that our pixels before the resize are PIL's. */
static int draft_denom(int w, int h, int size)
{
    if (size <= 0) return 1;
    int shortside = w < h ? w : h;
    int want = shortside / size;
    int n = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&n);
    for (int sc = 8; sc > 1; sc /= 2) {
        if (want < sc) continue;
        for (int i = 0; sf && i < n; i++)
            if (sf[i].num == 1 && sf[i].denom == sc) return sc;
    }
    return 1;
}

static int jpeg_fail(tjhandle tj, const char *name, xm_err *err)
{
    const char *m = tjGetErrorStr2(tj);
    if (!m) m = "unknown error";
    if (strstr(m, "Premature end"))
        return xm_err_set(err, XM_EDATA, "%s: truncated JPEG (premature end of data)", name);
    return xm_err_set(err, XM_EDATA, "%s: corrupt JPEG (%s)", name, m);
}

/* PIL reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and converts with
 * Convert.c's cmyk2rgb: out = nk - nk*c/255 (rounded), nk = 255 - k. */
static uint8_t muldiv255(int a, int b)
{
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++, in += 4, out += 3) {
        int nk = in[3]; /* 255 - (255 - raw k) */
        for (int j = 0; j < 3; j++) {
            int c = 255 - in[j];
            int v = nk - muldiv255(c, nk);
            out[j] = (uint8_t)(v < 0 ? 0 : v);
        }
    }
}

int xm_image_decode_jpeg(void *tjv, const uint8_t *buf, size_t len, const char *name,
                         int size, int64_t max_pixels, xm_image *out, xm_err *err)
{
    tjhandle tj = tjv;
    if (len > (size_t)0xFFFFFFFFu)
        return xm_err_set(err, XM_EDATA, "%s: JPEG larger than 4 GiB", name);
    int w = 0, h = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0)
        return jpeg_fail(tj, name, err);
    if (w <= 0 || h <= 0) /* also what TurboJPEG reports when the header is cut short */
        return xm_err_set(err, XM_EDATA, "%s: truncated JPEG header or empty image (%d x %d)", name, w, h);
    /* refuse before any large allocation: libjpeg's buffers follow the
     * native size even when decoding at a reduced scale */
    if ((int64_t)w * h > max_pixels)
        return xm_err_set(err, XM_EDATA, "%s: image too large (%d x %d = %lld pixels > %lld)",
                          name, w, h, (long long)w * h, (long long)max_pixels);

    int pf, nc;
    switch (cs) {
    case TJCS_GRAY: pf = TJPF_GRAY; nc = 1; break;
    case TJCS_CMYK:
    case TJCS_YCCK: pf = TJPF_CMYK; nc = 4; break;
    default: pf = TJPF_RGB; nc = 3; break;
    }
    int sc = draft_denom(w, h, size);
    int sw = (w + sc - 1) / sc, sh = (h + sc - 1) / sc; /* TJSCALED with 1/sc */
    size_t n = (size_t)sw * (size_t)sh;
    uint8_t *px = malloc(n * (size_t)nc);
    if (!px) return xm_err_set(err, XM_EFAIL, "%s: out of memory (%d x %d)", name, sw, sh);
    int flags = TJFLAG_STOPONWARNING;
#ifdef TJFLAG_LIMITSCANS
    flags |= TJFLAG_LIMITSCANS; /* hostile progressive files: cap the scan count */
#endif
    if (tjDecompress2(tj, buf, (unsigned long)len, px, sw, sw * nc, sh, pf, flags) != 0) {
        free(px);
        return jpeg_fail(tj, name, err);
    }
    if (nc == 4) {
        uint8_t *rgb = malloc(n * 3);
        if (!rgb) {
            free(px);
            return xm_err_set(err, XM_EFAIL, "%s: out of memory", name);
        }
        cmyk_to_rgb(px, rgb, n);
        free(px);
        px = rgb;
        nc = 3;
    }
    out->h = sh;
    out->w = sw;
    out->c = nc;
    out->px = px;
    return XM_OK;
}
