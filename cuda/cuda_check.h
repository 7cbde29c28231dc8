/* cuda_check.h: one checking macro shape for CUDA, cuBLAS and cuDNN calls
 * (STYLE.md 3; the idea of ggml's CUDA_CHECK_GEN).
 *
 * XM_CHECK_GEN(T, call, ok, str_fn, lib) evaluates `call` once; when its
 * status is not `ok` it fills the `xm_err *err` in scope with
 * "<lib>: <status text> (<code>) in <call> at <file>:<line>" and returns the
 * xm_status from the enclosing int-returning function. Nothing exits. */
#ifndef XM_CUDA_CHECK_H
#define XM_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "xm_err.h"

/* Fill *err from a failed call; returns XM_EFAIL. For CUDA errors it also
 * clears the (non-sticky) last-error state. */
int xm_cuda_fail(xm_err *err, const char *lib, int status, const char *what,
                 const char *call, const char *file, int line);
#ifdef __cplusplus
}
#endif

#define XM_CHECK_GEN(T, call, ok, str_fn, lib)                                  \
    do {                                                                        \
        T xm_s_ = (call);                                                       \
        if (xm_s_ != (ok))                                                      \
            return xm_cuda_fail(err, lib, (int)xm_s_, str_fn(xm_s_), #call,     \
                                __FILE__, __LINE__);                            \
    } while (0)

#define XM_CU(call) XM_CHECK_GEN(cudaError_t, call, cudaSuccess, cudaGetErrorString, "CUDA")
#define XM_CUBLAS(call)                                                         \
    XM_CHECK_GEN(cublasStatus_t, call, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, "cuBLAS")
#define XM_CUDNN(call)                                                          \
    XM_CHECK_GEN(cudnnStatus_t, call, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, "cuDNN")
/* End of every launcher: catch launch-configuration errors. */
#define XM_CU_LAUNCHED() XM_CU(cudaGetLastError())

#endif
