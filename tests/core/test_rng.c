/* test_rng.c: Philox4x32-10 against the Random123 known-answer tests, and
 * the distributions' moments. */
#include <math.h>
#include <stdint.h>

#include "xm_rng.h"
#include "xm_test.h"

int main(void)
{
    /* Random123 kat_vectors: philox4x32_10, ctr = 0, key = 0. Our mapping:
     * key = seed, counter = (index lo, index hi, stream lo, stream hi). */
    uint32_t o[4];
    xm_philox(0, 0, 0, o);
    XM_CHECK(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu &&
             o[3] == 0x9b00dbd8u);
    xm_philox(UINT64_MAX, UINT64_MAX, UINT64_MAX, o);
    XM_CHECK(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u &&
             o[3] == 0x6d5451fdu);
    /* Random123's third vector (pi digits): ctr = 243f6a88 85a308d3 13198a2e
     * 03707344, key = a4093822 299f31d0 -> d16cfe09 94fdcceb 5001e420 24126ea1. */
    xm_philox(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, o);
    XM_CHECK(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u &&
             o[3] == 0x24126ea1u);

    /* A cursor is a pure function of (seed, stream, index). */
    xm_rng a, b;
    xm_rng_init(&a, 42, 7);
    xm_rng_init(&b, 42, 7);
    for (int i = 0; i < 5; i++) xm_rng_u64(&a);
    b.index = 5;
    XM_CHECK(xm_rng_u64(&a) == xm_rng_u64(&b));
    xm_rng_init(&b, 42, 8);
    XM_CHECK(xm_rng_u64(&a) != xm_rng_u64(&b));

    /* Beta(a, b) mean a/(a+b), variance ab/((a+b)^2(a+b+1)); uniform mean. */
    const double ab[][2] = {{1, 1}, {0.4, 1}, {2, 5}};
    for (int t = 0; t < 3; t++) {
        double al = ab[t][0], be = ab[t][1], s = 0, s2 = 0;
        const int n = 100000;
        xm_rng r;
        xm_rng_init(&r, 1234, (uint64_t)t);
        int in_range = 1;
        for (int i = 0; i < n; i++) {
            double x = xm_rng_beta(&r, al, be);
            in_range &= x >= 0 && x <= 1;
            s += x;
            s2 += x * x;
        }
        double mean = s / n, var = s2 / n - mean * mean;
        double m0 = al / (al + be), v0 = al * be / ((al + be) * (al + be) * (al + be + 1));
        XM_CHECK(in_range);
        XM_CHECKF(fabs(mean - m0) < 5 * sqrt(v0 / n), "beta(%g,%g) mean %g vs %g", al, be, mean, m0);
        XM_CHECKF(fabs(var - v0) / v0 < 0.03, "beta(%g,%g) var %g vs %g", al, be, var, v0);
    }
    /* below(n) covers [0, n) evenly. */
    int counts[7] = {0};
    xm_rng r;
    xm_rng_init(&r, 9, 0);
    for (int i = 0; i < 70000; i++) counts[xm_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++) XM_CHECKF(fabs((double)counts[k] - 10000) < 500, "below: %d", counts[k]);
    /* Shuffle is a permutation. */
    int64_t v[100];
    for (int i = 0; i < 100; i++) v[i] = i;
    xm_rng_shuffle_i64(&r, v, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    int perm = 1;
    for (int i = 0; i < 100; i++) perm &= seen[i] == 1;
    XM_CHECK(perm && moved > 50);
    return xm_test_finish();
}
