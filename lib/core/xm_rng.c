/* xm_rng.c: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC'11) and the distributions built on it. */
#include "xm_rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void xm_philox(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t xm_rng_u64(xm_rng *r)
{
    uint32_t o[4];
    xm_philox(r->seed, r->stream, r->index++, o);
    return ((uint64_t)o[0] << 32) | o[1];
}

double xm_rng_uniform(xm_rng *r)
{
    return (double)(xm_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t xm_rng_below(xm_rng *r, uint64_t n)
{
    /* Lemire's rejection would need 128-bit products; plain rejection on the
     * largest multiple of n is simple and unbiased. */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t v = xm_rng_u64(r);
        if (v < lim) return v % n;
    }
}

double xm_rng_normal(xm_rng *r)
{
    uint32_t o[4];
    xm_philox(r->seed, r->stream, r->index++, o);
    uint64_t a = ((uint64_t)o[0] << 32) | o[1], b = ((uint64_t)o[2] << 32) | o[3];
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(a >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(b >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double xm_rng_gamma(xm_rng *r, double shape)
{
    if (shape < 1.0) {
        /* Boost: Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u = xm_rng_uniform(r);
        double g = xm_rng_gamma(r, shape + 1.0);
        return g * pow(u > 0 ? u : 1e-300, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = xm_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = xm_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double xm_rng_beta(xm_rng *r, double a, double b)
{
    double x = xm_rng_gamma(r, a), y = xm_rng_gamma(r, b);
    double s = x + y;
    return s > 0 ? x / s : 0.5;
}

void xm_rng_shuffle_i64(xm_rng *r, int64_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)xm_rng_below(r, (uint64_t)i + 1);
        int64_t t = v[i]; v[i] = v[j]; v[j] = t;
    }
}
