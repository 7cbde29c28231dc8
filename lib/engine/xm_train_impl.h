/* xm_train_impl.h: the trainer's internals, shared by xm_train*.c and
 * xm_ckpt.c. Not a public interface. */
#ifndef XM_TRAIN_IMPL_H
#define XM_TRAIN_IMPL_H

#include <stdio.h>

#include "xm_backend.h"
#include "xm_model.h"
#include "xm_net.h"
#include "xm_plan.h"
#include "xm_train.h"
#include "xm_xms.h"
#include "xm_xms_readers.h"

/* ---- the loader (xm_train_loader.c) ---- */

/* One step's host data, ready for upload. */
typedef struct xm_batch {
    int64_t step;
    int n;                  /* slots */
    uint8_t *px;            /* records, back to back */
    size_t px_bytes, px_cap;
    xm_mix_item *items;     /* n; offsets into px */
    int32_t *label_t;       /* target class of the target image, -1 none */
    int32_t *label_p;       /* partner: target class (domain 0) or source-head
                             * row (domain 1), -1 none */
    uint8_t *dom;
    float *lam;
    int valid;              /* leading non-empty slots (eval batches) */
    xm_xms_fetch *reads;    /* the reads that fill px */
    int n_reads, cap_reads;
} xm_batch;

/* Where the loader finds images: a plan, its sets and the map from
 * partner classes to source-head rows (-1: not in the head). */
typedef struct xm_loader_src {
    const xm_plan *plan;
    const xm_xms_set *target, *partner;
    const int32_t *src_row; /* partner class -> head row; NULL if no partner */
} xm_loader_src;

typedef struct xm_loader xm_loader;

/* Start a thread producing steps [k0, k1) one ahead of the consumer, its
 * records read by `readers` threads (xm_xms_readers_new: <= 0, default). */
int xm_loader_start(const xm_loader_src *src, int64_t k0, int64_t k1, int readers,
                    xm_loader **out, xm_err *err);
/* The next step's batch (blocks until ready); valid until the next call. */
int xm_loader_next(xm_loader *l, const xm_batch **b, xm_err *err);
/* Seconds the consumer has spent blocked in xm_loader_next, waiting for the
 * thread to finish a batch: while it waits, nothing new reaches the device. */
double xm_loader_wait_s(const xm_loader *l);
/* Stop the thread and free (NULL ok). */
void xm_loader_free(xm_loader *l);
/* Fill one batch (the loader thread's work): sizes and labels from the
 * index, then the pixels by the readers. */
int xm_batch_fill(const xm_loader_src *src, xm_xms_readers *rd, int64_t k, xm_batch *b,
                  xm_err *err);
void xm_batch_release(xm_batch *b);

/* ---- the trainer's state ---- */

typedef struct xm_trainer {
    const xm_train_cfg *cfg;
    xm_backend *be;
    xm_plan plan;
    char plan_xxh[17];
    xm_xms_set *target, *partner, *test;
    int channels;
    int nt, ns;                  /* target and source head sizes */
    int32_t *src_row;            /* partner class -> source head row */
    int nolabel;                 /* xmixup-nolabel: the partner's label dropped */
    xm_net *net;
    xm_model_meta meta;          /* written with the model */
    float *w0;                   /* backend: starting weights (l2sp), or NULL */
    size_t freeze_end;           /* [0, freeze_end) of the slab is frozen */
    int64_t step;                /* next step to run */
    /* loss scaling (xm_train_scale.c); ls_scale 0: off */
    double ls_scale;
    int ls_dynamic;
    int64_t ls_window, ls_good, ls_skipped; /* finite steps since the last change; skipped */
    /* per-step device buffers */
    uint8_t *rec_dev;
    size_t rec_cap;
    xm_tensor x, lab_t, lab_s, dl_t, dl_s, dfeat;
    float *host_t, *host_s, *host_f, *host_df, *host_j;
    char *config_json;           /* the full configuration, for files */
    FILE *metrics;
    char notes[1024];            /* remarks for the caller, one per line */
} xm_trainer;

/* xm_train_setup.c */
int xm_trainer_open_data(xm_trainer *t, xm_err *err);
int xm_trainer_build_net(xm_trainer *t, xm_err *err);
int xm_trainer_alloc(xm_trainer *t, xm_err *err);
void xm_trainer_release(xm_trainer *t);
/* xm_train_step.c */
double xm_train_lr(const xm_train_cfg *c, int64_t k, int64_t steps);
int xm_train_step(xm_trainer *t, const xm_batch *b, double lr, double *loss, xm_err *err);
int xm_train_upload_batch(xm_trainer *t, const xm_batch *b, xm_err *err);
/* xm_train_scale.c */
/* 1 when s is a valid loss scale: a power of two from 1 to 2^127. */
int xm_train_loss_scale_ok(double s);
/* The loss scaling a configuration asks for (the automatic choice resolved):
 * *scale 0 = none. */
void xm_train_loss_scale_of(const xm_train_cfg *c, double *scale, int *dynamic);
/* "none", "dynamic:65536" or "static:1024" */
void xm_train_loss_scale_name(const xm_train_cfg *c, char *buf, size_t cap);
int xm_train_scale_setup(xm_trainer *t, xm_err *err);
/* Multiply the loss gradients (heads, BSS features) by the scale. */
int xm_train_scale_up(xm_trainer *t, xm_err *err);
/* Divide the trained gradients by the scale; *apply = 0 when the step must
 * be skipped (not finite; the dynamic scale is halved). Errors: a static
 * scale, or a dynamic one already at 1. */
int xm_train_scale_down(xm_trainer *t, int64_t step, int *apply, xm_err *err);
/* the dynamic scale's growth after an applied step */
void xm_train_scale_applied(xm_trainer *t);

/* xm_ckpt.c */
int xm_ckpt_save(xm_trainer *t, const char *path, xm_err *err);
int xm_ckpt_load(xm_trainer *t, const char *path, xm_err *err);
int xm_train_save_model(xm_trainer *t, const char *path, int flags, xm_err *err);
/* the configuration as JSON (malloc'd) */
char *xm_train_config_json(const xm_train_cfg *c);

#endif
