/* xm_pair.h: pairing target classes with source classes (formats/pairs.md).
 *
 * Similarity is the cosine of class centroids (float64). Methods:
 *   greedy   all (t, s) pairs by descending similarity, ties by lower t then
 *            lower s (exactly reproducible); accept when neither is taken.
 *   optimal  the one-to-one assignment of the round's target classes to
 *            distinct unused source classes maximising the total similarity
 *            (Hungarian / Jonker-Volgenant shortest augmenting paths, O(n^2 m)).
 *   random   a seeded random one-to-one assignment (Philox stream = round).
 *   all      every source class for every target class, in round 0.
 * A round pairs EVERY target class with one distinct source class not used
 * in an earlier round. Rounds: 1 by default; `rounds` R > 0 asks for exactly
 * R; `min_aux` N > 0 adds whole rounds until the auxiliary size (the summed
 * counts of the paired source classes) is >= N, so the round in which N is
 * reached is completed, as in the paper. A request that needs more source
 * classes than there are is an error (XM_EDATA) naming what is reachable.
 * More target than source classes is an error for every method but `all`. */
#ifndef XM_PAIR_H
#define XM_PAIR_H

#include <stdint.h>

#include "xm_centroid.h"
#include "xm_err.h"

typedef enum xm_pair_method {
    XM_PAIR_GREEDY = 0,
    XM_PAIR_OPTIMAL = 1,
    XM_PAIR_RANDOM = 2,
    XM_PAIR_ALL = 3
} xm_pair_method;

const char *xm_pair_method_name(xm_pair_method m);
/* Name -> method; -1 when unknown. */
int xm_pair_method_parse(const char *name);

typedef struct xm_pair_cfg {
    xm_pair_method method;
    int64_t rounds;    /* > 0: exactly this many rounds */
    int64_t min_aux;   /* > 0: whole rounds until the aux size reaches it */
    uint64_t seed;     /* random */
} xm_pair_cfg;

typedef struct xm_pairs {
    int64_t k;              /* number of pairs */
    int32_t *target, *source, *round;
    float *similarity;
    int64_t rounds;         /* rounds made */
    int64_t aux_size;       /* summed counts of the paired source classes */
} xm_pairs;

void xm_pairs_release(xm_pairs *p);

/* sim[t*ns + s] = cosine(tmeans[t], smeans[s]) (row-major C x D inputs).
 * A zero-length centroid is an error (XM_EDATA "target class T ..."). */
int xm_pair_similarity(const double *tmeans, int64_t nt, const double *smeans, int64_t ns,
                       int64_t dim, double *sim, xm_err *err);

/* One round: assign[t] = a source class with avail[s] != 0, distinct.
 * Needs at least nt available source classes. */
void xm_pair_round_greedy(const double *sim, int64_t nt, int64_t ns, const uint8_t *avail,
                          int32_t *assign);
int xm_pair_round_optimal(const double *sim, int64_t nt, int64_t ns, const uint8_t *avail,
                          int32_t *assign, xm_err *err);
void xm_pair_round_random(int64_t nt, int64_t ns, const uint8_t *avail, uint64_t seed,
                          uint64_t round, int32_t *assign);

/* Run the method over the similarity matrix; scounts: source class counts
 * (all must be > 0: checked by the caller, which knows the file). Pairs
 * come out by round, then target class. */
int xm_pair_run(const double *sim, int64_t nt, int64_t ns, const int64_t *scounts,
                const xm_pair_cfg *cfg, xm_pairs *out, xm_err *err);



/* ---- files (xm_pair_io.c, xm_pair_montage.c) ---- */

/* Read a centroid file for pairing: the set and its means (malloc'd C x D
 * float64). A class with count 0: XM_EDATA "PATH: class 'NAME' (K) has no
 * samples". */
int xm_pair_load(const char *path, xm_centroid *c, double **means, xm_err *err);

/* Write the pairs file (flags: XM_ATOMIC_FORCE): target, source, round,
 * similarity; datasets target_classes, source_classes; attributes method,
 * aux_size, rounds, seed (random), min_aux, source_file, target_file and
 * their XXH64 checksums (as 16 hex digits). */
int xm_pair_write(const char *path, const xm_pairs *p, const xm_pair_cfg *cfg,
                  const xm_centroid *tgt, const char *tgt_path, const xm_centroid *src,
                  const char *src_path, int flags, xm_err *err);

/* Write the full matrix: `similarity` nt x ns float32, target_classes,
 * source_classes. */
int xm_pair_write_similarity(const char *path, const double *sim, const xm_centroid *tgt,
                             const xm_centroid *src, int flags, xm_err *err);

/* PNG montage: one row per target class: `per` of its images, then `per`
 * images of each of its round-0 source classes (at most 4, by similarity),
 * each scaled to a square tile (nearest neighbour), RGB. The .xms sets'
 * class counts must equal the centroid files'. */
int xm_pair_montage(const char *png_path, const xm_pairs *p, int64_t nt,
                    const char *const *tdata, int ntd, const char *const *sdata, int nsd,
                    int per, int tile, int flags, xm_err *err);
#endif
