/* xm_xms_set.c: several .xms files read as one data set, records numbered
 * in file order. */
#include <stdlib.h>
#include <string.h>

#include "xm_xms.h"

struct xm_xms_set {
    xm_xms **files;
    uint64_t *start; /* start[k] = first global index of file k; start[n] = total */
    int n;
};

int xm_xms_set_open(const char *const *paths, int n, const xm_xms_limits *lim, xm_xms_set **out,
                    xm_err *err)
{
    *out = NULL;
    if (n < 1) return xm_err_set(err, XM_EUSAGE, "no .xms files given");
    xm_xms_set *s = calloc(1, sizeof *s);
    if (!s || !(s->files = calloc((size_t)n, sizeof *s->files)) ||
        !(s->start = calloc((size_t)n + 1, sizeof *s->start))) {
        xm_xms_set_close(s);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    s->n = n;
    for (int k = 0; k < n; k++) {
        int rc = xm_xms_open(paths[k], lim, &s->files[k], err);
        if (rc) {
            xm_xms_set_close(s);
            return rc;
        }
        if (k > 0) {
            const xm_xms *a = s->files[0], *b = s->files[k];
            int same = xm_xms_nclasses(a) == xm_xms_nclasses(b);
            for (int c = 0; same && c < xm_xms_nclasses(a); c++)
                same = strcmp(xm_xms_class(a, c), xm_xms_class(b, c)) == 0;
            if (!same) {
                xm_err_set(err, XM_EDATA, "%s: class table differs from %s", paths[k], paths[0]);
                xm_xms_set_close(s);
                return XM_EDATA;
            }
        }
        s->start[k + 1] = s->start[k] + xm_xms_count(s->files[k]);
    }
    *out = s;
    return 0;
}

void xm_xms_set_close(xm_xms_set *s)
{
    if (!s) return;
    if (s->files)
        for (int k = 0; k < s->n; k++) xm_xms_close(s->files[k]);
    free(s->files);
    free(s->start);
    free(s);
}

uint64_t xm_xms_set_count(const xm_xms_set *s) { return s->start[s->n]; }
int xm_xms_set_nfiles(const xm_xms_set *s) { return s->n; }
const xm_xms *xm_xms_set_file(const xm_xms_set *s, int k) { return s->files[k]; }
int xm_xms_set_nclasses(const xm_xms_set *s) { return xm_xms_nclasses(s->files[0]); }
const char *xm_xms_set_class(const xm_xms_set *s, int k) { return xm_xms_class(s->files[0], k); }

void xm_xms_set_locate(const xm_xms_set *s, uint64_t i, int *file, uint64_t *local)
{
    /* Largest k with start[k] <= i (files may be empty). */
    int lo = 0, hi = s->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (s->start[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    while (lo < s->n - 1 && s->start[lo + 1] <= i) lo++;
    *file = lo;
    *local = i - s->start[lo];
}

void xm_xms_set_peek(const xm_xms_set *s, uint64_t i, xm_xms_rec *r)
{
    int f;
    uint64_t l;
    xm_xms_set_locate(s, i, &f, &l);
    xm_xms_peek(s->files[f], l, r);
}

int xm_xms_set_read(const xm_xms_set *s, xm_xms_cursor *cur, uint64_t i, xm_xms_rec *r, xm_err *err)
{
    if (i >= xm_xms_set_count(s))
        return xm_err_set(err, XM_EUSAGE, "record %llu out of range (%llu records)",
                          (unsigned long long)i, (unsigned long long)xm_xms_set_count(s));
    int f;
    uint64_t l;
    xm_xms_set_locate(s, i, &f, &l);
    return xm_xms_read(s->files[f], cur, l, r, err);
}
