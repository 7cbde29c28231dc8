/* xm_xms_readers.c: see xm_xms_readers.h. */
#include "xm_xms_readers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xm_pool.h"

#define XM_READERS_MAX 64

struct xm_xms_readers {
    int n;
    xm_pool *pool;                        /* NULL with one reader */
    xm_xms_cursor *curs[XM_READERS_MAX];  /* one per reader */
};

int xm_xms_readers_default(void)
{
    int n = xm_ncores() / 2;
    return n < 1 ? 1 : n > 8 ? 8 : n;
}

xm_xms_readers *xm_xms_readers_new(int n, xm_err *err)
{
    if (n <= 0) n = xm_xms_readers_default();
    if (n > XM_READERS_MAX) n = XM_READERS_MAX;
    xm_xms_readers *r = calloc(1, sizeof *r);
    if (!r) {
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    r->n = n;
    int ok = n == 1 || (r->pool = xm_pool_new(n, err)) != NULL;
    for (int i = 0; ok && i < n; i++) ok = (r->curs[i] = xm_xms_cursor_new(err)) != NULL;
    if (!ok) {
        xm_xms_readers_free(r);
        return NULL;
    }
    return r;
}

int xm_xms_readers_count(const xm_xms_readers *r) { return r ? r->n : 0; }

void xm_xms_readers_free(xm_xms_readers *r)
{
    if (!r) return;
    xm_pool_free(r->pool);
    for (int i = 0; i < r->n; i++) xm_xms_cursor_free(r->curs[i]);
    free(r);
}

typedef struct read_job {
    xm_xms_readers *r;
    const xm_xms_fetch *reads;
    uint8_t *px;
    pthread_mutex_t mu;
    int64_t bad;    /* lowest failing read, or -1 */
    int rc;
    xm_err err;
} read_job;

static int read_one(const xm_xms_fetch *q, xm_xms_cursor *cur, uint8_t *px, xm_err *e)
{
    xm_xms_rec rec;
    int rc = xm_xms_set_read(q->set, cur, (uint64_t)q->index, &rec, e);
    if (rc) return rc;
    size_t hw = (size_t)rec.h * rec.w;
    if ((q->c_out != rec.c && !(rec.c == 1 && q->c_out == 3)) || hw * (size_t)q->c_out != q->bytes)
        return xm_err_set(e, XM_EDATA, "record %lld changed size while being read",
                          (long long)q->index);
    uint8_t *dst = px + q->off;
    if (rec.c == q->c_out) {
        memcpy(dst, rec.px, q->bytes);
    } else { /* gray to RGB */
        for (size_t p = 0; p < hw; p++) dst[3 * p] = dst[3 * p + 1] = dst[3 * p + 2] = rec.px[p];
    }
    return 0;
}

static void job_one(void *ctx, int64_t i, int worker)
{
    read_job *j = ctx;
    xm_err e;
    xm_err_clear(&e);
    int rc = read_one(&j->reads[i], j->r->curs[worker], j->px, &e);
    if (!rc) return;
    pthread_mutex_lock(&j->mu);
    if (j->bad < 0 || i < j->bad) { /* the lowest index wins: the same error at any count */
        j->bad = i;
        j->rc = rc;
        j->err = e;
    }
    pthread_mutex_unlock(&j->mu);
}

int xm_xms_readers_run(xm_xms_readers *r, const xm_xms_fetch *reads, int n, uint8_t *px,
                       xm_err *err)
{
    if (!r->pool) {
        for (int i = 0; i < n; i++) {
            int rc = read_one(&reads[i], r->curs[0], px, err);
            if (rc) return rc;
        }
        return 0;
    }
    read_job j = {r, reads, px, PTHREAD_MUTEX_INITIALIZER, -1, 0, {0, ""}};
    /* one contiguous run of reads per reader: small records share blocks,
     * and a cursor keeps its last block, so a sequential run decodes each
     * block once (one read at a time per reader would decode it per record) */
    xm_pool_for(r->pool, n, (n + r->n - 1) / r->n, job_one, &j);
    pthread_mutex_destroy(&j.mu);
    if (j.rc) *err = j.err;
    return j.rc;
}
