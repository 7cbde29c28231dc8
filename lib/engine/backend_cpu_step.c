/* backend_cpu_step.c: the input step (crop, flip, mix, normalise) and the
 * SGD update over the parameter slab. */
#include "backend_cpu.h"

/* Stored pixel (y, x) channel ch of an image, 0 outside it. */
static inline float pixel(const uint8_t *img, int h, int w, int c, int y, int x, int ch)
{
    if (y < 0 || y >= h || x < 0 || x >= w) return 0.0f;
    return (float)img[((size_t)y * w + x) * c + ch];
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
    const int n = x->n, oh = x->h, ow = x->w, c = x->c;
    float *out = x->data;
#pragma omp parallel for schedule(static) num_threads(cpu_of(be)->threads)
    for (long r = 0; r < (long)n * oh; r++) {
        const int i = (int)(r / oh), oy = (int)(r % oh);
        const xm_mix_item *it = &items[i];
        const uint8_t *a = records + it->off_a;
        const uint8_t *b = it->off_b >= 0 ? records + it->off_b : NULL;
        const float lam = b ? it->lam : 1.0f, mu = 1.0f - lam;
        float *o = out + (size_t)r * ow * c;
        for (int ox = 0; ox < ow; ox++) {
            /* flip after the crop: column ox of the output is column
             * ow-1-ox of the crop */
            const int xa = it->xa + (it->flip_a ? ow - 1 - ox : ox);
            const int ya = it->ya + oy;
            int xb = 0, yb = 0;
            if (b) {
                xb = it->xb + (it->flip_b ? ow - 1 - ox : ox);
                yb = it->yb + oy;
            }
            for (int ch = 0; ch < c; ch++) {
                float v = pixel(a, it->ha, it->wa, c, ya, xa, ch);
                if (b) v = lam * v + mu * pixel(b, it->hb, it->wb, c, yb, xb, ch);
                o[(size_t)ox * c + ch] = (v / 255.0f - mean[ch]) / std[ch];
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
