/* xm_cuda_profile.h: the CUDA backend's per-op timing, for benchmarks.
 *
 * With XM_CUDA_PROFILE=1 in the environment when the backend is created,
 * every op is bracketed by a pair of CUDA events on the backend's stream and
 * timed on the host (the time the call takes to enqueue its work), then
 * accumulated per label: the op and its shape (convolutions: kernel, stride,
 * the cuDNN algorithm, "+wconv" when the call converted the weights). GPU
 * times are event intervals, so when the host cannot keep the GPU busy they
 * include the wait for the launches; compare the sum of host times with the
 * step time to tell host-bound from GPU-bound.
 *
 * No CUDA headers here: a C program of the project (bench_engine) includes
 * it when XM_HAVE_CUDA is defined. Both functions accept any backend and do
 * nothing (NULL) unless it is a CUDA backend with profiling on. */
#ifndef XM_CUDA_PROFILE_H
#define XM_CUDA_PROFILE_H

#include "xm_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The table so far (synchronises the stream): a malloc'd text the caller
 * frees, or NULL. `steps` (> 0) divides the totals into per-step columns. */
char *xm_cuda_profile_report(xm_backend *be, int steps);
/* Forget what was measured (e.g. after warm-up steps). */
void xm_cuda_profile_reset(xm_backend *be);

#ifdef __cplusplus
}
#endif

#endif
