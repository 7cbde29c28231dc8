/* xm_probe_subset.c: the linear probe on a subset of the training set's
 * classes, for the paper's forgetting analysis (its Table 2: the auxiliary
 * source classes, all but those, and all). Each subset is its own problem:
 * its rows only, its classes renumbered, its own standardisation. */
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"

/* Copy the rows whose label is kept; labels become subset indices. */
static int64_t gather(const float *f, const int32_t *y, int64_t n, int d, int k, const int32_t *to,
                      float *fo, int32_t *yo)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= k || to[y[i]] < 0) continue;
        memcpy(fo + (size_t)m * d, f + (size_t)i * d, sizeof(float) * (size_t)d);
        yo[m++] = to[y[i]];
    }
    return m;
}

int xm_probe_linear_subset(const float *trf, const int32_t *trl, int64_t ntr, const float *evf,
                           const int32_t *evl, int64_t nev, int d, int k, const uint8_t *keep,
                           const xm_logreg_opts *o, xm_probe_subset_result *r, xm_err *err)
{
    memset(r, 0, sizeof *r);
    int32_t *to = malloc(sizeof(int32_t) * (size_t)(k > 0 ? k : 1));
    float *tf = malloc(sizeof(float) * (size_t)(ntr > 0 ? ntr : 1) * (size_t)d);
    float *ef = malloc(sizeof(float) * (size_t)(nev > 0 ? nev : 1) * (size_t)d);
    int32_t *ty = malloc(sizeof(int32_t) * (size_t)(ntr > 0 ? ntr : 1));
    int32_t *ey = malloc(sizeof(int32_t) * (size_t)(nev > 0 ? nev : 1));
    float *mu = malloc(sizeof(float) * (size_t)d), *sd = malloc(sizeof(float) * (size_t)d);
    float *z = NULL;
    int rc = 0;
    if (!to || !tf || !ef || !ty || !ey || !mu || !sd) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    int m = 0;
    for (int c = 0; !rc && c < k; c++) to[c] = keep[c] ? m++ : -1;
    if (!rc && m < 2)
        rc = xm_err_set(err, XM_EDATA, "a linear probe needs at least 2 classes, the subset has %d", m);
    int64_t nt = 0, ne = 0;
    if (!rc) {
        nt = gather(trf, trl, ntr, d, k, to, tf, ty);
        ne = gather(evf, evl, nev, d, k, to, ef, ey);
        if (nt == 0 || ne == 0)
            rc = xm_err_set(err, XM_EDATA, "the subset's %d classes have no %s records", m,
                            nt == 0 ? "training" : "evaluated");
    }
    if (!rc) {
        xm_probe_standardise(tf, nt, d, mu, sd, 1);
        xm_probe_standardise(ef, ne, d, mu, sd, 0);
        rc = xm_logreg_fit(tf, ty, nt, d, m, o, &r->lr, err);
    }
    if (!rc && !(z = malloc(sizeof(float) * (size_t)ne * (size_t)m)))
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) rc = xm_probe_acc_init(&r->acc, m, err);
    if (!rc) {
        xm_logreg_logits(&r->lr, ef, ne, z);
        xm_probe_acc_add(&r->acc, z, ey, (int)ne, NULL, NULL);
        r->classes = m;
        r->train_n = nt;
    }
    free(to), free(tf), free(ef), free(ty), free(ey), free(mu), free(sd), free(z);
    if (rc) xm_probe_subset_release(r);
    return rc;
}

void xm_probe_subset_release(xm_probe_subset_result *r)
{
    xm_probe_acc_release(&r->acc);
    xm_logreg_release(&r->lr);
    memset(r, 0, sizeof *r);
}
