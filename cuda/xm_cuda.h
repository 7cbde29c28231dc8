/* xm_cuda.h: the CUDA backend's internal C interface (cuda/ only).
 *
 * The public entry points are xm_backend_cuda_new() and
 * xm_cuda_device_count() in xm_backend.h. This header holds the backend's
 * state (all of it: no globals) and the launchers, one op family per .cu
 * file, each kernel beside its launcher. Launchers check their inputs, run
 * on cu->stream and end with a launch-error check; they return 0 or an
 * xm_status with *err filled. */
#ifndef XM_CUDA_H
#define XM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_check.h"

#ifdef __cplusplus
extern "C" {
#endif
#include "xm_backend.h"

typedef struct xm_cuda {
    int device, sm_count;
    xm_precision prec;
    xm_dtype act;            /* trunk activation dtype */
    int debug_sync;          /* synchronise and check after every op */
    cudaStream_t stream;
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    void *ws;                /* cuDNN workspace, shared by all plans, grown */
    size_t ws_bytes;
    size_t ws_cap;           /* largest workspace an algorithm may ask for */
    int cudnn_find;          /* 1: cudnnFind* (measured), 0: cudnnGet*_v7 */
    int bn_rows;             /* 1 (XM_CUDA_BN_VEC=0): BN reductions by rows only */
    int bn_parts_on;         /* 1 (XM_CUDA_BN_RED=parts): BN reductions without atomics */
    int pool_vec;            /* 1 (XM_CUDA_POOL_VEC=1): max pooling 8 channels per thread */
    unsigned paths_used;     /* XM_CUDA_PATH_* of the optional kernels that ran (for tests) */
    int stage_on;            /* 1 (XM_CUDA_STAGE=1): large pageable uploads via stage[] */
    struct xm_cuda_stage {   /* backend_cuda.c: pinned staging for uploads */
        void *buf;
        size_t cap;
        cudaEvent_t ev;      /* after the last copy out of buf */
        int used;
    } stage[2];
    int stage_next;
    void *bn_parts;          /* bn.cu: per-block partial sums of that form */
    size_t bn_parts_bytes;
    void *scratch;           /* dtype conversions, weight-gradient staging */
    size_t scratch_bytes;
    void *chan;              /* per-channel reductions (batch norm) */
    size_t chan_bytes;
    void *items_dev;         /* input_mix: items, mean, std */
    size_t items_dev_bytes;
    void *items_host;        /* pinned staging for the items */
    size_t items_host_bytes;
    cudaEvent_t items_ev;    /* the last items copy has left items_host */
    double *loss_dev;        /* softmax_xent: per-row losses, then the mean */
    size_t loss_dev_rows;
    double *loss_host;       /* pinned, one double */
    int *flag_dev, *flag_host; /* scale_f32: "a value was not finite" (host pinned) */
    uint64_t param_gen;      /* bumped whenever the parameter slab may change */
    void *algo_cache;        /* conv.cu: algorithms chosen per shape and dtype */
    int algo_cache_n, algo_cache_cap;
    void *prof;              /* backend_cuda.c: per-op timing (XM_CUDA_PROFILE=1), or NULL */
    /* graph.c: CUDA graphs */
    void *cublas_ws;         /* cuBLAS workspace: a captured GEMM must not allocate its own */
    void *graphs;            /* executable graphs not freed yet (graph.c's list); released at destroy */
    void **retired;          /* buffers xm_cuda_grow replaced while graphs were live */
    int n_retired, cap_retired;
    char capture_misuse[160]; /* the first op misused or refused while capturing, "" if none
                               * (graph_end reports it and makes no graph); a copy, as
                               * callers name ops in stack buffers */
} xm_cuda;

/* Plans start with their kind so plan_free can dispatch. */
enum { XM_CUDA_PLAN_CONV = 0x43304e56, XM_CUDA_PLAN_POOL = 0x504f4f4c };

size_t xm_cuda_dt_size(xm_dtype dt);
const char *xm_cuda_dt_name(xm_dtype dt);
/* cudaMalloc with the out-of-memory line ("CUDA: out of GPU memory
 * allocating N bytes for WHAT ..."). *p is NULL on failure. */
int xm_cuda_malloc(xm_cuda *cu, void **p, size_t bytes, const char *what, xm_err *err);
/* Make *buf (of *cap bytes) at least `bytes` large; old contents are lost.
 * Synchronises the stream before freeing the old buffer; while graphs are
 * live the old buffer is kept until the last one is freed (they may use it).
 * Refused while capturing. */
int xm_cuda_grow(xm_cuda *cu, void **buf, size_t *cap, size_t bytes, const char *what,
                 xm_err *err);
/* Blocks for a grid-stride loop over n elements with `threads` per block. */
int xm_cuda_blocks(const xm_cuda *cu, size_t n, int threads);
/* Check a tensor: non-NULL data, positive shape, the expected dtype. */
int xm_cuda_check_tensor(const xm_tensor *t, xm_dtype dt, const char *op, const char *name,
                         xm_err *err);

/* eltwise.cu */
int xm_cuda_convert(xm_cuda *cu, const void *src, xm_dtype sdt, void *dst, xm_dtype ddt,
                    size_t n, xm_err *err);
int xm_cuda_add(xm_cuda *cu, const xm_tensor *a, const xm_tensor *b, int relu, xm_tensor *y,
                xm_err *err);
int xm_cuda_relu_bwd(xm_cuda *cu, const xm_tensor *y, const xm_tensor *dy, xm_tensor *dx,
                     xm_err *err);
int xm_cuda_gap_fwd(xm_cuda *cu, const xm_tensor *x, xm_tensor *y, xm_err *err);
int xm_cuda_gap_bwd(xm_cuda *cu, const xm_tensor *dy, xm_tensor *dx, xm_err *err);

/* conv.cu */
void *xm_cuda_conv_plan(xm_cuda *cu, const xm_conv_desc *d, xm_err *err);
void xm_cuda_conv_plan_free(xm_cuda *cu, void *plan);
/* "NxHxWxC->K kRxS sS algo A ws MB[ +wconv]" for the profile: the algorithm of
 * direction dir (0 forward, 1 backward data, 2 backward filter) and whether
 * the last op converted the weights. */
void xm_cuda_conv_label(const void *plan, int dir, char *buf, size_t cap);
int xm_cuda_conv_fwd(xm_cuda *cu, void *plan, const xm_tensor *x, const float *w, xm_tensor *y,
                     xm_err *err);
int xm_cuda_conv_bwd_data(xm_cuda *cu, void *plan, const xm_tensor *dy, const float *w,
                          xm_tensor *dx, xm_err *err);
int xm_cuda_conv_bwd_weights(xm_cuda *cu, void *plan, const xm_tensor *x, const xm_tensor *dy,
                             float *dw, xm_err *err);

/* bn.cu */
int xm_cuda_bn_fwd_train(xm_cuda *cu, const xm_tensor *x, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float momentum, float eps,
                         float *save_mean, float *save_invstd, int relu, xm_tensor *y,
                         xm_err *err);
int xm_cuda_bn_fwd_infer(xm_cuda *cu, const xm_tensor *x, const float *gamma, const float *beta,
                         const float *running_mean, const float *running_var, float eps,
                         int relu, xm_tensor *y, xm_err *err);
int xm_cuda_bn_bwd(xm_cuda *cu, const xm_tensor *x, const xm_tensor *y, const xm_tensor *dy,
                   const float *gamma, const float *save_mean, const float *save_invstd,
                   xm_tensor *dx, float *dgamma, float *dbeta, xm_err *err);

/* pool.cu */
void *xm_cuda_pool_plan(xm_cuda *cu, const xm_pool_desc *d, xm_err *err);
void xm_cuda_pool_plan_free(xm_cuda *cu, void *plan);
int xm_cuda_maxpool_fwd(xm_cuda *cu, void *plan, const xm_tensor *x, xm_tensor *y, xm_err *err);
int xm_cuda_maxpool_bwd(xm_cuda *cu, void *plan, const xm_tensor *dy, xm_tensor *dx,
                        xm_err *err);

/* linear.cu */
int xm_cuda_linear_fwd(xm_cuda *cu, const xm_tensor *x, const float *w, const float *b,
                       xm_tensor *y, xm_err *err);
int xm_cuda_linear_bwd(xm_cuda *cu, const xm_tensor *x, const xm_tensor *dy, const float *w,
                       xm_tensor *dx, float *dw, float *db, xm_err *err);

/* loss.cu */
int xm_cuda_softmax_xent(xm_cuda *cu, const xm_tensor *logits, const xm_tensor *target,
                         double *loss_host, xm_tensor *dlogits, xm_err *err);

/* scale.cu: p *= s; with finite non-NULL, synchronous, *finite = all finite */
int xm_cuda_scale_f32(xm_cuda *cu, float *p, size_t n, float s, int *finite, xm_err *err);

/* input_mix.cu */
int xm_cuda_input_mix(xm_cuda *cu, const uint8_t *records, const xm_mix_item *items,
                      const float *mean, const float *std, xm_tensor *x, xm_err *err);

/* sgd.cu */
int xm_cuda_sgd_update(xm_cuda *cu, float *w, const float *g, float *mom, const float *w0,
                       size_t n, const xm_sgd_cfg *cfg, xm_err *err);

/* graph.c: stream capture into CUDA graphs (xm_backend.h, graph_begin).
 * xm_cuda_capturing: 1 while cu->stream is capturing (or its capture broke).
 * xm_cuda_no_capture: XM_EUSAGE naming `what` (e.g. "download") while
 * capturing, else 0; every path that allocates, frees or waits calls it.
 * A refusal also marks the capture (xm_cuda_capture_mark): graph_end then
 * makes no graph. */
int xm_cuda_capturing(const xm_cuda *cu);
int xm_cuda_no_capture(xm_cuda *cu, const char *what, xm_err *err);
/* Keep a buffer that live graphs may use until the last graph is freed. */
int xm_cuda_retire(xm_cuda *cu, void *buf, xm_err *err);
/* Free the retired buffers (synchronises); the backend's destroy calls it. */
void xm_cuda_retired_free(xm_cuda *cu);
/* Remember `what` as the capture's first misuse, unless one is noted. */
void xm_cuda_capture_mark(xm_cuda *cu, const char *what);
/* Destroy the graphs the caller did not free (the backend's destroy). */
void xm_cuda_graphs_free_all(xm_cuda *cu);
int xm_cuda_graph_begin(xm_cuda *cu, xm_err *err);
int xm_cuda_graph_end(xm_cuda *cu, void **graph, xm_err *err);
int xm_cuda_graph_launch(xm_cuda *cu, void *graph, xm_err *err);
void xm_cuda_graph_free(xm_cuda *cu, void *graph);

#ifdef __cplusplus
}
#endif

#endif
