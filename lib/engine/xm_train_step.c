/* xm_train_step.c: one training step: input step on the device, forward,
 * soft labels from the plan, loss (joint or split), BSS, loss scaling,
 * backward, SGD over slab ranges (frozen prefix, backbone, heads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_train_impl.h"

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

double xm_train_lr(const xm_train_cfg *c, int64_t k, int64_t steps)
{
    double lr = c->lr;
    switch (c->sched) {
    case XM_SCHED_MULTISTEP:
        if (c->n_milestones == 0) {
            if (k >= (2 * steps) / 3) lr *= c->gamma; /* the paper: /10 after 2/3 */
        } else {
            for (int i = 0; i < c->n_milestones; i++)
                if (k >= c->milestones[i]) lr *= c->gamma;
        }
        break;
    case XM_SCHED_COSINE:
        lr *= 0.5 * (1.0 + cos(M_PI * (double)k / (double)(steps > 0 ? steps : 1)));
        break;
    case XM_SCHED_CONSTANT:
        break;
    }
    if (c->warmup > 0 && k < c->warmup) lr *= (double)(k + 1) / (double)c->warmup;
    return lr;
}

int xm_train_upload_batch(xm_trainer *t, const xm_batch *b, xm_err *err)
{
    xm_backend *be = t->be;
    if (b->px_bytes > t->rec_cap) {
        be->ops->free(be, t->rec_dev);
        t->rec_cap = b->px_bytes + b->px_bytes / 4;
        if (!(t->rec_dev = be->ops->alloc(be, t->rec_cap, err))) {
            t->rec_cap = 0;
            return code_of(err);
        }
    }
    if (be->ops->upload(be, t->rec_dev, b->px, b->px_bytes, err) ||
        be->ops->input_mix(be, t->rec_dev, b->items, t->meta.mean, t->meta.std, &t->x, err))
        return code_of(err);
    return 0;
}

/* Soft labels of the slots into host rows: target part (n x nt) and
 * source part (n x ns). */
static void build_labels(const xm_trainer *t, const xm_batch *b, float *yt, float *ys)
{
    const int nt = t->nt, ns = t->ns;
    memset(yt, 0, (size_t)b->n * nt * sizeof *yt);
    if (ns) memset(ys, 0, (size_t)b->n * ns * sizeof *ys);
    for (int j = 0; j < b->n; j++) {
        float *rt = yt + (size_t)j * nt, *rs = ys + (size_t)j * ns;
        const float lam = b->lam[j];
        if (b->label_t[j] >= 0) rt[b->label_t[j]] += t->nolabel ? 1.0f : lam;
        if (b->label_p[j] >= 0 && !(t->nolabel && b->label_t[j] >= 0)) {
            float w = b->label_t[j] >= 0 ? 1.0f - lam : 1.0f;
            if (b->dom[j]) rs[b->label_p[j]] += w;
            else rt[b->label_p[j]] += w;
        }
    }
}

/* The joint loss on the host: one softmax over [target logits; source
 * logits] per row, in double, with the backend's formula (xm_backend.h:
 * loss (1/n) sum -t log softmax(z), gradient (softmax * sum(t) - t) / n).
 * Two downloads and two uploads a step, whatever the batch: cheaper than
 * concatenating rows on the device (one copy per row). */
static int joint_loss(xm_trainer *t, const xm_tensor *l0, const xm_tensor *l1, const float *yt,
                      const float *ys, double *loss, xm_err *err)
{
    xm_backend *be = t->be;
    const int n = l0->n, nt = t->nt, ns = t->ns, k = nt + ns;
    float *z = t->host_j, *g = t->host_j + (size_t)n * k;
    if (be->ops->download(be, z, l0->data, (size_t)n * nt * sizeof *z, err) ||
        be->ops->download(be, z + (size_t)n * nt, l1->data, (size_t)n * ns * sizeof *z, err))
        return code_of(err);
    const float *zs = z + (size_t)n * nt;
    float *gt = g, *gs = g + (size_t)n * nt;
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *a = z + (size_t)i * nt, *b = zs + (size_t)i * ns;
        const float *ta = yt + (size_t)i * nt, *tb = ys + (size_t)i * ns;
        double m = a[0], se = 0, st = 0;
        for (int j = 0; j < nt; j++) m = a[j] > m ? a[j] : m;
        for (int j = 0; j < ns; j++) m = b[j] > m ? b[j] : m;
        for (int j = 0; j < nt; j++) se += exp(a[j] - m);
        for (int j = 0; j < ns; j++) se += exp(b[j] - m);
        const double lse = m + log(se);
        for (int j = 0; j < nt; j++) {
            st += ta[j];
            total -= ta[j] * (a[j] - lse);
        }
        for (int j = 0; j < ns; j++) {
            st += tb[j];
            total -= tb[j] * (b[j] - lse);
        }
        for (int j = 0; j < nt; j++)
            gt[(size_t)i * nt + j] = (float)((exp(a[j] - lse) * st - ta[j]) / n);
        for (int j = 0; j < ns; j++)
            gs[(size_t)i * ns + j] = (float)((exp(b[j] - lse) * st - tb[j]) / n);
    }
    *loss = total / n;
    if (be->ops->upload(be, t->dl_t.data, gt, (size_t)n * nt * sizeof *gt, err) ||
        be->ops->upload(be, t->dl_s.data, gs, (size_t)n * ns * sizeof *gs, err))
        return code_of(err);
    return 0;
}

static int loss_and_grads(xm_trainer *t, const xm_batch *b, double *loss, xm_err *err)
{
    xm_backend *be = t->be;
    const int n = b->n, nt = t->nt, ns = t->ns;
    const xm_tensor *l0 = xm_net_logits(t->net, 0), *l1 = ns ? xm_net_logits(t->net, 1) : NULL;
    float *yt = t->host_t, *ys = t->host_s;
    build_labels(t, b, yt, ys);
    double a = 0, c = 0;
    if (ns == 0) {
        if (be->ops->upload(be, t->lab_t.data, yt, (size_t)n * nt * sizeof(float), err) ||
            be->ops->softmax_xent(be, l0, &t->lab_t, &a, &t->dl_t, err))
            return code_of(err);
    } else if (t->cfg->label_mode == XM_LABEL_SPLIT) {
        if (be->ops->upload(be, t->lab_t.data, yt, (size_t)n * nt * sizeof(float), err) ||
            be->ops->upload(be, t->lab_s.data, ys, (size_t)n * ns * sizeof(float), err) ||
            be->ops->softmax_xent(be, l0, &t->lab_t, &a, &t->dl_t, err) ||
            be->ops->softmax_xent(be, l1, &t->lab_s, &c, &t->dl_s, err))
            return code_of(err);
    } else {
        /* joint: one softmax over [target classes; source classes] */
        int rc = joint_loss(t, l0, l1, yt, ys, &a, err);
        if (rc) return rc;
    }
    *loss = a + c;
    return 0;
}

static int bss_term(xm_trainer *t, double *loss, xm_err *err)
{
    xm_backend *be = t->be;
    const xm_tensor *f = xm_net_features(t->net);
    const int n = f->n, D = f->c;
    if (be->ops->download(be, t->host_f, f->data, (size_t)n * D * sizeof(float), err))
        return code_of(err);
    int rc = xm_bss_grad(t->host_f, n, D, t->cfg->bss_k, t->cfg->bss_eta, loss, t->host_df, err);
    if (rc) return rc;
    if (be->ops->upload(be, t->dfeat.data, t->host_df, (size_t)n * D * sizeof(float), err))
        return code_of(err);
    return 0;
}

/* SGD over [frozen | backbone | heads] with each range's rule. */
static int update(xm_trainer *t, double lr, xm_err *err)
{
    const xm_train_cfg *c = t->cfg;
    xm_backend *be = t->be;
    const xm_net_slabs *s = xm_net_slabs_get(t->net);
    size_t b0 = t->freeze_end, b1 = s->n_backbone, h1 = s->n_w;
    xm_sgd_cfg bb = {(float)lr, (float)c->momentum, (float)c->wd, 0.0f, c->nesterov};
    xm_sgd_cfg hd = bb;
    hd.lr = (float)(lr * c->head_lr_mult);
    if (c->reg == XM_REG_L2SP) {
        /* alpha/2 ||w - w0||^2 on the backbone, beta/2 ||w||^2 on the heads */
        bb.weight_decay = 0.0f;
        bb.l2sp = (float)c->l2sp_alpha;
        hd.weight_decay = (float)c->l2sp_beta;
    }
    if (b1 > b0 && be->ops->sgd_update(be, s->w + b0, s->g + b0, s->mom + b0,
                                       t->w0 ? t->w0 + b0 : NULL, b1 - b0, &bb, err))
        return code_of(err);
    if (h1 > b1 && be->ops->sgd_update(be, s->w + b1, s->g + b1, s->mom + b1,
                                       t->w0 ? t->w0 + b1 : NULL, h1 - b1, &hd, err))
        return code_of(err);
    be->ops->params_changed(be);
    return 0;
}

int xm_train_step(xm_trainer *t, const xm_batch *b, double lr, double *loss, xm_err *err)
{
    int rc;
    double ce = 0, reg = 0;
    if ((rc = xm_train_upload_batch(t, b, err)) || (rc = xm_net_forward(t->net, &t->x, 1, err)) ||
        (rc = loss_and_grads(t, b, &ce, err)))
        return rc;
    if (t->cfg->reg == XM_REG_BSS && (rc = bss_term(t, &reg, err))) return rc;
    *loss = ce + reg;
    if (!isfinite(*loss))
        return xm_err_set(err, XM_EFAIL, "step %lld: the loss is %s", (long long)b->step + 1,
                          isnan(*loss) ? "NaN" : "infinite");
    if (t->ls_scale > 0 && (rc = xm_train_scale_up(t, err))) return rc;
    const xm_tensor *dl[2] = {&t->dl_t, t->ns ? &t->dl_s : NULL};
    if ((rc = xm_net_backward(t->net, dl, t->cfg->reg == XM_REG_BSS ? &t->dfeat : NULL, err)))
        return rc;
    if (t->ls_scale > 0) {
        int apply = 0;
        if ((rc = xm_train_scale_down(t, b->step, &apply, err))) return rc;
        if (!apply) return 0; /* not finite: this step's update is skipped */
        xm_train_scale_applied(t);
    }
    return update(t, lr, err);
}
