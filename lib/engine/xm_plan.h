/* xm_plan.h: mixed-batch plans (formats/plan.md).
 *
 * A plan lists, for every training step and slot, which stored records
 * form the sample and how: the target record, the partner record and its
 * domain, lambda (the weight of the target image), and for both images the
 * crop offset and the flip. xm-train executes any plan, so XMixup, its
 * ablations and the baselines differ only in their plan.
 *
 * Every random draw is a pure function of (seed, step, slot) through the
 * counter-based RNG, so a plan is reproducible and one step can be
 * regenerated alone (xm_plan_gen_step). Target records are drawn without
 * replacement within each pass over the target set: pass p is a shuffle of
 * the records keyed by (seed, p), and the slot at global position
 * q = step * B + slot takes element q mod N of pass q / N.
 *
 * Layout of the slots of one step:
 *   none, mixup, xmixup, xmixup-nolabel: B slots, each a target sample
 *   cotrain: 2B slots: [0, B) target samples (lambda 1, no partner), then
 *            [B, 2B) pure source samples (target_record -1, lambda 0)
 *   source:  B pure source samples
 *   eval:    B slots of test records in order, center crops, lambda 1;
 *            slots past the last record have target_record -1 and
 *            partner_record -1 (empty, ignored)
 * Pure source samples are drawn without replacement per pass over the
 * auxiliary set (all records of the paired source classes).
 */
#ifndef XM_PLAN_H
#define XM_PLAN_H

#include <stdint.h>

#include "xm_err.h"
#include "xm_xms.h"

typedef enum xm_plan_mode {
    XM_PLAN_NONE = 0,
    XM_PLAN_MIXUP = 1,
    XM_PLAN_XMIXUP = 2,
    XM_PLAN_XMIXUP_NOLABEL = 3,
    XM_PLAN_COTRAIN = 4,
    XM_PLAN_SOURCE = 5,
    XM_PLAN_EVAL = 6
} xm_plan_mode;

#define XM_PLAN_MAX_BATCH 65536
#define XM_PLAN_MAX_STEPS ((int64_t)1 << 40)
/* steps x slots at most: 2^28 slots are 8.3 GB of plan in memory (the
 * paper's protocol needs 432,000); a file declaring more is refused before
 * allocating, since HDF5 can declare a huge dataset that stores nothing. */
#define XM_PLAN_MAX_SLOTS ((int64_t)1 << 28)

const char *xm_plan_mode_name(xm_plan_mode m);
/* Returns 0 and sets *m, or XM_EUSAGE for an unknown name. */
int xm_plan_mode_parse(const char *s, xm_plan_mode *m, xm_err *err);
/* 1 when the mode needs a partner (source) set / a pairs file. */
int xm_plan_mode_needs_partner(xm_plan_mode m);
int xm_plan_mode_needs_pairs(xm_plan_mode m);

typedef struct xm_plan_cfg {
    xm_plan_mode mode;
    int64_t steps;   /* eval: 0 = as many as the test set needs */
    int batch;       /* B: samples per step (cotrain: B target + B source) */
    double alpha;    /* Beta(alpha, beta) for xmixup; Beta(alpha, alpha) mixup */
    double beta;
    uint64_t seed;
    int input_size;  /* crop side; 0 = the stored size (uniform records) */
    int pad;         /* random crops may reach pad pixels past each edge */
    int flip;        /* 1: random horizontal flips (never for eval) */
} xm_plan_cfg;

/* alpha 1, beta 1, flip on, the rest 0. */
void xm_plan_cfg_default(xm_plan_cfg *c);

/* Pairs (target class, source class), class indices of the .xms files. */
typedef struct xm_plan_pairs {
    int n;
    const int32_t *target, *source;
    const char *path; /* the pairs file, named in errors (may be NULL) */
} xm_plan_pairs;

typedef struct xm_plan_gen xm_plan_gen;

/* Prepare a generator: checks the configuration against the data (labels
 * in range, every target class of a paired mode has a paired source class
 * with records, input size vs stored sizes). target is NULL only for
 * mode source; partner is NULL for none/mixup/eval. pairs may be NULL for
 * cotrain and source: every partner class is then used. The sets must
 * outlive the generator. */
int xm_plan_gen_new(const xm_plan_cfg *cfg, const xm_xms_set *target,
                    const xm_xms_set *partner, const xm_plan_pairs *pairs,
                    xm_plan_gen **out, xm_err *err);
void xm_plan_gen_free(xm_plan_gen *g); /* NULL ok */
int64_t xm_plan_gen_steps(const xm_plan_gen *g); /* S (resolved for eval) */
int xm_plan_gen_slots(const xm_plan_gen *g);     /* slots per step */
int xm_plan_gen_input_size(const xm_plan_gen *g);
/* Source classes of the partner head (partner class indices, ascending). */
const int32_t *xm_plan_gen_source_classes(const xm_plan_gen *g, int *n);
/* Records of the auxiliary set (partner records of the source classes),
 * ascending. */
const int64_t *xm_plan_gen_aux_records(const xm_plan_gen *g, int64_t *n);

/* One step's rows: arrays of slots (crop: slots*4, flip: slots*2). */
typedef struct xm_plan_rows {
    int64_t *target_record, *partner_record;
    uint8_t *partner_domain;
    float *lambda;
    int16_t *crop;
    uint8_t *flip;
} xm_plan_rows;

/* Generate step k alone into rows (each array sized for one step). */
int xm_plan_gen_step(xm_plan_gen *g, int64_t k, const xm_plan_rows *rows, xm_err *err);

/* A whole plan in memory, as stored in a plan file. */
typedef struct xm_plan {
    xm_plan_cfg cfg;
    int64_t steps;
    int slots;
    int64_t *target_record, *partner_record; /* steps x slots */
    uint8_t *partner_domain;                 /* steps x slots */
    float *lambda;                           /* steps x slots */
    int16_t *crop;                           /* steps x slots x 2 x 2 */
    uint8_t *flip;                           /* steps x slots x 2 */
    /* files (names as given) and their XXH64 checksums */
    int n_target_files, n_partner_files;
    char **target_files, **partner_files;
    uint64_t *target_xxh64, *partner_xxh64;
    char *pairs_file;                        /* NULL when none */
    uint64_t pairs_xxh64;
    /* classes */
    int n_target_classes;
    char **target_classes;
    int n_source;                            /* source head size */
    int32_t *source_classes;                 /* partner class indices */
    char **source_names;
} xm_plan;

/* Allocate the row arrays for steps x slots (zeroed). */
int xm_plan_alloc(xm_plan *p, int64_t steps, int slots, xm_err *err);
void xm_plan_release(xm_plan *p); /* frees everything; p may be NULL */
/* Pointers to step k's rows. */
xm_plan_rows xm_plan_step_rows(const xm_plan *p, int64_t k);

/* Generate every step into p (allocated here) and fill cfg and classes
 * from the generator; files and checksums are left to the caller. */
int xm_plan_generate(xm_plan_gen *g, const xm_xms_set *target, const xm_xms_set *partner,
                     xm_plan *p, xm_err *err);

/* ---- files (xm_plan_io.c) ---- */
/* Write atomically (flags: XM_ATOMIC_FORCE). */
int xm_plan_save(const xm_plan *p, const char *path, int flags, xm_err *err);
/* Read and check shapes, ranges and attributes (XM_EDATA on bad data). */
int xm_plan_load(const char *path, xm_plan *p, xm_err *err);
/* Read a pairs file (`target`, `source` int32 K). Arrays are malloc'd. */
int xm_plan_read_pairs(const char *path, int32_t **target, int32_t **source, int *n,
                       xm_err *err);

/* ---- auxiliary shard (xm_plan_aux.c) ---- */
/* Copy the given partner records (ascending) into a new .xms at path with
 * the partner's full class table, so labels and pairs keep their meaning
 * and a generator over the shard draws the same samples in its own
 * numbering. flags: XM_ATOMIC_FORCE. */
int xm_plan_write_aux(const xm_xms_set *partner, const int64_t *records, int64_t n,
                      const char *path, int flags, xm_err *err);

/* The `xm-pack --mix` command (xm_plan_cli.c): argv as given to xm-pack. */
int xm_plan_cli_main(int argc, char **argv);

#endif
