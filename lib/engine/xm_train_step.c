/* xm_train_step.c: one training step: input step on the device, forward,
 * soft labels from the plan, loss (joint or split), BSS, backward, SGD over
 * slab ranges (frozen prefix, backbone, heads). */
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

/* Rows of two n x a and n x b tensors <-> one n x (a + b) tensor. */
static int concat_rows(xm_backend *be, const xm_tensor *l, const xm_tensor *r, xm_tensor *j,
                       int split, xm_err *err)
{
    const int n = j->n, a = l->c, c = r->c;
    for (int i = 0; i < n; i++) {
        float *jr = (float *)j->data + (size_t)i * (a + c);
        float *lr = (float *)l->data + (size_t)i * a, *rr = (float *)r->data + (size_t)i * c;
        int rc = split ? (be->ops->copy(be, lr, jr, a * sizeof(float), err) ||
                          be->ops->copy(be, rr, jr + a, c * sizeof(float), err))
                       : (be->ops->copy(be, jr, lr, a * sizeof(float), err) ||
                          be->ops->copy(be, jr + a, rr, c * sizeof(float), err));
        if (rc) return code_of(err);
    }
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
        float *tmp = malloc((size_t)n * (nt + ns) * sizeof *tmp);
        if (!tmp) return xm_err_set(err, XM_EFAIL, "out of memory");
        for (int j = 0; j < n; j++) {
            memcpy(tmp + (size_t)j * (nt + ns), yt + (size_t)j * nt, (size_t)nt * sizeof *tmp);
            memcpy(tmp + (size_t)j * (nt + ns) + nt, ys + (size_t)j * ns, (size_t)ns * sizeof *tmp);
        }
        int rc = be->ops->upload(be, t->lab_j.data, tmp, (size_t)n * (nt + ns) * sizeof *tmp, err);
        free(tmp);
        if (rc || (rc = concat_rows(be, l0, l1, &t->joint, 0, err)) ||
            be->ops->softmax_xent(be, &t->joint, &t->lab_j, &a, &t->djoint, err) ||
            (rc = concat_rows(be, &t->dl_t, &t->dl_s, &t->djoint, 1, err)))
            return code_of(err);
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
    const xm_tensor *dl[2] = {&t->dl_t, t->ns ? &t->dl_s : NULL};
    if ((rc = xm_net_backward(t->net, dl, t->cfg->reg == XM_REG_BSS ? &t->dfeat : NULL, err)))
        return rc;
    return update(t, lr, err);
}
