/* test_centroid.c: features file round trip, centroid accumulation and the
 * exactness of merging (xm_centroid.h says what is exact), files written as
 * another program would (float64 features, int64 labels, no attributes),
 * and refusals naming file and row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_centroid.h"
#include "xm_features.h"
#include "xm_h5.h"
#include "xm_rng.h"
#include "xm_test.h"

#define D 7
#define C 4

static char dir[64];
static char *classes[C] = {"cat", "dog", "ship", "truck"};

static const char *path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Rows r0..r0+n of a fixed pseudo-random data set: label = row % C, values
 * of mixed magnitude so that summation order matters in float64. */
static void make_rows(int64_t r0, int64_t n, float *x, int32_t *lab, int64_t *rec)
{
    for (int64_t i = 0; i < n; i++) {
        xm_rng r;
        xm_rng_init(&r, 5, (uint64_t)(r0 + i));
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((xm_rng_uniform(&r) - 0.3) * pow(10.0, (double)(j % 4) - 1));
        lab[i] = (int32_t)((r0 + i) % C);
        rec[i] = r0 + i;
    }
}

static int write_feat(const char *p, int64_t r0, int64_t n, char **cls, int nc, int dim)
{
    xm_err err;
    xm_err_clear(&err);
    float *x = malloc((size_t)(n + 1) * D * sizeof *x);
    int32_t *lab = malloc((size_t)(n + 1) * sizeof *lab);
    int64_t *rec = malloc((size_t)(n + 1) * sizeof *rec);
    make_rows(r0, n, x, lab, rec);
    for (int64_t i = 0; i < n; i++) lab[i] %= nc;
    if (dim != D) /* keep the first dim columns */
        for (int64_t i = 0; i < n; i++) memmove(x + i * dim, x + i * D, (size_t)dim * sizeof *x);
    xm_feat_writer *w = xm_feat_writer_new(p, dim, cls, nc, XM_ATOMIC_FORCE, &err);
    int rc = w ? 0 : err.code;
    /* in two appends, to cover growth */
    if (!rc) rc = xm_feat_writer_add(w, x, lab, rec, n / 2, &err);
    if (!rc) rc = xm_feat_writer_add(w, x + (n / 2) * dim, lab + n / 2, rec + n / 2, n - n / 2, &err);
    if (!rc) rc = xm_feat_writer_finish(w, &err);
    if (rc) fprintf(stderr, "write_feat: %s\n", err.msg);
    xm_feat_writer_free(w);
    free(x);
    free(lab);
    free(rec);
    return rc;
}

static void test_features_roundtrip(void)
{
    XM_CHECK(write_feat(path("a.h5"), 0, 1000, classes, C, D) == 0);
    xm_feat_file ff;
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_feat_open(path("a.h5"), &ff, &err) == 0);
    XM_CHECK(ff.n == 1000 && ff.dim == D && ff.nclasses == C);
    XM_CHECK(ff.nclasses == C && strcmp(ff.classes[2], "ship") == 0);
    double rows[10 * D];
    int64_t lab[10], rec[10];
    float want[10 * D];
    int32_t wl[10];
    int64_t wr[10];
    make_rows(500, 10, want, wl, wr);
    XM_CHECK(xm_feat_read(&ff, 500, 10, rows, lab, rec, &err) == 0);
    int ok = 1;
    for (int i = 0; i < 10 * D; i++) ok &= rows[i] == (double)want[i];
    for (int i = 0; i < 10; i++) ok &= lab[i] == wl[i] && rec[i] == wr[i];
    XM_CHECK(ok);
    xm_feat_close(&ff);
    /* no temporary left behind */
    XM_CHECK(access(path(".a.h5.tmp"), F_OK) != 0);
}

static int sums_equal(const xm_centroid *a, const xm_centroid *b)
{
    if (a->nclasses != b->nclasses || a->dim != b->dim) return 0;
    return memcmp(a->sums, b->sums, (size_t)(a->nclasses * a->dim) * sizeof *a->sums) == 0 &&
           memcmp(a->counts, b->counts, (size_t)a->nclasses * sizeof *a->counts) == 0;
}

static void test_merge(void)
{
    xm_err err;
    xm_err_clear(&err);
    /* shards: rows [0,1000) = a, [1000,1777) = b, [1777,3000) = c; all = one file */
    XM_CHECK(write_feat(path("b.h5"), 1000, 777, classes, C, D) == 0);
    XM_CHECK(write_feat(path("c.h5"), 1777, 1223, classes, C, D) == 0);
    XM_CHECK(write_feat(path("all.h5"), 0, 3000, classes, C, D) == 0);
    const char *sh[3] = {"a.h5", "b.h5", "c.h5"};
    const char *cs[3] = {"ca.h5", "cb.h5", "cc.h5"};
    for (int i = 0; i < 3; i++) {
        xm_centroid c;
        xm_centroid_init(&c);
        XM_CHECKF(xm_centroid_add_file(&c, path(sh[i]), &err) == 0, "%s", err.msg);
        XM_CHECK(xm_centroid_write(&c, path(cs[i]), XM_ATOMIC_FORCE, &err) == 0);
        xm_centroid_release(&c);
    }
    xm_centroid f, m, one, ba;
    xm_centroid_init(&f);
    xm_centroid_init(&m);
    xm_centroid_init(&one);
    xm_centroid_init(&ba);
    for (int i = 0; i < 3; i++) {
        XM_CHECK(xm_centroid_add_file(&f, path(sh[i]), &err) == 0);
        XM_CHECK(xm_centroid_add_file(&m, path(cs[i]), &err) == 0);
    }
    XM_CHECK(xm_centroid_add_file(&one, path("all.h5"), &err) == 0);
    XM_CHECKF(sums_equal(&f, &m), "merged centroid files differ from the features files' pass");
    /* two inputs: order-independent bit for bit */
    xm_centroid ab;
    xm_centroid_init(&ab);
    XM_CHECK(xm_centroid_add_file(&ab, path("ca.h5"), &err) == 0);
    XM_CHECK(xm_centroid_add_file(&ab, path("b.h5"), &err) == 0); /* mixed kinds */
    XM_CHECK(xm_centroid_add_file(&ba, path("cb.h5"), &err) == 0);
    XM_CHECK(xm_centroid_add_file(&ba, path("a.h5"), &err) == 0);
    XM_CHECKF(sums_equal(&ab, &ba), "a+b differs from b+a");
    /* against one pass over all rows: counts exact, sums to rounding */
    int cnt_ok = 1;
    double worst = 0;
    for (int k = 0; k < C; k++) {
        cnt_ok &= m.counts[k] == one.counts[k];
        for (int j = 0; j < D; j++) {
            double a = m.sums[k * D + j], b = one.sums[k * D + j];
            double e = fabs(a - b) / (fabs(b) > 1e-300 ? fabs(b) : 1);
            if (e > worst) worst = e;
        }
    }
    XM_CHECK(cnt_ok && m.counts[1] == 750);
    XM_CHECKF(worst <= 1e-12, "merged vs one pass: relative error %g", worst);
    /* the file: means = sums / counts as float32 */
    hid_t h = xm_h5_open(path("ca.h5"), 0, &err);
    float means[C * D];
    int64_t dims[2] = {C, D};
    XM_CHECK(xm_h5_read(h, "means", XM_H5_F32, 2, dims, means, &err) == 0);
    xm_h5_close(h, NULL);
    xm_centroid ca;
    XM_CHECK(xm_centroid_read(path("ca.h5"), &ca, &err) == 0);
    XM_CHECK(means[D + 3] == (float)(ca.sums[D + 3] / (double)ca.counts[1]));
    xm_centroid_release(&ca);
    xm_centroid_release(&f);
    xm_centroid_release(&m);
    xm_centroid_release(&one);
    xm_centroid_release(&ab);
    xm_centroid_release(&ba);
}

/* An h5py-style file: float64 features, int64 labels, fixed-length strings
 * are not needed; datasets only. */
static void test_foreign_and_bad(void)
{
    xm_err err;
    xm_err_clear(&err);
    hid_t f = xm_h5_create(path("py.h5"), &err);
    double x[6 * 2] = {1, 0, 0, 1, 2, 0, 0, 2, 1, 1, 3, 3};
    int64_t lab[6] = {0, 1, 0, 1, 2, 2}, rec[6] = {0, 1, 2, 3, 4, 5};
    int64_t d2[2] = {6, 2}, d1[1] = {6};
    char *cls[3] = {"x", "y", "z"};
    XM_CHECK(xm_h5_write(f, "features", XM_H5_F64, 2, d2, x, 0, &err) == 0);
    XM_CHECK(xm_h5_write(f, "labels", XM_H5_I64, 1, d1, lab, 0, &err) == 0);
    XM_CHECK(xm_h5_write(f, "records", XM_H5_I64, 1, d1, rec, 0, &err) == 0);
    XM_CHECK(xm_h5_write_strings(f, "classes", cls, 3, &err) == 0);
    xm_h5_close(f, NULL);
    xm_centroid c;
    xm_centroid_init(&c);
    XM_CHECK(xm_centroid_add_file(&c, path("py.h5"), &err) == 0);
    XM_CHECK(c.counts[0] == 2 && c.sums[0] == 3 && c.sums[5] == 4);
    /* different data set (class list), then different dimension */
    XM_CHECK(xm_centroid_add_file(&c, path("a.h5"), &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "a.h5: class list differs"), "%s", err.msg);
    xm_err_clear(&err);
    XM_CHECK(write_feat(path("d3.h5"), 0, 10, cls, 3, 3) == 0);
    XM_CHECK(xm_centroid_add_file(&c, path("d3.h5"), &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "d3.h5: features have dimension 3, the first input 2"), "%s", err.msg);
    xm_centroid_release(&c);
    /* NaN in row 4, label -1, label out of range, missing dataset, bad shape */
    struct { const char *name, *want; int what; } bad[] = {
        {"nan.h5", "nan.h5: features row 4 column 1 is not finite", 0},
        {"nolab.h5", "nolab.h5: row 2 has no label", 1},
        {"lab9.h5", "lab9.h5: labels row 3 is 9, outside [-1, 3)", 2},
        {"norec.h5", "norec.h5: dataset records is missing", 3},
        {"short.h5", "short.h5: dataset labels has 5 entries, features 6 rows", 4},
        {"intfeat.h5", "intfeat.h5: dataset features has an integer type", 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double y[12];
        int64_t l[6];
        memcpy(y, x, sizeof y);
        memcpy(l, lab, sizeof l);
        if (bad[i].what == 0) y[9] = NAN;
        if (bad[i].what == 1) l[2] = -1;
        if (bad[i].what == 2) l[3] = 9;
        xm_err_clear(&err);
        f = xm_h5_create(path(bad[i].name), &err);
        int64_t n1[1] = {bad[i].what == 4 ? 5 : 6};
        int64_t ifeat[12] = {0};
        if (bad[i].what == 5) xm_h5_write(f, "features", XM_H5_I64, 2, d2, ifeat, 0, &err);
        else xm_h5_write(f, "features", XM_H5_F64, 2, d2, y, 0, &err);
        xm_h5_write(f, "labels", XM_H5_I64, 1, n1, l, 0, &err);
        if (bad[i].what != 3) xm_h5_write(f, "records", XM_H5_I64, 1, d1, rec, 0, &err);
        xm_h5_write_strings(f, "classes", cls, 3, &err);
        xm_h5_close(f, NULL);
        xm_centroid_init(&c);
        xm_err_clear(&err);
        XM_CHECKF(xm_centroid_add_file(&c, path(bad[i].name), &err) == XM_EDATA, "%s: code %d",
                  bad[i].name, err.code);
        XM_CHECKF(strstr(err.msg, bad[i].want), "%s: got '%s'", bad[i].name, err.msg);
        xm_centroid_release(&c);
    }
    /* a centroid file with a non-finite sum */
    f = xm_h5_create(path("cnan.h5"), &err);
    double s[3 * 2] = {1, 2, 3, INFINITY, 5, 6};
    int64_t cnt[3] = {1, 1, 1}, c2[2] = {3, 2}, c1[1] = {3};
    xm_h5_write(f, "sums", XM_H5_F64, 2, c2, s, 0, &err);
    xm_h5_write(f, "counts", XM_H5_I64, 1, c1, cnt, 0, &err);
    xm_h5_write_strings(f, "classes", cls, 3, &err);
    xm_h5_close(f, NULL);
    xm_centroid_init(&c);
    xm_err_clear(&err);
    XM_CHECK(xm_centroid_add_file(&c, path("cnan.h5"), &err) == XM_EDATA);
    XM_CHECKF(strstr(err.msg, "cnan.h5: sums row 1 column 1 is not finite"), "%s", err.msg);
    xm_centroid_release(&c);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/xm_test_centroid.XXXXXX");
    if (!mkdtemp(dir)) return xm_test_skip("cannot create a temporary directory");
    test_features_roundtrip();
    test_merge();
    test_foreign_and_bad();
    int rc = xm_test_finish();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
