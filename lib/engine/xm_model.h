/* xm_model.h: model files (formats/model.md).
 *
 * HDF5, one dataset per tensor named exactly as torchvision's state_dict key
 * (float32; conv weights OIHW; num_batches_tracked an int64 scalar), with
 * root attributes arch, num_classes, classes, input_size, in_channels, mean,
 * std, and for a fine-tuned model source_classes (the source head's class
 * names). Loading checks every name, shape and dtype and reports missing,
 * unexpected and mismatched tensors by name. Saving writes a temporary file
 * in the same directory and renames it (xm_atomic).
 *
 * The tensor functions that take an open file id are for checkpoints
 * (issue 6), which add their own datasets and groups next to the tensors.
 */
#ifndef XM_MODEL_H
#define XM_MODEL_H

#include "xm_h5.h"
#include "xm_net.h"

#define XM_MODEL_MAX_CH 64

typedef struct xm_model_meta {
    char arch[32];
    int num_classes;
    int in_channels;
    int input_size;
    int source_classes;        /* number of source classes (0: no source head) */
    char **classes;            /* num_classes names, or NULL */
    char **source_names;       /* source_classes names, or NULL */
    float mean[XM_MODEL_MAX_CH], std[XM_MODEL_MAX_CH];
} xm_model_meta;

enum {
    XM_MODEL_FORCE = 1,         /* save: overwrite an existing file */
    XM_MODEL_BACKBONE_ONLY = 2  /* load: read only backbone tensors; the heads
                                 * in the file (any size) are ignored */
};

/* Defaults for a configuration: ImageNet mean/std for 3 channels, 0.5/0.5
 * otherwise; no class names. */
void xm_model_meta_default(xm_model_meta *m, const xm_net_cfg *cfg);
/* The network configuration the meta describes. */
xm_net_cfg xm_model_meta_cfg(const xm_model_meta *m);
void xm_model_meta_release(xm_model_meta *m); /* frees class names */

/* Read the attributes of a model file (no tensors). */
int xm_model_read_meta(const char *path, xm_model_meta *m, xm_err *err);
int xm_model_read_meta_h5(hid_t f, const char *path, xm_model_meta *m, xm_err *err);

/* Create a network from a file's attributes and load its tensors. meta
 * (may be NULL) receives the attributes. */
xm_net *xm_model_load(xm_backend *be, const char *path, xm_model_meta *meta, xm_err *err);
/* Load a file's tensors into an existing network (flags: BACKBONE_ONLY). */
int xm_model_load_into(xm_net *net, const char *path, int flags, xm_err *err);
int xm_model_read_tensors(xm_net *net, hid_t f, const char *path, int flags, xm_err *err);

/* Save the network's tensors and meta's attributes (meta may be NULL:
 * defaults from the network's configuration). */
int xm_model_save(const xm_net *net, const xm_model_meta *meta, const char *path, int flags,
                  xm_err *err);
int xm_model_write_tensors(const xm_net *net, hid_t f, xm_err *err);
int xm_model_write_meta(const xm_net *net, const xm_model_meta *meta, hid_t f, xm_err *err);

#endif
