/* xm_probe.h: evaluating a model (xm-probe; formats/probe.md).
 *
 * Four independent pieces, so that each can be tested on its own numbers:
 * - accuracy bookkeeping from logits: top-1, top-5, per-class accuracy and
 *   the confusion matrix (xm_probe_acc);
 * - the evaluation loop: a model over an .xms data set, center crop to the
 *   model's input size through the backend's input_mix, batch by batch,
 *   handing logits and pooled features to a callback (xm_probe_run);
 * - the linear probe: multinomial logistic regression with L2 on frozen
 *   features, fitted by L-BFGS until the gradient norm is small
 *   (xm_logreg_fit);
 * - the feature spectrum: singular values of a feature matrix from the
 *   eigenvalues of its D x D Gram matrix (xm_probe_spectrum).
 * Nothing here prints. */
#ifndef XM_PROBE_H
#define XM_PROBE_H

#include <stdint.h>

#include "xm_backend.h"
#include "xm_err.h"
#include "xm_model.h"
#include "xm_net.h"
#include "xm_xms.h"

/* ---- accuracy ---- */
typedef struct xm_probe_acc {
    int k;              /* classes of the head (columns of the logits) */
    int64_t n;          /* samples counted */
    int64_t top1, top5; /* correct within the first 1 / min(5, k) predictions */
    int64_t *confusion; /* k x k, row = true class, column = predicted */
} xm_probe_acc;

int xm_probe_acc_init(xm_probe_acc *a, int k, xm_err *err);
void xm_probe_acc_release(xm_probe_acc *a);
/* Count n samples: logits n x k row-major, labels in [0, k) (other labels
 * are not counted). pred and score (may be NULL) receive each sample's
 * predicted class and its softmax probability. Ties go to the lower class. */
void xm_probe_acc_add(xm_probe_acc *a, const float *logits, const int32_t *labels, int n,
                      int32_t *pred, float *score);
double xm_probe_acc_top1(const xm_probe_acc *a);
double xm_probe_acc_top5(const xm_probe_acc *a);
/* Mean over the classes that have at least one sample of their accuracy. */
double xm_probe_acc_mean_class(const xm_probe_acc *a);
/* Samples of class c (its correct ones: confusion[c * k + c]). */
int64_t xm_probe_acc_class_n(const xm_probe_acc *a, int c);

/* ---- label mapping ---- */
/* map[j] = index in head_names of the data's class j (by name), or -1 when
 * the head has no such class. head_names NULL (a model without class
 * names): identity, -1 for j >= head_k. Returns the number of data classes
 * mapped. */
int xm_probe_map_classes(const char *const *head_names, int head_k, const xm_xms_set *set,
                         int32_t *map);

/* ---- the evaluation loop ---- */
typedef struct xm_probe_batch {
    int64_t first;          /* global record index of row 0 */
    int n;
    const int32_t *labels;  /* the records' labels, mapped to the head (-1: not in it) */
    const float *logits;    /* n x k, or NULL when not asked for */
    int k;
    const float *features;  /* n x d pooled features, or NULL when not asked for */
    int d;
} xm_probe_batch;

typedef int (*xm_probe_fn)(void *ctx, const xm_probe_batch *b, xm_err *err);

typedef struct xm_probe_run_opts {
    int batch;             /* records per forward pass (> 0) */
    int head;              /* 0: fc, 1: source_fc */
    int want_logits, want_features;
    int readers;           /* threads reading records (xm_xms_readers_new: 0 = default) */
    const int32_t *map;    /* data class -> head class (xm_probe_map_classes); NULL: identity */
    void (*progress)(void *ctx, int64_t done, int64_t total); /* may be NULL */
    void *progress_ctx;
} xm_probe_run_opts;

/* Run net (evaluation mode: running batch-norm statistics) over every
 * record of set: center crop to the input size (torchvision CenterCrop
 * rounding; smaller records are padded with zeros), meta's mean/std, and
 * call fn per batch. Records must have the model's channel count
 * (XM_EDATA otherwise). */
int xm_probe_run(xm_backend *be, xm_net *net, const xm_model_meta *meta, const xm_xms_set *set,
                 const xm_probe_run_opts *o, xm_probe_fn fn, void *ctx, xm_err *err);

/* ---- linear probe: multinomial logistic regression with L2 ----
 * Minimises (1/n) sum_i -log softmax(W x_i + b)_{y_i} + (l2/2) ||W||^2
 * (bias not penalised) by L-BFGS (memory 10, backtracking line search with
 * the Armijo condition) until the largest gradient entry is below tol, or
 * max_iter iterations. Samples with a label outside [0, k) are ignored. */
typedef struct xm_logreg {
    int d, k;
    float *w;     /* k x d */
    float *b;     /* k */
    int iters;    /* iterations used */
    double loss;  /* final objective */
    double gnorm; /* final largest |gradient| entry */
    int converged;
} xm_logreg;

typedef struct xm_logreg_opts {
    double l2;     /* default 1e-4 when 0 */
    double tol;    /* default 1e-5 when 0 */
    int max_iter;  /* default 1000 when 0 */
    int threads;   /* 0: OpenMP's default */
} xm_logreg_opts;

int xm_logreg_fit(const float *x, const int32_t *y, int64_t n, int d, int k, const xm_logreg_opts *o,
                  xm_logreg *out, xm_err *err);
void xm_logreg_release(xm_logreg *m);
/* logits (n x k) = x W^T + b. */
void xm_logreg_logits(const xm_logreg *m, const float *x, int64_t n, float *logits);

/* ---- linear probe on a class subset (xm_probe_subset.c) ----
 * The paper's forgetting analysis (its Table 2) probes the auxiliary source
 * classes, the others and all. keep[c] != 0 selects class c of the k
 * training classes; rows of other classes (and labels outside [0, k)) are
 * left out of both sets, the kept classes renumbered in ascending order,
 * the features standardised with the kept training rows (inputs are not
 * modified), the regression fitted, and the kept evaluation rows counted
 * into acc (acc.k = classes). */
typedef struct xm_probe_subset_result {
    int classes;
    int64_t train_n;
    xm_probe_acc acc;
    xm_logreg lr;
} xm_probe_subset_result;

int xm_probe_linear_subset(const float *trf, const int32_t *trl, int64_t ntr, const float *evf,
                           const int32_t *evl, int64_t nev, int d, int k, const uint8_t *keep,
                           const xm_logreg_opts *o, xm_probe_subset_result *r, xm_err *err);
void xm_probe_subset_release(xm_probe_subset_result *r);

/* Standardise columns of x (n x d) in place with mean and std computed on
 * it (mean/std out, d each) or given (compute = 0). Constant columns get std 1. */
void xm_probe_standardise(float *x, int64_t n, int d, float *mean, float *std, int compute);

/* ---- spectrum ---- */
/* Singular values of x (n x d, row-major, not centred), descending, into
 * sv (min(n, d) values; the rest of d set to 0). */
int xm_probe_spectrum(const float *x, int64_t n, int d, double *sv, xm_err *err);

#endif
