/* xm_cuda_dev.cuh: device helpers shared by the .cu files: dtype loads and
 * stores through float, the dtype dispatch, block reductions. */
#ifndef XM_CUDA_DEV_CUH
#define XM_CUDA_DEV_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "xm_cuda.h"

__device__ __forceinline__ float xm_tof(float v) { return v; }
__device__ __forceinline__ float xm_tof(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float xm_tof(__half v) { return __half2float(v); }
__device__ __forceinline__ void xm_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void xm_st(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void xm_st(__half *p, float v) { *p = __float2half_rn(v); }

/* Eight consecutive elements moved with 16-byte accesses (two for float):
 * the vectorised paths of the elementwise kernels. Host side: use them only
 * when xm_vec8_ok() (element count or channel count a multiple of 8 and
 * every pointer aligned to 8 elements). */
template <typename T>
struct alignas(8 * sizeof(T)) xm_v8 {
    T v[8];
};
template <typename T>
__device__ __forceinline__ void xm_ld8(const T *p, float f[8])
{
    xm_v8<T> r = *(const xm_v8<T> *)p;
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = xm_tof(r.v[k]);
}
template <typename T>
__device__ __forceinline__ void xm_st8(T *p, const float f[8])
{
    xm_v8<T> r;
#pragma unroll
    for (int k = 0; k < 8; k++) xm_st(&r.v[k], f[k]);
    *(xm_v8<T> *)p = r;
}
static inline int xm_vec8_ok(size_t count, size_t elem, const void *a, const void *b,
                             const void *c, const void *d)
{
    uintptr_t m = (uintptr_t)(8 * elem) - 1;
    return count % 8 == 0 && !((uintptr_t)a & m) && !((uintptr_t)b & m) && !((uintptr_t)c & m) &&
           !((uintptr_t)d & m);
}

/* Run STMT with T the C type of activation dtype DT (F32, BF16, F16); other
 * dtypes fill *err and return from the enclosing function. */
#define XM_DT_DISPATCH(DT, T, OP, STMT)                                         \
    switch (DT) {                                                               \
    case XM_DT_F32: { typedef float T; STMT; } break;                           \
    case XM_DT_BF16: { typedef __nv_bfloat16 T; STMT; } break;                  \
    case XM_DT_F16: { typedef __half T; STMT; } break;                          \
    default:                                                                    \
        return xm_err_set(err, XM_EUSAGE, "%s: unsupported dtype %s", OP,       \
                          xm_cuda_dt_name(DT));                                 \
    }

#define XM_GRID_STRIDE(i, n)                                                    \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);     \
         i += (size_t)gridDim.x * blockDim.x)

/* Block-wide sum/max; blockDim.x a multiple of 32 (at most 1024); every
 * thread calls it and gets the result. sh: __shared__ scratch of 32. */
template <typename V>
__device__ __forceinline__ V xm_warp_sum(V v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float xm_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
template <typename V>
__device__ V xm_block_sum(V v, V *sh)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = xm_warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? sh[lane] : (V)0;
        v = xm_warp_sum(v);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}
__device__ inline float xm_block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = xm_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? sh[lane] : -INFINITY;
        v = xm_warp_max(v);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

#endif
