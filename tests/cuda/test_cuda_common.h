/* test_cuda_common.h: helpers for the CUDA-vs-CPU tests: one CPU backend
 * and one CUDA backend, tensors allocated in both, the same host data
 * uploaded to both, results downloaded and compared scale-free. */
#ifndef TEST_CUDA_COMMON_H
#define TEST_CUDA_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_backend.h"
#include "xm_rng.h"
#include "xm_test.h"

static inline void tc_die(const char *what, const xm_err *err)
{
    fprintf(stderr, "test: %s: %s\n", what, err->msg);
    exit(1);
}

/* Run an op; on failure report it as a test failure with the message. */
#define TC_OK(call)                                                            \
    do {                                                                       \
        xm_err e_ = {0};                                                       \
        xm_err *err = &e_;                                                     \
        int rc_ = (call);                                                      \
        XM_CHECKF(rc_ == 0, "%s failed: %s", #call, e_.msg);                   \
        (void)err;                                                             \
    } while (0)

static inline void *tc_xmalloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(1);
    }
    return p;
}

/* Round to bf16 (nearest even), the value a BF16 tensor stores. */
static inline float tc_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return f;
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to f16 (nearest even, subnormals, overflow to inf), the value an
 * F16 tensor stores. Scaling by a power of two is exact, so rounding
 * f / ulp to an integer (ties to even, the default mode) and scaling back
 * is exact f16 rounding. */
static inline float tc_f16(float f)
{
    if (!isfinite(f) || f == 0.f) return f;
    int e;
    (void)frexpf(f, &e);                   /* |f| in [2^(e-1), 2^e) */
    if (e < -13) e = -13;                  /* below 2^-14: subnormal step 2^-24 */
    float ulp = ldexpf(1.f, e - 11);       /* 10 stored mantissa bits */
    float r = nearbyintf(f / ulp) * ulp;
    return fabsf(r) > 65504.f ? copysignf(INFINITY, f) : r;
}

/* Round host data to what a tensor of dtype dt holds. Both dtypes must be
 * rounded: the CPU side (F32) then sees exactly the GPU's input values, so
 * exact ops (relu_bwd) and float-accumulated reductions (BN statistics,
 * gap_fwd) agree to float rounding whatever the activation dtype. (F16
 * inputs were once left unrounded: their 2^-12 relative rounding then
 * showed up as 1e-4 errors against 1e-5/1e-6 thresholds.) */
static inline void tc_round(float *p, size_t n, xm_dtype dt)
{
    if (dt == XM_DT_BF16)
        for (size_t i = 0; i < n; i++) p[i] = tc_bf16(p[i]);
    else if (dt == XM_DT_F16)
        for (size_t i = 0; i < n; i++) p[i] = tc_f16(p[i]);
}

static inline void tc_normal(float *p, size_t n, uint64_t seed, float scale)
{
    xm_rng r;
    xm_rng_init(&r, seed, 17);
    for (size_t i = 0; i < n; i++) p[i] = (float)(xm_rng_normal(&r) * scale);
}

static inline void tc_uniform(float *p, size_t n, uint64_t seed, float lo, float hi)
{
    xm_rng r;
    xm_rng_init(&r, seed, 29);
    for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * xm_rng_uniform(&r));
}

/* A tensor in both backends: c on the CPU (always F32), g on the GPU. */
typedef struct tc_pair {
    xm_tensor c, g;
} tc_pair;

static inline tc_pair tc_pair_new(xm_backend *cpu, xm_backend *gpu, int n, int h, int w, int ch,
                                  xm_dtype gdt)
{
    xm_err err = {0};
    tc_pair p;
    if (xm_tensor_alloc(cpu, &p.c, n, h, w, ch, XM_DT_F32, &err)) tc_die("cpu tensor", &err);
    if (xm_tensor_alloc(gpu, &p.g, n, h, w, ch, gdt, &err)) tc_die("gpu tensor", &err);
    return p;
}

static inline void tc_pair_free(xm_backend *cpu, xm_backend *gpu, tc_pair *p)
{
    xm_tensor_release(cpu, &p->c);
    xm_tensor_release(gpu, &p->g);
}

static inline void tc_pair_set(xm_backend *cpu, xm_backend *gpu, tc_pair *p, const float *host)
{
    xm_err err = {0};
    if (cpu->ops->upload_f32(cpu, &p->c, host, &err)) tc_die("cpu upload", &err);
    if (gpu->ops->upload_f32(gpu, &p->g, host, &err)) tc_die("gpu upload", &err);
}

/* Download both sides and check rel_err(gpu, cpu) <= tol. Returns the error. */
static inline double tc_pair_cmp(xm_backend *cpu, xm_backend *gpu, const tc_pair *p,
                                 const char *name, double tol)
{
    xm_err err = {0};
    size_t n = xm_tensor_count(&p->c);
    float *a = tc_xmalloc(n * 4), *b = tc_xmalloc(n * 4);
    if (cpu->ops->download_f32(cpu, &p->c, a, &err)) tc_die("cpu download", &err);
    if (gpu->ops->download_f32(gpu, &p->g, b, &err)) tc_die("gpu download", &err);
    double e = xm_test_rel_err(b, a, n);
    XM_CHECKF(e <= tol && e == e, "%s: relative error %.3g > %.3g", name, e, tol);
    if (getenv("XM_TEST_VERBOSE")) fprintf(stderr, "  %-40s rel %.3g\n", name, e);
    free(a);
    free(b);
    return e;
}

/* A float32 buffer of n floats in both backends. */
typedef struct tc_buf {
    float *c, *g;
    size_t n;
} tc_buf;

static inline tc_buf tc_buf_new(xm_backend *cpu, xm_backend *gpu, size_t n, const float *host)
{
    xm_err err = {0};
    tc_buf b = {NULL, NULL, n};
    b.c = cpu->ops->alloc(cpu, n * 4, &err);
    b.g = gpu->ops->alloc(gpu, n * 4, &err);
    if (!b.c || !b.g) tc_die("buffer", &err);
    if (host) {
        if (cpu->ops->upload(cpu, b.c, host, n * 4, &err)) tc_die("cpu upload", &err);
        if (gpu->ops->upload(gpu, b.g, host, n * 4, &err)) tc_die("gpu upload", &err);
    }
    return b;
}

static inline void tc_buf_free(xm_backend *cpu, xm_backend *gpu, tc_buf *b)
{
    cpu->ops->free(cpu, b->c);
    gpu->ops->free(gpu, b->g);
    b->c = b->g = NULL;
}

static inline double tc_buf_cmp(xm_backend *cpu, xm_backend *gpu, const tc_buf *b,
                                const char *name, double tol)
{
    xm_err err = {0};
    float *a = tc_xmalloc(b->n * 4), *x = tc_xmalloc(b->n * 4);
    if (cpu->ops->download(cpu, a, b->c, b->n * 4, &err)) tc_die("cpu download", &err);
    if (gpu->ops->download(gpu, x, b->g, b->n * 4, &err)) tc_die("gpu download", &err);
    double e = xm_test_rel_err(x, a, b->n);
    XM_CHECKF(e <= tol && e == e, "%s: relative error %.3g > %.3g", name, e, tol);
    if (getenv("XM_TEST_VERBOSE")) fprintf(stderr, "  %-40s rel %.3g\n", name, e);
    free(a);
    free(x);
    return e;
}

/* TC_FAKE_GPU (CMake's test_cuda_*_fake twins): the "GPU" is a second CPU
 * backend, to test the tests themselves on a machine without a GPU. */
#ifdef TC_FAKE_GPU
#define xm_cuda_device_count() 1
#define TC_GPU_DEVICE "cpu"
#else
#define TC_GPU_DEVICE "cuda"
#endif

/* The "GPU" backend; debug_sync 1 (check after every op) unless a test
 * needs it off (graph capture refuses it). */
static inline xm_backend *tc_gpu_new_sync(xm_precision prec, int debug_sync)
{
    xm_err err = {0};
    xm_backend_cfg cfg = {.precision = prec, .debug_sync = debug_sync};
#ifdef TC_FAKE_GPU
    cfg.precision = XM_PREC_F32;
#endif
    xm_backend *be = xm_backend_new(TC_GPU_DEVICE, &cfg, &err);
    if (!be) tc_die("cuda backend", &err);
    return be;
}

static inline xm_backend *tc_gpu_new(xm_precision prec) { return tc_gpu_new_sync(prec, 1); }

static inline xm_backend *tc_cpu_new(void)
{
    xm_err err = {0};
    xm_backend_cfg cfg = {0};
    xm_backend *be = xm_backend_new("cpu", &cfg, &err);
    if (!be) tc_die("cpu backend", &err);
    return be;
}

static inline const char *tc_prec_name(xm_precision p) { return xm_precision_name(p); }

#endif
