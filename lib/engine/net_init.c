/* net_init.c: torchvision's initialisation from a seed, on the host, then
 * one upload per slab. Each tensor draws from its own Philox stream (its
 * index in the parameter table), so adding a head does not change the
 * backbone's numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"
#include "xm_rng.h"

/* Stream base, so other users of the seed (plans, shuffles) never collide. */
#define INIT_STREAM_BASE 0x1A17000000ull

static void init_tensor(const xm_net *net, int i, uint64_t seed, float *w, float *buf,
                        int64_t *nbt)
{
    const xm_param *p = &net->params[i];
    xm_rng r;
    xm_rng_init(&r, seed, INIT_STREAM_BASE + (uint64_t)i);
    switch (p->kind) {
    case XM_PK_CONV_W: {
        /* kaiming_normal_(mode='fan_out', nonlinearity='relu') */
        double fan_out = (double)p->shape[0] * p->shape[2] * p->shape[3];
        double std = sqrt(2.0 / fan_out);
        for (size_t k = 0; k < p->count; k++) w[p->offset + k] = (float)(std * xm_rng_normal(&r));
        break;
    }
    case XM_PK_BN_W:
        for (size_t k = 0; k < p->count; k++) w[p->offset + k] = 1.0f;
        break;
    case XM_PK_BN_B:
        memset(w + p->offset, 0, p->count * sizeof(float));
        break;
    case XM_PK_BN_MEAN:
        memset(buf + p->offset, 0, p->count * sizeof(float));
        break;
    case XM_PK_BN_VAR:
        for (size_t k = 0; k < p->count; k++) buf[p->offset + k] = 1.0f;
        break;
    case XM_PK_BN_COUNT:
        nbt[p->offset] = 0;
        break;
    case XM_PK_LINEAR_W:
    case XM_PK_LINEAR_B: {
        /* PyTorch's Linear.reset_parameters: both bounded by 1/sqrt(fan_in). */
        int wi = p->kind == XM_PK_LINEAR_W ? i : i - 1;
        double bound = 1.0 / sqrt((double)net->params[wi].shape[1]);
        for (size_t k = 0; k < p->count; k++)
            w[p->offset + k] = (float)((2.0 * xm_rng_uniform(&r) - 1.0) * bound);
        break;
    }
    }
}

static int init_where(xm_net *net, int group, uint64_t seed, xm_err *err)
{
    float *w = malloc(net->s.n_w * sizeof(float));
    float *buf = malloc((net->s.n_buf + 1) * sizeof(float));
    int rc = 0;
    if (!w || !buf) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
        goto done;
    }
    /* A partial init keeps the other tensors: start from the current slabs. */
    if (group >= 0 && (rc = xm_net_get_weights(net, w, buf, err))) goto done;
    for (int i = 0; i < net->n_params; i++)
        if (group < 0 || (int)net->params[i].group == group)
            init_tensor(net, i, seed, w, buf, net->s.nbt);
    rc = xm_net_set_weights(net, w, buf, err);
done:
    free(w);
    free(buf);
    return rc;
}

int xm_net_init(xm_net *net, uint64_t seed, xm_err *err)
{
    return init_where(net, -1, seed, err);
}

int xm_net_init_group(xm_net *net, xm_param_group group, uint64_t seed, xm_err *err)
{
    return init_where(net, (int)group, seed, err);
}
