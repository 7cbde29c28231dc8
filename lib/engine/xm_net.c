/* xm_net.c: network lifetime, per-batch buffers and plans, forward and
 * backward over the node list, and the SGD step. */
#include "xm_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

static int fail_code(xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

xm_net *xm_net_new(xm_backend *be, const xm_net_cfg *cfg, xm_err *err)
{
    xm_net *net = calloc(1, sizeof *net);
    if (!net) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    net->be = be;
    net->cfg = *cfg;
    snprintf(net->arch, sizeof net->arch, "%s", cfg->arch ? cfg->arch : "");
    net->cfg.arch = net->arch;
    net->logit_t[0] = net->logit_t[1] = -1;
    if (xm_net__build(net, err)) goto fail;
    net->s.nbt = calloc((size_t)net->s.n_bn + 1, sizeof *net->s.nbt);
    if (!net->s.nbt) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        goto fail;
    }
    net->s.w = be->ops->alloc(be, net->s.n_w * sizeof(float), err);
    if (!net->s.w) goto fail;
    net->s.buf = be->ops->alloc(be, (net->s.n_buf ? net->s.n_buf : 1) * sizeof(float), err);
    if (!net->s.buf) goto fail;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *nd = &net->nodes[i];
        if (nd->op != NET_BN) continue;
        size_t c = (size_t)net->td[nd->in0].c * sizeof(float);
        nd->save_mean = be->ops->alloc(be, c, err);
        nd->save_invstd = nd->save_mean ? be->ops->alloc(be, c, err) : NULL;
        if (!nd->save_invstd) goto fail;
    }
    return net;
fail:
    if (err && !err->code) xm_err_set(err, XM_EFAIL, "out of memory");
    xm_net_free(net);
    return NULL;
}

void xm_net_release_batch(xm_net *net)
{
    if (!net) return;
    xm_backend *be = net->be;
    for (int i = 0; i < net->n_nodes; i++) {
        be->ops->plan_free(be, net->nodes[i].plan);
        net->nodes[i].plan = NULL;
    }
    if (net->act)
        for (int t = 1; t < net->n_t; t++)
            if (net->td[t].alias < 0) be->ops->free(be, net->act[t].data);
    for (int i = 0; i < net->n_ibufs; i++) be->ops->free(be, net->ibufs[i]);
    for (int i = 0; i < net->n_pool; i++) be->ops->free(be, net->pool[i].p);
    free(net->act);
    free(net->iact);
    free(net->ibufs);
    free(net->grad);
    free(net->grad_owned);
    free(net->pool);
    net->act = net->iact = net->grad = net->cur = NULL;
    net->ibufs = NULL;
    net->n_ibufs = 0;
    net->grad_owned = NULL;
    net->pool = NULL;
    net->n_pool = net->cap_pool = 0;
    net->batch = 0;
    net->fwd_train = 0;
}

void xm_net_free(xm_net *net)
{
    if (!net) return;
    xm_backend *be = net->be;
    xm_net_release_batch(net);
    for (int i = 0; i < net->n_nodes; i++) {
        be->ops->free(be, net->nodes[i].save_mean);
        be->ops->free(be, net->nodes[i].save_invstd);
    }
    be->ops->free(be, net->s.w);
    be->ops->free(be, net->s.g);
    be->ops->free(be, net->s.mom);
    be->ops->free(be, net->s.buf);
    free(net->s.nbt);
    free(net->params);
    free(net->nodes);
    free(net->td);
    free(net);
}

const xm_net_cfg *xm_net_config(const xm_net *net) { return &net->cfg; }
int xm_net_feature_dim(const xm_net *net) { return net->feat_dim; }
const xm_net_slabs *xm_net_slabs_get(const xm_net *net) { return &net->s; }

const xm_param *xm_net_params(const xm_net *net, int *count)
{
    if (count) *count = net->n_params;
    return net->params;
}

int xm_net_param_find(const xm_net *net, const char *name)
{
    for (int i = 0; i < net->n_params; i++)
        if (!strcmp(net->params[i].name, name)) return i;
    return -1;
}

int xm_net_alloc_train(xm_net *net, xm_err *err)
{
    xm_backend *be = net->be;
    size_t bytes = net->s.n_w * sizeof(float);
    if (!net->s.g && !(net->s.g = be->ops->alloc(be, bytes, err))) return fail_code(err);
    if (!net->s.mom && !(net->s.mom = be->ops->alloc(be, bytes, err))) return fail_code(err);
    return 0;
}

int xm_net_get_weights(const xm_net *net, float *w_host, float *buf_host, xm_err *err)
{
    xm_backend *be = net->be;
    if (w_host && be->ops->download(be, w_host, net->s.w, net->s.n_w * sizeof(float), err))
        return fail_code(err);
    if (buf_host && net->s.n_buf &&
        be->ops->download(be, buf_host, net->s.buf, net->s.n_buf * sizeof(float), err))
        return fail_code(err);
    return 0;
}

int xm_net_set_weights(xm_net *net, const float *w_host, const float *buf_host, xm_err *err)
{
    xm_backend *be = net->be;
    if (w_host && be->ops->upload(be, net->s.w, w_host, net->s.n_w * sizeof(float), err))
        return fail_code(err);
    if (buf_host && net->s.n_buf &&
        be->ops->upload(be, net->s.buf, buf_host, net->s.n_buf * sizeof(float), err))
        return fail_code(err);
    be->ops->params_changed(be);
    return 0;
}

/* ---- per-batch buffers and plans ---- */

static xm_dtype tensor_dtype(const xm_net *net, int t)
{
    return net->td[t].f32 ? XM_DT_F32 : net->be->act_dtype;
}

/* Plans for batch size n (all buffers of another size are dropped). */
static int ensure_batch(xm_net *net, int n, xm_err *err)
{
    if (net->batch == n) return 0;
    xm_net_release_batch(net);
    xm_backend *be = net->be;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *nd = &net->nodes[i];
        const net_tdesc *x = &net->td[nd->in0];
        if (nd->op == NET_CONV) {
            xm_conv_desc d = {.n = n, .h = x->h, .w = x->w, .c_in = x->c,
                              .c_out = net->td[nd->out].c, .kh = nd->k, .kw = nd->k,
                              .stride_h = nd->stride, .stride_w = nd->stride,
                              .pad_h = nd->pad, .pad_w = nd->pad};
            if (xm_conv_desc_finish(&d, err)) goto fail;
            if (!(nd->plan = be->ops->conv_plan(be, &d, err))) goto fail;
        } else if (nd->op == NET_MAXPOOL) {
            xm_pool_desc d = {.n = n, .h = x->h, .w = x->w, .c = x->c, .k = nd->k,
                              .stride = nd->stride, .pad = nd->pad};
            if (xm_pool_desc_finish(&d, err)) goto fail;
            if (!(nd->plan = be->ops->pool_plan(be, &d, err))) goto fail;
        }
    }
    net->batch = n;
    return 0;
fail:
    xm_net_release_batch(net);
    return fail_code(err);
}

static void tensor_shape(const xm_net *net, int t, int n, xm_tensor *out)
{
    const net_tdesc *d = &net->td[t];
    *out = (xm_tensor){n, d->h, d->w, d->c, tensor_dtype(net, t), NULL};
}

/* The training set: every activation kept for backward. */
static int ensure_train_set(xm_net *net, xm_err *err)
{
    if (net->act) return 0;
    xm_backend *be = net->be;
    int n = net->batch;
    net->act = calloc((size_t)net->n_t, sizeof *net->act);
    net->grad = calloc((size_t)net->n_t, sizeof *net->grad);
    net->grad_owned = calloc((size_t)net->n_t, 1);
    if (!net->act || !net->grad || !net->grad_owned)
        return xm_err_set(err, XM_EFAIL, "out of memory");
    for (int t = 1; t < net->n_t; t++) {
        const net_tdesc *d = &net->td[t];
        if (d->alias >= 0) {
            net->act[t] = net->act[d->alias];
            continue;
        }
        if (xm_tensor_alloc(be, &net->act[t], n, d->h, d->w, d->c, tensor_dtype(net, t), err))
            return fail_code(err);
    }
    return 0;
}

/* The inference set: a buffer is reused as soon as the last node reading
 * its tensor has run (assigned once per batch size by simulating the node
 * order; exact-size reuse). Features and logits are never reused. */
static int ensure_infer_set(xm_net *net, xm_err *err)
{
    if (net->iact) return 0;
    xm_backend *be = net->be;
    int n = net->batch, nt = net->n_t, rc = 0;
    int *last = malloc((size_t)nt * sizeof *last), *slot = malloc((size_t)nt * sizeof *slot);
    size_t *bytes = malloc((size_t)nt * sizeof *bytes);
    int *busy = calloc((size_t)nt, sizeof *busy);
    net->iact = calloc((size_t)nt, sizeof *net->iact);
    net->ibufs = calloc((size_t)nt, sizeof *net->ibufs);
    if (!last || !slot || !bytes || !busy || !net->iact || !net->ibufs) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
        goto done;
    }
    for (int t = 0; t < nt; t++) last[t] = t == net->feat_t || t == net->logit_t[0] ||
                                               t == net->logit_t[1] ? net->n_nodes : -1;
    for (int i = 0; i < net->n_nodes; i++) {
        const net_node *nd = &net->nodes[i];
        if (last[nd->in0] < i) last[nd->in0] = i;
        if (nd->in1 >= 0 && last[nd->in1] < i) last[nd->in1] = i;
    }
    int nb = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const net_node *nd = &net->nodes[i];
        int t = nd->out;
        tensor_shape(net, t, n, &net->iact[t]);
        if (net->td[t].alias >= 0) {
            /* In place over the aliased input: its buffer lives on. */
            slot[t] = slot[net->td[t].alias];
            if (last[net->td[t].alias] < last[t]) last[net->td[t].alias] = last[t];
        } else {
            size_t b = xm_tensor_count(&net->iact[t]) * xm_dtype_size(net->iact[t].dtype);
            int k = 0;
            while (k < nb && (busy[k] || bytes[k] != b)) k++;
            if (k == nb) bytes[nb++] = b;
            busy[k] = 1;
            slot[t] = k;
        }
        int ins[2] = {nd->in0, nd->in1};
        for (int j = 0; j < 2; j++)
            if (ins[j] > 0 && last[ins[j]] == i && slot[ins[j]] != slot[t]) busy[slot[ins[j]]] = 0;
    }
    for (int k = 0; k < nb; k++)
        if (!(net->ibufs[k] = be->ops->alloc(be, bytes[k], err))) {
            rc = fail_code(err);
            goto done;
        }
    net->n_ibufs = nb;
    for (int t = 1; t < nt; t++) net->iact[t].data = net->ibufs[slot[t]];
done:
    free(last);
    free(slot);
    free(bytes);
    free(busy);
    if (rc) {
        for (int k = 0; k < nt && net->ibufs; k++) be->ops->free(be, net->ibufs[k]);
        free(net->iact);
        free(net->ibufs);
        net->iact = NULL;
        net->ibufs = NULL;
        net->n_ibufs = 0;
    }
    return rc;
}

/* ---- forward ---- */

static const float *wp(const xm_net *net, int p) { return net->s.w + net->params[p].offset; }
static float *gp(const xm_net *net, int p) { return net->s.g + net->params[p].offset; }
static float *bp(const xm_net *net, int p) { return net->s.buf + net->params[p].offset; }

int xm_net_forward(xm_net *net, const xm_tensor *x, int train, xm_err *err)
{
    const net_tdesc *in = &net->td[0];
    xm_backend *be = net->be;
    if (x->n <= 0 || x->h != in->h || x->w != in->w || x->c != in->c ||
        x->dtype != be->act_dtype)
        return xm_err_set(err, XM_EUSAGE, "%s: input is %dx%dx%dx%d, expected Nx%dx%dx%d",
                          net->arch, x->n, x->h, x->w, x->c, in->h, in->w, in->c);
    if (ensure_batch(net, x->n, err)) return fail_code(err);
    if (train ? ensure_train_set(net, err) : ensure_infer_set(net, err)) return fail_code(err);
    xm_tensor *a = train ? net->act : net->iact;
    a[0] = *x;
    net->cur = a;
    net->fwd_train = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *nd = &net->nodes[i];
        int rc = 0;
        switch (nd->op) {
        case NET_CONV:
            rc = be->ops->conv_fwd(be, nd->plan, &a[nd->in0], wp(net, nd->pw), &a[nd->out], err);
            break;
        case NET_BN:
            if (train) {
                rc = be->ops->bn_fwd_train(be, &a[nd->in0], wp(net, nd->pw), wp(net, nd->pb),
                                           bp(net, nd->pmean), bp(net, nd->pvar), BN_MOMENTUM,
                                           BN_EPS, nd->save_mean, nd->save_invstd, nd->relu,
                                           &a[nd->out], err);
                net->s.nbt[nd->bn]++;
            } else {
                rc = be->ops->bn_fwd_infer(be, &a[nd->in0], wp(net, nd->pw), wp(net, nd->pb),
                                           bp(net, nd->pmean), bp(net, nd->pvar), BN_EPS,
                                           nd->relu, &a[nd->out], err);
            }
            break;
        case NET_MAXPOOL:
            rc = be->ops->maxpool_fwd(be, nd->plan, &a[nd->in0], &a[nd->out], err);
            break;
        case NET_ADD:
            rc = be->ops->add(be, &a[nd->in0], &a[nd->in1], nd->relu, &a[nd->out], err);
            break;
        case NET_GAP:
            rc = be->ops->gap_fwd(be, &a[nd->in0], &a[nd->out], err);
            break;
        case NET_LINEAR:
            rc = be->ops->linear_fwd(be, &a[nd->in0], wp(net, nd->pw), wp(net, nd->pb),
                                     &a[nd->out], err);
            break;
        }
        if (rc) return xm_err_prefix(err, "%s forward, node %d", net->arch, i), fail_code(err);
    }
    net->fwd_train = train;
    return 0;
}

const xm_tensor *xm_net_features(const xm_net *net)
{
    return net->cur ? &net->cur[net->feat_t] : NULL;
}

const xm_tensor *xm_net_logits(const xm_net *net, int head)
{
    if (!net->cur || head < 0 || head > 1 || net->logit_t[head] < 0) return NULL;
    return &net->cur[net->logit_t[head]];
}

/* ---- gradient buffers: a pool of exact-size buffers, reused each step in
 * the same order, so after the first backward nothing is allocated ---- */

static void *pool_get(xm_net *net, size_t bytes, xm_err *err)
{
    for (int i = 0; i < net->n_pool; i++)
        if (!net->pool[i].used && net->pool[i].bytes == bytes) {
            net->pool[i].used = 1;
            return net->pool[i].p;
        }
    if (net->n_pool == net->cap_pool) {
        int cap = net->cap_pool ? net->cap_pool * 2 : 16;
        net_pool_buf *p = realloc(net->pool, (size_t)cap * sizeof *p);
        if (!p) {
            xm_err_set(err, XM_EFAIL, "out of memory");
            return NULL;
        }
        net->pool = p;
        net->cap_pool = cap;
    }
    void *p = net->be->ops->alloc(net->be, bytes, err);
    if (!p) return NULL;
    net->pool[net->n_pool++] = (net_pool_buf){p, bytes, 1};
    return p;
}

static void pool_put(xm_net *net, void *p)
{
    for (int i = 0; i < net->n_pool; i++)
        if (net->pool[i].p == p) net->pool[i].used = 0;
}

static size_t tensor_bytes(const xm_tensor *t)
{
    return xm_tensor_count(t) * xm_dtype_size(t->dtype);
}

/* A tensor shaped like act[t] with pool storage. */
static int pool_tensor(xm_net *net, int t, xm_tensor *out, xm_err *err)
{
    *out = net->act[t];
    out->data = pool_get(net, tensor_bytes(out), err);
    return out->data ? 0 : fail_code(err);
}

/* Where a node should write its contribution to grad[t]: grad[t] itself
 * when it has none yet, else a temporary that contrib_end adds in. */
static int contrib_begin(xm_net *net, int t, xm_tensor *dst, int *fresh, xm_err *err)
{
    if (!net->grad[t].data) {
        if (pool_tensor(net, t, &net->grad[t], err)) return fail_code(err);
        net->grad_owned[t] = 1;
        *dst = net->grad[t];
        *fresh = 1;
        return 0;
    }
    *fresh = 0;
    return pool_tensor(net, t, dst, err);
}

static int contrib_end(xm_net *net, int t, xm_tensor *tmp, int fresh, xm_err *err)
{
    if (fresh) return 0;
    int rc = net->be->ops->add(net->be, &net->grad[t], tmp, 0, &net->grad[t], err);
    pool_put(net, tmp->data);
    return rc;
}

/* Hand grad[from]'s buffer to grad[to] (which has none) without copying. */
static void transfer(xm_net *net, int from, int to)
{
    net->grad[to] = net->act[to];
    net->grad[to].data = net->grad[from].data;
    net->grad_owned[to] = net->grad_owned[from];
    net->grad[from].data = NULL;
    net->grad_owned[from] = 0;
}

static void drop_grad(xm_net *net, int t)
{
    if (net->grad[t].data && net->grad_owned[t]) pool_put(net, net->grad[t].data);
    net->grad[t].data = NULL;
    net->grad_owned[t] = 0;
}

static int zero_param_grads(xm_net *net, const net_node *nd, xm_err *err)
{
    xm_backend *be = net->be;
    int ids[2] = {nd->pw, nd->pb};
    for (int k = 0; k < 2; k++)
        if (ids[k] >= 0 && be->ops->memset0(be, gp(net, ids[k]),
                                            net->params[ids[k]].count * sizeof(float), err))
            return fail_code(err);
    return 0;
}

static int node_backward(xm_net *net, net_node *nd, xm_err *err)
{
    xm_backend *be = net->be;
    xm_tensor *a = net->act, *dy = &net->grad[nd->out];
    xm_tensor dst;
    int fresh, rc = 0;
    switch (nd->op) {
    case NET_CONV:
        rc = be->ops->conv_bwd_weights(be, nd->plan, &a[nd->in0], dy, gp(net, nd->pw), err);
        if (rc || nd->in0 == 0) break; /* no gradient for the network input */
        if (contrib_begin(net, nd->in0, &dst, &fresh, err)) return fail_code(err);
        rc = be->ops->conv_bwd_data(be, nd->plan, dy, wp(net, nd->pw), &dst, err);
        if (!rc) rc = contrib_end(net, nd->in0, &dst, fresh, err);
        break;
    case NET_BN:
        if (!net->grad[nd->in0].data && net->grad_owned[nd->out]) {
            /* dx may alias dy: write in place and pass the buffer down. */
            rc = be->ops->bn_bwd(be, &a[nd->in0], nd->relu ? &a[nd->out] : NULL, dy,
                                 wp(net, nd->pw), nd->save_mean, nd->save_invstd, dy,
                                 gp(net, nd->pw), gp(net, nd->pb), err);
            if (!rc) transfer(net, nd->out, nd->in0);
            break;
        }
        if (contrib_begin(net, nd->in0, &dst, &fresh, err)) return fail_code(err);
        rc = be->ops->bn_bwd(be, &a[nd->in0], nd->relu ? &a[nd->out] : NULL, dy,
                             wp(net, nd->pw), nd->save_mean, nd->save_invstd, &dst,
                             gp(net, nd->pw), gp(net, nd->pb), err);
        if (!rc) rc = contrib_end(net, nd->in0, &dst, fresh, err);
        break;
    case NET_MAXPOOL:
        if (contrib_begin(net, nd->in0, &dst, &fresh, err)) return fail_code(err);
        rc = be->ops->maxpool_bwd(be, nd->plan, &a[nd->in0], &a[nd->out], dy, &dst, err);
        if (!rc) rc = contrib_end(net, nd->in0, &dst, fresh, err);
        break;
    case NET_ADD:
        /* The add's output gradient is always a pool buffer of ours. */
        if (nd->relu) rc = be->ops->relu_bwd(be, &a[nd->out], dy, dy, err);
        if (rc) break;
        if (nd->in1 != 0) {
            if (contrib_begin(net, nd->in1, &dst, &fresh, err)) return fail_code(err);
            rc = fresh ? be->ops->copy(be, dst.data, dy->data, tensor_bytes(dy), err)
                       : be->ops->add(be, &net->grad[nd->in1], dy, 0, &net->grad[nd->in1], err);
            if (!fresh) pool_put(net, dst.data);
            if (rc) break;
        }
        if (!net->grad[nd->in0].data) {
            transfer(net, nd->out, nd->in0);
        } else {
            rc = be->ops->add(be, &net->grad[nd->in0], dy, 0, &net->grad[nd->in0], err);
        }
        break;
    case NET_GAP:
        if (contrib_begin(net, nd->in0, &dst, &fresh, err)) return fail_code(err);
        rc = be->ops->gap_bwd(be, dy, &dst, err);
        if (!rc) rc = contrib_end(net, nd->in0, &dst, fresh, err);
        break;
    case NET_LINEAR:
        if (contrib_begin(net, nd->in0, &dst, &fresh, err)) return fail_code(err);
        rc = be->ops->linear_bwd(be, &a[nd->in0], dy, wp(net, nd->pw), &dst,
                                 gp(net, nd->pw), gp(net, nd->pb), err);
        if (!rc) rc = contrib_end(net, nd->in0, &dst, fresh, err);
        break;
    }
    return rc ? fail_code(err) : 0;
}

int xm_net_backward(xm_net *net, const xm_tensor *const dlogits[2], const xm_tensor *dfeat,
                    xm_err *err)
{
    xm_backend *be = net->be;
    if (!net->act || !net->fwd_train)
        return xm_err_set(err, XM_EUSAGE, "%s: backward needs a training-mode forward first",
                          net->arch);
    if (xm_net_alloc_train(net, err)) return fail_code(err);
    for (int t = 0; t < net->n_t; t++) drop_grad(net, t);
    for (int h = 0; h < 2; h++) {
        const xm_tensor *d = dlogits ? dlogits[h] : NULL;
        int t = net->logit_t[h];
        if (!d) continue;
        if (t < 0)
            return xm_err_set(err, XM_EUSAGE, "%s: gradient given for head %d, which the "
                              "network does not have", net->arch, h);
        if (d->n != net->batch || d->c != net->td[t].c || d->h != 1 || d->w != 1 ||
            d->dtype != XM_DT_F32)
            return xm_err_set(err, XM_EUSAGE, "%s: head %d gradient has the wrong shape",
                              net->arch, h);
        net->grad[t] = *d; /* read only, not owned */
    }
    if (dfeat) {
        int t = net->feat_t;
        if (dfeat->n != net->batch || dfeat->c != net->feat_dim || dfeat->dtype != XM_DT_F32)
            return xm_err_set(err, XM_EUSAGE, "%s: feature gradient has the wrong shape",
                              net->arch);
        /* Copied, because the heads' contributions are added into it. */
        if (pool_tensor(net, t, &net->grad[t], err)) return fail_code(err);
        net->grad_owned[t] = 1;
        if (be->ops->copy(be, net->grad[t].data, dfeat->data, tensor_bytes(dfeat), err))
            return fail_code(err);
    }
    for (int i = net->n_nodes - 1; i >= 0; i--) {
        net_node *nd = &net->nodes[i];
        int rc = net->grad[nd->out].data ? node_backward(net, nd, err)
                                         : zero_param_grads(net, nd, err);
        if (rc) return xm_err_prefix(err, "%s backward, node %d", net->arch, i), rc;
        drop_grad(net, nd->out);
    }
    drop_grad(net, 0);
    return 0;
}

int xm_net_sgd_step(xm_net *net, const xm_sgd_cfg *cfg, const float *w0, xm_err *err)
{
    xm_backend *be = net->be;
    if (!net->s.g) return xm_err_set(err, XM_EUSAGE, "%s: sgd step before backward", net->arch);
    if (be->ops->sgd_update(be, net->s.w, net->s.g, net->s.mom, w0, net->s.n_w, cfg, err))
        return fail_code(err);
    be->ops->params_changed(be);
    return 0;
}
