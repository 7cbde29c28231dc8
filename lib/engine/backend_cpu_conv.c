/* backend_cpu_conv.c: 2-D convolution on oneDNN.
 *
 * Activations are NHWC in plain memory, so src/dst descriptors are fixed to
 * nhwc. Weights live in the slab as OIHW; the forward and backward-data
 * primitives are created with weights format `any` and keep a reordered copy
 * of the weights (refreshed only when params_changed() was called or the
 * weights pointer moved). Backward weights lets oneDNN pick its diff_weights
 * layout and reorders the result into the OIHW slab. The backward primitives
 * are created on first use, so an inference-only plan costs one primitive.
 */
#include "backend_cpu.h"

#include <stdlib.h>
#include <string.h>

#include <omp.h>

/* Weights in the layout a primitive asked for, cached across calls. */
typedef struct wcache {
    dnnl_memory_desc_t md; /* the primitive's weights layout */
    int direct;            /* the layout is OIHW: use the slab in place */
    dnnl_primitive_t reorder;
    dnnl_memory_t mem;     /* owned buffer in layout md */
    int valid;
    uint64_t gen;          /* cpu_impl.wgen when mem was filled */
    const float *src;      /* the slab pointer it was filled from */
} wcache;

typedef struct conv_plan {
    int kind; /* CPU_PLAN_CONV; first member */
    xm_conv_desc d;
    dnnl_memory_desc_t src_md, dst_md, wu_md; /* nhwc, nhwc, user oihw */
    dnnl_dims_t strides, pad_l, pad_r;
    dnnl_memory_t m_src, m_dst, m_wu; /* handles set per call */

    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd;
    wcache fwd_w;

    dnnl_primitive_desc_t bwdd_pd;
    dnnl_primitive_t bwdd;
    wcache bwdd_w;
    int bwdd_share;        /* backward data uses the forward's weights layout */

    dnnl_primitive_desc_t bwdw_pd;
    dnnl_primitive_t bwdw;
    int dw_direct;         /* diff_weights layout is OIHW */
    dnnl_memory_t m_dw;    /* owned diff_weights in oneDNN's layout */
    dnnl_primitive_t dw_reorder; /* that layout -> OIHW slab */
} conv_plan;

static void wcache_free(wcache *c)
{
    if (c->reorder) dnnl_primitive_destroy(c->reorder);
    if (c->mem) dnnl_memory_destroy(c->mem);
    memset(c, 0, sizeof *c);
}

void cpu_conv_plan_free(void *plan)
{
    conv_plan *p = plan;
    if (!p) return;
    wcache_free(&p->fwd_w);
    wcache_free(&p->bwdd_w);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->fwd_pd) dnnl_primitive_desc_destroy(p->fwd_pd);
    if (p->bwdd) dnnl_primitive_destroy(p->bwdd);
    if (p->bwdd_pd) dnnl_primitive_desc_destroy(p->bwdd_pd);
    if (p->bwdw) dnnl_primitive_destroy(p->bwdw);
    if (p->bwdw_pd) dnnl_primitive_desc_destroy(p->bwdw_pd);
    if (p->dw_reorder) dnnl_primitive_destroy(p->dw_reorder);
    if (p->m_dw) dnnl_memory_destroy(p->m_dw);
    if (p->m_src) dnnl_memory_destroy(p->m_src);
    if (p->m_dst) dnnl_memory_destroy(p->m_dst);
    if (p->m_wu) dnnl_memory_destroy(p->m_wu);
    free(p);
}

/* Prepare a weights cache for layout md (from a primitive desc). */
static int wcache_init(cpu_impl *c, conv_plan *p, wcache *wc, const dnnl_memory_desc_t *md,
                       xm_err *err)
{
    int rc = 0;
    dnnl_primitive_desc_t rpd = NULL;
    wc->md = *md;
    wc->direct = dnnl_memory_desc_equal(md, &p->wu_md);
    if (wc->direct) return 0;
    CPU_DNNL(dnnl_memory_create, (&wc->mem, md, c->eng, DNNL_MEMORY_ALLOCATE));
    CPU_DNNL(dnnl_reorder_primitive_desc_create, (&rpd, &p->wu_md, c->eng, md, c->eng, NULL));
    CPU_DNNL(dnnl_primitive_create, (&wc->reorder, rpd));
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return rc;
}

/* Return the memory holding w in the cache's layout, reordering if stale. */
static int wcache_get(cpu_impl *c, conv_plan *p, wcache *wc, const float *w,
                      dnnl_memory_t *out, xm_err *err)
{
    int rc = 0;
    omp_set_num_threads(c->threads); /* oneDNN reads the calling thread's setting */
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_wu, (void *)w));
    if (wc->direct) {
        *out = p->m_wu;
        return 0;
    }
    if (!wc->valid || wc->gen != c->wgen || wc->src != w) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->m_wu}, {DNNL_ARG_TO, wc->mem}};
        CPU_DNNL(dnnl_primitive_execute, (wc->reorder, c->stream, 2, args));
        CPU_DNNL(dnnl_stream_wait, (c->stream));
        wc->valid = 1;
        wc->gen = c->wgen;
        wc->src = w;
    }
    *out = wc->mem;
fail:
    return rc;
}

void *cpu_conv_plan(xm_backend *be, const xm_conv_desc *d, xm_err *err)
{
    cpu_impl *c = cpu_of(be);
    int rc = 0;
    xm_conv_desc dd = *d;
    if (xm_conv_desc_finish(&dd, err)) return NULL;
    conv_plan *p = calloc(1, sizeof *p);
    if (!p) {
        xm_err_set(err, XM_EFAIL, "cpu backend: conv_plan: out of memory");
        return NULL;
    }
    p->kind = CPU_PLAN_CONV;
    p->d = dd;
    dnnl_dims_t sd = {dd.n, dd.c_in, dd.h, dd.w};
    dnnl_dims_t dstd = {dd.n, dd.c_out, dd.oh, dd.ow};
    dnnl_dims_t wd = {dd.c_out, dd.c_in, dd.kh, dd.kw};
    p->strides[0] = dd.stride_h;
    p->strides[1] = dd.stride_w;
    p->pad_l[0] = dd.pad_h;
    p->pad_l[1] = dd.pad_w;
    /* Symmetric padding: oneDNN sizes the output with the same floor formula
     * as PyTorch, and a right padding the last window never reaches is
     * harmless (a tighter, negative right padding broke jit_1x1 backward
     * weights in oneDNN 2.6). */
    p->pad_r[0] = dd.pad_h;
    p->pad_r[1] = dd.pad_w;
    dnnl_memory_desc_t w_any;
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&p->src_md, 4, sd, dnnl_f32, dnnl_nhwc));
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&p->dst_md, 4, dstd, dnnl_f32, dnnl_nhwc));
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&p->wu_md, 4, wd, dnnl_f32, dnnl_oihw));
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_memory_create, (&p->m_src, &p->src_md, c->eng, DNNL_MEMORY_NONE));
    CPU_DNNL(dnnl_memory_create, (&p->m_dst, &p->dst_md, c->eng, DNNL_MEMORY_NONE));
    CPU_DNNL(dnnl_memory_create, (&p->m_wu, &p->wu_md, c->eng, DNNL_MEMORY_NONE));

    dnnl_convolution_desc_t cd;
    CPU_DNNL(dnnl_convolution_forward_desc_init,
             (&cd, dnnl_forward_training, dnnl_convolution_direct, &p->src_md, &w_any, NULL,
              &p->dst_md, p->strides, p->pad_l, p->pad_r));
    CPU_DNNL(dnnl_primitive_desc_create, (&p->fwd_pd, &cd, NULL, c->eng, NULL));
    CPU_DNNL(dnnl_primitive_create, (&p->fwd, p->fwd_pd));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(p->fwd_pd, dnnl_query_weights_md, 0);
    if (wcache_init(c, p, &p->fwd_w, wmd, err)) goto fail;
    return p;
fail:
    (void)rc;
    xm_err_prefix(err, "conv_plan %dx%dx%dx%d -> %d, %dx%d/%d", dd.n, dd.h, dd.w, dd.c_in,
                  dd.c_out, dd.kh, dd.kw, dd.stride_h);
    cpu_conv_plan_free(p);
    return NULL;
}

static int check_act(const conv_plan *p, const xm_tensor *t, int out, const char *what,
                     const char *op, xm_err *err)
{
    if (cpu_check_f32(t, what, op, err)) return err->code;
    const xm_conv_desc *d = &p->d;
    int n = d->n, h = out ? d->oh : d->h, w = out ? d->ow : d->w, ch = out ? d->c_out : d->c_in;
    if (t->n != n || t->h != h || t->w != w || t->c != ch)
        return xm_err_set(err, XM_EUSAGE,
                          "cpu backend: %s: %s is %dx%dx%dx%d, the plan expects %dx%dx%dx%d",
                          op, what, t->n, t->h, t->w, t->c, n, h, w, ch);
    return 0;
}

static int check_plan(const void *plan, const char *op, xm_err *err)
{
    if (!plan || ((const conv_plan *)plan)->kind != CPU_PLAN_CONV)
        return xm_err_set(err, XM_EUSAGE, "cpu backend: %s: not a convolution plan", op);
    return 0;
}

int cpu_conv_fwd(xm_backend *be, void *plan, const xm_tensor *x, const float *w, xm_tensor *y,
                 xm_err *err)
{
    cpu_impl *c = cpu_of(be);
    conv_plan *p = plan;
    int rc = 0;
    if (check_plan(plan, "conv_fwd", err) || check_act(p, x, 0, "x", "conv_fwd", err) ||
        check_act(p, y, 1, "y", "conv_fwd", err))
        return err->code;
    dnnl_memory_t mw;
    if ((rc = wcache_get(c, p, &p->fwd_w, w, &mw, err))) return rc;
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_src, x->data));
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_dst, y->data));
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, p->m_src}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, p->m_dst}};
    CPU_DNNL(dnnl_primitive_execute, (p->fwd, c->stream, 3, args));
    CPU_DNNL(dnnl_stream_wait, (c->stream));
fail:
    return rc;
}

static int bwdd_init(cpu_impl *c, conv_plan *p, xm_err *err)
{
    int rc = 0;
    dnnl_memory_desc_t w_any;
    dnnl_dims_t wd = {p->d.c_out, p->d.c_in, p->d.kh, p->d.kw};
    dnnl_convolution_desc_t cd;
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_convolution_backward_data_desc_init,
             (&cd, dnnl_convolution_direct, &p->src_md, &w_any, &p->dst_md, p->strides,
              p->pad_l, p->pad_r));
    CPU_DNNL(dnnl_primitive_desc_create, (&p->bwdd_pd, &cd, NULL, c->eng, p->fwd_pd));
    CPU_DNNL(dnnl_primitive_create, (&p->bwdd, p->bwdd_pd));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(p->bwdd_pd, dnnl_query_weights_md, 0);
    /* Share the forward's copy when both want the same layout. */
    if (dnnl_memory_desc_equal(wmd, &p->fwd_w.md)) {
        p->bwdd_share = 1;
        return 0;
    }
    rc = wcache_init(c, p, &p->bwdd_w, wmd, err);
fail:
    return rc;
}

int cpu_conv_bwd_data(xm_backend *be, void *plan, const xm_tensor *dy, const float *w,
                      xm_tensor *dx, xm_err *err)
{
    cpu_impl *c = cpu_of(be);
    conv_plan *p = plan;
    int rc = 0;
    if (check_plan(plan, "conv_bwd_data", err) ||
        check_act(p, dy, 1, "dy", "conv_bwd_data", err) ||
        check_act(p, dx, 0, "dx", "conv_bwd_data", err))
        return err->code;
    if (!p->bwdd && (rc = bwdd_init(c, p, err))) return rc;
    dnnl_memory_t mw;
    wcache *wc = p->bwdd_share ? &p->fwd_w : &p->bwdd_w;
    if ((rc = wcache_get(c, p, wc, w, &mw, err))) return rc;
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_src, dx->data));
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_dst, dy->data));
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_DIFF_DST, p->m_dst}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, p->m_src}};
    CPU_DNNL(dnnl_primitive_execute, (p->bwdd, c->stream, 3, args));
    CPU_DNNL(dnnl_stream_wait, (c->stream));
fail:
    return rc;
}

/* oneDNN 2.6's jit_1x1 backward-weights kernel for a strided 1x1
 * convolution with fewer than 8 (or a non-multiple of 8) input channels
 * returns wrong gradients on every call after the first (seen with c_in
 * 1..6, stride 2; see test_backend_cpu_conv.c). Such shapes take the next
 * implementation oneDNN offers. */
static int bwdw_avoid(const conv_plan *p, dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (p->d.kh != 1 || p->d.kw != 1 || (p->d.stride_h == 1 && p->d.stride_w == 1) ||
        p->d.c_in % 8 == 0)
        return 0;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl)
        return 0;
    return strncmp(impl, "jit_1x1", 7) == 0;
}

static int bwdw_init(cpu_impl *c, conv_plan *p, xm_err *err)
{
    int rc = 0;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_desc_iterator_t it = NULL;
    dnnl_memory_desc_t w_any;
    dnnl_dims_t wd = {p->d.c_out, p->d.c_in, p->d.kh, p->d.kw};
    dnnl_convolution_desc_t cd;
    CPU_DNNL(dnnl_memory_desc_init_by_tag, (&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_convolution_backward_weights_desc_init,
             (&cd, dnnl_convolution_direct, &p->src_md, &w_any, NULL, &p->dst_md, p->strides,
              p->pad_l, p->pad_r));
    /* the first implementation oneDNN offers, unless it is a known bad one */
    CPU_DNNL(dnnl_primitive_desc_iterator_create, (&it, &cd, NULL, c->eng, p->fwd_pd));
    for (;;) {
        p->bwdw_pd = dnnl_primitive_desc_iterator_fetch(it);
        if (!p->bwdw_pd) {
            rc = xm_err_set(err, XM_EFAIL, "oneDNN: no backward-weights implementation");
            goto fail;
        }
        if (!bwdw_avoid(p, p->bwdw_pd)) break;
        dnnl_primitive_desc_destroy(p->bwdw_pd);
        p->bwdw_pd = NULL;
        CPU_DNNL(dnnl_primitive_desc_iterator_next, (it));
    }
    CPU_DNNL(dnnl_primitive_create, (&p->bwdw, p->bwdw_pd));
    const dnnl_memory_desc_t *md =
        dnnl_primitive_desc_query_md(p->bwdw_pd, dnnl_query_diff_weights_md, 0);
    p->dw_direct = dnnl_memory_desc_equal(md, &p->wu_md);
    if (p->dw_direct) goto fail; /* done: rc is 0 */
    CPU_DNNL(dnnl_memory_create, (&p->m_dw, md, c->eng, DNNL_MEMORY_ALLOCATE));
    CPU_DNNL(dnnl_reorder_primitive_desc_create, (&rpd, md, c->eng, &p->wu_md, c->eng, NULL));
    CPU_DNNL(dnnl_primitive_create, (&p->dw_reorder, rpd));
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (it) dnnl_primitive_desc_iterator_destroy(it);
    return rc;
}

int cpu_conv_bwd_weights(xm_backend *be, void *plan, const xm_tensor *x, const xm_tensor *dy,
                         float *dw, xm_err *err)
{
    cpu_impl *c = cpu_of(be);
    conv_plan *p = plan;
    int rc = 0;
    if (check_plan(plan, "conv_bwd_weights", err) ||
        check_act(p, x, 0, "x", "conv_bwd_weights", err) ||
        check_act(p, dy, 1, "dy", "conv_bwd_weights", err))
        return err->code;
    if (!p->bwdw && (rc = bwdw_init(c, p, err))) return rc;
    omp_set_num_threads(c->threads); /* oneDNN reads the calling thread's setting */
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_src, x->data));
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_dst, dy->data));
    CPU_DNNL(dnnl_memory_set_data_handle, (p->m_wu, dw));
    dnnl_memory_t mdw = p->dw_direct ? p->m_wu : p->m_dw;
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, p->m_src}, {DNNL_ARG_DIFF_DST, p->m_dst}, {DNNL_ARG_DIFF_WEIGHTS, mdw}};
    CPU_DNNL(dnnl_primitive_execute, (p->bwdw, c->stream, 3, args));
    if (!p->dw_direct) {
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, p->m_dw}, {DNNL_ARG_TO, p->m_wu}};
        CPU_DNNL(dnnl_primitive_execute, (p->dw_reorder, c->stream, 2, rargs));
    }
    CPU_DNNL(dnnl_stream_wait, (c->stream));
fail:
    return rc;
}
