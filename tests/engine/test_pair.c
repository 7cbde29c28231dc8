/* test_pair.c: pairing on hand-made similarity matrices with known answers:
 * greedy vs optimal on a crafted case where they differ, tie order, optimal
 * against brute force, whole rounds and the --min-aux threshold, random
 * pairing as a reproducible permutation, `all`, refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_pair.h"
#include "xm_rng.h"
#include "xm_test.h"

static int64_t ones[64];

static double total(const double *sim, int64_t ns, const int32_t *a, int64_t nt)
{
    double s = 0;
    for (int64_t t = 0; t < nt; t++) s += sim[t * ns + a[t]];
    return s;
}

/* Best total over all injective maps of nt rows into the available columns. */
static double brute(const double *sim, int64_t nt, int64_t ns, int64_t t, uint8_t *used)
{
    if (t == nt) return 0;
    double best = -INFINITY;
    for (int64_t s = 0; s < ns; s++) {
        if (used[s]) continue;
        used[s] = 1;
        double v = sim[t * ns + s] + brute(sim, nt, ns, t + 1, used);
        used[s] = 0;
        if (v > best) best = v;
    }
    return best;
}

static void test_greedy_vs_optimal(void)
{
    /* Greedy takes (0,0)=0.9 first and leaves t1 with 0.1 (total 1.0);
     * the optimum is t0->s1, t1->s0 (0.8 + 0.85 = 1.65). */
    const double sim[] = {0.9, 0.8, 0.85, 0.1};
    uint8_t avail[2] = {1, 1};
    int32_t a[2];
    xm_pair_round_greedy(sim, 2, 2, avail, a);
    XM_CHECK(a[0] == 0 && a[1] == 1);
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_pair_round_optimal(sim, 2, 2, avail, a, &err) == 0);
    XM_CHECK(a[0] == 1 && a[1] == 0);
    /* through xm_pair_run: the stored similarities */
    xm_pairs p;
    xm_pair_cfg cfg = {.method = XM_PAIR_OPTIMAL};
    XM_CHECK(xm_pair_run(sim, 2, 2, ones, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 2 && p.source[0] == 1 && p.source[1] == 0);
    XM_CHECK(fabsf(p.similarity[0] - 0.8f) < 1e-7f && fabsf(p.similarity[1] - 0.85f) < 1e-7f);
    xm_pairs_release(&p);
}

static void test_ties(void)
{
    /* All equal: (t0,s0), then t1 takes the lowest free s (s1), t2 s2. */
    const double sim[] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    uint8_t avail[3] = {1, 1, 1};
    int32_t a[3];
    xm_pair_round_greedy(sim, 3, 3, avail, a);
    XM_CHECK(a[0] == 0 && a[1] == 1 && a[2] == 2);
    /* a tie between targets for one source: the lower target wins */
    const double sim2[] = {0.7, 0.1, 0.7, 0.2};
    uint8_t av2[2] = {1, 1};
    xm_pair_round_greedy(sim2, 2, 2, av2, a);
    XM_CHECK(a[0] == 0 && a[1] == 1);
}

static void test_optimal_brute(void)
{
    xm_rng r;
    xm_rng_init(&r, 7, 1);
    xm_err err;
    for (int trial = 0; trial < 200; trial++) {
        int64_t nt = 1 + (int64_t)xm_rng_below(&r, 5), ns = nt + (int64_t)xm_rng_below(&r, 3);
        double sim[5 * 7];
        for (int64_t i = 0; i < nt * ns; i++)
            sim[i] = trial % 3 == 0 ? (double)xm_rng_below(&r, 3) / 2 /* many ties */
                                    : 2 * xm_rng_uniform(&r) - 1;
        uint8_t avail[7], used[7] = {0};
        memset(avail, 1, sizeof avail);
        if (ns > nt + 1) { /* a used column must be skipped */
            avail[ns - 1] = 0;
            used[ns - 1] = 1;
        }
        int32_t a[5];
        xm_err_clear(&err);
        XM_CHECK(xm_pair_round_optimal(sim, nt, ns, avail, a, &err) == 0);
        int ok = 1;
        uint8_t seen[7] = {0};
        for (int64_t t = 0; t < nt; t++) {
            if (a[t] < 0 || a[t] >= ns || !avail[a[t]] || seen[a[t]]) ok = 0;
            else seen[a[t]] = 1;
        }
        XM_CHECKF(ok, "trial %d: not a one-to-one map into available columns", trial);
        double best = brute(sim, nt, ns, 0, used);
        XM_CHECKF(ok && fabs(total(sim, ns, a, nt) - best) < 1e-9, "trial %d: total %g, best %g",
                  trial, ok ? total(sim, ns, a, nt) : 0.0, best);
        /* greedy is never better than the optimum */
        xm_pair_round_greedy(sim, nt, ns, avail, a);
        XM_CHECK(total(sim, ns, a, nt) <= best + 1e-12);
    }
}

static void test_rounds(void)
{
    /* 2 targets, 7 sources with counts 10..70; greedy rounds use sources in
     * descending similarity order. */
    double sim[2 * 7];
    for (int s = 0; s < 7; s++) {
        sim[s] = 1.0 - 0.1 * s;          /* t0 prefers s0, s1, ... */
        sim[7 + s] = 0.95 - 0.1 * s;     /* t1 too, slightly less */
    }
    int64_t counts[7] = {10, 20, 30, 40, 50, 60, 70};
    xm_err err;
    xm_pairs p;
    xm_pair_cfg cfg = {.method = XM_PAIR_GREEDY};
    /* default: one round: t0-s0, t1-s1 */
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 2 && p.rounds == 1 && p.aux_size == 30);
    XM_CHECK(p.source[0] == 0 && p.source[1] == 1 && p.round[1] == 0);
    xm_pairs_release(&p);
    /* round 2 adds s2, s3 (aux 100); a threshold reached exactly at the end
     * of round 2 stops there */
    cfg.min_aux = 100;
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 4 && p.rounds == 2 && p.aux_size == 100);
    XM_CHECK(p.source[2] == 2 && p.source[3] == 3 && p.round[2] == 1 && p.round[3] == 1);
    xm_pairs_release(&p);
    /* one more sample needed: a whole third round (aux 210), not a partial one */
    cfg.min_aux = 101;
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 6 && p.rounds == 3 && p.aux_size == 210);
    xm_pairs_release(&p);
    /* reached inside round 1 (after t0's 10): round 1 is still completed */
    cfg.min_aux = 5;
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 2 && p.aux_size == 30);
    xm_pairs_release(&p);
    /* unreachable: 3 full rounds give 210 (s6 cannot make a round alone) */
    cfg.min_aux = 211;
    xm_err_clear(&err);
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "not reachable") && strstr(err.msg, "210"), "%s", err.msg);
    /* --rounds */
    cfg.min_aux = 0;
    cfg.rounds = 3;
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 6 && p.rounds == 3);
    xm_pairs_release(&p);
    cfg.rounds = 4;
    xm_err_clear(&err);
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "4 rounds need 8 source classes"), "%s", err.msg);
    /* optimal rounds use distinct sources too */
    cfg = (xm_pair_cfg){.method = XM_PAIR_OPTIMAL, .rounds = 3};
    XM_CHECK(xm_pair_run(sim, 2, 7, counts, &cfg, &p, &err) == 0);
    uint8_t seen[7] = {0};
    int ok = p.k == 6;
    for (int64_t i = 0; ok && i < p.k; i++) ok = !seen[p.source[i]]++;
    XM_CHECK(ok);
    xm_pairs_release(&p);
}

static void test_random(void)
{
    enum { NT = 5, NS = 23 };
    double sim[NT * NS] = {0};
    int64_t counts[NS];
    for (int i = 0; i < NS; i++) counts[i] = 1;
    xm_err err;
    xm_pairs a, b, c;
    xm_pair_cfg cfg = {.method = XM_PAIR_RANDOM, .rounds = 4, .seed = 42};
    XM_CHECK(xm_pair_run(sim, NT, NS, counts, &cfg, &a, &err) == 0);
    XM_CHECK(xm_pair_run(sim, NT, NS, counts, &cfg, &b, &err) == 0);
    cfg.seed = 43;
    XM_CHECK(xm_pair_run(sim, NT, NS, counts, &cfg, &c, &err) == 0);
    XM_CHECK(a.k == NT * 4 && a.aux_size == NT * 4);
    uint8_t seen[NS] = {0};
    int ok = 1, same = 1, differ = 0;
    for (int64_t i = 0; i < a.k; i++) {
        if (a.source[i] < 0 || a.source[i] >= NS || seen[a.source[i]]++) ok = 0;
        if (a.target[i] != i % NT || a.round[i] != i / NT) ok = 0;
        if (a.source[i] != b.source[i]) same = 0;
        if (a.source[i] != c.source[i]) differ = 1;
    }
    XM_CHECKF(ok, "random pairing is not one-to-one over rounds");
    XM_CHECKF(same, "random pairing is not reproducible from its seed");
    XM_CHECKF(differ, "seeds 42 and 43 give the same pairing");
    xm_pairs_release(&a);
    xm_pairs_release(&b);
    xm_pairs_release(&c);
}

static void test_all_and_refusals(void)
{
    const double sim[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}; /* 3 targets x 2 sources */
    int64_t counts[2] = {5, 7};
    xm_err err;
    xm_pairs p;
    xm_pair_cfg cfg = {.method = XM_PAIR_GREEDY};
    xm_err_clear(&err);
    XM_CHECK(xm_pair_run(sim, 3, 2, counts, &cfg, &p, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "the target has 3 classes but the source only 2"), "%s", err.msg);
    cfg.method = XM_PAIR_ALL;
    XM_CHECK(xm_pair_run(sim, 3, 2, counts, &cfg, &p, &err) == 0);
    XM_CHECK(p.k == 6 && p.aux_size == 12 && p.rounds == 1);
    XM_CHECK(p.target[3] == 1 && p.source[3] == 1 && p.round[5] == 0);
    XM_CHECK(fabsf(p.similarity[4] - 0.5f) < 1e-7f);
    xm_pairs_release(&p);
    XM_CHECK(xm_pair_method_parse("optimal") == XM_PAIR_OPTIMAL);
    XM_CHECK(xm_pair_method_parse("best") == -1);
}

static void test_similarity(void)
{
    const double t[] = {1, 0, 0, 2, 2, 0};       /* 2 x 3 */
    const double s[] = {3, 0, 0, 1, 1, 0, 0, 0, -1}; /* 3 x 3 */
    double sim[6];
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_pair_similarity(t, 2, s, 3, 3, sim, &err) == 0);
    XM_CHECK(fabs(sim[0] - 1) < 1e-15 && fabs(sim[1] - sqrt(0.5)) < 1e-15 && sim[2] == 0);
    XM_CHECK(fabs(sim[3] - sqrt(0.5)) < 1e-15 && fabs(sim[4] - 1) < 1e-15);
    const double z[] = {0, 0, 0};
    XM_CHECK(xm_pair_similarity(z, 1, s, 3, 3, sim, &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "target class 0 has a zero centroid"), "%s", err.msg);
}

int main(void)
{
    for (int i = 0; i < 64; i++) ones[i] = 1;
    test_greedy_vs_optimal();
    test_ties();
    test_optimal_brute();
    test_rounds();
    test_random();
    test_all_and_refusals();
    test_similarity();
    return xm_test_finish();
}
