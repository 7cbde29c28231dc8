/* xm_embed.c: see xm_embed.h. Two host batch slots: the loader thread fills
 * slot b % 2 (its records read by xm_xms_readers' threads) while the
 * caller's thread runs batch b - 1 on the backend. */
#include "xm_embed.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_backend.h"
#include "xm_features.h"
#include "xm_hash.h"
#include "xm_model.h"
#include "xm_net.h"
#include "xm_progress.h"
#include "xm_xms.h"
#include "xm_xms_readers.h"

int xm_embed_center_offset(int len, int size)
{
    if (len >= size) {
        /* Python's round((len - size) / 2): halves go to the even integer. */
        int d = len - size, q = d / 2;
        return (d % 2 && q % 2) ? q + 1 : q;
    }
    return -((size - len) / 2); /* CenterCrop pads floor((size-len)/2) on top/left */
}

typedef struct slot {
    uint8_t *px;
    size_t cap, used;
    xm_mix_item *items;
    int32_t *labels;
    int64_t *records;
    int n;
    int full;   /* 1: filled by the loader, not yet consumed */
    int rc;     /* loader error for this batch */
    xm_err err;
} slot;

typedef struct loader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot slots[2];
    const xm_xms_set *set;
    xm_xms_readers *rd;
    xm_xms_fetch *reads; /* batch entries: the batch's reads, planned by fill */
    int64_t k, n, nrec; /* shard: records k, k+n, ... (0-based k) */
    int batch, size, channels;
    int stop;
} loader;

static int64_t shard_record(const loader *L, int64_t i) { return L->k + i * L->n; }

/* Read the records of batch b into slot s: sizes, labels and offsets from
 * the index first (the channel check too), then the pixels by the readers. */
static int fill(loader *L, int64_t b, slot *s)
{
    int64_t i0 = b * L->batch, i1 = i0 + L->batch < L->nrec ? i0 + L->batch : L->nrec;
    s->n = (int)(i1 - i0);
    s->used = 0;
    for (int64_t i = i0; i < i1; i++) {
        int64_t r = shard_record(L, i);
        xm_xms_rec rec;
        xm_xms_set_peek(L->set, (uint64_t)r, &rec);
        if (rec.c != L->channels && !(rec.c == 1 && L->channels == 3)) {
            int fi;
            uint64_t local;
            xm_xms_set_locate(L->set, (uint64_t)r, &fi, &local);
            return xm_err_set(&s->err, XM_EDATA, "%s: record %llu has %d channels, the model "
                              "takes %d", xm_xms_path(xm_xms_set_file(L->set, fi)),
                              (unsigned long long)local, rec.c, L->channels);
        }
        size_t bytes = (size_t)rec.h * rec.w * L->channels;
        if (s->used + bytes > s->cap) {
            size_t cap = s->cap ? s->cap : 1 << 16;
            while (cap < s->used + bytes) cap *= 2;
            uint8_t *p = realloc(s->px, cap);
            if (!p) return xm_err_set(&s->err, XM_EFAIL, "out of memory");
            s->px = p;
            s->cap = cap;
        }
        int j = (int)(i - i0);
        L->reads[j] = (xm_xms_fetch){L->set, r, (int64_t)s->used, bytes, L->channels};
        s->items[j] = (xm_mix_item){.off_a = (int64_t)s->used, .off_b = -1, .ha = rec.h,
                                    .wa = rec.w, .ya = xm_embed_center_offset(rec.h, L->size),
                                    .xa = xm_embed_center_offset(rec.w, L->size), .lam = 1.0f};
        s->labels[j] = rec.label;
        s->records[j] = r;
        s->used += bytes;
    }
    return xm_xms_readers_run(L->rd, L->reads, s->n, s->px, &s->err);
}

static void *loader_main(void *arg)
{
    loader *L = arg;
    int64_t nb = (L->nrec + L->batch - 1) / L->batch;
    for (int64_t b = 0; b < nb; b++) {
        slot *s = &L->slots[b % 2];
        pthread_mutex_lock(&L->mu);
        while (s->full && !L->stop) pthread_cond_wait(&L->cv, &L->mu);
        int stop = L->stop;
        pthread_mutex_unlock(&L->mu);
        if (stop) break;
        int rc = fill(L, b, s);
        pthread_mutex_lock(&L->mu);
        s->rc = rc;
        s->full = 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (rc) break;
    }
    return NULL;
}

/* ---- provenance ---- */

static int hex_hash(const char *path, char out[17], xm_err *err)
{
    uint64_t h;
    int rc = xm_hash_file(path, &h, err);
    if (!rc) snprintf(out, 17, "%016" PRIx64, h);
    return rc;
}

static int write_provenance(hid_t f, const xm_embed_cfg *cfg, const xm_model_meta *m,
                            xm_err *err)
{
    char hx[17], tr[512];
    int rc = xm_h5_attr_write_str(f, "model_file", cfg->model, err);
    if (!rc) rc = hex_hash(cfg->model, hx, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "model_xxh64", hx, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "arch", m->arch, err);
    if (!rc) rc = xm_h5_attr_write_strs(f, "inputs", (char *const *)cfg->inputs, cfg->ninputs, err);
    char **hs = calloc((size_t)cfg->ninputs, sizeof *hs);
    if (!rc && !hs) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; !rc && i < cfg->ninputs; i++) {
        if (!(hs[i] = malloc(17))) rc = xm_err_set(err, XM_EFAIL, "out of memory");
        else rc = hex_hash(cfg->inputs[i], hs[i], err);
    }
    if (!rc) rc = xm_h5_attr_write_strs(f, "inputs_xxh64", hs, cfg->ninputs, err);
    for (int i = 0; hs && i < cfg->ninputs; i++) free(hs[i]);
    free(hs);
    int o = snprintf(tr, sizeof tr, "center-crop %d (zero pad), /255, mean", m->input_size);
    for (int c = 0; c < m->in_channels && o < (int)sizeof tr - 32; c++)
        o += snprintf(tr + o, sizeof tr - o, "%s%.6g", c ? "," : " ", m->mean[c]);
    o += snprintf(tr + o, sizeof tr - o, ", std");
    for (int c = 0; c < m->in_channels && o < (int)sizeof tr - 32; c++)
        o += snprintf(tr + o, sizeof tr - o, "%s%.6g", c ? "," : " ", m->std[c]);
    if (!rc) rc = xm_h5_attr_write_str(f, "transform", tr, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "input_size", m->input_size, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "layer", "pool", err);
    if (!rc) rc = xm_h5_attr_write_str(f, "precision", xm_precision_name((xm_precision)cfg->precision), err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "shard", cfg->shard_n ? cfg->shard_k : 1, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "shards", cfg->shard_n ? cfg->shard_n : 1, err);
    return rc;
}

/* ---- the run ---- */

typedef struct run_state {
    xm_backend *be;
    xm_net *net;
    xm_model_meta meta;
    int have_meta;
    xm_xms_set *set;
    xm_feat_writer *w;
    loader L;
    int thread_started;
    void *dev_px;
    size_t dev_cap;
    xm_tensor x;
    float *feat;
} run_state;

static int compute(run_state *st, slot *s, int64_t dim, xm_err *err)
{
    xm_backend *be = st->be;
    if (s->used > st->dev_cap) {
        be->ops->free(be, st->dev_px);
        st->dev_px = be->ops->alloc(be, s->cap, err);
        st->dev_cap = st->dev_px ? s->cap : 0;
        if (!st->dev_px) return err ? err->code : XM_EFAIL;
    }
    int rc = be->ops->upload(be, st->dev_px, s->px, s->used, err);
    xm_tensor x = st->x;
    x.n = s->n; /* a short last batch uses the front of the buffer */
    if (!rc) rc = be->ops->input_mix(be, st->dev_px, s->items, st->meta.mean, st->meta.std, &x, err);
    if (!rc) rc = xm_net_forward(st->net, &x, 0, err);
    if (!rc) rc = be->ops->download_f32(be, xm_net_features(st->net), st->feat, err);
    if (!rc) rc = xm_feat_writer_add(st->w, st->feat, s->labels, s->records, s->n, err);
    (void)dim;
    return rc;
}

int xm_embed_run(const xm_embed_cfg *cfg, xm_embed_progress progress, void *ctx,
                 xm_embed_stats *stats, xm_err *err)
{
    run_state st;
    memset(&st, 0, sizeof st);
    memset(stats, 0, sizeof *stats);
    loader *L = &st.L;
    int batch = cfg->batch > 0 ? cfg->batch : 64;
    xm_backend_cfg bc = {.threads = cfg->threads, .precision = (xm_precision)cfg->precision};
    int rc = xm_xms_set_open(cfg->inputs, cfg->ninputs, NULL, &st.set, err);
    if (!rc && !(st.be = xm_backend_new(cfg->device ? cfg->device : "auto", &bc, err)))
        rc = err ? err->code : XM_EFAIL;
    if (!rc && !(st.net = xm_model_load(st.be, cfg->model, &st.meta, err)))
        rc = err ? err->code : XM_EFAIL;
    st.have_meta = st.net != NULL;
    int64_t dim = st.net ? xm_net_feature_dim(st.net) : 0;
    int nc = st.set ? xm_xms_set_nclasses(st.set) : 0;
    char **classes = rc ? NULL : calloc(nc ? (size_t)nc : 1, sizeof *classes);
    if (!rc && !classes) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int k = 0; !rc && k < nc; k++) classes[k] = (char *)xm_xms_set_class(st.set, k);
    if (!rc && !(st.w = xm_feat_writer_new(cfg->output, dim, classes, nc, cfg->flags, err)))
        rc = err ? err->code : XM_ECANTCREAT;
    free(classes);
    if (!rc) rc = write_provenance(xm_feat_writer_h5(st.w), cfg, &st.meta, err);
    /* the shard's records */
    uint64_t total = st.set ? xm_xms_set_count(st.set) : 0;
    L->k = cfg->shard_n ? cfg->shard_k - 1 : 0;
    L->n = cfg->shard_n ? cfg->shard_n : 1;
    L->nrec = (int64_t)total > L->k ? ((int64_t)total - L->k + L->n - 1) / L->n : 0;
    L->set = st.set;
    L->batch = batch;
    L->size = st.meta.input_size;
    L->channels = st.meta.in_channels;
    if (!rc) rc = xm_tensor_alloc(st.be, &st.x, batch, L->size, L->size, L->channels,
                                  st.be->act_dtype, err);
    if (!rc && !(st.feat = malloc((size_t)batch * (size_t)dim * sizeof *st.feat)))
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; !rc && i < 2; i++) {
        slot *s = &L->slots[i];
        s->items = calloc((size_t)batch, sizeof *s->items);
        s->labels = calloc((size_t)batch, sizeof *s->labels);
        s->records = calloc((size_t)batch, sizeof *s->records);
        if (!s->items || !s->labels || !s->records) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    }
    if (!rc && !(L->reads = calloc((size_t)batch, sizeof *L->reads)))
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc && !(L->rd = xm_xms_readers_new(cfg->readers, err))) rc = err ? err->code : XM_EFAIL;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    pthread_t th;
    double t0 = xm_now(); /* the timed part: load, compute, write */
    if (!rc) {
        if (pthread_create(&th, NULL, loader_main, L) != 0)
            rc = xm_err_set(err, XM_EFAIL, "cannot start the loader thread");
        else st.thread_started = 1;
    }
    int64_t nb = (L->nrec + batch - 1) / batch, done = 0;
    for (int64_t b = 0; !rc && b < nb; b++) {
        slot *s = &L->slots[b % 2];
        pthread_mutex_lock(&L->mu);
        while (!s->full) pthread_cond_wait(&L->cv, &L->mu);
        pthread_mutex_unlock(&L->mu);
        if (s->rc) {
            rc = xm_err_set(err, s->err.code ? s->err.code : XM_EFAIL, "%s", s->err.msg);
            break;
        }
        rc = compute(&st, s, dim, err);
        done += s->n; /* before handing the slot back: the loader refills it */
        pthread_mutex_lock(&L->mu);
        s->full = 0;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (!rc && progress) progress(ctx, done, L->nrec);
    }
    if (st.thread_started) {
        pthread_mutex_lock(&L->mu);
        L->stop = 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        pthread_join(th, NULL);
    }
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    if (!rc) rc = xm_feat_writer_finish(st.w, err);
    if (rc) xm_backend_oom_batch(err, batch);
    stats->images = rc ? 0 : done;
    stats->dim = dim;
    stats->seconds = xm_now() - t0;
    stats->device = st.be ? st.be->name : "none";
    /* release */
    xm_feat_writer_free(st.w);
    for (int i = 0; i < 2; i++) {
        free(L->slots[i].px);
        free(L->slots[i].items);
        free(L->slots[i].labels);
        free(L->slots[i].records);
    }
    xm_xms_readers_free(L->rd);
    free(L->reads);
    free(st.feat);
    if (st.be) {
        xm_tensor_release(st.be, &st.x);
        st.be->ops->free(st.be, st.dev_px);
    }
    xm_net_free(st.net);
    if (st.have_meta) xm_model_meta_release(&st.meta);
    xm_backend_free(st.be);
    xm_xms_set_close(st.set);
    return rc;
}
