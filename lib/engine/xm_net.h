/* xm_net.h: the ResNet family, written once above the backend interface.
 *
 * An xm_net is built from an architecture name:
 *   resnet18/34/50/101  torchvision v1.5 (7x7 s2 stem, max pool, stride on
 *                       the 3x3 conv of Bottleneck)
 *   resnet20/32/56      CIFAR-style: 3x3 s1 stem, no max pool, three stages
 *                       of 16/32/64 channels, 3/5/9 BasicBlocks, strides
 *                       1, 2, 2, 1x1 conv + bn projection shortcuts
 * with any number of input channels, a square input size, a target head
 * `fc` and optionally a source head `source_fc`; both read the pooled
 * features (after global average pooling).
 *
 * Memory (STYLE.md 5): trainable parameters live in one F32 slab `w` in
 * backend memory, backbone tensors first (torchvision state_dict order),
 * then fc.weight, fc.bias, then source_fc.weight, source_fc.bias; so
 * [0, n_backbone) is the backbone and [n_backbone, n_w) the heads. The
 * gradient slab `g` and momentum slab `mom` have the same layout. Batch-norm
 * running means and variances live in a separate F32 slab `buf`;
 * num_batches_tracked is one int64 per batch norm, on the host. Code that
 * writes the w slab itself (an optimizer over ranges, a checkpoint load)
 * must call be->ops->params_changed(be) afterwards, as xm_net_set_weights
 * and xm_net_sgd_step do.
 *
 * Use: xm_net_new, xm_net_init (or xm_model_load), then per batch
 * xm_net_forward on an input tensor filled by be->ops->input_mix, and for
 * training xm_net_backward from the loss gradients of the heads, then
 * xm_net_sgd_step (or any optimizer over the slabs). Activation buffers and
 * plans are created for the batch size on first use and reused; they are
 * recreated when the batch size changes.
 */
#ifndef XM_NET_H
#define XM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "xm_backend.h"
#include "xm_err.h"

#define XM_NET_NAME_MAX 48

typedef enum xm_param_kind {
    XM_PK_CONV_W = 0,   /* conv weight, OIHW */
    XM_PK_BN_W = 1,     /* batch-norm gamma */
    XM_PK_BN_B = 2,     /* batch-norm beta */
    XM_PK_BN_MEAN = 3,  /* running_mean (buffer slab) */
    XM_PK_BN_VAR = 4,   /* running_var (buffer slab) */
    XM_PK_BN_COUNT = 5, /* num_batches_tracked (int64 scalar, host) */
    XM_PK_LINEAR_W = 6, /* linear weight (out, in) */
    XM_PK_LINEAR_B = 7  /* linear bias */
} xm_param_kind;

/* Which part of the network a tensor belongs to. */
typedef enum xm_param_group {
    XM_PG_BACKBONE = 0,
    XM_PG_FC = 1,        /* target head */
    XM_PG_SOURCE_FC = 2  /* source head */
} xm_param_group;

/* One entry of the parameter table, in torchvision state_dict order. */
typedef struct xm_param {
    char name[XM_NET_NAME_MAX]; /* state_dict key, e.g. "layer1.0.conv1.weight" */
    xm_param_kind kind;
    xm_param_group group;
    int trainable;     /* 1: lives in the w/g/mom slabs */
    int rank;          /* 0 for num_batches_tracked */
    int64_t shape[4];
    size_t count;      /* number of elements */
    size_t offset;     /* trainable: into w; running stats: into buf;
                        * num_batches_tracked: index of the batch norm */
} xm_param;

typedef struct xm_net_cfg {
    const char *arch;     /* "resnet18", ..., "resnet20", ... */
    int in_channels;      /* 3 for RGB, 1 for grey */
    int input_size;       /* square input side in pixels */
    int num_classes;      /* target head size (> 0) */
    int source_classes;   /* source head size; 0 = no source head */
} xm_net_cfg;

/* The slabs, for optimizers, checkpoints and tests. Pointers are backend
 * memory except nbt. g and mom are NULL until xm_net_alloc_train. */
typedef struct xm_net_slabs {
    float *w, *g, *mom;
    float *buf;
    int64_t *nbt;           /* host, n_bn entries */
    size_t n_w, n_backbone, n_buf;
    int n_bn;
} xm_net_slabs;

typedef struct xm_net xm_net;

/* 1 when arch is one of the names above. */
int xm_net_arch_known(const char *arch);
/* Default input size of an arch (224 for ImageNet ResNets, 32 for CIFAR). */
int xm_net_arch_default_size(const char *arch);

/* Build the description and allocate w and buf (zeroed) in be. The backend
 * must outlive the network. */
xm_net *xm_net_new(xm_backend *be, const xm_net_cfg *cfg, xm_err *err);
void xm_net_free(xm_net *net); /* NULL ok */

const xm_net_cfg *xm_net_config(const xm_net *net); /* arch string owned by net */
int xm_net_feature_dim(const xm_net *net);
const xm_param *xm_net_params(const xm_net *net, int *count);
/* Index of the named tensor in the table, or -1. */
int xm_net_param_find(const xm_net *net, const char *name);
const xm_net_slabs *xm_net_slabs_get(const xm_net *net);

/* Allocate the gradient and momentum slabs (zeroed); idempotent. */
int xm_net_alloc_train(xm_net *net, xm_err *err);

/* Initialise as torchvision does from a seed (Philox, one stream per
 * tensor): convs kaiming_normal_(fan_out, relu), BN weight 1 bias 0, running
 * mean 0 var 1, linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
 * bias; num_batches_tracked 0. */
int xm_net_init(xm_net *net, uint64_t seed, xm_err *err);
/* Initialise only the tensors of one group (e.g. a new head). */
int xm_net_init_group(xm_net *net, xm_param_group group, uint64_t seed, xm_err *err);

/* Host copies of whole slabs: w/buf as float arrays of n_w/n_buf. */
int xm_net_get_weights(const xm_net *net, float *w_host, float *buf_host, xm_err *err);
/* Upload new weights (either may be NULL) and signal params_changed. */
int xm_net_set_weights(xm_net *net, const float *w_host, const float *buf_host, xm_err *err);

/* Forward pass. x: (n, S, S, in_channels) in be->act_dtype, S = input_size;
 * it must stay unchanged until xm_net_backward. train: batch statistics and
 * running-stat update (and saves what backward needs); else running stats. */
int xm_net_forward(xm_net *net, const xm_tensor *x, int train, xm_err *err);
/* Results of the last forward, valid until the next one: pooled features
 * (n, 1, 1, D) F32, and the logits of head 0 (fc) or 1 (source_fc). */
const xm_tensor *xm_net_features(const xm_net *net);
const xm_tensor *xm_net_logits(const xm_net *net, int head);

/* Backward after a training forward. dlogits[h]: gradient of the loss
 * w.r.t. head h's logits (F32, same shape), NULL when the head has no loss;
 * dfeat: an extra gradient on the pooled features (BSS), or NULL. Fills the
 * whole gradient slab g (overwritten; tensors no gradient reaches get 0).
 * The dlogits/dfeat tensors are not modified. */
int xm_net_backward(xm_net *net, const xm_tensor *const dlogits[2], const xm_tensor *dfeat,
                    xm_err *err);

/* One SGD update over the whole slab (torch.optim.SGD semantics), then
 * params_changed. w0 may be NULL (no L2-SP). */
int xm_net_sgd_step(xm_net *net, const xm_sgd_cfg *cfg, const float *w0, xm_err *err);

/* Release activation buffers and plans (they are recreated on demand). */
void xm_net_release_batch(xm_net *net);

#endif
