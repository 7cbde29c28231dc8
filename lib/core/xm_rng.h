/* xm_rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Every draw is a pure function of (seed, stream, index): the same numbers
 * on any machine, thread count or order of evaluation, and any draw can be
 * regenerated alone (a plan's step k, a resumed run). Streams separate uses
 * (e.g. stream = step * 65536 + slot, or a per-purpose constant).
 */
#ifndef XM_RNG_H
#define XM_RNG_H

#include <stdint.h>

/* The raw generator: 128 random bits for (seed, stream, index). */
void xm_philox(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);

/* A cursor over one stream: draws indices index, index+1, ... */
typedef struct xm_rng {
    uint64_t seed, stream, index;
} xm_rng;

static inline void xm_rng_init(xm_rng *r, uint64_t seed, uint64_t stream)
{
    r->seed = seed;
    r->stream = stream;
    r->index = 0;
}

uint64_t xm_rng_u64(xm_rng *r);           /* uniform 64-bit */
double xm_rng_uniform(xm_rng *r);         /* [0, 1), 53 bits */
uint64_t xm_rng_below(xm_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
double xm_rng_normal(xm_rng *r);          /* standard normal (Box-Muller) */
double xm_rng_gamma(xm_rng *r, double shape); /* Gamma(shape, 1), shape > 0 (Marsaglia-Tsang) */
double xm_rng_beta(xm_rng *r, double a, double b); /* Beta(a, b), a, b > 0 */
/* Fisher-Yates shuffle of n int64 values. */
void xm_rng_shuffle_i64(xm_rng *r, int64_t *v, int64_t n);

#endif
