/* linear.cu: fully connected layers in float32 on cuBLAS (row-major data
 * through column-major SGEMM), with own kernels for the bias. */
#include "xm_cuda_dev.cuh"

/* y[i, j] += b[j] for an n x out row-major y. */
__global__ void bias_add_kernel(float *y, const float *b, size_t total, int out)
{
    XM_GRID_STRIDE(i, total) y[i] += b[i % (size_t)out];
}

/* db[j] = sum_i dy[i, j]; one thread per j, rows summed in order. */
__global__ void bias_grad_kernel(const float *dy, float *db, int n, int out)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= out) return;
    float s = 0.f;
    for (int i = 0; i < n; i++) s += dy[(size_t)i * out + j];
    db[j] = s;
}

static int check_io(const xm_tensor *x, const xm_tensor *y, const char *op, const char *yname,
                    xm_err *err)
{
    int rc;
    if ((rc = xm_cuda_check_tensor(x, XM_DT_F32, op, "x", err)) ||
        (rc = xm_cuda_check_tensor(y, XM_DT_F32, op, yname, err)))
        return rc;
    if (x->h != 1 || x->w != 1 || y->h != 1 || y->w != 1 || x->n != y->n)
        return xm_err_set(err, XM_EUSAGE, "%s: expected n x 1 x 1 x c tensors of one batch", op);
    return 0;
}

extern "C" int xm_cuda_linear_fwd(xm_cuda *cu, const xm_tensor *x, const float *w,
                                  const float *b, xm_tensor *y, xm_err *err)
{
    int rc = check_io(x, y, "linear_fwd", "y", err);
    if (rc) return rc;
    if (!w) return xm_err_set(err, XM_EUSAGE, "linear_fwd: weights missing");
    int n = x->n, in = x->c, out = y->c;
    const float one = 1.f, zero = 0.f;
    /* column-major: Y^T (out x n) = W (out x in; stored as in x out) ^T * X^T (in x n) */
    XM_CUBLAS(cublasSgemm(cu->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in,
                          (const float *)x->data, in, &zero, (float *)y->data, out));
    if (b) {
        size_t total = (size_t)n * out;
        bias_add_kernel<<<xm_cuda_blocks(cu, total, 256), 256, 0, cu->stream>>>(
            (float *)y->data, b, total, out);
        XM_CU_LAUNCHED();
    }
    return 0;
}

extern "C" int xm_cuda_linear_bwd(xm_cuda *cu, const xm_tensor *x, const xm_tensor *dy,
                                  const float *w, xm_tensor *dx, float *dw, float *db,
                                  xm_err *err)
{
    int rc = check_io(x, dy, "linear_bwd", "dy", err);
    if (rc) return rc;
    int n = x->n, in = x->c, out = dy->c;
    const float one = 1.f, zero = 0.f;
    if (dx) {
        if ((rc = check_io(dx, dy, "linear_bwd", "dy", err))) return rc;
        if (dx->c != in) return xm_err_set(err, XM_EUSAGE, "linear_bwd: dx has %d channels, x %d",
                                           dx->c, in);
        if (!w) return xm_err_set(err, XM_EUSAGE, "linear_bwd: weights missing");
        /* dX^T (in x n) = W^T (in x out; stored col-major ld in) * dY^T (out x n) */
        XM_CUBLAS(cublasSgemm(cu->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in,
                              (const float *)dy->data, out, &zero, (float *)dx->data, in));
    }
    if (dw) {
        /* dW^T (in x out) = X^T (in x n) * dY (n x out) = X^T * (dY^T)^T */
        XM_CUBLAS(cublasSgemm(cu->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one,
                              (const float *)x->data, in, (const float *)dy->data, out, &zero,
                              dw, in));
    }
    if (db) {
        bias_grad_kernel<<<(out + 255) / 256, 256, 0, cu->stream>>>((const float *)dy->data, db,
                                                                    n, out);
        XM_CU_LAUNCHED();
    }
    return 0;
}
