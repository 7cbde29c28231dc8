/* backend_cpu.h: private to the CPU backend (backend_cpu*.c).
 *
 * The CPU backend keeps all of its state in struct cpu_impl (be->impl):
 * the oneDNN engine and stream, the weight generation counter that
 * invalidates cached weight copies in conv plans, and a scratch buffer for
 * the per-chunk partial sums of deterministic reductions.
 */
#ifndef XM_BACKEND_CPU_H
#define XM_BACKEND_CPU_H

#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "xm_backend.h"

typedef struct cpu_impl {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int threads;         /* OpenMP threads for our own loops and oneDNN */
    uint64_t wgen;       /* bumped by params_changed(): cached weights stale */
    double *scratch;     /* partial sums (see cpu_scratch) */
    size_t scratch_n;    /* doubles in scratch */
} cpu_impl;

static inline cpu_impl *cpu_of(xm_backend *be) { return (cpu_impl *)be->impl; }

/* Plans start with a kind tag so that plan_free can tell them apart. */
enum { CPU_PLAN_CONV = 0x636f6e76, CPU_PLAN_POOL = 0x706f6f6c };

/* The one checking shape for oneDNN calls: CPU_DNNL(fn, (args)) calls fn,
 * and on failure fills *err naming fn and the calling function, sets rc and
 * jumps to the function's `fail:` label. Needs `int rc` and `xm_err *err`. */
#define CPU_DNNL(fn, args)                                                       \
    do {                                                                         \
        dnnl_status_t st_ = fn args;                                             \
        if (st_ != dnnl_success) {                                               \
            rc = xm_err_set(err, XM_EFAIL, "oneDNN: %s failed (status %d) in %s", \
                            #fn, (int)st_, __func__);                            \
            goto fail;                                                           \
        }                                                                        \
    } while (0)

/* A scratch area of at least n doubles in the backend (reused). */
double *cpu_scratch(xm_backend *be, size_t n, xm_err *err);

/* Validate an F32 tensor argument: data set, dtype F32. */
int cpu_check_f32(const xm_tensor *t, const char *what, const char *op, xm_err *err);
/* Validate that two tensors have the same shape. */
int cpu_check_same(const xm_tensor *a, const xm_tensor *b, const char *op, xm_err *err);

/* Fixed chunking of m rows for reductions: the chunk boundaries depend only
 * on m, never on the thread count, so results are identical for any number
 * of threads. */
static inline int cpu_nchunks(size_t m)
{
    size_t k = m / 512;
    if (k < 1) k = 1;
    if (k > 128) k = 128;
    return (int)k;
}
static inline size_t cpu_chunk_lo(size_t m, int k, int i) { return m * (size_t)i / (size_t)k; }

/* ---- op families (each in its own file) ---- */
/* backend_cpu_conv.c */
void *cpu_conv_plan(xm_backend *be, const xm_conv_desc *d, xm_err *err);
int cpu_conv_fwd(xm_backend *be, void *plan, const xm_tensor *x, const float *w, xm_tensor *y,
                 xm_err *err);
int cpu_conv_bwd_data(xm_backend *be, void *plan, const xm_tensor *dy, const float *w,
                      xm_tensor *dx, xm_err *err);
int cpu_conv_bwd_weights(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *dy,
                         float *dw, xm_err *err);
void cpu_conv_plan_free(void *plan);

/* backend_cpu_bn.c */
int cpu_bn_fwd_train(xm_backend *be, const xm_tensor *x, const float *gamma, const float *beta,
                     float *running_mean, float *running_var, float momentum, float eps,
                     float *save_mean, float *save_invstd, int relu, xm_tensor *y,
                     xm_err *err);
int cpu_bn_fwd_infer(xm_backend *be, const xm_tensor *x, const float *gamma, const float *beta,
                     const float *running_mean, const float *running_var, float eps, int relu,
                     xm_tensor *y, xm_err *err);
int cpu_bn_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *y, const xm_tensor *dy,
               const float *gamma, const float *save_mean, const float *save_invstd,
               xm_tensor *dx, float *dgamma, float *dbeta, xm_err *err);

/* backend_cpu_ops.c: elementwise, pooling */
int cpu_add(xm_backend *be, const xm_tensor *a, const xm_tensor *b, int relu, xm_tensor *y,
            xm_err *err);
int cpu_relu_bwd(xm_backend *be, const xm_tensor *y, const xm_tensor *dy, xm_tensor *dx,
                 xm_err *err);
void *cpu_pool_plan(xm_backend *be, const xm_pool_desc *d, xm_err *err);
int cpu_maxpool_fwd(xm_backend *be, void *plan, const xm_tensor *x, xm_tensor *y, xm_err *err);
int cpu_maxpool_bwd(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *y,
                    const xm_tensor *dy, xm_tensor *dx, xm_err *err);
void cpu_pool_plan_free(void *plan);
int cpu_gap_fwd(xm_backend *be, const xm_tensor *x, xm_tensor *y, xm_err *err);
int cpu_gap_bwd(xm_backend *be, const xm_tensor *dy, xm_tensor *dx, xm_err *err);

/* backend_cpu_head.c: linear, loss */
int cpu_linear_fwd(xm_backend *be, const xm_tensor *x, const float *w, const float *b,
                   xm_tensor *y, xm_err *err);
int cpu_linear_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *dy, const float *w,
                   xm_tensor *dx, float *dw, float *db, xm_err *err);
int cpu_softmax_xent(xm_backend *be, const xm_tensor *logits, const xm_tensor *target,
                     double *loss_host, xm_tensor *dlogits, xm_err *err);

/* backend_cpu_step.c: input step and optimizer */
int cpu_input_mix(xm_backend *be, const uint8_t *records, const xm_mix_item *items,
                  const float *mean, const float *std, xm_tensor *x, xm_err *err);
int cpu_sgd_update(xm_backend *be, float *w, const float *g, float *mom, const float *w0,
                   size_t n, const xm_sgd_cfg *cfg, xm_err *err);
int cpu_scale_f32(xm_backend *be, float *p, size_t n, float s, int *finite, xm_err *err);

#endif
