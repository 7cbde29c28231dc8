/* loss.cu: softmax cross-entropy against soft labels (float32). One block
 * per row computes log-sum-exp, the row's loss and the gradient; a second
 * one-block kernel sums the row losses in a fixed order (deterministic),
 * and only the mean (one double) is copied back. */
#include "xm_cuda_dev.cuh"

#define XENT_THREADS 256

__global__ void xent_rows_kernel(const float *z, const float *t, int k, float inv_n, float *dz,
                                 double *row_loss)
{
    __shared__ float shf[32];
    __shared__ double shd[32];
    const float *zr = z + (size_t)blockIdx.x * k;
    const float *tr = t + (size_t)blockIdx.x * k;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, zr[j]);
    m = xm_block_max(m, shf);
    float s = 0.f, st = 0.f;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        s += expf(zr[j] - m);
        st += tr[j];
    }
    s = xm_block_sum(s, shf);
    st = xm_block_sum(st, shf);
    float lse = m + logf(s);
    double l = 0.0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        float tj = tr[j];
        l += (double)tj * (double)(lse - zr[j]);
        if (dz) {
            float p = expf(zr[j] - m) / s;
            dz[(size_t)blockIdx.x * k + j] = (p * st - tj) * inv_n;
        }
    }
    l = xm_block_sum(l, shd);
    if (threadIdx.x == 0) row_loss[blockIdx.x] = l;
}

/* out[0] = (1/n) * sum of row_loss[0..n), summed in a fixed order. */
__global__ void xent_mean_kernel(const double *row_loss, int n, double *out)
{
    __shared__ double sh[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += row_loss[i];
    s = xm_block_sum(s, sh);
    if (threadIdx.x == 0) out[0] = s / n;
}

extern "C" int xm_cuda_softmax_xent(xm_cuda *cu, const xm_tensor *logits, const xm_tensor *target,
                                    double *loss_host, xm_tensor *dlogits, xm_err *err)
{
    int rc;
    if ((rc = xm_cuda_check_tensor(logits, XM_DT_F32, "softmax_xent", "logits", err)) ||
        (rc = xm_cuda_check_tensor(target, XM_DT_F32, "softmax_xent", "target", err)))
        return rc;
    int n = logits->n, k = logits->h * logits->w * logits->c;
    if (target->n != n || (int)(xm_tensor_count(target) / n) != k)
        return xm_err_set(err, XM_EUSAGE, "softmax_xent: target shape differs from logits");
    if (dlogits) {
        if ((rc = xm_cuda_check_tensor(dlogits, XM_DT_F32, "softmax_xent", "dlogits", err)))
            return rc;
        if (xm_tensor_count(dlogits) != xm_tensor_count(logits))
            return xm_err_set(err, XM_EUSAGE, "softmax_xent: dlogits shape differs from logits");
    }
    /* row losses, then the mean in slot n */
    if ((size_t)n + 1 > cu->loss_dev_rows) {
        size_t bytes = cu->loss_dev_rows * sizeof(double);
        if ((rc = xm_cuda_grow(cu, (void **)&cu->loss_dev, &bytes, ((size_t)n + 1) * sizeof(double),
                               "the loss", err)))
            return rc;
        cu->loss_dev_rows = (size_t)n + 1;
    }
    xent_rows_kernel<<<n, XENT_THREADS, 0, cu->stream>>>(
        (const float *)logits->data, (const float *)target->data, k, 1.f / (float)n,
        dlogits ? (float *)dlogits->data : NULL, cu->loss_dev);
    XM_CU_LAUNCHED();
    if (loss_host) {
        xent_mean_kernel<<<1, XENT_THREADS, 0, cu->stream>>>(cu->loss_dev, n, cu->loss_dev + n);
        XM_CU_LAUNCHED();
        XM_CU(cudaMemcpyAsync(cu->loss_host, cu->loss_dev + n, sizeof(double),
                              cudaMemcpyDeviceToHost, cu->stream));
        XM_CU(cudaStreamSynchronize(cu->stream));
        *loss_host = *cu->loss_host;
    }
    return 0;
}
