/* bn.cu: batch norm (PyTorch BatchNorm2d semantics) with fused ReLU, NHWC,
 * own kernels. Per-channel sums are accumulated in double (per-thread
 * partials, block reduction, one double atomicAdd per block and channel), so
 * E[x^2] - E[x]^2 does not cancel; the elementwise passes run in float.
 *
 * Scratch (cu->chan): double d0[C], d1[C]; float f0[C], f1[C], f2[C].
 * Forward train: stats -> finalize (save mean/invstd, running update,
 * f0 = mean, f1 = gamma*invstd) -> normalise y = (x - f0)*f1 + beta.
 * Backward: dy' = relu ? dy*(y > 0) : dy; sums of dy' and dy'*xhat ->
 * finalize (dbeta, dgamma, f0 = gamma*invstd, f1 = mean(dy'),
 * f2 = mean(dy'*xhat)) -> dx = f0*(dy' - f1 - xhat*f2).
 *
 * The two reductions have a second, coalesced form (bn_vec_ok: C = 8 G with
 * G a power of two up to 256, pointers 16-byte aligned): the tensor is read
 * as consecutive 8-element vectors, so a warp reads 512 contiguous bytes
 * (bf16) instead of 32 channels of one row; with 256-thread blocks and a
 * thread count that is a multiple of G every thread stays on one group of
 * 8 channels, and a shared-memory tree (strides that are multiples of G)
 * sums the threads of a group before one double atomicAdd per channel.
 * XM_CUDA_BN_VEC=0 in the environment keeps to the row kernels.
 *
 * A third form without atomics (XM_CUDA_BN_RED=parts; not yet the default:
 * written without a GPU, to be measured): the first profile (session 1,
 * bench/results/gpu-h200-2026-11-27-profile.txt) has the elementwise
 * passes at ~90% of the copy bandwidth but whole BN ops at 17-40%, worst
 * for large C, so the reduction passes run at ~10-15%: every block adds
 * 2C doubles atomically into the same 2C addresses (C = 2048: 396 blocks x
 * 4096 contended double atomics). Here block (x, y) takes channel slice y
 * (S <= 256 groups of 8 channels) over rows x, x + X, ... (RB = 256/S rows
 * per iteration), reduces its threads in shared memory as above and stores
 * its 2 x 8S sums in its own row of a partials buffer [X][C]; a second
 * kernel adds the X rows per channel in a fixed order. No atomics, and the
 * sums no longer depend on the order blocks finish (deterministic). */
#include "xm_cuda_dev.cuh"

#define BN_TX 32
#define BN_TY 8

static int chan_scratch(xm_cuda *cu, int C, double **d0, double **d1, float **f0, float **f1,
                        float **f2, xm_err *err)
{
    size_t bytes = (size_t)C * (2 * sizeof(double) + 3 * sizeof(float));
    int rc = xm_cuda_grow(cu, &cu->chan, &cu->chan_bytes, bytes, "batch-norm scratch", err);
    if (rc) return rc;
    *d0 = (double *)cu->chan;
    *d1 = *d0 + C;
    *f0 = (float *)(*d1 + C);
    *f1 = *f0 + C;
    *f2 = *f1 + C;
    return 0;
}

static dim3 stats_grid(const xm_cuda *cu, size_t M, int C)
{
    int gx = (C + BN_TX - 1) / BN_TX;
    size_t gy = (size_t)(cu->sm_count > 0 ? cu->sm_count : 80) * 8 / gx;
    size_t rows = (M + BN_TY - 1) / BN_TY;
    if (gy > rows) gy = rows;
    if (gy > 65535) gy = 65535;
    if (gy < 1) gy = 1;
    return dim3(gx, (unsigned)gy, 1);
}

/* Accumulate one per-thread pair (a, b) of channel c into s0[c], s1[c]. */
__device__ __forceinline__ void bn_block_accum(double a, double b, int c, int C, double *s0,
                                               double *s1)
{
    __shared__ double sa[BN_TY][BN_TX], sb[BN_TY][BN_TX];
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < BN_TY; k++) {
            a += sa[k][threadIdx.x];
            b += sb[k][threadIdx.x];
        }
        atomicAdd(s0 + c, a);
        atomicAdd(s1 + c, b);
    }
}

template <typename T>
__global__ void bn_stats_kernel(const T *x, size_t M, int C, double *sum, double *sumsq)
{
    int c = blockIdx.x * BN_TX + threadIdx.x;
    double s = 0.0, ss = 0.0;
    if (c < C)
        for (size_t r = (size_t)blockIdx.y * BN_TY + threadIdx.y; r < M;
             r += (size_t)gridDim.y * BN_TY) {
            double v = (double)xm_tof(x[r * C + c]);
            s += v;
            ss += v * v;
        }
    bn_block_accum(s, ss, c, C, sum, sumsq);
}

/* ---- the coalesced reductions (see the top comment) ---- */

#define BN_VT 256

static int bn_vec_ok(int C)
{
    int G = C / 8;
    return C % 8 == 0 && G >= 1 && G <= BN_VT && BN_VT % G == 0;
}

/* One wave: BN_VT_BLOCKS blocks per SM fit (__launch_bounds__), each thread
 * keeps two vectors of loads in flight. */
#define BN_VT_BLOCKS 3
static int bn_vec_blocks(const xm_cuda *cu, size_t n8)
{
    size_t b = (n8 + BN_VT - 1) / BN_VT;
    size_t cap = (size_t)(cu->sm_count > 0 ? cu->sm_count : 80) * BN_VT_BLOCKS;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (int)b;
}

/* Sum a[8] and b[8] over the threads of the block that share threadIdx.x % G
 * and add the totals to s0[8 g + k], s1[8 g + k] (STORE: store them there).
 * blockDim.x == BN_VT. */
template <bool STORE = false>
__device__ __forceinline__ void bn_vec_accum(double a[8], double b[8], int G, double *s0,
                                             double *s1)
{
    __shared__ double sa[8][BN_VT], sb[8][BN_VT]; /* k-major: no bank conflicts */
    int t = threadIdx.x;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        sa[k][t] = a[k];
        sb[k][t] = b[k];
    }
    __syncthreads();
    for (int off = BN_VT / 2; off >= G; off >>= 1) {
        if (t < off)
#pragma unroll
            for (int k = 0; k < 8; k++) {
                sa[k][t] += sa[k][t + off];
                sb[k][t] += sb[k][t + off];
            }
        __syncthreads();
    }
    if (t < G)
#pragma unroll
        for (int k = 0; k < 8; k++) {
            if (STORE) {
                s0[8 * t + k] = sa[k][t];
                s1[8 * t + k] = sb[k][t];
            } else {
                atomicAdd(s0 + 8 * t + k, sa[k][t]);
                atomicAdd(s1 + 8 * t + k, sb[k][t]);
            }
        }
}

__device__ __forceinline__ void bn_stats_add(const float f[8], double s[8], double ss[8])
{
#pragma unroll
    for (int k = 0; k < 8; k++) {
        double v = (double)f[k];
        s[k] += v;
        ss[k] += v * v;
    }
}

template <typename T>
__global__ void __launch_bounds__(BN_VT, BN_VT_BLOCKS)
    bn_stats8_kernel(const T *x, size_t n8, int G, double *sum, double *sumsq)
{
    double s[8], ss[8];
#pragma unroll
    for (int k = 0; k < 8; k++) s[k] = ss[k] = 0.0;
    size_t stride = (size_t)gridDim.x * BN_VT; /* a multiple of G */
    size_t i = (size_t)blockIdx.x * BN_VT + threadIdx.x;
    for (; i + stride < n8; i += 2 * stride) { /* two loads in flight */
        float f[8], g[8];
        xm_ld8(x + 8 * i, f);
        xm_ld8(x + 8 * (i + stride), g);
        bn_stats_add(f, s, ss);
        bn_stats_add(g, s, ss);
    }
    if (i < n8) {
        float f[8];
        xm_ld8(x + 8 * i, f);
        bn_stats_add(f, s, ss);
    }
    bn_vec_accum(s, ss, G, sum, sumsq);
}

/* Backward loads: x and dy at element 8i.., dy zeroed where the fused
 * ReLU's output y (when given) is not positive. */
template <typename T>
__device__ __forceinline__ void bn_ld_bwd8(const T *x, const T *y, const T *dy, size_t i,
                                           float fx[8], float fg[8])
{
    xm_ld8(x + i, fx);
    xm_ld8(dy + i, fg);
    if (y) {
        float fy[8];
        xm_ld8(y + i, fy);
#pragma unroll
        for (int k = 0; k < 8; k++)
            if (!(fy[k] > 0.f)) fg[k] = 0.f;
    }
}

/* a += dy', b += dy' * xhat for eight channels (mean mu, 1/std is) */
__device__ __forceinline__ void bn_bwd_add8(const float fx[8], const float fg[8],
                                            const float mu[8], const float is[8], double a[8],
                                            double b[8])
{
#pragma unroll
    for (int k = 0; k < 8; k++) {
        float xh = (fx[k] - mu[k]) * is[k];
        a[k] += (double)fg[k];
        b[k] += (double)fg[k] * (double)xh;
    }
}

template <typename T>
__global__ void __launch_bounds__(BN_VT, BN_VT_BLOCKS)
    bn_bwd_reduce8_kernel(const T *x, const T *y, const T *dy, size_t n8, int G,
                          const float *mean, const float *invstd, double *sdy, double *sdyx)
{
    int c0 = 8 * (threadIdx.x % G); /* the same for every i of this thread */
    float mu[8], is[8];
    double a[8], b[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
        mu[k] = mean[c0 + k];
        is[k] = invstd[c0 + k];
        a[k] = b[k] = 0.0;
    }
    size_t stride = (size_t)gridDim.x * BN_VT;
    for (size_t i = (size_t)blockIdx.x * BN_VT + threadIdx.x; i < n8; i += stride) {
        float fx[8], fg[8];
        bn_ld_bwd8(x, y, dy, 8 * i, fx, fg);
        bn_bwd_add8(fx, fg, mu, is, a, b);
    }
    bn_vec_accum(a, b, G, sdy, sdyx);
}

/* ---- the reductions into per-block partials (XM_CUDA_BN_RED=parts) ---- */

/* C = 8 G: G <= 256 a power of two (one slice, S = G) or a multiple of 256
 * (slices of S = 256). */
static int bn_parts_ok(int C)
{
    int G = C / 8;
    return C % 8 == 0 && G >= 1 && (G <= BN_VT ? BN_VT % G == 0 : G % BN_VT == 0);
}

typedef struct bn_parts_geom {
    int S, slices, X; /* groups per slice, slices (gridDim.y), row blocks (gridDim.x) */
} bn_parts_geom;

/* Row blocks: about BN_VT_BLOCKS blocks per SM in all, but at least 16 rows
 * per thread, so that the partials ([X][C] doubles, twice) stay small next
 * to the tensor even when M is small and C large. */
static bn_parts_geom bn_parts_plan(const xm_cuda *cu, size_t M, int C)
{
    bn_parts_geom g;
    int G = C / 8;
    g.S = G <= BN_VT ? G : BN_VT;
    g.slices = G / g.S;
    size_t rb = (size_t)(BN_VT / g.S);
    size_t want = (size_t)(cu->sm_count > 0 ? cu->sm_count : 80) * BN_VT_BLOCKS / g.slices;
    size_t most = (M + rb * 16 - 1) / (rb * 16);
    size_t x = want < most ? want : most;
    g.X = (int)(x < 1 ? 1 : x > 65535 ? 65535 : x);
    return g;
}

template <typename T>
__global__ void __launch_bounds__(BN_VT, BN_VT_BLOCKS)
    bn_stats_parts_kernel(const T *x, size_t M, int C, int S, double *p0, double *p1)
{
    const int t = threadIdx.x, rb = BN_VT / S;
    const int c0 = 8 * (blockIdx.y * S + t % S); /* this thread's 8 channels */
    double s[8], ss[8];
#pragma unroll
    for (int k = 0; k < 8; k++) s[k] = ss[k] = 0.0;
    const size_t step = (size_t)gridDim.x * rb;
    size_t r = (size_t)blockIdx.x * rb + t / S;
    for (; r + step < M; r += 2 * step) { /* two loads in flight */
        float f[8], g[8];
        xm_ld8(x + r * C + c0, f);
        xm_ld8(x + (r + step) * C + c0, g);
        bn_stats_add(f, s, ss);
        bn_stats_add(g, s, ss);
    }
    if (r < M) {
        float f[8];
        xm_ld8(x + r * C + c0, f);
        bn_stats_add(f, s, ss);
    }
    const size_t row = (size_t)blockIdx.x * C + 8 * (size_t)blockIdx.y * S;
    bn_vec_accum<true>(s, ss, S, p0 + row, p1 + row);
}

template <typename T>
__global__ void __launch_bounds__(BN_VT, BN_VT_BLOCKS)
    bn_bwd_reduce_parts_kernel(const T *x, const T *y, const T *dy, size_t M, int C, int S,
                               const float *mean, const float *invstd, double *p0, double *p1)
{
    const int t = threadIdx.x, rb = BN_VT / S;
    const int c0 = 8 * (blockIdx.y * S + t % S);
    float mu[8], is[8];
    double a[8], b[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
        mu[k] = mean[c0 + k];
        is[k] = invstd[c0 + k];
        a[k] = b[k] = 0.0;
    }
    const size_t step = (size_t)gridDim.x * rb;
    for (size_t r = (size_t)blockIdx.x * rb + t / S; r < M; r += step) {
        float fx[8], fg[8];
        bn_ld_bwd8(x, y, dy, r * C + c0, fx, fg);
        bn_bwd_add8(fx, fg, mu, is, a, b);
    }
    const size_t row = (size_t)blockIdx.x * C + 8 * (size_t)blockIdx.y * S;
    bn_vec_accum<true>(a, b, S, p0 + row, p1 + row);
}

/* s0[c] = sum over the X rows of p0[.][c] (s1 from p1), in a fixed order:
 * threadIdx.y strides the rows, then a shared-memory sum over y. Block
 * (32, BN_PY), one block per 32 channels. */
#define BN_PY 16
__global__ void bn_parts_sum_kernel(const double *p0, const double *p1, int X, int C,
                                    double *s0, double *s1)
{
    __shared__ double sa[BN_PY][32], sb[BN_PY][32];
    const int c = blockIdx.x * 32 + threadIdx.x;
    double a = 0.0, b = 0.0;
    if (c < C)
        for (int i = threadIdx.y; i < X; i += BN_PY) {
            a += p0[(size_t)i * C + c];
            b += p1[(size_t)i * C + c];
        }
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < BN_PY; k++) {
            a += sa[k][threadIdx.x];
            b += sb[k][threadIdx.x];
        }
        s0[c] = a;
        s1[c] = b;
    }
}

/* The geometry for M rows of C channels and room for its partials (two
 * [X][C] arrays). */
static int bn_parts_begin(xm_cuda *cu, size_t M, int C, bn_parts_geom *g, double **p0,
                          double **p1, xm_err *err)
{
    *g = bn_parts_plan(cu, M, C);
    size_t n = (size_t)g->X * C;
    int rc = xm_cuda_grow(cu, &cu->bn_parts, &cu->bn_parts_bytes, 2 * n * sizeof(double),
                          "batch-norm partial sums", err);
    if (rc) return rc;
    *p0 = (double *)cu->bn_parts;
    *p1 = *p0 + n;
    return 0;
}

/* After the partials kernel: check its launch, add the rows into s0, s1. */
static int bn_parts_end(xm_cuda *cu, const bn_parts_geom *g, int C, const double *p0,
                        const double *p1, double *s0, double *s1, xm_err *err)
{
    XM_CU_LAUNCHED();
    bn_parts_sum_kernel<<<(C + 31) / 32, dim3(32, BN_PY, 1), 0, cu->stream>>>(p0, p1, g->X, C,
                                                                              s0, s1);
    return 0; /* the caller checks this launch with its own */
}

__global__ void bn_finalize_train_kernel(const double *sum, const double *sumsq, size_t M, int C,
                                         const float *gamma, float momentum, float eps,
                                         float *save_mean, float *save_invstd, float *rmean,
                                         float *rvar, float *mean_out, float *scale_out)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double mean = sum[c] / (double)M;
    double var = sumsq[c] / (double)M - mean * mean;
    if (var < 0.0) var = 0.0;
    double invstd = 1.0 / sqrt(var + (double)eps);
    if (save_mean) save_mean[c] = (float)mean;
    if (save_invstd) save_invstd[c] = (float)invstd;
    if (rmean) rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * mean);
    if (rvar) {
        double unb = M > 1 ? var * (double)M / (double)(M - 1) : var;
        rvar[c] = (float)((1.0 - momentum) * rvar[c] + momentum * unb);
    }
    mean_out[c] = (float)mean;
    scale_out[c] = (float)(gamma[c] * invstd);
}

__global__ void bn_finalize_infer_kernel(const float *rmean, const float *rvar, int C,
                                         const float *gamma, float eps, float *mean_out,
                                         float *scale_out)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    mean_out[c] = rmean[c];
    scale_out[c] = (float)(gamma[c] / sqrt((double)rvar[c] + (double)eps));
}

template <typename T>
__global__ void bn_normalize_kernel(const T *x, T *y, size_t total, int C, const float *mean,
                                    const float *scale, const float *beta, int relu)
{
    XM_GRID_STRIDE(i, total)
    {
        int c = (int)(i % (size_t)C);
        float v = (xm_tof(x[i]) - mean[c]) * scale[c] + beta[c];
        if (relu && v < 0.f) v = 0.f;
        xm_st(y + i, v);
    }
}

/* C % 8 == 0: eight consecutive elements share one row, channels c0..c0+7. */
template <typename T>
__global__ void bn_normalize8_kernel(const T *x, T *y, size_t n8, int C, const float *mean,
                                     const float *scale, const float *beta, int relu)
{
    XM_GRID_STRIDE(i, n8)
    {
        int c0 = (int)((8 * i) % (size_t)C);
        float f[8];
        xm_ld8(x + 8 * i, f);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float v = (f[k] - mean[c0 + k]) * scale[c0 + k] + beta[c0 + k];
            f[k] = relu && v < 0.f ? 0.f : v;
        }
        xm_st8(y + 8 * i, f);
    }
}

static int check_xy(xm_cuda *cu, const xm_tensor *x, const xm_tensor *y, const char *op,
                    const char *yname, xm_err *err)
{
    int rc;
    if ((rc = xm_cuda_check_tensor(x, cu->act, op, "x", err)) ||
        (rc = xm_cuda_check_tensor(y, cu->act, op, yname, err)))
        return rc;
    if (x->n != y->n || x->h != y->h || x->w != y->w || x->c != y->c)
        return xm_err_set(err, XM_EUSAGE, "%s: %s and x differ in shape", op, yname);
    return 0;
}

template <typename T>
static int bn_normalize(xm_cuda *cu, const xm_tensor *x, xm_tensor *y, const float *mean,
                        const float *scale, const float *beta, int relu, xm_err *err)
{
    size_t total = xm_tensor_count(x);
    if (xm_vec8_ok(x->c, sizeof(T), x->data, y->data, NULL, NULL))
        bn_normalize8_kernel<T><<<xm_cuda_blocks(cu, total / 8, 256), 256, 0, cu->stream>>>(
            (const T *)x->data, (T *)y->data, total / 8, x->c, mean, scale, beta, relu);
    else
        bn_normalize_kernel<T><<<xm_cuda_blocks(cu, total, 256), 256, 0, cu->stream>>>(
            (const T *)x->data, (T *)y->data, total, x->c, mean, scale, beta, relu);
    XM_CU_LAUNCHED();
    return 0;
}

extern "C" int xm_cuda_bn_fwd_train(xm_cuda *cu, const xm_tensor *x, const float *gamma,
                                    const float *beta, float *running_mean, float *running_var,
                                    float momentum, float eps, float *save_mean,
                                    float *save_invstd, int relu, xm_tensor *y, xm_err *err)
{
    int rc = check_xy(cu, x, y, "bn_fwd_train", "y", err);
    if (rc) return rc;
    if (!gamma || !beta) return xm_err_set(err, XM_EUSAGE, "bn_fwd_train: gamma/beta missing");
    int C = x->c;
    size_t M = (size_t)x->n * x->h * x->w;
    double *d0, *d1;
    float *f0, *f1, *f2;
    if ((rc = chan_scratch(cu, C, &d0, &d1, &f0, &f1, &f2, err))) return rc;
    size_t total = xm_tensor_count(x);
    const int parts = cu->bn_parts_on && bn_parts_ok(C) &&
                      xm_vec8_ok(C, xm_cuda_dt_size(cu->act), x->data, NULL, NULL, NULL);
    if (!parts) XM_CU(cudaMemsetAsync(d0, 0, 2 * (size_t)C * sizeof(double), cu->stream));
    if (parts) {
        cu->paths_used |= XM_CUDA_PATH_BN_PARTS_FWD;
        bn_parts_geom g;
        double *p0, *p1;
        if ((rc = bn_parts_begin(cu, M, C, &g, &p0, &p1, err))) return rc;
        XM_DT_DISPATCH(cu->act, T, "bn_fwd_train",
                       (bn_stats_parts_kernel<T><<<dim3(g.X, g.slices, 1), BN_VT, 0, cu->stream>>>(
                           (const T *)x->data, M, C, g.S, p0, p1)));
        if ((rc = bn_parts_end(cu, &g, C, p0, p1, d0, d1, err))) return rc;
    } else if (!cu->bn_rows && bn_vec_ok(C) &&
               xm_vec8_ok(C, xm_cuda_dt_size(cu->act), x->data, NULL, NULL, NULL)) {
        int blocks = bn_vec_blocks(cu, total / 8);
        XM_DT_DISPATCH(cu->act, T, "bn_fwd_train",
                       (bn_stats8_kernel<T><<<blocks, BN_VT, 0, cu->stream>>>(
                           (const T *)x->data, total / 8, C / 8, d0, d1)));
    } else {
        dim3 grid = stats_grid(cu, M, C), block(BN_TX, BN_TY, 1);
        XM_DT_DISPATCH(cu->act, T, "bn_fwd_train",
                       (bn_stats_kernel<T><<<grid, block, 0, cu->stream>>>((const T *)x->data, M,
                                                                           C, d0, d1)));
    }
    XM_CU_LAUNCHED();
    bn_finalize_train_kernel<<<(C + 255) / 256, 256, 0, cu->stream>>>(
        d0, d1, M, C, gamma, momentum, eps, save_mean, save_invstd, running_mean, running_var, f0,
        f1);
    XM_CU_LAUNCHED();
    XM_DT_DISPATCH(cu->act, T, "bn_fwd_train",
                   return bn_normalize<T>(cu, x, y, f0, f1, beta, relu, err));
    return 0;
}

extern "C" int xm_cuda_bn_fwd_infer(xm_cuda *cu, const xm_tensor *x, const float *gamma,
                                    const float *beta, const float *running_mean,
                                    const float *running_var, float eps, int relu, xm_tensor *y,
                                    xm_err *err)
{
    int rc = check_xy(cu, x, y, "bn_fwd_infer", "y", err);
    if (rc) return rc;
    if (!gamma || !beta || !running_mean || !running_var)
        return xm_err_set(err, XM_EUSAGE, "bn_fwd_infer: parameters missing");
    int C = x->c;
    double *d0, *d1;
    float *f0, *f1, *f2;
    if ((rc = chan_scratch(cu, C, &d0, &d1, &f0, &f1, &f2, err))) return rc;
    bn_finalize_infer_kernel<<<(C + 255) / 256, 256, 0, cu->stream>>>(running_mean, running_var,
                                                                      C, gamma, eps, f0, f1);
    XM_CU_LAUNCHED();
    XM_DT_DISPATCH(cu->act, T, "bn_fwd_infer",
                   return bn_normalize<T>(cu, x, y, f0, f1, beta, relu, err));
    return 0;
}

template <typename T>
__global__ void bn_bwd_reduce_kernel(const T *x, const T *y, const T *dy, size_t M, int C,
                                     const float *mean, const float *invstd, double *sdy,
                                     double *sdyx)
{
    int c = blockIdx.x * BN_TX + threadIdx.x;
    double a = 0.0, b = 0.0;
    if (c < C) {
        float mu = mean[c], is = invstd[c];
        for (size_t r = (size_t)blockIdx.y * BN_TY + threadIdx.y; r < M;
             r += (size_t)gridDim.y * BN_TY) {
            size_t i = r * C + c;
            float g = xm_tof(dy[i]);
            if (y && !(xm_tof(y[i]) > 0.f)) g = 0.f;
            float xh = (xm_tof(x[i]) - mu) * is;
            a += (double)g;
            b += (double)g * (double)xh;
        }
    }
    bn_block_accum(a, b, c, C, sdy, sdyx);
}

__global__ void bn_finalize_bwd_kernel(const double *sdy, const double *sdyx, size_t M, int C,
                                       const float *gamma, const float *invstd, float *dgamma,
                                       float *dbeta, float *k_out, float *a_out, float *b_out)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    if (dbeta) dbeta[c] = (float)sdy[c];
    if (dgamma) dgamma[c] = (float)sdyx[c];
    k_out[c] = gamma[c] * invstd[c];
    a_out[c] = (float)(sdy[c] / (double)M);
    b_out[c] = (float)(sdyx[c] / (double)M);
}

template <typename T>
__global__ void bn_bwd_dx_kernel(const T *x, const T *y, const T *dy, T *dx, size_t total, int C,
                                 const float *mean, const float *invstd, const float *k,
                                 const float *a, const float *b)
{
    XM_GRID_STRIDE(i, total)
    {
        int c = (int)(i % (size_t)C);
        float g = xm_tof(dy[i]);
        if (y && !(xm_tof(y[i]) > 0.f)) g = 0.f;
        float xh = (xm_tof(x[i]) - mean[c]) * invstd[c];
        xm_st(dx + i, k[c] * (g - a[c] - xh * b[c]));
    }
}

template <typename T>
__global__ void bn_bwd_dx8_kernel(const T *x, const T *y, const T *dy, T *dx, size_t n8, int C,
                                  const float *mean, const float *invstd, const float *k,
                                  const float *a, const float *b)
{
    XM_GRID_STRIDE(i, n8)
    {
        int c0 = (int)((8 * i) % (size_t)C);
        float fx[8], fg[8];
        bn_ld_bwd8(x, y, dy, 8 * i, fx, fg);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int c = c0 + j;
            float xh = (fx[j] - mean[c]) * invstd[c];
            fx[j] = k[c] * (fg[j] - a[c] - xh * b[c]);
        }
        xm_st8(dx + 8 * i, fx);
    }
}

extern "C" int xm_cuda_bn_bwd(xm_cuda *cu, const xm_tensor *x, const xm_tensor *y,
                              const xm_tensor *dy, const float *gamma, const float *save_mean,
                              const float *save_invstd, xm_tensor *dx, float *dgamma,
                              float *dbeta, xm_err *err)
{
    int rc;
    if ((rc = check_xy(cu, x, dy, "bn_bwd", "dy", err)) ||
        (rc = check_xy(cu, x, dx, "bn_bwd", "dx", err)) ||
        (y && (rc = check_xy(cu, x, y, "bn_bwd", "y", err))))
        return rc;
    if (!gamma || !save_mean || !save_invstd)
        return xm_err_set(err, XM_EUSAGE, "bn_bwd: gamma or saved statistics missing");
    int C = x->c;
    size_t M = (size_t)x->n * x->h * x->w;
    double *d0, *d1;
    float *f0, *f1, *f2;
    if ((rc = chan_scratch(cu, C, &d0, &d1, &f0, &f1, &f2, err))) return rc;
    const void *yp = y ? y->data : NULL;
    size_t total = xm_tensor_count(x);
    const int parts = cu->bn_parts_on && bn_parts_ok(C) &&
                      xm_vec8_ok(C, xm_cuda_dt_size(cu->act), x->data, yp, dy->data, NULL);
    if (!parts) XM_CU(cudaMemsetAsync(d0, 0, 2 * (size_t)C * sizeof(double), cu->stream));
    if (parts) {
        cu->paths_used |= XM_CUDA_PATH_BN_PARTS_BWD;
        bn_parts_geom g;
        double *p0, *p1;
        if ((rc = bn_parts_begin(cu, M, C, &g, &p0, &p1, err))) return rc;
        XM_DT_DISPATCH(cu->act, T, "bn_bwd",
                       (bn_bwd_reduce_parts_kernel<T><<<dim3(g.X, g.slices, 1), BN_VT, 0,
                                                        cu->stream>>>(
                           (const T *)x->data, (const T *)yp, (const T *)dy->data, M, C, g.S,
                           save_mean, save_invstd, p0, p1)));
        if ((rc = bn_parts_end(cu, &g, C, p0, p1, d0, d1, err))) return rc;
    } else if (!cu->bn_rows && bn_vec_ok(C) &&
               xm_vec8_ok(C, xm_cuda_dt_size(cu->act), x->data, yp, dy->data, NULL)) {
        int blocks = bn_vec_blocks(cu, total / 8);
        XM_DT_DISPATCH(cu->act, T, "bn_bwd",
                       (bn_bwd_reduce8_kernel<T><<<blocks, BN_VT, 0, cu->stream>>>(
                           (const T *)x->data, (const T *)yp, (const T *)dy->data, total / 8,
                           C / 8, save_mean, save_invstd, d0, d1)));
    } else {
        dim3 grid = stats_grid(cu, M, C), block(BN_TX, BN_TY, 1);
        XM_DT_DISPATCH(cu->act, T, "bn_bwd",
                       (bn_bwd_reduce_kernel<T><<<grid, block, 0, cu->stream>>>(
                           (const T *)x->data, (const T *)yp, (const T *)dy->data, M, C,
                           save_mean, save_invstd, d0, d1)));
    }
    XM_CU_LAUNCHED();
    bn_finalize_bwd_kernel<<<(C + 255) / 256, 256, 0, cu->stream>>>(
        d0, d1, M, C, gamma, save_invstd, dgamma, dbeta, f0, f1, f2);
    XM_CU_LAUNCHED();
    if (xm_vec8_ok(C, xm_cuda_dt_size(cu->act), x->data, yp, dy->data, dx->data)) {
        int blocks = xm_cuda_blocks(cu, total / 8, 256);
        XM_DT_DISPATCH(cu->act, T, "bn_bwd",
                       (bn_bwd_dx8_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)x->data, (const T *)yp, (const T *)dy->data,
                           (T *)dx->data, total / 8, C, save_mean, save_invstd, f0, f1, f2)));
    } else {
        int blocks = xm_cuda_blocks(cu, total, 256);
        XM_DT_DISPATCH(cu->act, T, "bn_bwd",
                       (bn_bwd_dx_kernel<T><<<blocks, 256, 0, cu->stream>>>(
                           (const T *)x->data, (const T *)yp, (const T *)dy->data,
                           (T *)dx->data, total, C, save_mean, save_invstd, f0, f1, f2)));
    }
    XM_CU_LAUNCHED();
    return 0;
}
