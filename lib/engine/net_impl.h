/* net_impl.h: the network's internal description (shared by net_arch.c,
 * net_init.c and xm_net.c; not part of the public interface).
 *
 * The network is a list of nodes in execution order over numbered tensors.
 * Tensor 0 is the input. Each node reads one or two tensors and writes one;
 * backward walks the nodes in reverse, so every consumer of a tensor has
 * contributed its gradient before the tensor's producer runs.
 */
#ifndef XM_NET_IMPL_H
#define XM_NET_IMPL_H

#include "xm_net.h"

typedef enum net_op {
    NET_CONV = 0,
    NET_BN = 1,
    NET_MAXPOOL = 2,
    NET_ADD = 3,
    NET_GAP = 4,
    NET_LINEAR = 5
} net_op;

typedef struct net_node {
    net_op op;
    int in0, in1, out;   /* tensor ids; in1 only for NET_ADD */
    int relu;            /* BN, ADD: fused ReLU */
    int pw, pb;          /* param table ids: conv/linear weight, bn gamma; bias/beta */
    int pmean, pvar;     /* BN running stats (param table ids) */
    int bn;              /* BN: index into nbt */
    int k, stride, pad;  /* conv and max pool geometry */
    int head;            /* LINEAR: 0 fc, 1 source_fc */
    void *plan;          /* conv/pool plan for the current batch size */
    float *save_mean, *save_invstd; /* BN, backend memory (c floats) */
} net_node;

typedef struct net_tdesc {
    int h, w, c;  /* per-sample shape */
    int f32;      /* always float32 (pooled features, logits) */
    int alias;    /* storage shared with this tensor id, or -1 */
} net_tdesc;

typedef struct net_pool_buf {
    void *p;
    size_t bytes;
    int used;
} net_pool_buf;

struct xm_net {
    xm_backend *be;
    xm_net_cfg cfg;
    char arch[32];

    xm_param *params;
    int n_params, cap_params;
    net_node *nodes;
    int n_nodes, cap_nodes;
    net_tdesc *td;
    int n_t, cap_t;
    int feat_t;          /* pooled features tensor */
    int logit_t[2];      /* logits tensors, -1 when absent */
    int feat_dim;

    xm_net_slabs s;

    /* Per batch size: plans, activations, gradient buffers and their pool.
     * Training keeps every activation (act, allocated on the first training
     * forward); inference reuses buffers once a tensor is consumed (iact
     * over ibufs, allocated on the first inference forward). cur points to
     * the set of the last forward. */
    int batch;
    xm_tensor *act;      /* n_t, training set */
    xm_tensor *iact;     /* n_t, inference set */
    void **ibufs;
    int n_ibufs;
    xm_tensor *cur;
    xm_tensor *grad;     /* n_t; data NULL when no gradient */
    unsigned char *grad_owned; /* 1: grad[t] came from the pool */
    net_pool_buf *pool;
    int n_pool, cap_pool;
    int fwd_train;       /* last forward was in training mode */
};

/* Build params, nodes and tensors for net->cfg (net_arch.c). */
int xm_net__build(xm_net *net, xm_err *err);

#endif
