/* net_arch.c: the ResNet architectures as node lists and parameter tables,
 * with torchvision's module structure and state_dict names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

typedef struct arch_def {
    const char *name;
    int cifar;        /* 3x3 s1 stem, no max pool, 16/32/64 channels */
    int bottleneck;
    int blocks[4];    /* per stage; 0 = stage absent */
    int size;         /* default input size */
} arch_def;

static const arch_def ARCHS[] = {
    {"resnet18", 0, 0, {2, 2, 2, 2}, 224},
    {"resnet34", 0, 0, {3, 4, 6, 3}, 224},
    {"resnet50", 0, 1, {3, 4, 6, 3}, 224},
    {"resnet101", 0, 1, {3, 4, 23, 3}, 224},
    {"resnet20", 1, 0, {3, 3, 3, 0}, 32},
    {"resnet32", 1, 0, {5, 5, 5, 0}, 32},
    {"resnet56", 1, 0, {9, 9, 9, 0}, 32},
};

static const arch_def *arch_lookup(const char *name)
{
    for (size_t i = 0; name && i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(ARCHS[i].name, name)) return &ARCHS[i];
    return NULL;
}

int xm_net_arch_known(const char *arch) { return arch_lookup(arch) != NULL; }

int xm_net_arch_default_size(const char *arch)
{
    const arch_def *a = arch_lookup(arch);
    return a ? a->size : 0;
}

/* ---- growing the tables ---- */

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *p = q;
    *cap = c;
    return 0;
}

typedef struct builder {
    xm_net *net;
    size_t w_off, buf_off;
    int n_bn;
    int failed;
} builder;

static int new_tensor(builder *b, int h, int w, int c, int f32, int alias)
{
    xm_net *n = b->net;
    if (grow((void **)&n->td, &n->cap_t, n->n_t + 1, sizeof *n->td)) {
        b->failed = 1;
        return 0;
    }
    n->td[n->n_t] = (net_tdesc){h, w, c, f32, alias};
    return n->n_t++;
}

static net_node *new_node(builder *b, net_op op, int in0)
{
    xm_net *n = b->net;
    if (grow((void **)&n->nodes, &n->cap_nodes, n->n_nodes + 1, sizeof *n->nodes)) {
        b->failed = 1;
        return NULL;
    }
    net_node *nd = &n->nodes[n->n_nodes++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in0 = in0;
    nd->in1 = nd->pw = nd->pb = nd->pmean = nd->pvar = nd->bn = -1;
    return nd;
}

static int new_param(builder *b, const char *prefix, const char *suffix, xm_param_kind kind,
                     xm_param_group group, int rank, int64_t s0, int64_t s1, int64_t s2,
                     int64_t s3)
{
    xm_net *n = b->net;
    if (grow((void **)&n->params, &n->cap_params, n->n_params + 1, sizeof *n->params)) {
        b->failed = 1;
        return -1;
    }
    xm_param *p = &n->params[n->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", prefix, suffix);
    p->kind = kind;
    p->group = group;
    p->rank = rank;
    int64_t s[4] = {s0, s1, s2, s3};
    p->count = 1;
    for (int i = 0; i < rank; i++) {
        p->shape[i] = s[i];
        p->count *= (size_t)s[i];
    }
    p->trainable = kind == XM_PK_CONV_W || kind == XM_PK_BN_W || kind == XM_PK_BN_B ||
                   kind == XM_PK_LINEAR_W || kind == XM_PK_LINEAR_B;
    if (p->trainable) {
        p->offset = b->w_off;
        b->w_off += p->count;
    } else if (kind == XM_PK_BN_COUNT) {
        p->offset = (size_t)b->n_bn;
    } else {
        p->offset = b->buf_off;
        b->buf_off += p->count;
    }
    return n->n_params++;
}

/* ---- layers ---- */

static int conv(builder *b, const char *name, int in, int c_out, int k, int stride, int pad)
{
    net_tdesc t = b->net->td[in];
    net_node *nd = new_node(b, NET_CONV, in);
    if (!nd) return 0;
    nd->k = k;
    nd->stride = stride;
    nd->pad = pad;
    nd->pw = new_param(b, name, "weight", XM_PK_CONV_W, XM_PG_BACKBONE, 4, c_out, t.c, k, k);
    int oh = (t.h + 2 * pad - k) / stride + 1, ow = (t.w + 2 * pad - k) / stride + 1;
    nd->out = new_tensor(b, oh, ow, c_out, 0, -1);
    return nd->out;
}

/* A batch norm; when it feeds an add (no ReLU), the add may reuse its
 * storage because bn backward without ReLU does not need its output. */
static int bn(builder *b, const char *name, int in, int relu)
{
    net_tdesc t = b->net->td[in];
    net_node *nd = new_node(b, NET_BN, in);
    if (!nd) return 0;
    nd->relu = relu;
    nd->pw = new_param(b, name, "weight", XM_PK_BN_W, XM_PG_BACKBONE, 1, t.c, 0, 0, 0);
    nd->pb = new_param(b, name, "bias", XM_PK_BN_B, XM_PG_BACKBONE, 1, t.c, 0, 0, 0);
    nd->pmean = new_param(b, name, "running_mean", XM_PK_BN_MEAN, XM_PG_BACKBONE, 1, t.c, 0, 0, 0);
    nd->pvar = new_param(b, name, "running_var", XM_PK_BN_VAR, XM_PG_BACKBONE, 1, t.c, 0, 0, 0);
    new_param(b, name, "num_batches_tracked", XM_PK_BN_COUNT, XM_PG_BACKBONE, 0, 0, 0, 0, 0);
    nd->bn = b->n_bn++;
    nd->out = new_tensor(b, t.h, t.w, t.c, 0, -1);
    return nd->out;
}

static int maxpool(builder *b, int in, int k, int stride, int pad)
{
    net_tdesc t = b->net->td[in];
    net_node *nd = new_node(b, NET_MAXPOOL, in);
    if (!nd) return 0;
    nd->k = k;
    nd->stride = stride;
    nd->pad = pad;
    int oh = (t.h + 2 * pad - k) / stride + 1, ow = (t.w + 2 * pad - k) / stride + 1;
    nd->out = new_tensor(b, oh, ow, t.c, 0, -1);
    return nd->out;
}

static int add_relu(builder *b, int a, int c)
{
    net_tdesc t = b->net->td[a];
    net_node *nd = new_node(b, NET_ADD, a);
    if (!nd) return 0;
    nd->in1 = c;
    nd->relu = 1;
    nd->out = new_tensor(b, t.h, t.w, t.c, 0, a); /* in place over a */
    return nd->out;
}

static int gap(builder *b, int in)
{
    net_tdesc t = b->net->td[in];
    net_node *nd = new_node(b, NET_GAP, in);
    if (!nd) return 0;
    nd->out = new_tensor(b, 1, 1, t.c, 1, -1);
    return nd->out;
}

static int linear(builder *b, const char *name, int in, int out, int head)
{
    int d = b->net->td[in].c;
    xm_param_group g = head ? XM_PG_SOURCE_FC : XM_PG_FC;
    net_node *nd = new_node(b, NET_LINEAR, in);
    if (!nd) return 0;
    nd->head = head;
    nd->pw = new_param(b, name, "weight", XM_PK_LINEAR_W, g, 2, out, d, 0, 0);
    nd->pb = new_param(b, name, "bias", XM_PK_LINEAR_B, g, 1, out, 0, 0, 0);
    nd->out = new_tensor(b, 1, 1, out, 1, -1);
    return nd->out;
}

/* torchvision BasicBlock / Bottleneck (v1.5: stride on the 3x3 conv). */
static int block(builder *b, const char *pre, int x, int planes, int stride, int bottleneck)
{
    char nm[64];
    int c_in = b->net->td[x].c, expansion = bottleneck ? 4 : 1, y;
#define NM(s) (snprintf(nm, sizeof nm, "%s.%s", pre, s), nm)
    if (bottleneck) {
        y = conv(b, NM("conv1"), x, planes, 1, 1, 0);
        y = bn(b, NM("bn1"), y, 1);
        y = conv(b, NM("conv2"), y, planes, 3, stride, 1);
        y = bn(b, NM("bn2"), y, 1);
        y = conv(b, NM("conv3"), y, planes * 4, 1, 1, 0);
        y = bn(b, NM("bn3"), y, 0);
    } else {
        y = conv(b, NM("conv1"), x, planes, 3, stride, 1);
        y = bn(b, NM("bn1"), y, 1);
        y = conv(b, NM("conv2"), y, planes, 3, 1, 1);
        y = bn(b, NM("bn2"), y, 0);
    }
    int sc = x;
    if (stride != 1 || c_in != planes * expansion) {
        sc = conv(b, NM("downsample.0"), x, planes * expansion, 1, stride, 0);
        sc = bn(b, NM("downsample.1"), sc, 0);
    }
#undef NM
    return add_relu(b, y, sc);
}

int xm_net__build(xm_net *net, xm_err *err)
{
    const xm_net_cfg *c = &net->cfg;
    const arch_def *a = arch_lookup(c->arch);
    if (!a)
        return xm_err_set(err, XM_EUSAGE, "unknown architecture '%s' (expected resnet18, "
                          "resnet34, resnet50, resnet101, resnet20, resnet32 or resnet56)",
                          c->arch ? c->arch : "(null)");
    if (c->in_channels <= 0 || c->in_channels > 64 || c->num_classes <= 0 ||
        c->source_classes < 0 || c->input_size <= 0)
        return xm_err_set(err, XM_EUSAGE, "%s: invalid network configuration "
                          "(in_channels %d, num_classes %d, source_classes %d, input_size %d)",
                          c->arch, c->in_channels, c->num_classes, c->source_classes,
                          c->input_size);
    int min_size = a->cifar ? 4 : 32;
    if (c->input_size < min_size)
        return xm_err_set(err, XM_EUSAGE, "%s: input size %d is below the minimum %d",
                          c->arch, c->input_size, min_size);
    builder b = {.net = net};
    int x = new_tensor(&b, c->input_size, c->input_size, c->in_channels, 0, -1);
    if (a->cifar) {
        x = conv(&b, "conv1", x, 16, 3, 1, 1);
    } else {
        x = conv(&b, "conv1", x, 64, 7, 2, 3);
    }
    x = bn(&b, "bn1", x, 1);
    if (!a->cifar) x = maxpool(&b, x, 3, 2, 1);
    int base = a->cifar ? 16 : 64;
    for (int st = 0; st < 4 && a->blocks[st]; st++) {
        for (int i = 0; i < a->blocks[st]; i++) {
            char pre[32];
            snprintf(pre, sizeof pre, "layer%d.%d", st + 1, i);
            int stride = (i == 0 && st > 0) ? 2 : 1;
            x = block(&b, pre, x, base << st, stride, a->bottleneck);
        }
    }
    net->feat_t = gap(&b, x);
    net->feat_dim = net->td[net->feat_t].c;
    net->s.n_backbone = b.w_off;
    net->logit_t[0] = linear(&b, "fc", net->feat_t, c->num_classes, 0);
    net->logit_t[1] = c->source_classes > 0
                          ? linear(&b, "source_fc", net->feat_t, c->source_classes, 1) : -1;
    if (b.failed) return xm_err_set(err, XM_EFAIL, "%s: out of memory", c->arch);
    net->s.n_w = b.w_off;
    net->s.n_buf = b.buf_off;
    net->s.n_bn = b.n_bn;
    return 0;
}
