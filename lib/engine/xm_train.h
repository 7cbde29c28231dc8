/* xm_train.h: fine-tuning a network by executing a plan (xm-train).
 *
 * The trainer reads a plan (xm_plan.h), the .xms files it names and a
 * model file (or initialises a fresh network), and runs one SGD step per
 * plan step: a loader thread decodes the next step's records while the
 * backend computes; the backend's input_mix crops, flips and mixes them;
 * the loss is a soft-label cross-entropy over the target head and the
 * source head (label mode joint or split); regularizers l2, l2sp, bss.
 * Checkpoints (formats/checkpoint.md) hold everything needed to continue
 * bit-identically on the CPU.
 *
 * The library never prints: progress and results reach the caller through
 * the on_event callback, and metrics go to a JSON-lines file.
 */
#ifndef XM_TRAIN_H
#define XM_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "xm_err.h"

typedef enum xm_label_mode { XM_LABEL_JOINT = 0, XM_LABEL_SPLIT = 1 } xm_label_mode;
typedef enum xm_sched_kind {
    XM_SCHED_MULTISTEP = 0,
    XM_SCHED_COSINE = 1,
    XM_SCHED_CONSTANT = 2
} xm_sched_kind;
typedef enum xm_reg_kind { XM_REG_L2 = 0, XM_REG_L2SP = 1, XM_REG_BSS = 2 } xm_reg_kind;

#define XM_TRAIN_MAX_MILESTONES 16

typedef struct xm_train_cfg {
    /* inputs and outputs */
    const char *model_path;   /* NULL: fresh network from arch + init_seed */
    const char *arch;
    uint64_t init_seed;       /* fresh network and new heads */
    const char *plan_path;
    const char *out_path;     /* final model */
    const char *ckpt_path;    /* NULL: out_path with .ckpt.h5 */
    const char *resume_path;  /* NULL: start at step 0 */
    const char *metrics_path; /* JSON lines; NULL: none */
    const char *eval_path;    /* test .xms; NULL: none */
    int force;                /* overwrite out/metrics */
    /* loss and optimizer */
    xm_label_mode label_mode;
    double lr, momentum, wd;
    int nesterov;
    xm_sched_kind sched;
    int n_milestones;         /* 0: multistep at 2/3 of the steps */
    int64_t milestones[XM_TRAIN_MAX_MILESTONES];
    double gamma;
    int64_t warmup;           /* linear warmup steps */
    double head_lr_mult;
    const char *freeze_upto;  /* NULL: train everything */
    xm_reg_kind reg;
    double l2sp_alpha, l2sp_beta;
    int bss_k;
    double bss_eta;
    /* schedule of side work */
    int64_t eval_every, ckpt_every, stop_after, log_every;
    /* backend */
    const char *device;       /* "cpu", "cuda", "auto" */
    int precision;            /* xm_precision: F32 (default); TF32, BF16, F16 need CUDA */
    /* Loss scaling (xm_train_scale.c): the loss gradients are multiplied by
     * the scale before the backward pass and the parameter gradients divided
     * by it after; a step whose gradients are not finite is not applied.
     * loss_scale < 0: automatic (dynamic from 65536 for F16, else none);
     * 0: none; > 0: a power of two, the starting scale when dynamic (halved
     * on a skipped step, doubled after loss_scale_window finite steps, as
     * torch.cuda.amp.GradScaler does) or the fixed scale (a non-finite
     * gradient then stops the run). */
    double loss_scale;
    int loss_scale_dynamic;
    int64_t loss_scale_window; /* 0: 2000 */
    int threads;
    int readers; /* threads reading records (xm_xms_readers_new); 0: half the cores, 1-8 */
    /* interruption: when *stop becomes nonzero (a signal handler sets it to
     * the signal number), the step finishes, a checkpoint is written and
     * xm_train_run returns XM_EINTR_INT or XM_EINTR_TERM. May be NULL. */
    volatile sig_atomic_t *stop;
} xm_train_cfg;

/* "none", "dynamic", "dynamic:S" or "S" (S a power of two in [1, 2^127])
 * into c->loss_scale and c->loss_scale_dynamic. */
int xm_train_parse_loss_scale(const char *s, xm_train_cfg *c, xm_err *err);

/* Defaults: lr 0.01, momentum 0.9, wd 1e-4, multistep at 2/3 with gamma
 * 0.1, head_lr_mult 1, l2sp alpha 0.1 beta 0.01 (L2-SP paper), bss k 1
 * eta 0.001 (BSS paper), log_every 10, device cpu, init_seed 0, loss scale
 * automatic. */
void xm_train_cfg_default(xm_train_cfg *c);

/* What the caller hears about (for progress lines and logs). */
typedef enum xm_train_event_kind {
    XM_TRAIN_EV_START = 0,  /* steps, first_step set */
    XM_TRAIN_EV_STEP = 1,   /* after every step: step, loss, lr, images_per_s */
    XM_TRAIN_EV_EVAL = 2,   /* top1, mean_class_acc, n */
    XM_TRAIN_EV_CKPT = 3,   /* path */
    XM_TRAIN_EV_NOTE = 4    /* text: a one-line remark (e.g. a new head) */
} xm_train_event_kind;

typedef struct xm_train_event {
    xm_train_event_kind kind;
    int64_t step, steps, first_step;
    double loss, lr, images_per_s;
    double top1, mean_class_acc;
    int64_t n;
    const char *path, *text;
} xm_train_event;

typedef void (*xm_train_cb)(void *ctx, const xm_train_event *ev);

/* Run the whole training. Returns 0 when the plan is done (or --stop-after
 * was reached: *stopped_early = 1), XM_EINTR_* when interrupted (a
 * checkpoint was written), else an error (NaN/Inf loss: XM_EFAIL naming
 * the step; the last checkpoint is left as it was). cb may be NULL. */
int xm_train_run(const xm_train_cfg *cfg, xm_train_cb cb, void *ctx, int *stopped_early,
                 xm_err *err);

/* BSS (xm_bss.c): features f (n x d, row-major). Returns eta times the sum
 * of the k smallest squared singular values, and its gradient in df (n x d,
 * overwritten), from the eigenvalues of the smaller Gram matrix (LAPACK
 * dsyev). Near-equal eigenvalues at the boundary of the k smallest share
 * the boundary's weight, so the gradient stays a valid subgradient. */
int xm_bss_grad(const float *f, int n, int d, int k, double eta, double *loss, float *df,
                xm_err *err);

#endif
