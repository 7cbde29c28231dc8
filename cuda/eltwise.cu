/* eltwise.cu: dtype conversion, residual add (+ReLU), ReLU backward, and
 * the global average pool forward/backward. NHWC, grid-stride loops. */
#include "xm_cuda_dev.cuh"

template <typename S, typename D>
__global__ void convert_kernel(const S *src, D *dst, size_t n)
{
    XM_GRID_STRIDE(i, n) xm_st(dst + i, xm_tof(src[i]));
}

extern "C" int xm_cuda_convert(xm_cuda *cu, const void *src, xm_dtype sdt, void *dst,
                               xm_dtype ddt, size_t n, xm_err *err)
{
    if (!n) return 0;
    if (!src || !dst) return xm_err_set(err, XM_EUSAGE, "convert: NULL pointer");
    int blocks = xm_cuda_blocks(cu, n, 256);
    if (sdt == XM_DT_F32) {
        XM_DT_DISPATCH(ddt, T, "convert",
                       (convert_kernel<float, T><<<blocks, 256, 0, cu->stream>>>(
                           (const float *)src, (T *)dst, n)));
    } else if (ddt == XM_DT_F32) {
        XM_DT_DISPATCH(sdt, T, "convert",
                       (convert_kernel<T, float><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)src, (float *)dst, n)));
    } else {
        return xm_err_set(err, XM_EUSAGE, "convert: %s to %s is not supported",
                          xm_cuda_dt_name(sdt), xm_cuda_dt_name(ddt));
    }
    XM_CU_LAUNCHED();
    return 0;
}

static int same_shape(const xm_tensor *a, const xm_tensor *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

template <typename T>
__global__ void add_kernel(const T *a, const T *b, T *y, size_t n, int relu)
{
    XM_GRID_STRIDE(i, n)
    {
        float v = xm_tof(a[i]) + xm_tof(b[i]);
        if (relu && v < 0.f) v = 0.f;
        xm_st(y + i, v);
    }
}

template <typename T>
__global__ void add8_kernel(const T *a, const T *b, T *y, size_t n8, int relu)
{
    XM_GRID_STRIDE(i, n8)
    {
        float fa[8], fb[8];
        xm_ld8(a + 8 * i, fa);
        xm_ld8(b + 8 * i, fb);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            fa[k] += fb[k];
            if (relu && fa[k] < 0.f) fa[k] = 0.f;
        }
        xm_st8(y + 8 * i, fa);
    }
}

extern "C" int xm_cuda_add(xm_cuda *cu, const xm_tensor *a, const xm_tensor *b, int relu,
                           xm_tensor *y, xm_err *err)
{
    /* trunk tensors (act dtype) or, e.g. for gradients of the pooled
     * features from two heads, F32 ones: a, b, y of one dtype */
    int rc;
    xm_dtype dt = a ? a->dtype : cu->act;
    if ((rc = xm_cuda_check_tensor(a, dt, "add", "a", err)) ||
        (rc = xm_cuda_check_tensor(b, dt, "add", "b", err)) ||
        (rc = xm_cuda_check_tensor(y, dt, "add", "y", err)))
        return rc;
    if (!same_shape(a, b) || !same_shape(a, y))
        return xm_err_set(err, XM_EUSAGE, "add: shapes differ");
    size_t n = xm_tensor_count(y), es = xm_cuda_dt_size(dt);
    if (xm_vec8_ok(n, es, a->data, b->data, y->data, NULL)) {
        int blocks = xm_cuda_blocks(cu, n / 8, 256);
        XM_DT_DISPATCH(dt, T, "add",
                       (add8_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)a->data, (const T *)b->data, (T *)y->data, n / 8, relu)));
    } else {
        int blocks = xm_cuda_blocks(cu, n, 256);
        XM_DT_DISPATCH(dt, T, "add",
                       (add_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)a->data, (const T *)b->data, (T *)y->data, n, relu)));
    }
    XM_CU_LAUNCHED();
    return 0;
}

template <typename T>
__global__ void relu_bwd_kernel(const T *y, const T *dy, T *dx, size_t n)
{
    XM_GRID_STRIDE(i, n)
    {
        float g = xm_tof(dy[i]);
        xm_st(dx + i, xm_tof(y[i]) > 0.f ? g : 0.f);
    }
}

template <typename T>
__global__ void relu_bwd8_kernel(const T *y, const T *dy, T *dx, size_t n8)
{
    XM_GRID_STRIDE(i, n8)
    {
        float fy[8], fg[8];
        xm_ld8(y + 8 * i, fy);
        xm_ld8(dy + 8 * i, fg);
#pragma unroll
        for (int k = 0; k < 8; k++)
            if (!(fy[k] > 0.f)) fg[k] = 0.f;
        xm_st8(dx + 8 * i, fg);
    }
}

extern "C" int xm_cuda_relu_bwd(xm_cuda *cu, const xm_tensor *y, const xm_tensor *dy,
                                xm_tensor *dx, xm_err *err)
{
    int rc;
    xm_dtype dt = y ? y->dtype : cu->act; /* act dtype, or F32 (as add) */
    if ((rc = xm_cuda_check_tensor(y, dt, "relu_bwd", "y", err)) ||
        (rc = xm_cuda_check_tensor(dy, dt, "relu_bwd", "dy", err)) ||
        (rc = xm_cuda_check_tensor(dx, dt, "relu_bwd", "dx", err)))
        return rc;
    if (!same_shape(y, dy) || !same_shape(y, dx))
        return xm_err_set(err, XM_EUSAGE, "relu_bwd: shapes differ");
    size_t n = xm_tensor_count(y), es = xm_cuda_dt_size(dt);
    if (xm_vec8_ok(n, es, y->data, dy->data, dx->data, NULL)) {
        int blocks = xm_cuda_blocks(cu, n / 8, 256);
        XM_DT_DISPATCH(dt, T, "relu_bwd",
                       (relu_bwd8_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)y->data, (const T *)dy->data, (T *)dx->data, n / 8)));
    } else {
        int blocks = xm_cuda_blocks(cu, n, 256);
        XM_DT_DISPATCH(dt, T, "relu_bwd",
                       (relu_bwd_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)y->data, (const T *)dy->data, (T *)dx->data, n)));
    }
    XM_CU_LAUNCHED();
    return 0;
}

/* One thread per (n, c): consecutive threads read consecutive channels. */
template <typename T>
__global__ void gap_fwd_kernel(const T *x, float *y, int n, int hw, int c)
{
    size_t total = (size_t)n * c;
    float inv = 1.f / (float)hw;
    XM_GRID_STRIDE(i, total)
    {
        size_t ni = i / (size_t)c, ci = i % (size_t)c;
        const T *p = x + ni * (size_t)hw * c + ci;
        float s = 0.f;
        for (int k = 0; k < hw; k++) s += xm_tof(p[(size_t)k * c]);
        y[i] = s * inv;
    }
}

extern "C" int xm_cuda_gap_fwd(xm_cuda *cu, const xm_tensor *x, xm_tensor *y, xm_err *err)
{
    int rc;
    if ((rc = xm_cuda_check_tensor(x, cu->act, "gap_fwd", "x", err)) ||
        (rc = xm_cuda_check_tensor(y, XM_DT_F32, "gap_fwd", "y", err)))
        return rc;
    if (y->n != x->n || y->h != 1 || y->w != 1 || y->c != x->c)
        return xm_err_set(err, XM_EUSAGE, "gap_fwd: output must be %dx1x1x%d", x->n, x->c);
    size_t total = (size_t)x->n * x->c;
    int blocks = xm_cuda_blocks(cu, total, 256);
    XM_DT_DISPATCH(cu->act, T, "gap_fwd",
                   (gap_fwd_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                       (const T *)x->data, (float *)y->data, x->n, x->h * x->w, x->c)));
    XM_CU_LAUNCHED();
    return 0;
}

template <typename T>
__global__ void gap_bwd_kernel(const float *dy, T *dx, int hw, int c, size_t total)
{
    float inv = 1.f / (float)hw;
    XM_GRID_STRIDE(i, total)
    {
        size_t ci = i % (size_t)c, ni = i / ((size_t)hw * c);
        xm_st(dx + i, dy[ni * c + ci] * inv);
    }
}

extern "C" int xm_cuda_gap_bwd(xm_cuda *cu, const xm_tensor *dy, xm_tensor *dx, xm_err *err)
{
    int rc;
    if ((rc = xm_cuda_check_tensor(dy, XM_DT_F32, "gap_bwd", "dy", err)) ||
        (rc = xm_cuda_check_tensor(dx, cu->act, "gap_bwd", "dx", err)))
        return rc;
    if (dy->n != dx->n || dy->h != 1 || dy->w != 1 || dy->c != dx->c)
        return xm_err_set(err, XM_EUSAGE, "gap_bwd: dy must be %dx1x1x%d", dx->n, dx->c);
    size_t total = xm_tensor_count(dx);
    int blocks = xm_cuda_blocks(cu, total, 256);
    XM_DT_DISPATCH(cu->act, T, "gap_bwd",
                   (gap_bwd_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                       (const float *)dy->data, (T *)dx->data, dx->h * dx->w, dx->c, total)));
    XM_CU_LAUNCHED();
    return 0;
}
