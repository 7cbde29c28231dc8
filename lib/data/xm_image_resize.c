/* xm_image_resize.c: torchvision's Resize(S) + CenterCrop(S) on PIL images,
 * reproduced: PIL's antialiased bilinear resample (Resample.c: support
 * scaled by the downscale factor, 22-bit fixed-point coefficients, a
 * horizontal pass rounded to 8 bits, then a vertical pass). Only the pixels
 * inside the crop are computed; each output pixel depends on its own
 * coefficients only, so this equals resizing everything and cropping. */
#include "xm_image_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2) /* as PIL */

typedef struct coeffs {
    int ksize;
    int *bounds; /* per output position: first input index, count */
    int *k;      /* per output position: ksize fixed-point weights */
} coeffs;

static void coeffs_release(coeffs *cf)
{
    free(cf->bounds);
    free(cf->k);
}

static double bilinear(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* PIL's precompute_coeffs + normalize_coeffs_8bpc for output positions
 * o0 .. o0+n-1 of a resize from in_size to out_size. */
static int coeffs_init(coeffs *cf, int in_size, int out_size, int o0, int n)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* bilinear support is 1 */
    int ksize = (int)ceil(support) * 2 + 1;
    cf->ksize = ksize;
    cf->bounds = malloc(sizeof(int) * 2 * (size_t)n);
    cf->k = malloc(sizeof(int) * (size_t)ksize * (size_t)n);
    double *w = malloc(sizeof(double) * (size_t)ksize);
    if (!cf->bounds || !cf->k || !w) {
        free(w);
        coeffs_release(cf);
        return -1;
    }
    double ss = 1.0 / filterscale;
    for (int i = 0; i < n; i++) {
        int xx = o0 + i;
        double center = (xx + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps writes in bounds */
        int x;
        for (x = 0; x < xmax; x++) {
            w[x] = bilinear((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int *k = cf->k + (size_t)i * ksize;
        for (x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int)(0.5 + v * (1 << PRECISION_BITS));
        }
        for (; x < ksize; x++) k[x] = 0;
        cf->bounds[2 * i] = xmin;
        cf->bounds[2 * i + 1] = xmax;
    }
    free(w);
    return 0;
}

static inline uint8_t clip8(int ss)
{
    int v = ss >> PRECISION_BITS; /* arithmetic shift, as PIL's lookup index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One output row of the horizontal pass. `c` is a literal at each call, so
 * the compiler specialises the channel loop. */
static inline void hpass_row(const uint8_t *src, uint8_t *dst, const coeffs *ch, int n,
                             const int c)
{
    for (int i = 0; i < n; i++) {
        int xmin = ch->bounds[2 * i], xn = ch->bounds[2 * i + 1];
        const int *k = ch->k + (size_t)i * ch->ksize;
        const uint8_t *s = src + (size_t)xmin * c;
        if (c == 3) { /* the three sums in one sweep, as PIL does */
            int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xn; x++) {
                s0 += s[3 * x] * k[x];
                s1 += s[3 * x + 1] * k[x];
                s2 += s[3 * x + 2] * k[x];
            }
            dst[3 * i] = clip8(s0);
            dst[3 * i + 1] = clip8(s1);
            dst[3 * i + 2] = clip8(s2);
            continue;
        }
        for (int b = 0; b < c; b++) {
            int ss = 1 << (PRECISION_BITS - 1);
            for (int x = 0; x < xn; x++) ss += s[x * c + b] * k[x];
            dst[i * c + b] = clip8(ss);
        }
    }
}

/* One output row of the vertical pass: rows src, src + stride, ... weighted
 * by k; accumulated a whole row at a time so the inner loop vectorises. */
static inline void vpass_row(const uint8_t *src, uint8_t *dst, const int *k, int yn,
                             size_t stride)
{
    enum { CHUNK = 256 };
    int acc[CHUNK];
    for (size_t x0 = 0; x0 < stride; x0 += CHUNK) {
        size_t m = stride - x0 < CHUNK ? stride - x0 : CHUNK;
        for (size_t x = 0; x < m; x++) acc[x] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < yn; y++) {
            const uint8_t *r = src + (size_t)y * stride + x0;
            int w = k[y];
            for (size_t x = 0; x < m; x++) acc[x] += r[x] * w;
        }
        for (size_t x = 0; x < m; x++) dst[x0 + x] = clip8(acc[x]);
    }
}

/* torchvision CenterCrop: int(round((d) / 2.0)) with Python's round half to even. */
static int crop_offset(int64_t d)
{
    int64_t f = d / 2;
    if (d % 2 != 0 && f % 2 != 0) f++; /* x.5 rounds to the even neighbour */
    return (int)f;
}

int xm_image_resize_crop(const xm_image *in, int size, xm_image *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    if (size <= 0) return xm_err_set(err, XM_EUSAGE, "resize: size must be positive, not %d", size);
    if (!in || !in->px || in->h <= 0 || in->w <= 0 || (in->c != 1 && in->c != 3))
        return xm_err_set(err, XM_EUSAGE, "resize: invalid input image");
    const int c = in->c, iw = in->w, ih = in->h;

    /* torchvision Resize(size): short side to size, long = int(size * long / short) */
    int64_t ow, oh;
    if (iw <= ih) {
        ow = size;
        oh = (int64_t)((double)((int64_t)size * ih) / (double)iw);
    } else {
        oh = size;
        ow = (int64_t)((double)((int64_t)size * iw) / (double)ih);
    }
    if (ow > INT32_MAX || oh > INT32_MAX)
        return xm_err_set(err, XM_EDATA, "resize: %d x %d to short side %d is too elongated", iw,
                          ih, size);
    int top = crop_offset(oh - size), left = crop_offset(ow - size);
    int need_h = ow != iw, need_v = oh != ih;

    coeffs ch = {0}, cv = {0};
    uint8_t *tmp = NULL, *px = NULL;
    int rc = XM_OK;
    if ((need_h && coeffs_init(&ch, iw, (int)ow, left, size)) ||
        (need_v && coeffs_init(&cv, ih, (int)oh, top, size))) {
        rc = xm_err_set(err, XM_EFAIL, "resize: out of memory");
        goto done;
    }
    /* input rows the vertical pass reads */
    int y0 = top, y1 = top + size;
    if (need_v) {
        y0 = ih;
        y1 = 0;
        for (int j = 0; j < size; j++) {
            int a = cv.bounds[2 * j], b = a + cv.bounds[2 * j + 1];
            if (a < y0) y0 = a;
            if (b > y1) y1 = b;
        }
        if (y1 < y0) y1 = y0;
    }
    const size_t ostride = (size_t)size * c;
    tmp = malloc((size_t)(y1 - y0 > 0 ? y1 - y0 : 1) * ostride);
    px = malloc((size_t)size * ostride);
    if (!tmp || !px) {
        rc = xm_err_set(err, XM_EFAIL, "resize: out of memory");
        goto done;
    }
    for (int y = y0; y < y1; y++) {
        const uint8_t *src = in->px + (size_t)y * iw * c;
        uint8_t *dst = tmp + (size_t)(y - y0) * ostride;
        if (!need_h) memcpy(dst, src + (size_t)left * c, ostride); /* plain column crop */
        else if (c == 3) hpass_row(src, dst, &ch, size, 3);
        else hpass_row(src, dst, &ch, size, 1);
    }
    for (int j = 0; j < size; j++) {
        uint8_t *dst = px + (size_t)j * ostride;
        if (!need_v) {
            memcpy(dst, tmp + (size_t)j * ostride, ostride); /* plain row crop */
            continue;
        }
        const int *k = cv.k + (size_t)j * cv.ksize;
        vpass_row(tmp + (size_t)(cv.bounds[2 * j] - y0) * ostride, dst, k, cv.bounds[2 * j + 1],
                  ostride);
    }
    out->h = size;
    out->w = size;
    out->c = c;
    out->px = px;
    px = NULL;
done:
    free(tmp);
    free(px);
    coeffs_release(&ch);
    coeffs_release(&cv);
    return rc;
}
