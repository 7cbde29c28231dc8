/* xm_pair.c: see xm_pair.h. */
#include "xm_pair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_rng.h"

static const char *const method_names[] = {"greedy", "optimal", "random", "all"};

const char *xm_pair_method_name(xm_pair_method m)
{
    return (unsigned)m < 4 ? method_names[m] : "?";
}

int xm_pair_method_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, method_names[i]) == 0) return i;
    return -1;
}

void xm_pairs_release(xm_pairs *p)
{
    free(p->target);
    free(p->source);
    free(p->round);
    free(p->similarity);
    memset(p, 0, sizeof *p);
}

int xm_pair_similarity(const double *tmeans, int64_t nt, const double *smeans, int64_t ns,
                       int64_t dim, double *sim, xm_err *err)
{
    double *sn = malloc((ns ? (size_t)ns : 1) * sizeof *sn);
    if (!sn) return xm_err_set(err, XM_EFAIL, "out of memory");
    for (int64_t s = 0; s < ns; s++) {
        double q = 0;
        for (int64_t j = 0; j < dim; j++) q += smeans[s * dim + j] * smeans[s * dim + j];
        sn[s] = sqrt(q);
        if (!(sn[s] > 0)) {
            free(sn);
            return xm_err_set(err, XM_EDATA, "source class %lld has a zero centroid: cosine "
                              "similarity undefined", (long long)s);
        }
    }
    for (int64_t t = 0; t < nt; t++) {
        const double *a = tmeans + t * dim;
        double q = 0;
        for (int64_t j = 0; j < dim; j++) q += a[j] * a[j];
        double tn = sqrt(q);
        if (!(tn > 0)) {
            free(sn);
            return xm_err_set(err, XM_EDATA, "target class %lld has a zero centroid: cosine "
                              "similarity undefined", (long long)t);
        }
        for (int64_t s = 0; s < ns; s++) {
            const double *b = smeans + s * dim;
            double dot = 0;
            for (int64_t j = 0; j < dim; j++) dot += a[j] * b[j];
            sim[t * ns + s] = dot / (tn * sn[s]);
        }
    }
    free(sn);
    return 0;
}

/* ---- greedy ---- */

typedef struct cand { double v; int32_t t, s; } cand;

/* Descending similarity, then lower t, then lower s: a total order, so the
 * result does not depend on qsort's (unstable) algorithm. */
static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    return (a->s > b->s) - (a->s < b->s);
}

void xm_pair_round_greedy(const double *sim, int64_t nt, int64_t ns, const uint8_t *avail,
                          int32_t *assign)
{
    int64_t na = 0;
    for (int64_t s = 0; s < ns; s++) na += avail[s] != 0;
    size_t nc = (size_t)(nt * na);
    cand *c = malloc((nc ? nc : 1) * sizeof *c);
    uint8_t *taken = calloc(ns ? (size_t)ns : 1, 1);
    if (!c || !taken) { /* callers size rounds so this is small; fall back */
        free(c);
        free(taken);
        for (int64_t t = 0; t < nt; t++) assign[t] = -1;
        return;
    }
    int64_t k = 0;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t s = 0; s < ns; s++)
            if (avail[s]) c[k++] = (cand){sim[t * ns + s], (int32_t)t, (int32_t)s};
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
    for (int64_t t = 0; t < nt; t++) assign[t] = -1;
    int64_t done = 0;
    for (int64_t i = 0; i < k && done < nt; i++) {
        if (assign[c[i].t] >= 0 || taken[c[i].s]) continue;
        assign[c[i].t] = c[i].s;
        taken[c[i].s] = 1;
        done++;
    }
    free(c);
    free(taken);
}

/* ---- optimal: shortest augmenting paths with potentials (Hungarian in
 * the Jonker-Volgenant form), rows = target classes, columns = the
 * available source classes, cost = -similarity, n <= m. ---- */

int xm_pair_round_optimal(const double *sim, int64_t nt, int64_t ns, const uint8_t *avail,
                          int32_t *assign, xm_err *err)
{
    int64_t m = 0;
    for (int64_t s = 0; s < ns; s++) m += avail[s] != 0;
    int64_t n = nt;
    int32_t *col = malloc((size_t)(m + 1) * sizeof *col);   /* column -> source class */
    double *u = calloc((size_t)(n + 1), sizeof *u), *v = calloc((size_t)(m + 1), sizeof *v);
    double *minv = malloc((size_t)(m + 1) * sizeof *minv);
    int64_t *p = calloc((size_t)(m + 1), sizeof *p), *way = calloc((size_t)(m + 1), sizeof *way);
    uint8_t *used = malloc((size_t)(m + 1));
    int rc = 0;
    if (!col || !u || !v || !minv || !p || !way || !used) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
        goto out;
    }
    for (int64_t s = 0, j = 1; s < ns; s++)
        if (avail[s]) col[j++] = (int32_t)s;
    /* 1-based as in the classic formulation; p[0] is the row being added. */
    for (int64_t i = 1; i <= n; i++) {
        p[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int64_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int64_t j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = -sim[(i0 - 1) * ns + col[j]] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int64_t j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int64_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int64_t t = 0; t < n; t++) assign[t] = -1;
    for (int64_t j = 1; j <= m; j++)
        if (p[j]) assign[p[j] - 1] = col[j];
out:
    free(col);
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return rc;
}

/* ---- random ---- */

void xm_pair_round_random(int64_t nt, int64_t ns, const uint8_t *avail, uint64_t seed,
                          uint64_t round, int32_t *assign)
{
    int64_t *list = malloc((ns ? (size_t)ns : 1) * sizeof *list), m = 0;
    if (!list) {
        for (int64_t t = 0; t < nt; t++) assign[t] = -1;
        return;
    }
    for (int64_t s = 0; s < ns; s++)
        if (avail[s]) list[m++] = s;
    xm_rng r;
    xm_rng_init(&r, seed, round);
    xm_rng_shuffle_i64(&r, list, m);
    for (int64_t t = 0; t < nt; t++) assign[t] = t < m ? (int32_t)list[t] : -1;
    free(list);
}

/* ---- rounds ---- */

static int pairs_reserve(xm_pairs *p, int64_t k, xm_err *err)
{
    size_t n = k ? (size_t)k : 1;
    int32_t *a = realloc(p->target, n * sizeof *a);
    if (a) p->target = a;
    int32_t *b = a ? realloc(p->source, n * sizeof *b) : NULL;
    if (b) p->source = b;
    int32_t *c = b ? realloc(p->round, n * sizeof *c) : NULL;
    if (c) p->round = c;
    float *d = c ? realloc(p->similarity, n * sizeof *d) : NULL;
    if (d) p->similarity = d;
    return d ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
}

static void pairs_push(xm_pairs *p, int32_t t, int32_t s, int32_t round, double sim)
{
    p->target[p->k] = t;
    p->source[p->k] = s;
    p->round[p->k] = round;
    p->similarity[p->k] = (float)sim;
    p->k++;
}

int xm_pair_run(const double *sim, int64_t nt, int64_t ns, const int64_t *scounts,
                const xm_pair_cfg *cfg, xm_pairs *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    if (nt < 1 || ns < 1)
        return xm_err_set(err, XM_EDATA, "no classes to pair (%lld target, %lld source)",
                          (long long)nt, (long long)ns);
    if (cfg->method == XM_PAIR_ALL) {
        if (pairs_reserve(out, nt * ns, err)) return XM_EFAIL;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t s = 0; s < ns; s++)
                pairs_push(out, (int32_t)t, (int32_t)s, 0, sim[t * ns + s]);
        for (int64_t s = 0; s < ns; s++) out->aux_size += scounts[s];
        out->rounds = 1;
        return 0;
    }
    if (nt > ns)
        return xm_err_set(err, XM_EDATA, "the target has %lld classes but the source only %lld: "
                          "one-to-one pairing needs at least as many source classes "
                          "(--method all pairs every source class with every target class)",
                          (long long)nt, (long long)ns);
    int64_t full = ns / nt; /* rounds possible */
    if (cfg->rounds > full)
        return xm_err_set(err, XM_EDATA, "%lld rounds need %lld source classes, the source has "
                          "%lld (at most %lld rounds of %lld)", (long long)cfg->rounds,
                          (long long)(cfg->rounds * nt), (long long)ns, (long long)full,
                          (long long)nt);
    uint8_t *avail = malloc((size_t)ns);
    int32_t *assign = malloc((size_t)nt * sizeof *assign);
    int rc = 0;
    if (!avail || !assign) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) memset(avail, 1, (size_t)ns);
    int64_t want = cfg->rounds > 0 ? cfg->rounds : cfg->min_aux > 0 ? full : 1;
    for (int64_t r = 0; !rc && r < want; r++) {
        if (cfg->min_aux > 0 && cfg->rounds <= 0 && out->aux_size >= cfg->min_aux) break;
        if (cfg->method == XM_PAIR_GREEDY) xm_pair_round_greedy(sim, nt, ns, avail, assign);
        else if (cfg->method == XM_PAIR_OPTIMAL)
            rc = xm_pair_round_optimal(sim, nt, ns, avail, assign, err);
        else xm_pair_round_random(nt, ns, avail, cfg->seed, (uint64_t)r, assign);
        if (!rc) rc = pairs_reserve(out, out->k + nt, err);
        for (int64_t t = 0; !rc && t < nt; t++) {
            int32_t s = assign[t];
            if (s < 0 || !avail[s]) { /* only on out of memory in a round helper */
                rc = xm_err_set(err, XM_EFAIL, "pairing round %lld failed (out of memory)",
                                (long long)r);
                break;
            }
            avail[s] = 0;
            out->aux_size += scounts[s];
            pairs_push(out, (int32_t)t, s, (int32_t)r, sim[t * ns + s]);
        }
        out->rounds = r + 1;
    }
    if (!rc && cfg->min_aux > 0 && cfg->rounds <= 0 && out->aux_size < cfg->min_aux)
        rc = xm_err_set(err, XM_EDATA, "--min-aux %lld is not reachable: all %lld full rounds "
                        "of %lld source classes give %lld samples", (long long)cfg->min_aux,
                        (long long)full, (long long)nt, (long long)out->aux_size);
    free(avail);
    free(assign);
    if (rc) xm_pairs_release(out);
    return rc;
}
