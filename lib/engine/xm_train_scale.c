/* xm_train_scale.c: loss scaling for fp16 training (torch.cuda.amp.GradScaler's
 * rule). fp16 gradients of small losses underflow to zero; scaling the loss
 * gradient by S before the backward pass and the parameter gradients by 1/S
 * after it keeps them in range. Scales are powers of two, so both
 * multiplications are exact in float: with finite gradients a scaled run
 * gives the same bits as an unscaled one (tests/cli/test_train_scale.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_train_impl.h"

#define LS_AUTO_START 65536.0
#define LS_MAX 0x1p127 /* the largest float power of two */

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

int xm_train_loss_scale_ok(double s)
{
    int e;
    return s >= 1.0 && s <= LS_MAX && frexp(s, &e) == 0.5;
}

int xm_train_parse_loss_scale(const char *s, xm_train_cfg *c, xm_err *err)
{
    const char *num = s;
    int dyn = 0;
    if (!strcmp(s, "none")) {
        c->loss_scale = 0;
        c->loss_scale_dynamic = 0;
        return 0;
    }
    if (!strncmp(s, "dynamic", 7)) {
        dyn = 1;
        if (!s[7]) {
            c->loss_scale = LS_AUTO_START;
            c->loss_scale_dynamic = 1;
            return 0;
        }
        if (s[7] != ':')
            return xm_err_set(err, XM_EUSAGE, "--loss-scale %s: expected none, dynamic, "
                              "dynamic:S or S", s);
        num = s + 8;
    }
    char *end = NULL;
    double v = strtod(num, &end);
    if (!*num || *end || !xm_train_loss_scale_ok(v))
        return xm_err_set(err, XM_EUSAGE, "--loss-scale %s: the scale must be a power of two "
                          "from 1 to 2^127 (so scaling is exact)", s);
    c->loss_scale = v;
    c->loss_scale_dynamic = dyn;
    return 0;
}

void xm_train_loss_scale_of(const xm_train_cfg *c, double *scale, int *dynamic)
{
    if (c->loss_scale < 0) {
        int f16 = c->precision == XM_PREC_F16;
        *scale = f16 ? LS_AUTO_START : 0;
        *dynamic = f16;
        return;
    }
    *scale = c->loss_scale;
    *dynamic = c->loss_scale > 0 && c->loss_scale_dynamic;
}

void xm_train_loss_scale_name(const xm_train_cfg *c, char *buf, size_t cap)
{
    double s;
    int dyn;
    xm_train_loss_scale_of(c, &s, &dyn);
    if (s <= 0) snprintf(buf, cap, "none");
    else snprintf(buf, cap, "%s:%.17g", dyn ? "dynamic" : "static", s);
}

int xm_train_scale_setup(xm_trainer *t, xm_err *err)
{
    const xm_train_cfg *c = t->cfg;
    xm_train_loss_scale_of(c, &t->ls_scale, &t->ls_dynamic);
    if (t->ls_scale != 0 && !xm_train_loss_scale_ok(t->ls_scale))
        return xm_err_set(err, XM_EUSAGE, "loss scale %g: not a power of two from 1 to 2^127",
                          t->ls_scale);
    if (c->loss_scale_window < 0)
        return xm_err_set(err, XM_EUSAGE, "loss-scale window %lld: must be >= 0",
                          (long long)c->loss_scale_window);
    t->ls_window = c->loss_scale_window ? c->loss_scale_window : 2000;
    t->ls_good = t->ls_skipped = 0;
    return 0;
}

int xm_train_scale_up(xm_trainer *t, xm_err *err)
{
    xm_backend *be = t->be;
    const float s = (float)t->ls_scale;
    const xm_tensor *g[3] = {&t->dl_t, t->ns ? &t->dl_s : NULL,
                             t->cfg->reg == XM_REG_BSS ? &t->dfeat : NULL};
    for (int i = 0; i < 3; i++)
        if (g[i] && be->ops->scale_f32(be, g[i]->data, xm_tensor_count(g[i]), s, NULL, err))
            return code_of(err);
    return 0;
}

int xm_train_scale_down(xm_trainer *t, int64_t step, int *apply, xm_err *err)
{
    xm_backend *be = t->be;
    const xm_net_slabs *sl = xm_net_slabs_get(t->net);
    int finite = 0;
    *apply = 0;
    /* only the trained part [freeze_end, n_w) is read by the update */
    if (be->ops->scale_f32(be, sl->g + t->freeze_end, sl->n_w - t->freeze_end,
                           (float)(1.0 / t->ls_scale), &finite, err))
        return code_of(err);
    if (finite) {
        *apply = 1;
        return 0;
    }
    if (!t->ls_dynamic)
        return xm_err_set(err, XM_EFAIL, "step %lld: the gradients are not finite at the fixed "
                          "loss scale %.17g (try --loss-scale dynamic)", (long long)step + 1,
                          t->ls_scale);
    if (t->ls_scale <= 1.0)
        return xm_err_set(err, XM_EFAIL, "step %lld: the gradients are not finite even at loss "
                          "scale 1 (NaN or overflow in the backward pass)", (long long)step + 1);
    t->ls_scale *= 0.5;
    t->ls_good = 0;
    t->ls_skipped++;
    return 0;
}

void xm_train_scale_applied(xm_trainer *t)
{
    if (!t->ls_dynamic) return;
    if (++t->ls_good >= t->ls_window) {
        if (t->ls_scale < LS_MAX) t->ls_scale *= 2.0;
        t->ls_good = 0;
    }
}
