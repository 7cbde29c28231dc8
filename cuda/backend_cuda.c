/* backend_cuda.c: the CUDA backend's lifetime, memory, stream, handles and
 * its ops table (xm_backend.h). Kernels live in the .cu files, one op family
 * each; this file validates nothing op-specific (the launchers do), but adds
 * the opt-in synchronising debug mode (cfg.debug_sync or XM_CUDA_SYNC=1):
 * after every op the stream is synchronised and any error is reported with
 * the op's name, and the opt-in per-op timing (XM_CUDA_PROFILE=1,
 * xm_cuda_profile.h). All state lives in xm_cuda (no globals). */
#include "xm_cuda.h"
#include "xm_cuda_profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- shared helpers (declared in xm_cuda.h) ---- */

int xm_cuda_fail(xm_err *err, const char *lib, int status, const char *what, const char *call,
                 const char *file, int line)
{
    const char *f = strstr(file, "cuda/");
    if (!f) f = file;
    if (!strcmp(lib, "CUDA")) (void)cudaGetLastError(); /* clear non-sticky errors */
    return xm_err_set(err, XM_EFAIL, "%s: %s (%d) in %s at %s:%d", lib, what ? what : "?",
                      status, call, f, line);
}

size_t xm_cuda_dt_size(xm_dtype dt)
{
    switch (dt) {
    case XM_DT_F32: return 4;
    case XM_DT_BF16:
    case XM_DT_F16: return 2;
    case XM_DT_U8: return 1;
    }
    return 0;
}

const char *xm_cuda_dt_name(xm_dtype dt)
{
    switch (dt) {
    case XM_DT_F32: return "f32";
    case XM_DT_BF16: return "bf16";
    case XM_DT_F16: return "f16";
    case XM_DT_U8: return "u8";
    }
    return "?";
}

int xm_cuda_malloc(xm_cuda *cu, void **p, size_t bytes, const char *what, xm_err *err)
{
    *p = NULL;
    char why[160];
    snprintf(why, sizeof why, "allocating %s", what);
    int rc = xm_cuda_no_capture(cu, why, err);
    if (rc) return rc;
    if (bytes == 0) bytes = 1;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t fr = 0, tot = 0;
        (void)cudaMemGetInfo(&fr, &tot);
        *p = NULL;
        return xm_err_set(err, XM_EFAIL,
                          "CUDA: " XM_OOM_TEXT " allocating %zu bytes for %s (%zu MiB free of "
                          "%zu MiB; reduce --batch)",
                          bytes, what, fr >> 20, tot >> 20);
    }
    if (e != cudaSuccess) *p = NULL;
    XM_CU(e);
    return 0;
}

int xm_cuda_grow(xm_cuda *cu, void **buf, size_t *cap, size_t bytes, const char *what,
                 xm_err *err)
{
    if (*cap >= bytes && *buf) return 0;
    char why[160];
    snprintf(why, sizeof why, "growing %s", what);
    int rc = xm_cuda_no_capture(cu, why, err);
    if (rc) return rc;
    if (*buf) {
        if (cu->graphs) {
            if ((rc = xm_cuda_retire(cu, *buf, err))) return rc; /* graphs may use it */
        } else {
            XM_CU(cudaStreamSynchronize(cu->stream)); /* kernels may still use it */
            XM_CU(cudaFree(*buf));
        }
        *buf = NULL;
        *cap = 0;
    }
    rc = xm_cuda_malloc(cu, buf, bytes, what, err);
    if (rc) return rc;
    *cap = bytes;
    return 0;
}

int xm_cuda_blocks(const xm_cuda *cu, size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)(cu->sm_count > 0 ? cu->sm_count : 80) * 32;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (int)b;
}

int xm_cuda_check_tensor(const xm_tensor *t, xm_dtype dt, const char *op, const char *name,
                         xm_err *err)
{
    if (!t || !t->data)
        return xm_err_set(err, XM_EUSAGE, "%s: tensor %s is missing", op, name);
    if (t->n <= 0 || t->h <= 0 || t->w <= 0 || t->c <= 0)
        return xm_err_set(err, XM_EUSAGE, "%s: tensor %s has shape %dx%dx%dx%d", op, name, t->n,
                          t->h, t->w, t->c);
    if (t->dtype != dt)
        return xm_err_set(err, XM_EUSAGE, "%s: tensor %s is %s, expected %s", op, name,
                          xm_cuda_dt_name(t->dtype), xm_cuda_dt_name(dt));
    return 0;
}

/* ---- lifetime ---- */

unsigned xm_cuda_paths_used(const xm_backend *be)
{
    return be && be->name && !strcmp(be->name, "cuda") ? ((const xm_cuda *)be->impl)->paths_used
                                                        : 0;
}

int xm_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

static xm_cuda *CU(xm_backend *be) { return (xm_cuda *)be->impl; }

/* ---- per-op timing (XM_CUDA_PROFILE=1, see xm_cuda_profile.h) ----
 * prof_begin records event a before the op, prof_end event b after it and
 * files the pair under the op's label; the intervals are read (and the
 * stream synchronised) only when PROF_PENDING pairs are waiting or a report
 * is asked for. Profiling problems are ignored: it is a diagnostic. */

#define PROF_PENDING 2048
#define PROF_LABEL 128

typedef struct prof_key {
    char label[PROF_LABEL];
    double gpu_ms, host_ms;
    long calls;
} prof_key;

typedef struct prof_rec {
    cudaEvent_t a, b;
    int key;
} prof_rec;

typedef struct xm_cuda_prof {
    prof_key *keys;
    int nkeys, capkeys;
    prof_rec rec[PROF_PENDING];
    int nrec;  /* pairs recorded, not read yet */
    int open;  /* rec[nrec].a recorded by prof_begin */
    double t0; /* host ms at prof_begin */
} xm_cuda_prof;

static double host_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void prof_flush(xm_cuda *cu)
{
    xm_cuda_prof *P = (xm_cuda_prof *)cu->prof;
    for (int i = 0; i < P->nrec; i++) {
        prof_rec *r = &P->rec[i];
        float ms = 0.f;
        if (cudaEventSynchronize(r->b) == cudaSuccess &&
            cudaEventElapsedTime(&ms, r->a, r->b) == cudaSuccess)
            P->keys[r->key].gpu_ms += ms;
        else
            (void)cudaGetLastError();
    }
    P->nrec = 0;
}

static void prof_begin(xm_cuda *cu)
{
    xm_cuda_prof *P = (xm_cuda_prof *)cu->prof;
    if (!P) return;
    P->open = 0;
    if (P->nrec == PROF_PENDING) prof_flush(cu);
    prof_rec *r = &P->rec[P->nrec];
    if ((!r->a && cudaEventCreate(&r->a) != cudaSuccess) ||
        (!r->b && cudaEventCreate(&r->b) != cudaSuccess) ||
        cudaEventRecord(r->a, cu->stream) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    P->open = 1;
    P->t0 = host_ms_now();
}

static int prof_key_find(xm_cuda_prof *P, const char *label)
{
    for (int i = P->nkeys - 1; i >= 0; i--)
        if (!strcmp(P->keys[i].label, label)) return i;
    if (P->nkeys == P->capkeys) {
        int cap = P->capkeys ? 2 * P->capkeys : 64;
        prof_key *k = realloc(P->keys, (size_t)cap * sizeof *k);
        if (!k) return -1;
        P->keys = k;
        P->capkeys = cap;
    }
    prof_key *k = &P->keys[P->nkeys];
    memset(k, 0, sizeof *k);
    snprintf(k->label, sizeof k->label, "%s", label);
    return P->nkeys++;
}

/* Append to a label of PROF_LABEL bytes. */
static void lab_add(char *lab, const char *fmt, ...)
{
    size_t o = strlen(lab);
    if (o + 1 >= PROF_LABEL) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lab + o, PROF_LABEL - o, fmt, ap);
    va_end(ap);
}

/* Close the pair opened by prof_begin: op name, the shape and dtype of t
 * (when given), then `extra` (when given). */
static void prof_end(xm_cuda *cu, const char *op, const xm_tensor *t, const char *extra)
{
    xm_cuda_prof *P = (xm_cuda_prof *)cu->prof;
    if (!P || !P->open) return;
    P->open = 0;
    double host = host_ms_now() - P->t0;
    prof_rec *r = &P->rec[P->nrec];
    if (cudaEventRecord(r->b, cu->stream) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    char lab[PROF_LABEL];
    snprintf(lab, sizeof lab, "%s", op);
    if (t) lab_add(lab, " %dx%dx%dx%d %s", t->n, t->h, t->w, t->c, xm_cuda_dt_name(t->dtype));
    if (extra) lab_add(lab, " %s", extra);
    int k = prof_key_find(P, lab);
    if (k < 0) return;
    P->keys[k].host_ms += host;
    P->keys[k].calls++;
    r->key = k;
    P->nrec++;
}

static void prof_free(xm_cuda *cu)
{
    xm_cuda_prof *P = (xm_cuda_prof *)cu->prof;
    if (!P) return;
    for (int i = 0; i < PROF_PENDING; i++) {
        if (P->rec[i].a) cudaEventDestroy(P->rec[i].a);
        if (P->rec[i].b) cudaEventDestroy(P->rec[i].b);
    }
    free(P->keys);
    free(P);
    cu->prof = NULL;
}

/* After an op: close its profile pair (when profiling: label from op, t,
 * extra); in debug mode synchronise and name the op that failed. */
static int done_t(xm_backend *be, int rc, const char *op, const xm_tensor *t, const char *extra,
                  xm_err *err)
{
    xm_cuda *cu = CU(be);
    if (cu->prof) prof_end(cu, op, t, extra);
    if (rc || !cu->debug_sync) return rc;
    cudaError_t e = cudaStreamSynchronize(cu->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess)
        return xm_err_set(err, XM_EFAIL, "CUDA: %s (%d) in op %s (debug sync)",
                          cudaGetErrorString(e), (int)e, op);
    return 0;
}

static int done(xm_backend *be, int rc, const char *op, xm_err *err)
{
    return done_t(be, rc, op, NULL, NULL, err);
}

/* Convolution labels, built only when profiling. */
static const char *conv_extra(xm_cuda *cu, const void *plan, int dir, char *buf, size_t cap)
{
    if (!cu->prof) return NULL;
    xm_cuda_conv_label(plan, dir, buf, cap);
    return buf;
}

static void cuda_destroy(xm_backend *be)
{
    if (!be) return;
    xm_cuda *cu = CU(be);
    if (cu) {
        if (xm_cuda_capturing(cu)) { /* destroyed mid-capture (an error path): drop it */
            cudaGraph_t g = NULL;
            if (cudaStreamEndCapture(cu->stream, &g) == cudaSuccess && g) cudaGraphDestroy(g);
            (void)cudaGetLastError();
        }
        if (cu->stream) (void)cudaStreamSynchronize(cu->stream);
        xm_cuda_graphs_free_all(cu); /* the ones the caller did not free */
        xm_cuda_retired_free(cu);
        free(cu->retired);
        cudaFree(cu->ws);
        cudaFree(cu->scratch);
        cudaFree(cu->chan);
        cudaFree(cu->bn_parts);
        cudaFree(cu->items_dev);
        cudaFree(cu->loss_dev);
        if (cu->items_host) cudaFreeHost(cu->items_host);
        if (cu->loss_host) cudaFreeHost(cu->loss_host);
        if (cu->flag_host) cudaFreeHost(cu->flag_host);
        cudaFree(cu->flag_dev);
        if (cu->items_ev) cudaEventDestroy(cu->items_ev);
        for (int i = 0; i < 2; i++) {
            if (cu->stage[i].buf) cudaFreeHost(cu->stage[i].buf);
            if (cu->stage[i].ev) cudaEventDestroy(cu->stage[i].ev);
        }
        free(cu->algo_cache);
        prof_free(cu);
        if (cu->cudnn) cudnnDestroy(cu->cudnn);
        if (cu->cublas) cublasDestroy(cu->cublas);
        cudaFree(cu->cublas_ws);
        if (cu->stream) cudaStreamDestroy(cu->stream);
        free(cu);
    }
    free(be);
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static int cuda_init(xm_cuda *cu, const xm_backend_cfg *cfg, xm_err *err)
{
    int n = xm_cuda_device_count();
    if (cfg->device < 0 || cfg->device >= n)
        return xm_err_set(err, XM_EUSAGE, "CUDA: device %d does not exist (%d visible)",
                          cfg->device, n);
    cu->device = cfg->device;
    cu->prec = cfg->precision;
    switch (cfg->precision) {
    case XM_PREC_F32:
    case XM_PREC_TF32: cu->act = XM_DT_F32; break;
    case XM_PREC_BF16: cu->act = XM_DT_BF16; break;
    case XM_PREC_F16: cu->act = XM_DT_F16; break;
    default: return xm_err_set(err, XM_EUSAGE, "CUDA: unknown precision %d", (int)cfg->precision);
    }
    cu->debug_sync = cfg->debug_sync || env_flag("XM_CUDA_SYNC");
    cu->cudnn_find = env_flag("XM_CUDNN_FIND");
    const char *bv = getenv("XM_CUDA_BN_VEC");
    cu->bn_rows = bv && !strcmp(bv, "0");
    const char *br = getenv("XM_CUDA_BN_RED");
    if (br && *br && strcmp(br, "parts") && strcmp(br, "atomic"))
        return xm_err_set(err, XM_EUSAGE, "CUDA: XM_CUDA_BN_RED=%s: expected parts or atomic", br);
    /* the partials kernels load 8 channels at a time: XM_CUDA_BN_VEC=0 (rows
     * only) rules them out too */
    cu->bn_parts_on = br && !strcmp(br, "parts") && !cu->bn_rows;
    cu->pool_vec = env_flag("XM_CUDA_POOL_VEC");
    if (env_flag("XM_CUDA_PROFILE")) cu->prof = calloc(1, sizeof(xm_cuda_prof)); /* NULL: off */
    XM_CU(cudaSetDevice(cu->device));
    /* The largest cuDNN workspace an algorithm may ask for: 1 GiB, or up to
     * 8 GiB where an eighth of the free memory allows (the fastest
     * algorithms at large batches ask for more than 1 GiB; with the cap too
     * low the heuristics' first choices are skipped). */
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) (void)cudaGetLastError();
    cu->ws_cap = (size_t)1 << 30;
    if (fr / 8 > cu->ws_cap) cu->ws_cap = fr / 8 < ((size_t)8 << 30) ? fr / 8 : (size_t)8 << 30;
    const char *cap = getenv("XM_CUDA_WS_MB");
    if (cap && atol(cap) > 0) cu->ws_cap = (size_t)atol(cap) << 20;
    XM_CU(cudaDeviceGetAttribute(&cu->sm_count, cudaDevAttrMultiProcessorCount, cu->device));
    XM_CU(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking));
    XM_CU(cudaEventCreateWithFlags(&cu->items_ev, cudaEventDisableTiming));
    cu->stage_on = env_flag("XM_CUDA_STAGE");
    for (int i = 0; i < 2 && cu->stage_on; i++)
        XM_CU(cudaEventCreateWithFlags(&cu->stage[i].ev, cudaEventDisableTiming));
    XM_CU(cudaMallocHost((void **)&cu->loss_host, sizeof(double)));
    XM_CU(cudaMallocHost((void **)&cu->flag_host, sizeof(int)));
    XM_CU(cudaMalloc((void **)&cu->flag_dev, sizeof(int)));
    XM_CUBLAS(cublasCreate(&cu->cublas));
    XM_CUBLAS(cublasSetStream(cu->cublas, cu->stream));
    /* Our own workspace (cublasSetStream resets it, so after it): without
     * one cuBLAS may allocate inside a graph capture. 32 MiB is NVIDIA's
     * recommendation for Hopper (4 MiB before). */
    size_t cublas_ws = (size_t)32 << 20;
    int rc = xm_cuda_malloc(cu, &cu->cublas_ws, cublas_ws, "the cuBLAS workspace", err);
    if (rc) return rc;
    XM_CUBLAS(cublasSetWorkspace(cu->cublas, cu->cublas_ws, cublas_ws));
    XM_CUBLAS(cublasSetMathMode(cu->cublas, cu->prec == XM_PREC_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                      : CUBLAS_PEDANTIC_MATH));
    XM_CUDNN(cudnnCreate(&cu->cudnn));
    XM_CUDNN(cudnnSetStream(cu->cudnn, cu->stream));
    return 0;
}

static const xm_backend_ops cuda_ops;

xm_backend *xm_backend_cuda_new(const xm_backend_cfg *cfg, xm_err *err)
{
    xm_backend_cfg def = {0};
    if (!cfg) cfg = &def;
    xm_backend *be = calloc(1, sizeof *be);
    xm_cuda *cu = calloc(1, sizeof *cu);
    if (!be || !cu) {
        free(be);
        free(cu);
        xm_err_set(err, XM_EFAIL, "CUDA backend: out of host memory");
        return NULL;
    }
    be->ops = &cuda_ops;
    be->name = "cuda";
    be->cfg = *cfg;
    be->impl = cu;
    if (cuda_init(cu, cfg, err)) {
        cuda_destroy(be);
        return NULL;
    }
    be->act_dtype = cu->act;
    return be;
}

/* ---- memory ---- */

static void *cuda_alloc(xm_backend *be, size_t bytes, xm_err *err)
{
    xm_cuda *cu = CU(be);
    void *p = NULL;
    if (xm_cuda_malloc(cu, &p, bytes, "a tensor", err)) return NULL;
    cudaError_t e = cudaMemsetAsync(p, 0, bytes ? bytes : 1, cu->stream);
    if (e != cudaSuccess) {
        xm_cuda_fail(err, "CUDA", (int)e, cudaGetErrorString(e), "cudaMemsetAsync", __FILE__,
                     __LINE__);
        cudaFree(p);
        return NULL;
    }
    return p;
}

/* A void op called while capturing: it does nothing (releasing would
 * break the capture) and graph_end fails naming it. Returns 1 then. */
static int capture_misuse(xm_cuda *cu, const char *op)
{
    if (!xm_cuda_capturing(cu)) return 0;
    xm_cuda_capture_mark(cu, op);
    return 1;
}

static void cuda_free(xm_backend *be, void *p)
{
    if (!p || capture_misuse(CU(be), "free")) return;
    /* cudaFree waits for the device; the stream's pending work finishes first. */
    (void)cudaStreamSynchronize(CU(be)->stream);
    cudaFree(p);
}

static void *cuda_host_alloc(xm_backend *be, size_t bytes, xm_err *err)
{
    void *p = NULL;
    if (xm_cuda_no_capture(CU(be), "host_alloc", err)) return NULL;
    cudaError_t e = cudaMallocHost(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        xm_err_set(err, XM_EFAIL, "CUDA: cannot allocate %zu bytes of pinned host memory: %s",
                   bytes, cudaGetErrorString(e));
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

static void cuda_host_free(xm_backend *be, void *p)
{
    if (p && !capture_misuse(CU(be), "host_free")) cudaFreeHost(p);
}

static int is_pinned(const void *host)
{
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, host) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

/* Large uploads from pageable memory with XM_CUDA_STAGE=1 (not yet the
 * default: written without a GPU, to be measured): the driver stages a
 * pageable copy through small pinned buffers of its own and may wait for
 * the stream to drain first, so the host may, at the start of a training
 * step, wait for the previous step's backward pass before it can enqueue
 * the next forward (unmeasured). Here the bytes go into one of two pinned buffers of ours
 * (a host memcpy, as the driver's staging does) and leave from there
 * asynchronously; a buffer is reused once the event after its last copy
 * has passed (two uploads later), so the host does not wait for the GPU. */
#define XM_STAGE_MIN ((size_t)64 << 10)
/* Larger uploads (weights, momentum at start-up) go the driver's way: the
 * pinned buffers stay at most 2 x 1.25 x this. */
#define XM_STAGE_MAX ((size_t)64 << 20)
/* 0: staged; 1: not staged (no pinned memory to be had: the caller copies
 * directly, as without XM_CUDA_STAGE); else an error code. */
static int h2d_staged(xm_cuda *cu, void *dst, const void *src, size_t bytes, xm_err *err)
{
    struct xm_cuda_stage *s = &cu->stage[cu->stage_next];
    if (s->used) XM_CU(cudaEventSynchronize(s->ev));
    s->used = 0;
    if (bytes > s->cap) {
        if (s->buf) XM_CU(cudaFreeHost(s->buf));
        s->buf = NULL;
        s->cap = 0;
        size_t cap = bytes + bytes / 4;
        if (cudaMallocHost(&s->buf, cap) != cudaSuccess) {
            (void)cudaGetLastError();
            s->buf = NULL;
            return 1;
        }
        s->cap = cap;
    }
    cu->stage_next ^= 1;
    memcpy(s->buf, src, bytes);
    XM_CU(cudaMemcpyAsync(dst, s->buf, bytes, cudaMemcpyHostToDevice, cu->stream));
    XM_CU(cudaEventRecord(s->ev, cu->stream));
    s->used = 1;
    return 0;
}

/* Copy host -> device. From pageable memory cudaMemcpyAsync returns once the
 * source has been staged; from pinned memory it would not, so we wait then
 * (the caller may reuse its buffer as soon as upload returns). */
static int h2d(xm_cuda *cu, void *dst, const void *src, size_t bytes, xm_err *err)
{
    int rc = xm_cuda_no_capture(cu, "upload", err);
    if (rc) return rc;
    if (!bytes) return 0;
    if (!dst || !src) return xm_err_set(err, XM_EUSAGE, "upload: NULL pointer");
    const int pinned = is_pinned(src); /* a driver query: once per upload */
    if (cu->stage_on && bytes >= XM_STAGE_MIN && bytes <= XM_STAGE_MAX && !pinned &&
        (rc = h2d_staged(cu, dst, src, bytes, err)) != 1)
        return rc;
    XM_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu->stream));
    if (pinned) XM_CU(cudaStreamSynchronize(cu->stream));
    return 0;
}

static int cuda_upload(xm_backend *be, void *dst, const void *src, size_t bytes, xm_err *err)
{
    xm_cuda *cu = CU(be);
    cu->param_gen++; /* may have written parameters */
    return done(be, h2d(cu, dst, src, bytes, err), "upload", err);
}

static int cuda_download_raw(xm_cuda *cu, void *dst, const void *src, size_t bytes, xm_err *err)
{
    int rc = xm_cuda_no_capture(cu, "download", err);
    if (rc) return rc;
    if (!bytes) return 0;
    if (!dst || !src) return xm_err_set(err, XM_EUSAGE, "download: NULL pointer");
    XM_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu->stream));
    XM_CU(cudaStreamSynchronize(cu->stream));
    return 0;
}

static int cuda_download(xm_backend *be, void *dst, const void *src, size_t bytes, xm_err *err)
{
    return cuda_download_raw(CU(be), dst, src, bytes, err);
}

static int memset0_raw(xm_cuda *cu, void *p, size_t bytes, xm_err *err)
{
    if (!bytes) return 0;
    if (!p) return xm_err_set(err, XM_EUSAGE, "memset0: NULL pointer");
    XM_CU(cudaMemsetAsync(p, 0, bytes, cu->stream));
    return 0;
}

/* memset0 and copy leave the conv weight caches alone: the network zeroes
 * and copies gradient buffers inside every backward pass, and a writer of
 * the parameter slab signals it with params_changed() (xm_backend.h). */
static int cuda_memset0(xm_backend *be, void *p, size_t bytes, xm_err *err)
{
    prof_begin(CU(be));
    return done(be, memset0_raw(CU(be), p, bytes, err), "memset0", err);
}

static int copy_raw(xm_cuda *cu, void *dst, const void *src, size_t bytes, xm_err *err)
{
    if (!bytes) return 0;
    if (!dst || !src) return xm_err_set(err, XM_EUSAGE, "copy: NULL pointer");
    XM_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu->stream));
    return 0;
}

static int cuda_copy(xm_backend *be, void *dst, const void *src, size_t bytes, xm_err *err)
{
    prof_begin(CU(be));
    return done(be, copy_raw(CU(be), dst, src, bytes, err), "copy", err);
}

static int upload_f32_raw(xm_cuda *cu, xm_tensor *t, const float *host, xm_err *err)
{
    if (!t || !t->data || !host) return xm_err_set(err, XM_EUSAGE, "upload_f32: NULL pointer");
    int rc = xm_cuda_no_capture(cu, "upload_f32", err);
    if (rc) return rc;
    size_t n = xm_tensor_count(t);
    if (t->dtype == XM_DT_F32) return h2d(cu, t->data, host, n * 4, err);
    rc = xm_cuda_grow(cu, &cu->scratch, &cu->scratch_bytes, n * 4, "a conversion buffer", err);
    if (rc) return rc;
    rc = h2d(cu, cu->scratch, host, n * 4, err);
    if (rc) return rc;
    return xm_cuda_convert(cu, cu->scratch, XM_DT_F32, t->data, t->dtype, n, err);
}

static int cuda_upload_f32(xm_backend *be, xm_tensor *t, const float *host, xm_err *err)
{
    CU(be)->param_gen++;
    return done(be, upload_f32_raw(CU(be), t, host, err), "upload_f32", err);
}

static int download_f32_raw(xm_cuda *cu, const xm_tensor *t, float *host, xm_err *err)
{
    if (!t || !t->data || !host)
        return xm_err_set(err, XM_EUSAGE, "download_f32: NULL pointer");
    int rc = xm_cuda_no_capture(cu, "download_f32", err);
    if (rc) return rc;
    size_t n = xm_tensor_count(t);
    if (t->dtype == XM_DT_F32) return cuda_download_raw(cu, host, t->data, n * 4, err);
    rc = xm_cuda_grow(cu, &cu->scratch, &cu->scratch_bytes, n * 4, "a conversion buffer", err);
    if (rc) return rc;
    rc = xm_cuda_convert(cu, t->data, t->dtype, cu->scratch, XM_DT_F32, n, err);
    if (rc) return rc;
    return cuda_download_raw(cu, host, cu->scratch, n * 4, err);
}

static int cuda_download_f32(xm_backend *be, const xm_tensor *t, float *host, xm_err *err)
{
    return download_f32_raw(CU(be), t, host, err);
}

static int cuda_sync(xm_backend *be, xm_err *err)
{
    int rc = xm_cuda_no_capture(CU(be), "sync", err);
    if (rc) return rc;
    XM_CU(cudaStreamSynchronize(CU(be)->stream));
    XM_CU(cudaGetLastError());
    return 0;
}

static void cuda_params_changed(xm_backend *be) { CU(be)->param_gen++; }

/* ---- ops: forward to the launchers, then the debug check ---- */

static void *cuda_conv_plan(xm_backend *be, const xm_conv_desc *d, xm_err *err)
{
    if (xm_cuda_no_capture(CU(be), "conv_plan", err)) return NULL;
    void *p = xm_cuda_conv_plan(CU(be), d, err);
    if (p && done(be, 0, "conv_plan", err)) {
        xm_cuda_conv_plan_free(CU(be), p);
        return NULL;
    }
    return p;
}

static int cuda_conv_fwd(xm_backend *be, void *plan, const xm_tensor *x, const float *w,
                         xm_tensor *y, xm_err *err)
{
    char ex[PROF_LABEL];
    prof_begin(CU(be));
    int rc = xm_cuda_conv_fwd(CU(be), plan, x, w, y, err);
    return done_t(be, rc, "conv_fwd", NULL, conv_extra(CU(be), plan, 0, ex, sizeof ex), err);
}

static int cuda_conv_bwd_data(xm_backend *be, void *plan, const xm_tensor *dy, const float *w,
                              xm_tensor *dx, xm_err *err)
{
    char ex[PROF_LABEL];
    prof_begin(CU(be));
    int rc = xm_cuda_conv_bwd_data(CU(be), plan, dy, w, dx, err);
    return done_t(be, rc, "conv_bwd_data", NULL, conv_extra(CU(be), plan, 1, ex, sizeof ex),
                  err);
}

static int cuda_conv_bwd_weights(xm_backend *be, void *plan, const xm_tensor *x,
                                 const xm_tensor *dy, float *dw, xm_err *err)
{
    char ex[PROF_LABEL];
    prof_begin(CU(be));
    int rc = xm_cuda_conv_bwd_weights(CU(be), plan, x, dy, dw, err);
    return done_t(be, rc, "conv_bwd_weights", NULL, conv_extra(CU(be), plan, 2, ex, sizeof ex),
                  err);
}

static int cuda_bn_fwd_train(xm_backend *be, const xm_tensor *x, const float *gamma,
                             const float *beta, float *running_mean, float *running_var,
                             float momentum, float eps, float *save_mean, float *save_invstd,
                             int relu, xm_tensor *y, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_bn_fwd_train(CU(be), x, gamma, beta, running_mean, running_var, momentum,
                                  eps, save_mean, save_invstd, relu, y, err);
    return done_t(be, rc, "bn_fwd_train", x, relu ? "relu" : NULL, err);
}

static int cuda_bn_fwd_infer(xm_backend *be, const xm_tensor *x, const float *gamma,
                             const float *beta, const float *running_mean,
                             const float *running_var, float eps, int relu, xm_tensor *y,
                             xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_bn_fwd_infer(CU(be), x, gamma, beta, running_mean, running_var, eps, relu,
                                  y, err);
    return done_t(be, rc, "bn_fwd_infer", x, relu ? "relu" : NULL, err);
}

static int cuda_bn_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *y,
                       const xm_tensor *dy, const float *gamma, const float *save_mean,
                       const float *save_invstd, xm_tensor *dx, float *dgamma, float *dbeta,
                       xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_bn_bwd(CU(be), x, y, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                            err);
    return done_t(be, rc, "bn_bwd", x, y ? "relu" : NULL, err);
}

static int cuda_add(xm_backend *be, const xm_tensor *a, const xm_tensor *b, int relu,
                    xm_tensor *y, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_add(CU(be), a, b, relu, y, err);
    return done_t(be, rc, "add", a, relu ? "relu" : NULL, err);
}

static int cuda_relu_bwd(xm_backend *be, const xm_tensor *y, const xm_tensor *dy, xm_tensor *dx,
                         xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_relu_bwd(CU(be), y, dy, dx, err);
    return done_t(be, rc, "relu_bwd", y, NULL, err);
}

static void *cuda_pool_plan(xm_backend *be, const xm_pool_desc *d, xm_err *err)
{
    if (xm_cuda_no_capture(CU(be), "pool_plan", err)) return NULL;
    return xm_cuda_pool_plan(CU(be), d, err);
}

static int cuda_maxpool_fwd(xm_backend *be, void *plan, const xm_tensor *x, xm_tensor *y,
                            xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_maxpool_fwd(CU(be), plan, x, y, err);
    return done_t(be, rc, "maxpool_fwd", x, NULL, err);
}

static int cuda_maxpool_bwd(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *y,
                            const xm_tensor *dy, xm_tensor *dx, xm_err *err)
{
    (void)x; /* the plan kept the argmax of the forward pass */
    (void)y;
    prof_begin(CU(be));
    int rc = xm_cuda_maxpool_bwd(CU(be), plan, dy, dx, err);
    return done_t(be, rc, "maxpool_bwd", dx, NULL, err);
}

static int cuda_gap_fwd(xm_backend *be, const xm_tensor *x, xm_tensor *y, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_gap_fwd(CU(be), x, y, err);
    return done_t(be, rc, "gap_fwd", x, NULL, err);
}

static int cuda_gap_bwd(xm_backend *be, const xm_tensor *dy, xm_tensor *dx, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_gap_bwd(CU(be), dy, dx, err);
    return done_t(be, rc, "gap_bwd", dx, NULL, err);
}

static int cuda_linear_fwd(xm_backend *be, const xm_tensor *x, const float *w, const float *b,
                           xm_tensor *y, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_linear_fwd(CU(be), x, w, b, y, err);
    return done_t(be, rc, "linear_fwd", y, NULL, err);
}

static int cuda_linear_bwd(xm_backend *be, const xm_tensor *x, const xm_tensor *dy,
                           const float *w, xm_tensor *dx, float *dw, float *db, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_linear_bwd(CU(be), x, dy, w, dx, dw, db, err);
    return done_t(be, rc, "linear_bwd", dy, NULL, err);
}

static int cuda_softmax_xent(xm_backend *be, const xm_tensor *logits, const xm_tensor *target,
                             double *loss_host, xm_tensor *dlogits, xm_err *err)
{
    int rc0 = loss_host ? xm_cuda_no_capture(CU(be), "softmax_xent's loss readback", err) : 0;
    if (rc0) return rc0;
    prof_begin(CU(be));
    int rc = xm_cuda_softmax_xent(CU(be), logits, target, loss_host, dlogits, err);
    return done_t(be, rc, "softmax_xent", logits, loss_host ? "+loss readback" : NULL, err);
}

static int cuda_scale_f32(xm_backend *be, float *p, size_t n, float s, int *finite,
                          xm_err *err)
{
    int rc0;
    if (finite && (rc0 = xm_cuda_no_capture(CU(be), "scale_f32's finite readback", err)))
        return rc0;
    char ex[48];
    snprintf(ex, sizeof ex, "n=%zu%s", n, finite ? " +finite readback" : "");
    prof_begin(CU(be));
    int rc = xm_cuda_scale_f32(CU(be), p, n, s, finite, err);
    return done_t(be, rc, "scale_f32", NULL, ex, err);
}

static int cuda_input_mix(xm_backend *be, const uint8_t *records, const xm_mix_item *items,
                          const float *mean, const float *std, xm_tensor *x, xm_err *err)
{
    prof_begin(CU(be));
    int rc = xm_cuda_input_mix(CU(be), records, items, mean, std, x, err);
    return done_t(be, rc, "input_mix", x, NULL, err);
}

static int cuda_sgd_update(xm_backend *be, float *w, const float *g, float *mom, const float *w0,
                           size_t n, const xm_sgd_cfg *cfg, xm_err *err)
{
    CU(be)->param_gen++; /* the weights change: cached converted copies are stale */
    char ex[32];
    snprintf(ex, sizeof ex, "n=%zu", n);
    prof_begin(CU(be));
    int rc = xm_cuda_sgd_update(CU(be), w, g, mom, w0, n, cfg, err);
    return done_t(be, rc, "sgd_update", NULL, ex, err);
}

static void cuda_plan_free(xm_backend *be, void *plan)
{
    if (!plan || capture_misuse(CU(be), "plan_free")) return;
    int kind = *(const int *)plan;
    if (kind == XM_CUDA_PLAN_CONV) xm_cuda_conv_plan_free(CU(be), plan);
    else if (kind == XM_CUDA_PLAN_POOL) xm_cuda_pool_plan_free(CU(be), plan);
    else XM_ASSERT(!"plan_free: not a CUDA plan");
}

/* ---- graphs (graph.c) ---- */

static int cuda_graph_begin(xm_backend *be, xm_err *err)
{
    return xm_cuda_graph_begin(CU(be), err);
}

static int cuda_graph_end(xm_backend *be, void **graph, xm_err *err)
{
    return xm_cuda_graph_end(CU(be), graph, err);
}

static int cuda_graph_launch(xm_backend *be, void *graph, xm_err *err)
{
    return xm_cuda_graph_launch(CU(be), graph, err);
}

static void cuda_graph_free(xm_backend *be, void *graph) { xm_cuda_graph_free(CU(be), graph); }

static const xm_backend_ops cuda_ops = {
    .destroy = cuda_destroy,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .memset0 = cuda_memset0,
    .copy = cuda_copy,
    .upload_f32 = cuda_upload_f32,
    .download_f32 = cuda_download_f32,
    .sync = cuda_sync,
    .params_changed = cuda_params_changed,
    .conv_plan = cuda_conv_plan,
    .conv_fwd = cuda_conv_fwd,
    .conv_bwd_data = cuda_conv_bwd_data,
    .conv_bwd_weights = cuda_conv_bwd_weights,
    .bn_fwd_train = cuda_bn_fwd_train,
    .bn_fwd_infer = cuda_bn_fwd_infer,
    .bn_bwd = cuda_bn_bwd,
    .add = cuda_add,
    .relu_bwd = cuda_relu_bwd,
    .pool_plan = cuda_pool_plan,
    .maxpool_fwd = cuda_maxpool_fwd,
    .maxpool_bwd = cuda_maxpool_bwd,
    .gap_fwd = cuda_gap_fwd,
    .gap_bwd = cuda_gap_bwd,
    .linear_fwd = cuda_linear_fwd,
    .linear_bwd = cuda_linear_bwd,
    .softmax_xent = cuda_softmax_xent,
    .scale_f32 = cuda_scale_f32,
    .input_mix = cuda_input_mix,
    .sgd_update = cuda_sgd_update,
    .plan_free = cuda_plan_free,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_launch = cuda_graph_launch,
    .graph_free = cuda_graph_free,
};

/* ---- the profile table (xm_cuda_profile.h) ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...)
{
    if (s->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (s->p && s->n + (size_t)k < s->cap) {
            s->n += (size_t)k;
            return;
        }
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + (size_t)k + 1) cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = 1;
            return;
        }
        s->p = q;
        s->cap = cap;
    }
}

static xm_cuda_prof *prof_of(xm_backend *be)
{
    if (!be || be->ops != &cuda_ops || !be->impl) return NULL;
    return (xm_cuda_prof *)CU(be)->prof;
}

void xm_cuda_profile_reset(xm_backend *be)
{
    xm_cuda_prof *P = prof_of(be);
    if (!P) return;
    (void)cudaStreamSynchronize(CU(be)->stream);
    prof_flush(CU(be));
    P->nkeys = 0;
}

typedef struct prof_kind {
    char name[32];
    double gpu_ms, host_ms;
    long calls;
} prof_kind;

static int by_gpu_desc(const void *a, const void *b)
{
    double x = ((const prof_key *)a)->gpu_ms, y = ((const prof_key *)b)->gpu_ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int kind_by_gpu_desc(const void *a, const void *b)
{
    double x = ((const prof_kind *)a)->gpu_ms, y = ((const prof_kind *)b)->gpu_ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

char *xm_cuda_profile_report(xm_backend *be, int steps)
{
    xm_cuda_prof *P = prof_of(be);
    if (!P) return NULL;
    xm_cuda *cu = CU(be);
    (void)cudaStreamSynchronize(cu->stream);
    (void)cudaGetLastError();
    prof_flush(cu);
    if (steps < 1) steps = 1;
    prof_key *k = malloc((size_t)(P->nkeys ? P->nkeys : 1) * sizeof *k);
    prof_kind kinds[48];
    int nk = 0;
    if (!k) return NULL;
    memcpy(k, P->keys, (size_t)P->nkeys * sizeof *k);
    qsort(k, (size_t)P->nkeys, sizeof *k, by_gpu_desc);
    double gpu = 0, host = 0;
    long calls = 0;
    for (int i = 0; i < P->nkeys; i++) {
        gpu += k[i].gpu_ms;
        host += k[i].host_ms;
        calls += k[i].calls;
        char name[32];
        snprintf(name, sizeof name, "%s", k[i].label);
        char *sp = strchr(name, ' ');
        if (sp) *sp = 0;
        int j = 0;
        while (j < nk && strcmp(kinds[j].name, name)) j++;
        if (j == nk) {
            if (nk == (int)(sizeof kinds / sizeof *kinds)) continue;
            memset(&kinds[nk], 0, sizeof kinds[nk]);
            snprintf(kinds[nk].name, sizeof kinds[nk].name, "%s", name);
            nk++;
        }
        kinds[j].gpu_ms += k[i].gpu_ms;
        kinds[j].host_ms += k[i].host_ms;
        kinds[j].calls += k[i].calls;
    }
    qsort(kinds, (size_t)nk, sizeof *kinds, kind_by_gpu_desc);
    double d = (double)steps, pct = gpu > 0 ? 100.0 / gpu : 0;
    sbuf s = {0};
    sb_printf(&s,
              "== xm CUDA profile (XM_CUDA_PROFILE=1): %d steps, %.1f op calls/step; per step: "
              "GPU %.3f ms (sum of op event intervals), host %.3f ms (enqueueing)\n",
              steps, (double)calls / d, gpu / d, host / d);
    sb_printf(&s, "-- per op kind\n%-18s %10s %12s %12s %7s\n", "op", "calls/step",
              "GPU ms/step", "host ms/step", "GPU %");
    for (int j = 0; j < nk; j++)
        sb_printf(&s, "%-18s %10.1f %12.3f %12.3f %6.1f%%\n", kinds[j].name,
                  (double)kinds[j].calls / d, kinds[j].gpu_ms / d, kinds[j].host_ms / d,
                  kinds[j].gpu_ms * pct);
    sb_printf(&s, "-- per op and shape, by GPU time\n%12s %12s %10s %9s %6s  %s\n",
              "GPU ms/step", "host ms/step", "calls/step", "us/call", "GPU %", "op");
    for (int i = 0; i < P->nkeys; i++)
        sb_printf(&s, "%12.3f %12.3f %10.1f %9.1f %5.1f%%  %s\n", k[i].gpu_ms / d,
                  k[i].host_ms / d, (double)k[i].calls / d,
                  k[i].calls ? 1e3 * k[i].gpu_ms / (double)k[i].calls : 0.0, k[i].gpu_ms * pct,
                  k[i].label);
    free(k);
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
