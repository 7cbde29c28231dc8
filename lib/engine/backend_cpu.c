/* backend_cpu.c: the CPU backend's lifetime, memory and ops table.
 * The ops themselves live in backend_cpu_{conv,bn,ops,head,step}.c. */
#include "backend_cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

/* Host memory is backend memory on the CPU: 64-byte aligned for AVX-512
 * loads and oneDNN's preferences. */
static void *cpu_alloc(xm_backend *be, size_t bytes, xm_err *err)
{
    (void)be;
    void *p = NULL;
    int e = posix_memalign(&p, 64, bytes ? bytes : 64);
    if (e) {
        xm_err_errno(err, XM_EFAIL, e, "cpu backend: cannot allocate %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

static void cpu_free(xm_backend *be, void *p)
{
    (void)be;
    free(p);
}

static int cpu_copy(xm_backend *be, void *dst, const void *src, size_t bytes, xm_err *err)
{
    (void)be; (void)err;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_memset0(xm_backend *be, void *p, size_t bytes, xm_err *err)
{
    (void)be; (void)err;
    if (bytes) memset(p, 0, bytes);
    return 0;
}

static int cpu_upload_f32(xm_backend *be, xm_tensor *t, const float *host, xm_err *err)
{
    if (cpu_check_f32(t, "tensor", "upload_f32", err)) return err->code;
    return cpu_copy(be, t->data, host, xm_tensor_count(t) * sizeof(float), err);
}

static int cpu_download_f32(xm_backend *be, const xm_tensor *t, float *host, xm_err *err)
{
    if (cpu_check_f32(t, "tensor", "download_f32", err)) return err->code;
    return cpu_copy(be, host, t->data, xm_tensor_count(t) * sizeof(float), err);
}

static int cpu_sync(xm_backend *be, xm_err *err)
{
    (void)be; (void)err;
    return 0; /* every op completes before it returns */
}

static void cpu_params_changed(xm_backend *be)
{
    cpu_of(be)->wgen++;
}

static void cpu_plan_free(xm_backend *be, void *plan)
{
    (void)be;
    if (!plan) return;
    int kind = *(const int *)plan;
    if (kind == CPU_PLAN_CONV) cpu_conv_plan_free(plan);
    else if (kind == CPU_PLAN_POOL) cpu_pool_plan_free(plan);
    else XM_ASSERT(!"cpu backend: plan_free of something that is not a plan");
}

static void cpu_destroy(xm_backend *be)
{
    if (!be) return;
    cpu_impl *c = cpu_of(be);
    if (c) {
        if (c->stream) dnnl_stream_destroy(c->stream);
        if (c->eng) dnnl_engine_destroy(c->eng);
        free(c->scratch);
        free(c);
    }
    free(be);
}

double *cpu_scratch(xm_backend *be, size_t n, xm_err *err)
{
    cpu_impl *c = cpu_of(be);
    if (n > c->scratch_n) {
        double *p = NULL;
        if (posix_memalign((void **)&p, 64, n * sizeof(double))) {
            xm_err_set(err, XM_EFAIL, "cpu backend: cannot allocate %zu bytes of scratch",
                       n * sizeof(double));
            return NULL;
        }
        free(c->scratch);
        c->scratch = p;
        c->scratch_n = n;
    }
    return c->scratch;
}

int cpu_check_f32(const xm_tensor *t, const char *what, const char *op, xm_err *err)
{
    if (!t || !t->data)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: %s has no data", op, what);
    if (t->dtype != XM_DT_F32)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: %s must be F32 (dtype %d)", op,
                          what, (int)t->dtype);
    if (t->n <= 0 || t->h <= 0 || t->w <= 0 || t->c <= 0)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: %s has shape %dx%dx%dx%d", op,
                          what, t->n, t->h, t->w, t->c);
    return 0;
}

int cpu_check_same(const xm_tensor *a, const xm_tensor *b, const char *op, xm_err *err)
{
    if (a->n != b->n || a->h != b->h || a->w != b->w || a->c != b->c)
        return xm_err_set(err, XM_EUSAGE,
                          "cpu backend: %s: shapes differ (%dx%dx%dx%d vs %dx%dx%dx%d)", op,
                          a->n, a->h, a->w, a->c, b->n, b->h, b->w, b->c);
    return 0;
}

static const xm_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .memset0 = cpu_memset0,
    .copy = cpu_copy,
    .upload_f32 = cpu_upload_f32,
    .download_f32 = cpu_download_f32,
    .sync = cpu_sync,
    .params_changed = cpu_params_changed,
    .conv_plan = cpu_conv_plan,
    .conv_fwd = cpu_conv_fwd,
    .conv_bwd_data = cpu_conv_bwd_data,
    .conv_bwd_weights = cpu_conv_bwd_weights,
    .bn_fwd_train = cpu_bn_fwd_train,
    .bn_fwd_infer = cpu_bn_fwd_infer,
    .bn_bwd = cpu_bn_bwd,
    .add = cpu_add,
    .relu_bwd = cpu_relu_bwd,
    .pool_plan = cpu_pool_plan,
    .maxpool_fwd = cpu_maxpool_fwd,
    .maxpool_bwd = cpu_maxpool_bwd,
    .gap_fwd = cpu_gap_fwd,
    .gap_bwd = cpu_gap_bwd,
    .linear_fwd = cpu_linear_fwd,
    .linear_bwd = cpu_linear_bwd,
    .softmax_xent = cpu_softmax_xent,
    .scale_f32 = cpu_scale_f32,
    .input_mix = cpu_input_mix,
    .sgd_update = cpu_sgd_update,
    .plan_free = cpu_plan_free,
};

xm_backend *xm_backend_cpu_new(const xm_backend_cfg *cfg, xm_err *err)
{
    int rc = 0;
    xm_backend_cfg def = {0};
    if (!cfg) cfg = &def;
    if (cfg->precision != XM_PREC_F32) {
        xm_err_set(err, XM_EUSAGE, "cpu backend: only float32 precision is supported");
        return NULL;
    }
    if (cfg->threads < 0) {
        xm_err_set(err, XM_EUSAGE, "cpu backend: threads must be >= 0 (got %d)", cfg->threads);
        return NULL;
    }
    xm_backend *be = calloc(1, sizeof *be);
    cpu_impl *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        xm_err_set(err, XM_EFAIL, "cpu backend: out of memory");
        return NULL;
    }
    be->ops = &cpu_ops;
    be->name = "cpu";
    be->act_dtype = XM_DT_F32;
    be->cfg = *cfg;
    be->impl = c;
    /* oneDNN sizes its parallel regions from omp_get_max_threads(), so the
     * thread count is the process's OpenMP setting; our loops also pass it
     * explicitly. */
    c->threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
    omp_set_num_threads(c->threads);
    CPU_DNNL(dnnl_engine_create, (&c->eng, dnnl_cpu, 0));
    CPU_DNNL(dnnl_stream_create, (&c->stream, c->eng, dnnl_stream_default_flags));
    return be;
fail:
    (void)rc;
    cpu_destroy(be);
    return NULL;
}
