/* xm_backend.h: the layer-level backend interface.
 *
 * A backend is a table of operations plus an opaque handle (STYLE.md 1).
 * The network code (xm_net.c) is written once above it and never names
 * oneDNN or CUDA. Two implementations: CPU on oneDNN (backend_cpu.c) and
 * CUDA on cuDNN + cuBLAS (cuda/).
 *
 * Conventions
 * - Activations are NHWC tensors (xm_tensor). A linear layer's input and
 *   output are n x 1 x 1 x c tensors.
 * - Activation tensors of the convolutional trunk use be->act_dtype (F32 on
 *   the CPU; F32, BF16 or F16 on CUDA). From the global average pool onward
 *   (pooled features, linear layers, logits, soft labels, loss gradient)
 *   tensors are always F32.
 * - Parameters, gradients and optimizer state live in float32 slabs in
 *   backend memory (one allocation each); ops receive pointers into them.
 *   Conv weights are stored as PyTorch does: OIHW (c_out, c_in, kh, kw).
 *   Linear weights: (out, in) row-major. A backend may cache converted
 *   copies of weights inside a plan (e.g. bf16 KRSC) but must refresh them
 *   whenever the slab may have changed: the caller signals this with
 *   ops->params_changed().
 * - Weight/bias gradient outputs are OVERWRITTEN, not accumulated.
 * - Every op may run asynchronously (CUDA stream); ops->sync() waits.
 *   download*() is synchronous. Ops are issued from one thread.
 * - Every op returns 0 or an xm_status, with *err filled.
 * - A plan (conv, pool) is created for fixed shapes and freed with
 *   plan_free; it may hold primitives, algorithms, workspaces and caches,
 *   but is used by one layer only, so it may keep state between the
 *   forward and backward of that layer (e.g. max-pool indices).
 */
#ifndef XM_BACKEND_H
#define XM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"

typedef enum xm_dtype {
    XM_DT_F32 = 0,
    XM_DT_BF16 = 1,
    XM_DT_F16 = 2,
    XM_DT_U8 = 3
} xm_dtype;

size_t xm_dtype_size(xm_dtype dt);

/* An NHWC tensor in backend memory. The struct itself is plain host data. */
typedef struct xm_tensor {
    int n, h, w, c;
    xm_dtype dtype;
    void *data; /* backend memory; owned by whoever allocated it */
} xm_tensor;

static inline size_t xm_tensor_count(const xm_tensor *t)
{
    return (size_t)t->n * t->h * t->w * t->c;
}

typedef enum xm_precision {
    XM_PREC_F32 = 0,  /* float32 everywhere (the reference) */
    XM_PREC_TF32 = 1, /* float32 storage, TF32 tensor-core math (CUDA) */
    XM_PREC_BF16 = 2, /* bf16 activations, float32 master weights (CUDA) */
    XM_PREC_F16 = 3   /* fp16 activations, float32 master weights (CUDA) */
} xm_precision;

/* The tools' --precision words: "f32", "tf32", "bf16", "f16" ("?" for
 * anything else); xm_precision_parse gives the precision a word names, or
 * -1. */
const char *xm_precision_name(xm_precision p);
int xm_precision_parse(const char *s);

typedef struct xm_backend_cfg {
    int threads;            /* CPU threads; 0 = all cores */
    int device;             /* CUDA device ordinal */
    xm_precision precision; /* CPU accepts only F32 */
    int debug_sync;         /* CUDA: synchronise and check after every op */
} xm_backend_cfg;

typedef struct xm_conv_desc {
    int n, h, w, c_in;     /* input */
    int c_out, kh, kw;     /* filter */
    int stride_h, stride_w, pad_h, pad_w;
    int oh, ow;            /* output; fill with xm_conv_desc_finish() */
} xm_conv_desc;

typedef struct xm_pool_desc {
    int n, h, w, c;        /* input */
    int k, stride, pad;    /* square window (max pool) */
    int oh, ow;            /* output; fill with xm_pool_desc_finish() */
} xm_pool_desc;

/* Fill oh, ow from the rest (PyTorch's floor formula). Return 0, or
 * XM_EUSAGE when the output would be empty. */
int xm_conv_desc_finish(xm_conv_desc *d, xm_err *err);
int xm_pool_desc_finish(xm_pool_desc *d, xm_err *err);

/* One sample of the input step: two stored uint8 HWC images a (target) and
 * b (partner), each cropped at (y, x) to the output size (pixels outside the
 * stored image read 0), optionally flipped horizontally, mixed as
 * lam*a + (1-lam)*b, scaled by 1/255 and normalised per channel:
 * out = (v/255 - mean[c]) / std[c]. off_b < 0: no partner (lam ignored,
 * the sample is image a alone). */
typedef struct xm_mix_item {
    int64_t off_a, off_b; /* byte offsets into the records buffer */
    int32_t ha, wa, hb, wb;   /* stored sizes (channels = the op's c) */
    int32_t ya, xa, yb, xb;   /* crop top-left in stored pixels; may be negative */
    int32_t flip_a, flip_b;   /* nonzero: mirror horizontally after cropping */
    float lam;                /* weight of image a */
} xm_mix_item;

/* torch.optim.SGD semantics (dampening 0): g' = g + wd*w + l2sp*(w - w0);
 * buf = momentum*buf + g' (buf starts at 0, so the first step gives g');
 * step = nesterov ? g' + momentum*buf : buf; w -= lr*step.
 * w0 may be NULL when l2sp == 0. */
typedef struct xm_sgd_cfg {
    float lr, momentum, weight_decay, l2sp;
    int nesterov;
} xm_sgd_cfg;

typedef struct xm_backend xm_backend;

typedef struct xm_backend_ops {
    /* ---- lifetime and memory ---- */
    void (*destroy)(xm_backend *be);
    void *(*alloc)(xm_backend *be, size_t bytes, xm_err *err);  /* zeroed */
    void (*free)(xm_backend *be, void *p);                       /* NULL ok */
    void *(*host_alloc)(xm_backend *be, size_t bytes, xm_err *err); /* pinned on CUDA */
    void (*host_free)(xm_backend *be, void *p);
    int (*upload)(xm_backend *be, void *dst, const void *src_host, size_t bytes, xm_err *err);
    int (*download)(xm_backend *be, void *dst_host, const void *src, size_t bytes, xm_err *err);
    int (*memset0)(xm_backend *be, void *p, size_t bytes, xm_err *err);
    int (*copy)(xm_backend *be, void *dst, const void *src, size_t bytes, xm_err *err);
    /* Tensor <-> host float32 NHWC, converting the dtype (tests, features). */
    int (*upload_f32)(xm_backend *be, xm_tensor *t, const float *host, xm_err *err);
    int (*download_f32)(xm_backend *be, const xm_tensor *t, float *host, xm_err *err);
    int (*sync)(xm_backend *be, xm_err *err);
    /* The parameter slab changed (load, update): drop cached weight copies. */
    void (*params_changed)(xm_backend *be);

    /* ---- convolution (no bias; groups 1, dilation 1) ---- */
    void *(*conv_plan)(xm_backend *be, const xm_conv_desc *d, xm_err *err);
    int (*conv_fwd)(xm_backend *be, void *plan, const xm_tensor *x, const float *w,
                    xm_tensor *y, xm_err *err);
    int (*conv_bwd_data)(xm_backend *be, void *plan, const xm_tensor *dy, const float *w,
                         xm_tensor *dx, xm_err *err);
    int (*conv_bwd_weights)(xm_backend *be, void *plan, const xm_tensor *x,
                            const xm_tensor *dy, float *dw, xm_err *err);

    /* ---- batch norm (PyTorch BatchNorm2d), optionally fused with ReLU ----
     * Training: normalise with the batch statistics, save mean and 1/sqrt(var+eps)
     * (biased var) in save_mean/save_invstd (backend memory, c floats), and update
     * running_mean/var with momentum (unbiased var for running_var).
     * relu != 0: y = max(0, bn(x)). */
    int (*bn_fwd_train)(xm_backend *be, const xm_tensor *x, const float *gamma,
                        const float *beta, float *running_mean, float *running_var,
                        float momentum, float eps, float *save_mean, float *save_invstd,
                        int relu, xm_tensor *y, xm_err *err);
    int (*bn_fwd_infer)(xm_backend *be, const xm_tensor *x, const float *gamma,
                        const float *beta, const float *running_mean,
                        const float *running_var, float eps, int relu, xm_tensor *y,
                        xm_err *err);
    /* y: the forward output when relu was fused (dy is masked by y > 0), else NULL.
     * dx may alias dy. dgamma/dbeta overwritten. */
    int (*bn_bwd)(xm_backend *be, const xm_tensor *x, const xm_tensor *y,
                  const xm_tensor *dy, const float *gamma, const float *save_mean,
                  const float *save_invstd, xm_tensor *dx, float *dgamma, float *dbeta,
                  xm_err *err);

    /* ---- elementwise ---- */
    /* y = a + b, then max(0, .) if relu. y may alias a or b. */
    int (*add)(xm_backend *be, const xm_tensor *a, const xm_tensor *b, int relu,
               xm_tensor *y, xm_err *err);
    /* dx = dy * (y > 0). dx may alias dy. */
    int (*relu_bwd)(xm_backend *be, const xm_tensor *y, const xm_tensor *dy,
                    xm_tensor *dx, xm_err *err);

    /* ---- pooling ---- */
    void *(*pool_plan)(xm_backend *be, const xm_pool_desc *d, xm_err *err);
    int (*maxpool_fwd)(xm_backend *be, void *plan, const xm_tensor *x, xm_tensor *y,
                       xm_err *err);
    /* x, y: the forward input and output. */
    int (*maxpool_bwd)(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *y,
                       const xm_tensor *dy, xm_tensor *dx, xm_err *err);
    /* Global average pool: x (n,h,w,c, act dtype) -> y (n,1,1,c, F32). */
    int (*gap_fwd)(xm_backend *be, const xm_tensor *x, xm_tensor *y, xm_err *err);
    int (*gap_bwd)(xm_backend *be, const xm_tensor *dy, xm_tensor *dx, xm_err *err);

    /* ---- linear (F32): y[n,out] = x[n,in] W^T + b (b may be NULL) ---- */
    int (*linear_fwd)(xm_backend *be, const xm_tensor *x, const float *w, const float *b,
                      xm_tensor *y, xm_err *err);
    /* dx may be NULL (not needed); db may be NULL. dw, db overwritten. */
    int (*linear_bwd)(xm_backend *be, const xm_tensor *x, const xm_tensor *dy,
                      const float *w, xm_tensor *dx, float *dw, float *db, xm_err *err);

    /* ---- loss: softmax cross-entropy against soft labels (F32) ----
     * logits, target: n x k. loss_host (may be NULL) receives
     * (1/n) * sum_i sum_j -t_ij log softmax(z_i)_j; dlogits receives its
     * gradient (1/n) * (softmax(z_i) * sum_j t_ij - t_i). Rows of t need not
     * sum to 1 (split label mode weights each head by lambda). */
    int (*softmax_xent)(xm_backend *be, const xm_tensor *logits, const xm_tensor *target,
                        double *loss_host, xm_tensor *dlogits, xm_err *err);

    /* ---- loss scaling: p[i] *= s over n floats of backend memory ----
     * finite NULL: asynchronous, like every op. finite non-NULL:
     * synchronous; *finite = 1 when every scaled value is finite, else 0.
     * The trainer scales the loss gradients up before the backward pass and
     * the parameter gradients down after it (xm_train_step.c); with powers
     * of two both are exact in float. */
    int (*scale_f32)(xm_backend *be, float *p, size_t n, float s, int *finite, xm_err *err);

    /* ---- the input step: crop, flip, mix, normalise (see xm_mix_item) ----
     * records: backend memory (uint8), items: host array of x->n items,
     * mean/std: host arrays of x->c floats. x: (n, S, S, c) in act dtype. */
    int (*input_mix)(xm_backend *be, const uint8_t *records, const xm_mix_item *items,
                     const float *mean, const float *std, xm_tensor *x, xm_err *err);

    /* ---- optimizer: one pass over n elements of the slabs ---- */
    int (*sgd_update)(xm_backend *be, float *w, const float *g, float *mom,
                      const float *w0, size_t n, const xm_sgd_cfg *cfg, xm_err *err);

    void (*plan_free)(xm_backend *be, void *plan); /* conv or pool plans; NULL ok */

    /* ---- graphs: record a steady-state step once, replay it (optional) ----
     * NULL where the backend has none (the CPU backend): callers test
     * graph_begin for NULL. Between graph_begin and graph_end the ops are
     * recorded, not run; graph_launch replays them in order on the ops'
     * queue, asynchronously like every op. While recording nothing may wait
     * for or allocate on the device: no upload*, download*, sync, alloc,
     * free, host_alloc, plan creation or input_mix (its items go through
     * host memory), softmax_xent only with loss_host NULL, and no backend
     * buffer (workspaces, scratch) may grow. So run one eager step first:
     * it creates every buffer, plan, algorithm choice and workspace the
     * step needs. Such calls fail with XM_EUSAGE (void ones make graph_end
     * fail); after any failure, still call graph_end, which ends the
     * recording and returns no graph.
     * A replay reads and writes the device pointers that were recorded:
     * the tensors, slabs and plans used must stay allocated (and the batch
     * size fixed) until graph_free; their contents may change between
     * replays (e.g. a new input through input_mix). Host-side state the
     * ops keep is not replayed: xm_net's num_batches_tracked counts only
     * the recorded step. Scalar arguments are recorded by value: a replay
     * uses the captured learning rate, momentum, weight decay and
     * scale_f32 factor, so a step whose scalars change (a schedule, a loss
     * scale) keeps those ops out of the graph. Graphs still live at
     * destroy are released with the backend. graph_begin refuses (XM_EUSAGE) in the CUDA
     * backend's debug-sync and profiling modes, which synchronise.
     * graph_end returns an executable graph in *graph; graph_free accepts
     * NULL. */
    int (*graph_begin)(xm_backend *be, xm_err *err);
    int (*graph_end)(xm_backend *be, void **graph, xm_err *err);
    int (*graph_launch)(xm_backend *be, void *graph, xm_err *err);
    void (*graph_free)(xm_backend *be, void *graph);
} xm_backend_ops;

struct xm_backend {
    const xm_backend_ops *ops;
    const char *name;      /* "cpu" or "cuda" */
    xm_dtype act_dtype;    /* dtype of trunk activations */
    xm_backend_cfg cfg;
    void *impl;            /* the implementation's own state */
};

/* Create a backend: device "cpu", "cuda" or "auto" (cuda when this build has
 * it and a GPU is present, else cpu). Returns NULL with *err filled. */
xm_backend *xm_backend_new(const char *device, const xm_backend_cfg *cfg, xm_err *err);
void xm_backend_free(xm_backend *be); /* NULL ok */

/* The implementations' constructors (backend.c dispatches). */
xm_backend *xm_backend_cpu_new(const xm_backend_cfg *cfg, xm_err *err);
#ifdef XM_HAVE_CUDA
xm_backend *xm_backend_cuda_new(const xm_backend_cfg *cfg, xm_err *err);
int xm_cuda_device_count(void); /* 0 when no GPU or no driver */
/* Which optional kernels a CUDA backend has run (XM_CUDA_BN_RED=parts,
 * XM_CUDA_POOL_VEC=1), as XM_CUDA_PATH_* bits, so a test run with their
 * switches can tell they were taken; 0 for other backends. */
unsigned xm_cuda_paths_used(const xm_backend *be);
#endif
#define XM_CUDA_PATH_BN_PARTS_FWD 1u
#define XM_CUDA_PATH_BN_PARTS_BWD 2u
#define XM_CUDA_PATH_POOL_VEC_FWD 4u
#define XM_CUDA_PATH_POOL_VEC_BWD 8u

/* Record what fn(ctx) enqueues as a graph (graph_begin, fn, graph_end) into
 * *graph. When fn fails, the recording is still ended, *graph is NULL and
 * fn's error is the one reported. XM_EUSAGE on a backend without graphs. */
int xm_backend_graph_record(xm_backend *be, int (*fn)(void *ctx, xm_err *err), void *ctx,
                            void **graph, xm_err *err);

/* The words of a backend's out-of-device-memory failure ("CUDA: out of GPU
 * memory allocating N bytes for WHAT (...)"). xm_backend_oom_batch prefixes
 * such a failure in *err with "batch size N: " (the tools' --batch or the
 * plan's slots), so the line names both the bytes and the batch; any other
 * error is left as it is. */
#define XM_OOM_TEXT "out of GPU memory"
void xm_backend_oom_batch(xm_err *err, int batch);

/* Helpers over ops: allocate/free a tensor's memory in the backend. */
int xm_tensor_alloc(xm_backend *be, xm_tensor *t, int n, int h, int w, int c, xm_dtype dt,
                    xm_err *err);
void xm_tensor_release(xm_backend *be, xm_tensor *t);

#endif
