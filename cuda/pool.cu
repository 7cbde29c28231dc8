/* pool.cu: max pooling, NHWC. The forward pass keeps, per output, the
 * input position (ih * W + iw) of its maximum in the plan (first maximum
 * in window order; a NaN wins, as in PyTorch and the CPU backend: see
 * pool_takes); the backward pass gathers: each input sums dy over the
 * outputs whose window contains it and chose it, so no atomics and
 * deterministic results.
 *
 * XM_CUDA_POOL_VEC=1 (not yet the default: written without a GPU, to be
 * measured): with C % 8 == 0, one thread per 8 channels of a pixel, 16-byte
 * loads and stores and 32-bit index arithmetic, the same comparisons and
 * the same summation order per channel (identical results). The first
 * profile has max pooling at 8-16% of the copy bandwidth (backward) where
 * elementwise kernels reach 85-93%: its per-element 64-bit divisions, not
 * memory, bound it. */
#include "xm_cuda_dev.cuh"

#include <stdlib.h>

typedef struct pool_plan {
    int kind;
    xm_pool_desc d;
    int32_t *argmax; /* n * oh * ow * c */
} pool_plan;

/* xm_pool_desc_finish lives in lib/engine (not linkable from here): the same
 * checks and PyTorch's floor formula. */
static int pool_desc_finish(xm_pool_desc *d, xm_err *err)
{
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->k <= 0 || d->stride <= 0 ||
        d->pad < 0 || d->pad * 2 > d->k || d->h + 2 * d->pad < d->k || d->w + 2 * d->pad < d->k)
        return xm_err_set(err, XM_EUSAGE, "pool_plan: invalid shape");
    d->oh = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    d->ow = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    return 0;
}

extern "C" void *xm_cuda_pool_plan(xm_cuda *cu, const xm_pool_desc *d, xm_err *err)
{
    if (!d) {
        xm_err_set(err, XM_EUSAGE, "pool_plan: no descriptor");
        return NULL;
    }
    xm_pool_desc dd = *d;
    if (pool_desc_finish(&dd, err)) return NULL;
    pool_plan *p = (pool_plan *)calloc(1, sizeof *p);
    if (!p) {
        xm_err_set(err, XM_EFAIL, "pool_plan: out of host memory");
        return NULL;
    }
    p->kind = XM_CUDA_PLAN_POOL;
    p->d = dd;
    size_t n = (size_t)dd.n * dd.oh * dd.ow * dd.c;
    if (xm_cuda_malloc(cu, (void **)&p->argmax, n * sizeof(int32_t), "max-pool indices", err)) {
        free(p);
        return NULL;
    }
    return p;
}

extern "C" void xm_cuda_pool_plan_free(xm_cuda *cu, void *plan)
{
    pool_plan *p = (pool_plan *)plan;
    if (!p) return;
    (void)cudaStreamSynchronize(cu->stream);
    cudaFree(p->argmax);
    free(p);
}

/* v replaces the window's best so far: larger, or the first NaN (which
 * then stays: nothing compares greater than NaN, and a later NaN does not
 * replace it), so the value is NaN as in the CPU backend and the index is
 * the first NaN's, where the CPU routes the gradient. */
__device__ __forceinline__ bool pool_takes(float v, float best)
{
    return v > best || (v != v && best == best);
}

template <typename T>
__global__ void maxpool_fwd_kernel(const T *x, T *y, int32_t *argmax, int n, int h, int w, int c,
                                   int oh, int ow, int k, int s, int pad)
{
    size_t total = (size_t)n * oh * ow * c;
    XM_GRID_STRIDE(i, total)
    {
        int ch = (int)(i % (size_t)c);
        size_t r = i / (size_t)c;
        int ox = (int)(r % (size_t)ow);
        r /= (size_t)ow;
        int oy = (int)(r % (size_t)oh);
        int ni = (int)(r / (size_t)oh);
        int y0 = oy * s - pad, x0 = ox * s - pad;
        float best = -INFINITY;
        int bi = -1;
        for (int dy = 0; dy < k; dy++) {
            int iy = y0 + dy;
            if (iy < 0 || iy >= h) continue;
            for (int dx = 0; dx < k; dx++) {
                int ix = x0 + dx;
                if (ix < 0 || ix >= w) continue;
                float v = xm_tof(x[(((size_t)ni * h + iy) * w + ix) * c + ch]);
                if (bi < 0 || pool_takes(v, best)) {
                    best = v;
                    bi = iy * w + ix;
                }
            }
        }
        xm_st(y + i, best);
        argmax[i] = bi;
    }
}

template <typename T>
__global__ void maxpool_bwd_kernel(const T *dy, const int32_t *argmax, T *dx, int n, int h, int w,
                                   int c, int oh, int ow, int k, int s, int pad)
{
    size_t total = (size_t)n * h * w * c;
    XM_GRID_STRIDE(i, total)
    {
        int ch = (int)(i % (size_t)c);
        size_t r = i / (size_t)c;
        int ix = (int)(r % (size_t)w);
        r /= (size_t)w;
        int iy = (int)(r % (size_t)h);
        int ni = (int)(r / (size_t)h);
        /* outputs oy with oy*s - pad <= iy <= oy*s - pad + k - 1 */
        int ty = iy + pad - k + 1, tx = ix + pad - k + 1;
        int oy0 = ty <= 0 ? 0 : (ty + s - 1) / s;
        int ox0 = tx <= 0 ? 0 : (tx + s - 1) / s;
        int oy1 = min((iy + pad) / s, oh - 1);
        int ox1 = min((ix + pad) / s, ow - 1);
        int me = iy * w + ix;
        float g = 0.f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                size_t o = (((size_t)ni * oh + oy) * ow + ox) * c + ch;
                if (argmax[o] == me) g += xm_tof(dy[o]);
            }
        xm_st(dx + i, g);
    }
}

/* ---- eight channels per thread (XM_CUDA_POOL_VEC=1) ---- */

__device__ __forceinline__ void pool_ld8i(const int32_t *p, int32_t v[8])
{
    int4 a = *(const int4 *)p, b = *(const int4 *)(p + 4);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z,
    v[7] = b.w;
}

/* Element group i of an (n, H, W, c/8) walk: image, row, column, channel. */
__device__ __forceinline__ void pool_pix8(unsigned i, unsigned c8, int H, int W, int *ni, int *py,
                                          int *px, int *ch)
{
    unsigned r = i / c8;
    *ch = (int)(i - r * c8) * 8;
    *px = (int)(r % (unsigned)W);
    r /= (unsigned)W;
    *py = (int)(r % (unsigned)H);
    *ni = (int)(r / (unsigned)H);
}

/* total8 = n * oh * ow * (c / 8) < 2^31 */
template <typename T>
__global__ void maxpool_fwd8_kernel(const T *x, T *y, int32_t *argmax, unsigned total8, int h,
                                    int w, int c, int oh, int ow, int k, int s, int pad)
{
    const unsigned c8 = (unsigned)c / 8;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total8;
         i += gridDim.x * blockDim.x) {
        int ni, oy, ox, ch;
        pool_pix8(i, c8, oh, ow, &ni, &oy, &ox, &ch);
        const int y0 = oy * s - pad, x0 = ox * s - pad;
        float best[8], v[8];
        int bi[8];
#pragma unroll
        for (int j = 0; j < 8; j++) best[j] = -INFINITY, bi[j] = -1;
        for (int dy = 0; dy < k; dy++) {
            int iy = y0 + dy;
            if (iy < 0 || iy >= h) continue;
            for (int dx = 0; dx < k; dx++) {
                int ix = x0 + dx;
                if (ix < 0 || ix >= w) continue;
                xm_ld8(x + (((size_t)ni * h + iy) * w + ix) * c + ch, v);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    if (bi[j] < 0 || pool_takes(v[j], best[j])) {
                        best[j] = v[j];
                        bi[j] = iy * w + ix;
                    }
            }
        }
        const size_t o = (size_t)i * 8;
        xm_st8(y + o, best);
        int4 *am = (int4 *)(argmax + o);
        am[0] = make_int4(bi[0], bi[1], bi[2], bi[3]);
        am[1] = make_int4(bi[4], bi[5], bi[6], bi[7]);
    }
}

/* total8 = n * h * w * (c / 8) < 2^31 */
template <typename T>
__global__ void maxpool_bwd8_kernel(const T *dy, const int32_t *argmax, T *dx, unsigned total8,
                                    int h, int w, int c, int oh, int ow, int k, int s, int pad)
{
    const unsigned c8 = (unsigned)c / 8;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total8;
         i += gridDim.x * blockDim.x) {
        int ni, iy, ix, ch;
        pool_pix8(i, c8, h, w, &ni, &iy, &ix, &ch);
        const int ty = iy + pad - k + 1, tx = ix + pad - k + 1;
        const int oy0 = ty <= 0 ? 0 : (ty + s - 1) / s;
        const int ox0 = tx <= 0 ? 0 : (tx + s - 1) / s;
        const int oy1 = min((iy + pad) / s, oh - 1);
        const int ox1 = min((ix + pad) / s, ow - 1);
        const int me = iy * w + ix;
        float g[8], d[8];
        int32_t am[8];
#pragma unroll
        for (int j = 0; j < 8; j++) g[j] = 0.f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                size_t o = (((size_t)ni * oh + oy) * ow + ox) * c + ch;
                pool_ld8i(argmax + o, am);
                xm_ld8(dy + o, d);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    if (am[j] == me) g[j] += d[j];
            }
        xm_st8(dx + (size_t)i * 8, g);
    }
}

static int pool_vec(const xm_cuda *cu, int c, size_t elems, const void *a, const void *b)
{
    return cu->pool_vec && elems / 8 < (size_t)1 << 31 &&
           xm_vec8_ok(c, xm_cuda_dt_size(cu->act), a, b, NULL, NULL);
}

/* The plan of op, after checking it and the tensors: in has the pool's
 * input shape, out its output shape. NULL with *rc and *err filled. */
static pool_plan *pool_check(xm_cuda *cu, void *plan, const char *op, const xm_tensor *in,
                             const char *in_name, const xm_tensor *out, const char *out_name,
                             int *rc, xm_err *err)
{
    pool_plan *p = (pool_plan *)plan;
    if (!p || p->kind != XM_CUDA_PLAN_POOL) {
        *rc = xm_err_set(err, XM_EUSAGE, "%s: not a pool plan", op);
        return NULL;
    }
    if ((*rc = xm_cuda_check_tensor(in, cu->act, op, in_name, err)) ||
        (*rc = xm_cuda_check_tensor(out, cu->act, op, out_name, err)))
        return NULL;
    const xm_pool_desc *d = &p->d;
    if (in->n != d->n || in->h != d->h || in->w != d->w || in->c != d->c || out->n != d->n ||
        out->h != d->oh || out->w != d->ow || out->c != d->c) {
        *rc = xm_err_set(err, XM_EUSAGE, "%s: tensors do not match the plan's shapes", op);
        return NULL;
    }
    return p;
}

extern "C" int xm_cuda_maxpool_fwd(xm_cuda *cu, void *plan, const xm_tensor *x, xm_tensor *y,
                                   xm_err *err)
{
    int rc = 0;
    pool_plan *p = pool_check(cu, plan, "maxpool_fwd", x, "x", y, "y", &rc, err);
    if (!p) return rc;
    const xm_pool_desc *d = &p->d;
    size_t total = xm_tensor_count(y);
    if (pool_vec(cu, d->c, total, x->data, y->data)) {
        cu->paths_used |= XM_CUDA_PATH_POOL_VEC_FWD;
        int blocks = xm_cuda_blocks(cu, total / 8, 256);
        XM_DT_DISPATCH(cu->act, T, "maxpool_fwd",
                       (maxpool_fwd8_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)x->data, (T *)y->data, p->argmax, (unsigned)(total / 8),
                           d->h, d->w, d->c, d->oh, d->ow, d->k, d->stride, d->pad)));
        XM_CU_LAUNCHED();
        return 0;
    }
    int blocks = xm_cuda_blocks(cu, total, 256);
    XM_DT_DISPATCH(cu->act, T, "maxpool_fwd",
                   (maxpool_fwd_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                       (const T *)x->data, (T *)y->data, p->argmax, d->n, d->h, d->w, d->c, d->oh,
                       d->ow, d->k, d->stride, d->pad)));
    XM_CU_LAUNCHED();
    return 0;
}

extern "C" int xm_cuda_maxpool_bwd(xm_cuda *cu, void *plan, const xm_tensor *dy, xm_tensor *dx,
                                   xm_err *err)
{
    int rc = 0;
    pool_plan *p = pool_check(cu, plan, "maxpool_bwd", dx, "dx", dy, "dy", &rc, err);
    if (!p) return rc;
    const xm_pool_desc *d = &p->d;
    size_t total = xm_tensor_count(dx);
    if (pool_vec(cu, d->c, total, dy->data, dx->data)) {
        cu->paths_used |= XM_CUDA_PATH_POOL_VEC_BWD;
        int blocks = xm_cuda_blocks(cu, total / 8, 256);
        XM_DT_DISPATCH(cu->act, T, "maxpool_bwd",
                       (maxpool_bwd8_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)dy->data, p->argmax, (T *)dx->data, (unsigned)(total / 8),
                           d->h, d->w, d->c, d->oh, d->ow, d->k, d->stride, d->pad)));
        XM_CU_LAUNCHED();
        return 0;
    }
    int blocks = xm_cuda_blocks(cu, total, 256);
    XM_DT_DISPATCH(cu->act, T, "maxpool_bwd",
                   (maxpool_bwd_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                       (const T *)dy->data, p->argmax, (T *)dx->data, d->n, d->h, d->w, d->c,
                       d->oh, d->ow, d->k, d->stride, d->pad)));
    XM_CU_LAUNCHED();
    return 0;
}
