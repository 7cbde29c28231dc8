/* input_mix.cu: the input step in one pass: uint8 HWC records -> crop (zero
 * fill outside the stored image), horizontal flip, per-sample mix
 * lam*a + (1-lam)*b, /255, per-channel normalisation, act dtype.
 * The items (and mean/std) go through a pinned staging buffer into a device
 * buffer; an event guards the staging buffer against reuse while its
 * previous copy is still pending. Not capturable (graph.c): run it eagerly
 * into the input tensor a graph reads. */
#include "xm_cuda_dev.cuh"

#include <string.h>

__device__ __forceinline__ float mix_pixel(const uint8_t *rec, int64_t off, int h, int w, int y0,
                                           int x0, int flip, int oy, int ox, int out_w, int c,
                                           int ch)
{
    int sy = y0 + oy;
    int sx = x0 + (flip ? out_w - 1 - ox : ox);
    if (sy < 0 || sy >= h || sx < 0 || sx >= w) return 0.f;
    return (float)rec[off + ((int64_t)sy * w + sx) * c + ch];
}

template <typename T>
__global__ void input_mix_kernel(const uint8_t *rec, const xm_mix_item *items,
                                 const float *mean, const float *stdv, int n, int oh, int ow,
                                 int c, T *x)
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
        const xm_mix_item *it = items + ni;
        float v = mix_pixel(rec, it->off_a, it->ha, it->wa, it->ya, it->xa, it->flip_a, oy, ox,
                            ow, c, ch);
        if (it->off_b >= 0) {
            float vb = mix_pixel(rec, it->off_b, it->hb, it->wb, it->yb, it->xb, it->flip_b, oy,
                                 ox, ow, c, ch);
            v = it->lam * v + (1.f - it->lam) * vb;
        }
        xm_st(x + i, (v / 255.f - mean[ch]) / stdv[ch]);
    }
}

extern "C" int xm_cuda_input_mix(xm_cuda *cu, const uint8_t *records, const xm_mix_item *items,
                                 const float *mean, const float *std, xm_tensor *x, xm_err *err)
{
    int rc = xm_cuda_check_tensor(x, cu->act, "input_mix", "x", err);
    if (rc) return rc;
    /* the items' staging waits on an event and refills host memory per call */
    if ((rc = xm_cuda_no_capture(cu, "input_mix (its items go through host memory)", err)))
        return rc;
    if (!records || !items || !mean || !std)
        return xm_err_set(err, XM_EUSAGE, "input_mix: NULL pointer");
    int n = x->n, c = x->c;
    for (int i = 0; i < n; i++) {
        const xm_mix_item *it = items + i;
        if (it->off_a < 0 || it->ha <= 0 || it->wa <= 0 ||
            (it->off_b >= 0 && (it->hb <= 0 || it->wb <= 0)))
            return xm_err_set(err, XM_EUSAGE, "input_mix: item %d has no valid image", i);
    }
    size_t items_bytes = (size_t)n * sizeof(xm_mix_item);
    size_t bytes = items_bytes + 2 * (size_t)c * sizeof(float);
    if (bytes > cu->items_host_bytes) {
        XM_CU(cudaEventSynchronize(cu->items_ev));
        if (cu->items_host) XM_CU(cudaFreeHost(cu->items_host));
        cu->items_host = NULL;
        cu->items_host_bytes = 0;
        XM_CU(cudaMallocHost(&cu->items_host, bytes));
        cu->items_host_bytes = bytes;
    }
    if ((rc = xm_cuda_grow(cu, &cu->items_dev, &cu->items_dev_bytes, bytes, "the input items",
                           err)))
        return rc;
    /* the previous copy out of items_host must have finished before we refill it */
    XM_CU(cudaEventSynchronize(cu->items_ev));
    char *h = (char *)cu->items_host;
    memcpy(h, items, items_bytes);
    memcpy(h + items_bytes, mean, (size_t)c * sizeof(float));
    memcpy(h + items_bytes + (size_t)c * sizeof(float), std, (size_t)c * sizeof(float));
    XM_CU(cudaMemcpyAsync(cu->items_dev, h, bytes, cudaMemcpyHostToDevice, cu->stream));
    XM_CU(cudaEventRecord(cu->items_ev, cu->stream));
    const char *d = (const char *)cu->items_dev;
    const float *dmean = (const float *)(d + items_bytes);
    const float *dstd = dmean + c;
    size_t total = xm_tensor_count(x);
    int blocks = xm_cuda_blocks(cu, total, 256);
    XM_DT_DISPATCH(cu->act, T, "input_mix",
                   (input_mix_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                       records, (const xm_mix_item *)d, dmean, dstd, n, x->h, x->w, c,
                       (T *)x->data)));
    XM_CU_LAUNCHED();
    return 0;
}
