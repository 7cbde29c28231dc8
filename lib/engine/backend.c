/* backend.c: backend selection and the small helpers over the ops table. */
#include "xm_backend.h"

#include <string.h>

size_t xm_dtype_size(xm_dtype dt)
{
    switch (dt) {
    case XM_DT_F32: return 4;
    case XM_DT_BF16:
    case XM_DT_F16: return 2;
    case XM_DT_U8: return 1;
    }
    return 0;
}

int xm_conv_desc_finish(xm_conv_desc *d, xm_err *err)
{
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c_in <= 0 || d->c_out <= 0 ||
        d->kh <= 0 || d->kw <= 0 || d->stride_h <= 0 || d->stride_w <= 0 ||
        d->pad_h < 0 || d->pad_w < 0)
        return xm_err_set(err, XM_EUSAGE, "convolution: invalid shape");
    d->oh = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
    d->ow = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
    if (d->h + 2 * d->pad_h < d->kh || d->w + 2 * d->pad_w < d->kw || d->oh <= 0 || d->ow <= 0)
        return xm_err_set(err, XM_EUSAGE, "convolution: input %dx%d too small for %dx%d kernel",
                          d->h, d->w, d->kh, d->kw);
    return 0;
}

int xm_pool_desc_finish(xm_pool_desc *d, xm_err *err)
{
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->k <= 0 || d->stride <= 0 ||
        d->pad < 0 || d->pad * 2 > d->k)
        return xm_err_set(err, XM_EUSAGE, "pooling: invalid shape");
    if (d->h + 2 * d->pad < d->k || d->w + 2 * d->pad < d->k)
        return xm_err_set(err, XM_EUSAGE, "pooling: input %dx%d too small for %dx%d window",
                          d->h, d->w, d->k, d->k);
    d->oh = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    d->ow = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    return 0;
}

xm_backend *xm_backend_new(const char *device, const xm_backend_cfg *cfg, xm_err *err)
{
    xm_backend_cfg def = {0};
    if (!cfg) cfg = &def;
    if (!device || !strcmp(device, "auto")) {
#ifdef XM_HAVE_CUDA
        if (xm_cuda_device_count() > 0) return xm_backend_cuda_new(cfg, err);
#endif
        return xm_backend_cpu_new(cfg, err);
    }
    if (!strcmp(device, "cpu")) return xm_backend_cpu_new(cfg, err);
    if (!strcmp(device, "cuda")) {
#ifdef XM_HAVE_CUDA
        if (xm_cuda_device_count() <= 0) {
            xm_err_set(err, XM_EFAIL, "--device cuda: no CUDA GPU is visible");
            return NULL;
        }
        return xm_backend_cuda_new(cfg, err);
#else
        xm_err_set(err, XM_EUSAGE, "--device cuda: this build has no CUDA backend");
        return NULL;
#endif
    }
    xm_err_set(err, XM_EUSAGE, "--device %s: expected cpu, cuda or auto", device);
    return NULL;
}

static const char *const PRECISION_NAMES[] = {"f32", "tf32", "bf16", "f16"};

const char *xm_precision_name(xm_precision p)
{
    return (int)p >= 0 && (int)p < 4 ? PRECISION_NAMES[p] : "?";
}

int xm_precision_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, PRECISION_NAMES[i])) return i;
    return -1;
}

void xm_backend_free(xm_backend *be)
{
    if (be) be->ops->destroy(be);
}

int xm_backend_graph_record(xm_backend *be, int (*fn)(void *ctx, xm_err *err), void *ctx,
                            void **graph, xm_err *err)
{
    *graph = NULL;
    if (!be->ops->graph_begin)
        return xm_err_set(err, XM_EUSAGE, "the %s backend has no graphs", be->name);
    if (be->ops->graph_begin(be, err)) return err->code;
    int rc = fn(ctx, err);
    xm_err ignored = {0};
    if (be->ops->graph_end(be, graph, rc ? &ignored : err)) return rc ? rc : err->code;
    if (rc && *graph) { /* a failed step's recording is short: never hand it out */
        be->ops->graph_free(be, *graph);
        *graph = NULL;
    }
    return rc;
}

void xm_backend_oom_batch(xm_err *err, int batch)
{
    if (err && err->code && strstr(err->msg, XM_OOM_TEXT) && strncmp(err->msg, "batch size ", 11))
        xm_err_prefix(err, "batch size %d", batch);
}

int xm_tensor_alloc(xm_backend *be, xm_tensor *t, int n, int h, int w, int c, xm_dtype dt,
                    xm_err *err)
{
    t->n = n; t->h = h; t->w = w; t->c = c;
    t->dtype = dt;
    t->data = NULL;
    size_t bytes = xm_tensor_count(t) * xm_dtype_size(dt);
    if (n <= 0 || h <= 0 || w <= 0 || c <= 0)
        return xm_err_set(err, XM_EUSAGE, "tensor: invalid shape %dx%dx%dx%d", n, h, w, c);
    t->data = be->ops->alloc(be, bytes, err);
    return t->data ? 0 : (err && err->code ? err->code : XM_EFAIL);
}

void xm_tensor_release(xm_backend *be, xm_tensor *t)
{
    if (t && t->data) be->ops->free(be, t->data);
    if (t) t->data = NULL;
}
