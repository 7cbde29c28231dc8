/* scale.cu: loss scaling, p *= s over a float slab, optionally reporting
 * whether every result is finite (one flag, read back synchronously: the
 * trainer needs it before deciding to apply or skip the update). */
#include "xm_cuda_dev.cuh"

__global__ void scale_kernel(float *p, size_t n, float s, int *bad)
{
    int mine = 0;
    XM_GRID_STRIDE(i, n)
    {
        float v = p[i] * s;
        p[i] = v;
        mine |= !isfinite(v);
    }
    /* every thread of the block reaches this (the loop bound is uniform) */
    if (bad && __syncthreads_or(mine) && threadIdx.x == 0) atomicOr(bad, 1);
}

extern "C" int xm_cuda_scale_f32(xm_cuda *cu, float *p, size_t n, float s, int *finite,
                                 xm_err *err)
{
    if (n && !p) return xm_err_set(err, XM_EUSAGE, "scale_f32: NULL pointer");
    if (finite) XM_CU(cudaMemsetAsync(cu->flag_dev, 0, sizeof(int), cu->stream));
    if (n) {
        int blocks = xm_cuda_blocks(cu, n, 256);
        scale_kernel<<<blocks, 256, 0, cu->stream>>>(p, n, s, finite ? cu->flag_dev : NULL);
        XM_CU_LAUNCHED();
    }
    if (finite) {
        XM_CU(cudaMemcpyAsync(cu->flag_host, cu->flag_dev, sizeof(int), cudaMemcpyDeviceToHost,
                              cu->stream));
        XM_CU(cudaStreamSynchronize(cu->stream));
        *finite = !*cu->flag_host;
    }
    return 0;
}
