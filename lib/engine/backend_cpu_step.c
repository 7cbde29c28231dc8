/* backend_cpu_step.c: the input step (crop, flip, mix, normalise), the
 * SGD update over the parameter slab and loss scaling. */
#include "backend_cpu.h"

#include <math.h>
#include <string.h>

#include <omp.h>

/* One output row of a crop: buf[ox*c + ch] = stored pixel (y, x0 + col, ch)
 * with col = ox, or ow-1-ox when flipped (the flip follows the crop); 0
 * outside the stored image. */
static void crop_row(const uint8_t *img, int h, int w, int c, int y, int x0, int flip, int ow,
                     float *buf)
{
    if (y < 0 || y >= h) {
        memset(buf, 0, (size_t)ow * c * sizeof(float));
        return;
    }
    const uint8_t *row = img + (size_t)y * w * c;
    for (int ox = 0; ox < ow; ox++) {
        const int sx = x0 + (flip ? ow - 1 - ox : ox);
        float *o = buf + (size_t)ox * c;
        if (sx < 0 || sx >= w) {
            for (int ch = 0; ch < c; ch++) o[ch] = 0.0f;
        } else {
            const uint8_t *px = row + (size_t)sx * c;
            for (int ch = 0; ch < c; ch++) o[ch] = (float)px[ch];
        }
    }
}

int cpu_input_mix(xm_backend *be, const uint8_t *records, const xm_mix_item *items,
                  const float *mean, const float *std, xm_tensor *x, xm_err *err)
{
    if (cpu_check_f32(x, "x", "input_mix", err)) return err->code;
    for (int i = 0; i < x->n; i++) {
        const xm_mix_item *it = &items[i];
        if (it->off_a < 0 || it->ha <= 0 || it->wa <= 0 ||
            (it->off_b >= 0 && (it->hb <= 0 || it->wb <= 0)))
            return xm_err_set(err, XM_EUSAGE, "cpu backend: input_mix: bad item %d", i);
    }
    const int n = x->n, oh = x->h, ow = x->w, c = x->c, nt = cpu_of(be)->threads;
    const size_t rl = (size_t)ow * c; /* floats in an output row */
    /* scratch: mean and std tiled along a row, then two row buffers per thread */
    double *scr = cpu_scratch(be, (rl * (2 + 2 * (size_t)nt) + 1) / 2 + 1, err);
    if (!scr) return err->code;
    float *mrow = (float *)scr, *srow = mrow + rl, *bufs = srow + rl;
    for (size_t k = 0; k < rl; k++) {
        mrow[k] = mean[k % c];
        srow[k] = std[k % c];
    }
    float *out = x->data;
#pragma omp parallel num_threads(nt)
    {
        float *va = bufs + 2 * rl * (size_t)omp_get_thread_num(), *vb = va + rl;
#pragma omp for schedule(static)
        for (long r = 0; r < (long)n * oh; r++) {
            const int i = (int)(r / oh), oy = (int)(r % oh);
            const xm_mix_item *it = &items[i];
            float *o = out + (size_t)r * rl;
            crop_row(records + it->off_a, it->ha, it->wa, c, it->ya + oy, it->xa, it->flip_a, ow,
                     va);
            if (it->off_b >= 0) {
                crop_row(records + it->off_b, it->hb, it->wb, c, it->yb + oy, it->xb,
                         it->flip_b, ow, vb);
                const float lam = it->lam, mu = 1.0f - lam;
#pragma omp simd
                for (size_t k = 0; k < rl; k++)
                    o[k] = ((lam * va[k] + mu * vb[k]) / 255.0f - mrow[k]) / srow[k];
            } else {
#pragma omp simd
                for (size_t k = 0; k < rl; k++) o[k] = (va[k] / 255.0f - mrow[k]) / srow[k];
            }
        }
    }
    return 0;
}

int cpu_sgd_update(xm_backend *be, float *w, const float *g, float *mom, const float *w0,
                   size_t n, const xm_sgd_cfg *cfg, xm_err *err)
{
    const float lr = cfg->lr, mu = cfg->momentum, wd = cfg->weight_decay, l2sp = cfg->l2sp;
    const int nesterov = cfg->nesterov;
    if (l2sp != 0.0f && !w0)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: sgd_update: l2sp needs w0");
    if (mu != 0.0f && !mom)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: sgd_update: momentum needs a buffer");
    /* Terms that are off are added as exact zeros (wd*w with wd = 0,
     * l2sp*(w - w) with no w0), so the loops have no branches. */
    const float *w0p = l2sp != 0.0f ? w0 : w;
    const int nt = cpu_of(be)->threads;
    if (mu != 0.0f) {
        /* step = buf, or g' + mu*buf with Nesterov: as factors a*g' + b*buf
         * (a = 0, b = 1 or a = 1, b = mu), exact either way and branch-free */
        const float a = nesterov ? 1.0f : 0.0f, b = nesterov ? mu : 1.0f;
#pragma omp parallel for simd schedule(static) num_threads(nt)
        for (size_t i = 0; i < n; i++) {
            /* the order of torch.optim.SGD: decay into the gradient first */
            float d = g[i] + wd * w[i];
            d = d + l2sp * (w[i] - w0p[i]);
            float buf = mu * mom[i] + d;
            mom[i] = buf;
            w[i] = w[i] - lr * (a * d + b * buf);
        }
    } else {
#pragma omp parallel for simd schedule(static) num_threads(nt)
        for (size_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            d = d + l2sp * (w[i] - w0p[i]);
            w[i] = w[i] - lr * d;
        }
    }
    /* the slab changed: cached weight copies are stale */
    cpu_of(be)->wgen++;
    return 0;
}

int cpu_scale_f32(xm_backend *be, float *p, size_t n, float s, int *finite, xm_err *err)
{
    if (n && !p) return xm_err_set(err, XM_EUSAGE, "cpu backend: scale_f32: NULL pointer");
    const int nt = cpu_of(be)->threads;
    int bad = 0;
#pragma omp parallel for simd schedule(static) num_threads(nt) reduction(| : bad)
    for (size_t i = 0; i < n; i++) {
        float v = p[i] * s;
        p[i] = v;
        bad |= !isfinite(v);
    }
    if (finite) *finite = !bad;
    return 0;
}
