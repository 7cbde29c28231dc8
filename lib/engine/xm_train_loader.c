/* xm_train_loader.c: a thread that decodes the next step's records from
 * the .xms files into host memory (on xm_xms_readers' threads) while the
 * backend computes this step, so the device never waits for data. Two
 * batches alternate: the thread fills one while the trainer uses the
 * other. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xm_progress.h"
#include "xm_train_impl.h"

void xm_batch_release(xm_batch *b)
{
    free(b->px);
    free(b->items);
    free(b->label_t);
    free(b->label_p);
    free(b->dom);
    free(b->lam);
    free(b->reads);
    memset(b, 0, sizeof *b);
}

static int batch_reserve(xm_batch *b, int n, xm_err *err)
{
    if (b->items && b->n == n) return 0;
    free(b->items);
    free(b->label_t);
    free(b->label_p);
    free(b->dom);
    free(b->lam);
    b->n = n;
    b->items = calloc((size_t)n, sizeof *b->items);
    b->label_t = calloc((size_t)n, sizeof *b->label_t);
    b->label_p = calloc((size_t)n, sizeof *b->label_p);
    b->dom = calloc((size_t)n, 1);
    b->lam = calloc((size_t)n, sizeof *b->lam);
    if (!b->items || !b->label_t || !b->label_p || !b->dom || !b->lam)
        return xm_err_set(err, XM_EFAIL, "out of memory");
    return 0;
}

/* Reserve room for record i of set s in the batch's pixel buffer (sizes
 * and label from the index, no pixels yet) and queue its read. */
static int put_record(const xm_xms_set *s, int64_t i, xm_batch *b, int64_t *off, int32_t *h,
                      int32_t *w, int32_t *label, xm_err *err)
{
    xm_xms_rec r;
    xm_xms_set_peek(s, (uint64_t)i, &r);
    size_t bytes = (size_t)r.h * r.w * r.c;
    if (b->px_bytes + bytes > b->px_cap) {
        size_t cap = (b->px_bytes + bytes) * 2;
        uint8_t *p = realloc(b->px, cap);
        if (!p) return xm_err_set(err, XM_EFAIL, "out of memory");
        b->px = p;
        b->px_cap = cap;
    }
    if (b->n_reads == b->cap_reads) {
        int cap = b->cap_reads ? 2 * b->cap_reads : 64;
        xm_xms_fetch *v = realloc(b->reads, (size_t)cap * sizeof *v);
        if (!v) return xm_err_set(err, XM_EFAIL, "out of memory");
        b->reads = v;
        b->cap_reads = cap;
    }
    b->reads[b->n_reads++] = (xm_xms_fetch){s, i, (int64_t)b->px_bytes, bytes, r.c};
    *off = (int64_t)b->px_bytes;
    b->px_bytes += bytes;
    *h = r.h;
    *w = r.w;
    *label = r.label;
    return 0;
}

int xm_batch_fill(const xm_loader_src *src, xm_xms_readers *rd, int64_t k, xm_batch *b,
                  xm_err *err)
{
    const xm_plan *p = src->plan;
    int rc = batch_reserve(b, p->slots, err);
    if (rc) return rc;
    xm_plan_rows rows = xm_plan_step_rows(p, k);
    b->step = k;
    b->px_bytes = 0;
    b->n_reads = 0;
    b->valid = 0;
    for (int j = 0; j < p->slots; j++) {
        xm_mix_item *it = &b->items[j];
        int64_t tr = rows.target_record[j], pr = rows.partner_record[j];
        const int16_t *cr = rows.crop + 4 * j;
        const uint8_t *fl = rows.flip + 2 * j;
        const int dom = rows.partner_domain[j];
        const xm_xms_set *ps = dom ? src->partner : src->target;
        memset(it, 0, sizeof *it);
        it->off_b = -1;
        b->label_t[j] = b->label_p[j] = -1;
        b->dom[j] = (uint8_t)dom;
        b->lam[j] = rows.lambda[j];
        if (tr < 0 && pr < 0) { /* empty eval slot: repeat slot 0, ignored */
            *it = b->items[0];
            continue;
        }
        b->valid = j + 1;
        int32_t lab;
        if (tr >= 0) {
            if ((rc = put_record(src->target, tr, b, &it->off_a, &it->ha, &it->wa,
                                 &b->label_t[j], err)))
                return rc;
            it->ya = cr[0];
            it->xa = cr[1];
            it->flip_a = fl[0];
            it->lam = rows.lambda[j];
            if (pr >= 0) {
                if ((rc = put_record(ps, pr, b, &it->off_b, &it->hb, &it->wb, &lab, err)))
                    return rc;
                it->yb = cr[2];
                it->xb = cr[3];
                it->flip_b = fl[1];
            }
        } else { /* a pure partner sample: it is image a, alone */
            if ((rc = put_record(ps, pr, b, &it->off_a, &it->ha, &it->wa, &lab, err)))
                return rc;
            it->ya = cr[2];
            it->xa = cr[3];
            it->flip_a = fl[1];
            it->lam = 1.0f;
        }
        if (pr >= 0) {
            if (dom && (lab < 0 || !src->src_row || src->src_row[lab] < 0))
                return xm_err_set(err, XM_EDATA,
                                  "step %lld slot %d: partner record %lld has class %d, "
                                  "which is not in the plan's source classes",
                                  (long long)k, j, (long long)pr, lab);
            b->label_p[j] = dom ? src->src_row[lab] : lab;
        }
    }
    return xm_xms_readers_run(rd, b->reads, b->n_reads, b->px, err);
}

/* ---- the thread ---- */

struct xm_loader {
    xm_loader_src src;
    int64_t k0, k1;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    xm_batch buf[2];
    int ready[2];       /* buffer holds step next_fill - ... ready for the consumer */
    int64_t filled;     /* steps produced */
    int64_t consumed;   /* steps handed out */
    int quit, rc;
    xm_err err;
    double wait_s;      /* the consumer's time blocked in xm_loader_next */
    xm_xms_readers *rd; /* random records cost a block decode each: a few threads */
};

static void *loader_main(void *arg)
{
    xm_loader *l = arg;
    int rc = 0;
    for (int64_t k = l->k0; k < l->k1 && !rc; k++) {
        int slot = (int)((k - l->k0) % 2);
        pthread_mutex_lock(&l->mu);
        /* wait until the consumer has moved past this buffer's last use */
        while (!l->quit && (l->ready[slot] || (k - l->k0) - l->consumed >= 2))
            pthread_cond_wait(&l->cv, &l->mu);
        int quit = l->quit;
        pthread_mutex_unlock(&l->mu);
        if (quit) break;
        xm_err e;
        xm_err_clear(&e);
        rc = xm_batch_fill(&l->src, l->rd, k, &l->buf[slot], &e);
        pthread_mutex_lock(&l->mu);
        if (rc) {
            l->rc = rc;
            l->err = e;
        } else {
            l->ready[slot] = 1;
            l->filled++;
        }
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    if (rc && !l->rc) {
        pthread_mutex_lock(&l->mu);
        l->rc = rc;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

int xm_loader_start(const xm_loader_src *src, int64_t k0, int64_t k1, int readers,
                    xm_loader **out, xm_err *err)
{
    *out = NULL;
    xm_loader *l = calloc(1, sizeof *l);
    if (!l) return xm_err_set(err, XM_EFAIL, "out of memory");
    if (!(l->rd = xm_xms_readers_new(readers, err))) {
        free(l);
        return err->code ? err->code : XM_EFAIL;
    }
    l->src = *src;
    l->k0 = k0;
    l->k1 = k1;
    l->consumed = -1; /* index of the batch the consumer holds (none yet) */
    xm_err_clear(&l->err);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, loader_main, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        xm_xms_readers_free(l->rd);
        free(l);
        return xm_err_set(err, XM_EFAIL, "cannot start the loader thread");
    }
    *out = l;
    return 0;
}

int xm_loader_next(xm_loader *l, const xm_batch **b, xm_err *err)
{
    pthread_mutex_lock(&l->mu);
    /* release the batch handed out last time */
    if (l->consumed >= 0) l->ready[l->consumed % 2] = 0;
    int64_t want = l->consumed + 1;
    if (l->k0 + want >= l->k1) {
        pthread_mutex_unlock(&l->mu);
        return xm_err_set(err, XM_EUSAGE, "loader: no more steps");
    }
    l->consumed = want;
    pthread_cond_broadcast(&l->cv);
    if (!l->ready[want % 2] && !l->rc) {
        double t0 = xm_now();
        while (!l->ready[want % 2] && !l->rc) pthread_cond_wait(&l->cv, &l->mu);
        l->wait_s += xm_now() - t0;
    }
    int rc = l->ready[want % 2] ? 0 : l->rc;
    if (rc) *err = l->err;
    if (rc && !err->code) xm_err_set(err, rc, "loader failed");
    *b = rc ? NULL : &l->buf[want % 2];
    pthread_mutex_unlock(&l->mu);
    return rc;
}

double xm_loader_wait_s(const xm_loader *l)
{
    return l ? l->wait_s : 0.0; /* written by the consumer's own calls only */
}

void xm_loader_free(xm_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    xm_batch_release(&l->buf[0]);
    xm_batch_release(&l->buf[0 + 1]);
    xm_xms_readers_free(l->rd);
    free(l);
}
