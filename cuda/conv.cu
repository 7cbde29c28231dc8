/* conv.cu: 2-D convolution on cuDNN's legacy API, NHWC activations.
 *
 * A plan holds the descriptors and, per direction (forward, backward data,
 * backward filter), the algorithms chosen once (cudnnGet*_v7 heuristics, or
 * measured with cudnnFind* when XM_CUDNN_FIND=1), best first, with their
 * workspace sizes; the first is used, the next ones only if cuDNN refuses
 * it at run time. The workspace is shared by all plans (cu->ws), grown here.
 * Weights arrive as float32 OIHW in the slab; cuDNN wants the filter in the
 * activations' layout and dtype (KRSC = NHWC filter), so the plan caches a
 * converted copy, refreshed when the slab pointer or cu->param_gen changes
 * (params_changed(), sgd_update, uploads; graph.c explains why CUDA graph
 * replays and the eager steps after them still see fresh copies). In F32 mode a filter whose KRSC
 * and OIHW orders coincide (1x1, or one input channel) is used directly.
 * The weight gradient is computed in KRSC/act dtype into cu->scratch and
 * converted into the float32 OIHW gradient (overwrite semantics).
 * Math: F32 = CUDNN_FMA_MATH (no TF32; FFT and non-fused Winograd skipped
 * for accuracy), TF32 = CUDNN_DEFAULT_MATH, BF16/F16 = tensor-op math with
 * float accumulation. */
#include "xm_cuda_dev.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The usable algorithms of one direction, best first; `cur` is in use. If
 * cuDNN refuses it at run time (not supported / bad parameter), the next is
 * tried, so a heuristic's wrong guess does not fail the run. */
#define CONV_MAX_ALGOS 8
enum { DIR_FWD = 0, DIR_BD = 1, DIR_BF = 2 };
static const char *const dir_name[3] = {"forward", "backward-data", "backward-filter"};
typedef struct conv_dir {
    int n, cur;
    int algo[CONV_MAX_ALGOS];
    cudnnMathType_t math[CONV_MAX_ALGOS];
    size_t ws[CONV_MAX_ALGOS];
} conv_dir;

typedef struct conv_plan {
    int kind;
    xm_conv_desc d;
    xm_dtype dt;
    int direct;                 /* F32 and KRSC order == OIHW order */
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd[3];  /* per direction (math types may differ) */
    conv_dir dir[3];
    void *wk;                   /* cached KRSC weights in dt (not when direct) */
    const float *wk_src;
    uint64_t wk_gen;
    int wk_valid;
    int wk_converted;           /* the last op converted the weights (profile label) */
} conv_plan;

static cudnnDataType_t cudnn_dt(xm_dtype dt)
{
    return dt == XM_DT_BF16 ? CUDNN_DATA_BFLOAT16 : dt == XM_DT_F16 ? CUDNN_DATA_HALF
                                                                    : CUDNN_DATA_FLOAT;
}

/* ---- weight layout conversion ---- */

template <typename T>
__global__ void oihw_to_krsc_kernel(const float *w, T *out, int K, int C, int R, int S)
{
    size_t total = (size_t)K * C * R * S;
    XM_GRID_STRIDE(i, total)
    {
        size_t t = i;
        int c = (int)(t % C); t /= C;
        int s = (int)(t % S); t /= S;
        int r = (int)(t % R);
        size_t k = t / R;
        xm_st(out + i, w[((k * C + c) * R + r) * S + s]);
    }
}

template <typename T>
__global__ void krsc_to_oihw_kernel(const T *in, float *dw, int K, int C, int R, int S)
{
    size_t total = (size_t)K * C * R * S;
    XM_GRID_STRIDE(i, total)
    {
        size_t t = i;
        int c = (int)(t % C); t /= C;
        int s = (int)(t % S); t /= S;
        int r = (int)(t % R);
        size_t k = t / R;
        dw[((k * C + c) * R + r) * S + s] = xm_tof(in[i]);
    }
}

static size_t filter_count(const xm_conv_desc *d)
{
    return (size_t)d->c_out * d->c_in * d->kh * d->kw;
}

/* ---- algorithm choice ---- */

static int f32_unsafe_fwd(cudnnConvolutionFwdAlgo_t a)
{
    return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
static int f32_unsafe_bd(cudnnConvolutionBwdDataAlgo_t a)
{
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
static int f32_unsafe_bf(cudnnConvolutionBwdFilterAlgo_t a)
{
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

/* The three directions share this shape: keep every usable result (the
 * lists come sorted best first) with its math type (F32 mode stays
 * FMA-only) and its exact workspace size. */
#define COLLECT_ALGOS(PerfT, COUNT, GET_V7, FIND, WSFN, UNSAFE, DESC, A, B, C2, DIR)         \
    do {                                                                                    \
        PerfT perf[COUNT];                                                                  \
        int got = 0;                                                                        \
        conv_dir *D_ = &p->dir[DIR];                                                        \
        if (cu->cudnn_find) {                                                               \
            cudnnStatus_t st_ = FIND(cu->cudnn, A, B, DESC, C2, COUNT, &got, perf);         \
            if (st_ != CUDNN_STATUS_SUCCESS) got = 0; /* fall back to heuristics */         \
        }                                                                                   \
        if (got == 0) XM_CUDNN(GET_V7(cu->cudnn, A, B, DESC, C2, COUNT, &got, perf));       \
        for (int i_ = 0; i_ < got && D_->n < CONV_MAX_ALGOS; i_++) {                        \
            if (perf[i_].status != CUDNN_STATUS_SUCCESS) continue;                          \
            if (f32 && UNSAFE(perf[i_].algo)) continue;                                     \
            int dup_ = 0;                                                                   \
            for (int j_ = 0; j_ < D_->n; j_++) dup_ |= D_->algo[j_] == (int)perf[i_].algo;  \
            if (dup_) continue;                                                             \
            cudnnMathType_t m_ = f32 ? CUDNN_FMA_MATH : perf[i_].mathType;                  \
            if (cudnnSetConvolutionMathType(DESC, m_) != CUDNN_STATUS_SUCCESS) continue;    \
            size_t ws_ = 0;                                                                 \
            if (WSFN(cu->cudnn, A, B, DESC, C2, perf[i_].algo, &ws_) != CUDNN_STATUS_SUCCESS) \
                continue;                                                                   \
            if (ws_ > cu->ws_cap) continue;                                                 \
            D_->algo[D_->n] = (int)perf[i_].algo;                                           \
            D_->math[D_->n] = m_;                                                           \
            D_->ws[D_->n] = ws_;                                                            \
            D_->n++;                                                                        \
        }                                                                                   \
        if (D_->n == 0)                                                                     \
            return xm_err_set(err, XM_EFAIL,                                                \
                              "cuDNN: no %s algorithm for conv %dx%dx%dx%d -> %d, %dx%d "   \
                              "stride %d pad %d (%s)",                                      \
                              dir_name[DIR], p->d.n, p->d.h, p->d.w, p->d.c_in, p->d.c_out, \
                              p->d.kh, p->d.kw, p->d.stride_h, p->d.pad_h,                  \
                              xm_cuda_dt_name(p->dt));                                      \
    } while (0)

/* The backend's algorithm cache: plans of the same shape and dtype (a
 * network has many) reuse the first choice instead of asking cuDNN again. */
typedef struct algo_entry {
    int key[11];
    conv_dir dir[3];
} algo_entry;

static void algo_key(const conv_plan *p, int key[11])
{
    const xm_conv_desc *d = &p->d;
    int k[11] = {d->n, d->h, d->w, d->c_in, d->c_out, d->kh, d->kw, d->stride_h, d->stride_w,
                 d->pad_h * 65536 + d->pad_w, (int)p->dt};
    memcpy(key, k, sizeof k);
}

static int algo_lookup(xm_cuda *cu, conv_plan *p)
{
    int key[11];
    algo_key(p, key);
    algo_entry *e = (algo_entry *)cu->algo_cache;
    for (int i = 0; i < cu->algo_cache_n; i++)
        if (!memcmp(e[i].key, key, sizeof key)) {
            memcpy(p->dir, e[i].dir, sizeof p->dir);
            for (int j = 0; j < 3; j++) p->dir[j].cur = 0;
            return 1;
        }
    return 0;
}

static void algo_store(xm_cuda *cu, const conv_plan *p)
{
    if (cu->algo_cache_n == cu->algo_cache_cap) {
        int cap = cu->algo_cache_cap ? 2 * cu->algo_cache_cap : 32;
        void *q = realloc(cu->algo_cache, (size_t)cap * sizeof(algo_entry));
        if (!q) return; /* only a cache */
        cu->algo_cache = q;
        cu->algo_cache_cap = cap;
    }
    algo_entry *e = (algo_entry *)cu->algo_cache + cu->algo_cache_n++;
    algo_key(p, e->key);
    memcpy(e->dir, p->dir, sizeof e->dir);
}

/* Put the current algorithm of a direction in force: math type, workspace. */
static int dir_select(xm_cuda *cu, conv_plan *p, int dir, xm_err *err)
{
    conv_dir *D = &p->dir[dir];
    XM_CUDNN(cudnnSetConvolutionMathType(p->cd[dir], D->math[D->cur]));
    size_t need = D->ws[D->cur];
    if (need > cu->ws_bytes)
        return xm_cuda_grow(cu, &cu->ws, &cu->ws_bytes, need, "the cuDNN workspace", err);
    return 0;
}

static cudnnStatus_t conv_exec(xm_cuda *cu, conv_plan *p, int dir, const void *a, const void *b,
                               void *out)
{
    const float one = 1.f, zero = 0.f;
    const conv_dir *D = &p->dir[dir];
    int al = D->algo[D->cur];
    size_t ws = D->ws[D->cur];
    switch (dir) {
    case DIR_FWD: /* a = x, b = w, out = y */
        return cudnnConvolutionForward(cu->cudnn, &one, p->xd, a, p->wd, b, p->cd[dir],
                                       (cudnnConvolutionFwdAlgo_t)al, cu->ws, ws, &zero, p->yd,
                                       out);
    case DIR_BD: /* a = w, b = dy, out = dx */
        return cudnnConvolutionBackwardData(cu->cudnn, &one, p->wd, a, p->yd, b, p->cd[dir],
                                            (cudnnConvolutionBwdDataAlgo_t)al, cu->ws, ws, &zero,
                                            p->xd, out);
    default: /* a = x, b = dy, out = dw */
        return cudnnConvolutionBackwardFilter(cu->cudnn, &one, p->xd, a, p->yd, b, p->cd[dir],
                                              (cudnnConvolutionBwdFilterAlgo_t)al, cu->ws, ws,
                                              &zero, p->wd, out);
    }
}

/* Run one direction; on a refusal fall through to the next algorithm. */
static int conv_run(xm_cuda *cu, conv_plan *p, int dir, const void *a, const void *b, void *out,
                    xm_err *err)
{
    for (;;) {
        conv_dir *D = &p->dir[dir];
        cudnnStatus_t st = conv_exec(cu, p, dir, a, b, out);
        if (st == CUDNN_STATUS_SUCCESS) return 0;
        int cat = (int)CUDNN_STATUS_CATEGORY(st);
        if ((cat == (int)CUDNN_STATUS_NOT_SUPPORTED || cat == (int)CUDNN_STATUS_BAD_PARAM) &&
            D->cur + 1 < D->n) {
            D->cur++;
            int rc = dir_select(cu, p, dir, err);
            if (rc) return rc;
            continue;
        }
        return xm_err_set(err, XM_EFAIL,
                          "cuDNN: %s (%d) in convolution %s, algorithm %d, conv %dx%dx%dx%d -> "
                          "%d, %dx%d stride %d pad %d (%s)",
                          cudnnGetErrorString(st), (int)st, dir_name[dir], D->algo[D->cur],
                          p->d.n, p->d.h, p->d.w, p->d.c_in, p->d.c_out, p->d.kh, p->d.kw,
                          p->d.stride_h, p->d.pad_h, xm_cuda_dt_name(p->dt));
    }
}

static int plan_init(xm_cuda *cu, conv_plan *p, xm_err *err)
{
    const xm_conv_desc *d = &p->d;
    cudnnDataType_t cdt = cudnn_dt(p->dt);
    int f32 = cu->prec == XM_PREC_F32;
    cudnnMathType_t math = p->dt != XM_DT_F32 ? CUDNN_TENSOR_OP_MATH
                           : f32              ? CUDNN_FMA_MATH
                                              : CUDNN_DEFAULT_MATH;
    XM_CUDNN(cudnnCreateTensorDescriptor(&p->xd));
    XM_CUDNN(cudnnCreateTensorDescriptor(&p->yd));
    XM_CUDNN(cudnnCreateFilterDescriptor(&p->wd));
    for (int i = 0; i < 3; i++) XM_CUDNN(cudnnCreateConvolutionDescriptor(&p->cd[i]));
    XM_CUDNN(cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, cdt, d->n, d->c_in, d->h, d->w));
    XM_CUDNN(cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, cdt, d->n, d->c_out, d->oh,
                                        d->ow));
    XM_CUDNN(cudnnSetFilter4dDescriptor(p->wd, cdt, CUDNN_TENSOR_NHWC, d->c_out, d->c_in, d->kh,
                                        d->kw));
    for (int i = 0; i < 3; i++) {
        XM_CUDNN(cudnnSetConvolution2dDescriptor(p->cd[i], d->pad_h, d->pad_w, d->stride_h,
                                                 d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT));
        XM_CUDNN(cudnnSetConvolutionMathType(p->cd[i], math));
    }
    int on, oc, oh, ow;
    XM_CUDNN(cudnnGetConvolution2dForwardOutputDim(p->cd[DIR_FWD], p->xd, p->wd, &on, &oc, &oh, &ow));
    if (on != d->n || oc != d->c_out || oh != d->oh || ow != d->ow)
        return xm_err_set(err, XM_EFAIL, "conv_plan: cuDNN output %dx%d differs from %dx%d", oh,
                          ow, d->oh, d->ow);
    if (!algo_lookup(cu, p)) {
        COLLECT_ALGOS(cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                      cudnnGetConvolutionForwardAlgorithm_v7, cudnnFindConvolutionForwardAlgorithm,
                      cudnnGetConvolutionForwardWorkspaceSize, f32_unsafe_fwd, p->cd[DIR_FWD], p->xd,
                      p->wd, p->yd, DIR_FWD);
        COLLECT_ALGOS(cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                      cudnnGetConvolutionBackwardDataAlgorithm_v7,
                      cudnnFindConvolutionBackwardDataAlgorithm,
                      cudnnGetConvolutionBackwardDataWorkspaceSize, f32_unsafe_bd, p->cd[DIR_BD],
                      p->wd, p->yd, p->xd, DIR_BD);
        COLLECT_ALGOS(cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                      cudnnGetConvolutionBackwardFilterAlgorithm_v7,
                      cudnnFindConvolutionBackwardFilterAlgorithm,
                      cudnnGetConvolutionBackwardFilterWorkspaceSize, f32_unsafe_bf, p->cd[DIR_BF],
                      p->xd, p->yd, p->wd, DIR_BF);
        algo_store(cu, p);
    }
    for (int i = 0; i < 3; i++) {
        int rc = dir_select(cu, p, i, err);
        if (rc) return rc;
    }
    if (!p->direct) {
        int rc = xm_cuda_malloc(cu, &p->wk, filter_count(d) * xm_cuda_dt_size(p->dt),
                                "converted conv weights", err);
        if (rc) return rc;
    }
    return 0;
}

static int conv_desc_finish(xm_conv_desc *d, xm_err *err)
{
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c_in <= 0 || d->c_out <= 0 || d->kh <= 0 ||
        d->kw <= 0 || d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 || d->pad_w < 0 ||
        d->h + 2 * d->pad_h < d->kh || d->w + 2 * d->pad_w < d->kw)
        return xm_err_set(err, XM_EUSAGE, "conv_plan: invalid shape");
    d->oh = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
    d->ow = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
    return 0;
}

extern "C" void xm_cuda_conv_plan_free(xm_cuda *cu, void *plan)
{
    conv_plan *p = (conv_plan *)plan;
    if (!p) return;
    (void)cudaStreamSynchronize(cu->stream);
    if (p->wk) cudaFree(p->wk);
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    for (int i = 0; i < 3; i++)
        if (p->cd[i]) cudnnDestroyConvolutionDescriptor(p->cd[i]);
    free(p);
}

extern "C" void xm_cuda_conv_label(const void *plan, int dir, char *buf, size_t cap)
{
    const conv_plan *p = (const conv_plan *)plan;
    if (!p || p->kind != XM_CUDA_PLAN_CONV || dir < 0 || dir > 2) {
        snprintf(buf, cap, "?");
        return;
    }
    const xm_conv_desc *d = &p->d;
    const conv_dir *D = &p->dir[dir];
    snprintf(buf, cap, "%dx%dx%dx%d->%d k%dx%d s%d algo %d ws %zuM%s", d->n, d->h, d->w,
             d->c_in, d->c_out, d->kh, d->kw, d->stride_h, D->n ? D->algo[D->cur] : -1,
             D->n ? D->ws[D->cur] >> 20 : (size_t)0,
             dir != DIR_BF && p->wk_converted ? " +wconv" : "");
}

extern "C" void *xm_cuda_conv_plan(xm_cuda *cu, const xm_conv_desc *d, xm_err *err)
{
    if (!d) {
        xm_err_set(err, XM_EUSAGE, "conv_plan: no descriptor");
        return NULL;
    }
    conv_plan *p = (conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        xm_err_set(err, XM_EFAIL, "conv_plan: out of host memory");
        return NULL;
    }
    p->kind = XM_CUDA_PLAN_CONV;
    p->d = *d;
    p->dt = cu->act;
    if (conv_desc_finish(&p->d, err)) {
        free(p);
        return NULL;
    }
    p->direct = p->dt == XM_DT_F32 && ((p->d.kh == 1 && p->d.kw == 1) || p->d.c_in == 1);
    if (plan_init(cu, p, err)) {
        xm_cuda_conv_plan_free(cu, p);
        return NULL;
    }
    return p;
}

/* The filter in cuDNN's layout and dtype, converted if stale. */
static int plan_weights(xm_cuda *cu, conv_plan *p, const float *w, const void **out, xm_err *err)
{
    if (!w) return xm_err_set(err, XM_EUSAGE, "conv: weights missing");
    p->wk_converted = 0;
    if (p->direct) {
        *out = w;
        return 0;
    }
    if (!p->wk_valid || p->wk_src != w || p->wk_gen != cu->param_gen) {
        const xm_conv_desc *d = &p->d;
        size_t total = filter_count(d);
        int blocks = xm_cuda_blocks(cu, total, 256);
        XM_DT_DISPATCH(p->dt, T, "conv weights",
                       (oihw_to_krsc_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           w, (T *)p->wk, d->c_out, d->c_in, d->kh, d->kw)));
        XM_CU_LAUNCHED();
        p->wk_src = w;
        p->wk_gen = cu->param_gen;
        p->wk_valid = 1;
        p->wk_converted = 1;
    }
    *out = p->wk;
    return 0;
}

static int check_plan(void *plan, const char *op, xm_err *err)
{
    if (!plan || ((conv_plan *)plan)->kind != XM_CUDA_PLAN_CONV)
        return xm_err_set(err, XM_EUSAGE, "%s: not a convolution plan", op);
    return 0;
}

/* t must have the plan's dtype and shape n x h x w x c. */
static int check_shape(const conv_plan *p, const xm_tensor *t, int h, int w, int c,
                       const char *op, const char *name, xm_err *err)
{
    int rc = xm_cuda_check_tensor(t, p->dt, op, name, err);
    if (rc) return rc;
    if (t->n != p->d.n || t->h != h || t->w != w || t->c != c)
        return xm_err_set(err, XM_EUSAGE, "%s: %s is %dx%dx%dx%d, the plan wants %dx%dx%dx%d", op,
                          name, t->n, t->h, t->w, t->c, p->d.n, h, w, c);
    return 0;
}

static int check_in(const conv_plan *p, const xm_tensor *t, const char *op, const char *name,
                    xm_err *err)
{
    return check_shape(p, t, p->d.h, p->d.w, p->d.c_in, op, name, err);
}

static int check_out(const conv_plan *p, const xm_tensor *t, const char *op, const char *name,
                     xm_err *err)
{
    return check_shape(p, t, p->d.oh, p->d.ow, p->d.c_out, op, name, err);
}

extern "C" int xm_cuda_conv_fwd(xm_cuda *cu, void *plan, const xm_tensor *x, const float *w,
                                xm_tensor *y, xm_err *err)
{
    int rc;
    if ((rc = check_plan(plan, "conv_fwd", err))) return rc;
    conv_plan *p = (conv_plan *)plan;
    if ((rc = check_in(p, x, "conv_fwd", "x", err)) || (rc = check_out(p, y, "conv_fwd", "y", err)))
        return rc;
    const void *wk;
    if ((rc = plan_weights(cu, p, w, &wk, err))) return rc;
    return conv_run(cu, p, DIR_FWD, x->data, wk, y->data, err);
}

extern "C" int xm_cuda_conv_bwd_data(xm_cuda *cu, void *plan, const xm_tensor *dy,
                                     const float *w, xm_tensor *dx, xm_err *err)
{
    int rc;
    if ((rc = check_plan(plan, "conv_bwd_data", err))) return rc;
    conv_plan *p = (conv_plan *)plan;
    if ((rc = check_out(p, dy, "conv_bwd_data", "dy", err)) ||
        (rc = check_in(p, dx, "conv_bwd_data", "dx", err)))
        return rc;
    const void *wk;
    if ((rc = plan_weights(cu, p, w, &wk, err))) return rc;
    return conv_run(cu, p, DIR_BD, wk, dy->data, dx->data, err);
}

extern "C" int xm_cuda_conv_bwd_weights(xm_cuda *cu, void *plan, const xm_tensor *x,
                                        const xm_tensor *dy, float *dw, xm_err *err)
{
    int rc;
    if ((rc = check_plan(plan, "conv_bwd_weights", err))) return rc;
    conv_plan *p = (conv_plan *)plan;
    if ((rc = check_in(p, x, "conv_bwd_weights", "x", err)) ||
        (rc = check_out(p, dy, "conv_bwd_weights", "dy", err)))
        return rc;
    if (!dw) return xm_err_set(err, XM_EUSAGE, "conv_bwd_weights: dw missing");
    const xm_conv_desc *d = &p->d;
    size_t total = filter_count(d);
    void *out = dw;
    if (!p->direct) {
        if ((rc = xm_cuda_grow(cu, &cu->scratch, &cu->scratch_bytes,
                               total * xm_cuda_dt_size(p->dt), "the weight-gradient buffer", err)))
            return rc;
        out = cu->scratch;
    }
    if ((rc = conv_run(cu, p, DIR_BF, x->data, dy->data, out, err))) return rc;
    if (!p->direct) {
        int blocks = xm_cuda_blocks(cu, total, 256);
        XM_DT_DISPATCH(p->dt, T, "conv_bwd_weights",
                       (krsc_to_oihw_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)cu->scratch, dw, d->c_out, d->c_in, d->kh, d->kw)));
        XM_CU_LAUNCHED();
    }
    return 0;
}
