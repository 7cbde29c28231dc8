/* test_pool.c: every index runs exactly once, with valid worker ids. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "xm_pool.h"
#include "xm_progress.h"
#include "xm_test.h"

typedef struct ctx {
    atomic_int *hits;
    int nthreads;
    atomic_int bad_worker;
} ctx;

static void body(void *p, int64_t i, int worker)
{
    ctx *c = p;
    atomic_fetch_add(&c->hits[i], 1);
    if (worker < 0 || worker >= c->nthreads) atomic_fetch_add(&c->bad_worker, 1);
}

int main(void)
{
    const int64_t n = 10007;
    for (int t = 1; t <= 4; t++) {
        xm_err e;
        xm_err_clear(&e);
        xm_pool *p = xm_pool_new(t, &e);
        XM_CHECK(p && xm_pool_threads(p) == t);
        ctx c = {.hits = calloc((size_t)n, sizeof(atomic_int)), .nthreads = t};
        atomic_init(&c.bad_worker, 0);
        xm_pool_for(p, n, 0, body, &c);
        xm_pool_for(p, n, 13, body, &c);
        for (int64_t i = 0; i < 5; i++) XM_CHECK(xm_pool_submit(p, body, &c, i, &e) == 0);
        xm_pool_wait(p);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= atomic_load(&c.hits[i]) == 2 + (i < 5);
        XM_CHECKF(ok, "threads %d: some index ran the wrong number of times", t);
        XM_CHECK(atomic_load(&c.bad_worker) == 0);
        free(c.hits);
        xm_pool_free(p);
    }
    xm_pool *p0 = xm_pool_new(0, NULL);
    XM_CHECK(p0 && xm_pool_threads(p0) == xm_ncores());
    xm_pool_free(p0);

    /* Progress text (the display itself only appears on a terminal). */
    xm_progress pr;
    xm_progress_init(&pr, "packing", 1000, 1);
    pr.t0 = 0;
    char buf[256];
    xm_progress_format(&pr, 250, 10.0, buf, sizeof buf);
    XM_CHECKF(strcmp(buf, "packing: 250/1000 (25%) 25/s ETA 0:30") == 0, "got '%s'", buf);
    return xm_test_finish();
}
