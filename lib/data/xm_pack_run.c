/* xm_pack_run.c: decode on a thread pool in chunks, append in input order
 * (see xm_pack.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xm_image.h"
#include "xm_pack.h"
#include "xm_pool.h"
#include "xm_progress.h"

typedef struct slot {
    xm_image im;
    xm_err err;
    uint64_t bytes_in;
} slot;

typedef struct job {
    const xm_pack_src *src;
    const xm_pack_opts *o;
    xm_decoder **dec; /* one per worker */
    slot *slots;
    int64_t base;     /* item index of slots[0] */
} job;

static int read_file(const char *path, int64_t max, uint8_t **buf, size_t *len, xm_err *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO: refused below, not waited on */
    if (fd < 0) return xm_err_errno(err, errno == ENOENT || errno == EACCES ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = xm_err_errno(err, XM_EIO, errno, "%s", path);
    else if (!S_ISREG(st.st_mode)) rc = xm_err_set(err, XM_ENOINPUT, "%s: not a regular file", path);
    else if (st.st_size > max)
        rc = xm_err_set(err, XM_EDATA, "%s: file too large (%lld bytes, limit %lld)", path,
                        (long long)st.st_size, (long long)max);
    if (rc) {
        close(fd);
        return rc;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = xm_err_errno(err, XM_EIO, errno, "%s", path);
            break;
        }
        if (k == 0) break; /* shrank while reading: decode what is there */
        got += (size_t)k;
    }
    close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = got;
    return 0;
}

static int idx_image(const xm_pack_src *s, const xm_pack_item *it, const xm_pack_opts *o, xm_image *out,
                     xm_err *err)
{
    const xm_pack_idx *x = &s->idx[it->idx];
    size_t n = (size_t)x->h * (size_t)x->w;
    xm_image g = {x->h, x->w, 1, malloc(n ? n : 1)};
    if (!g.px) return xm_err_set(err, XM_EFAIL, "out of memory");
    memcpy(g.px, x->px + (size_t)it->idx_i * n, n);
    if (o->size > 0) {
        xm_image r = {0};
        int rc = xm_image_resize_crop(&g, o->size, &r, err);
        xm_image_release(&g);
        if (rc) return rc;
        g = r;
    }
    if (o->channels == 3) {
        uint8_t *p = malloc((size_t)g.h * g.w * 3);
        if (!p) {
            xm_image_release(&g);
            return xm_err_set(err, XM_EFAIL, "out of memory");
        }
        for (size_t i = 0; i < (size_t)g.h * g.w; i++) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = g.px[i];
        free(g.px);
        g.px = p;
        g.c = 3;
    }
    *out = g;
    return 0;
}

static void decode_one(void *ctx, int64_t k, int worker)
{
    job *j = ctx;
    slot *sl = &j->slots[k];
    const xm_pack_item *it = &j->src->items[j->base + k];
    xm_err_clear(&sl->err);
    memset(&sl->im, 0, sizeof sl->im);
    sl->bytes_in = 0;
    if (it->idx >= 0) {
        idx_image(j->src, it, j->o, &sl->im, &sl->err);
        return;
    }
    uint8_t *buf;
    size_t len;
    int64_t max = j->o->max_file_bytes > 0 ? j->o->max_file_bytes : ((int64_t)1 << 30);
    if (read_file(it->path, max, &buf, &len, &sl->err)) return;
    sl->bytes_in = len;
    xm_decode_opts d = {.channels = j->o->channels, .size = j->o->size, .max_pixels = j->o->max_pixels};
    xm_image_decode(j->dec[worker], buf, len, it->path, &d, &sl->im, &sl->err);
    free(buf);
}

int xm_pack_run(const xm_pack_src *s, const xm_pack_opts *o, xm_xms_out *out, const xm_pack_cb *cb,
                xm_pack_stats *st, xm_err *err)
{
    memset(st, 0, sizeof *st);
    double t0 = xm_now();
    int rc = 0;
    xm_pool *pool = xm_pool_new(o->threads, err);
    if (!pool) return err && err->code ? err->code : XM_EFAIL;
    int nt = xm_pool_threads(pool);
    const int64_t chunk = 32 * (int64_t)nt;
    job j = {.src = s, .o = o};
    j.dec = calloc((size_t)nt, sizeof *j.dec);
    j.slots = calloc((size_t)chunk, sizeof *j.slots);
    if (!j.dec || !j.slots) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int t = 0; !rc && t < nt; t++)
        if (!(j.dec[t] = xm_decoder_new(err))) rc = err && err->code ? err->code : XM_EFAIL;
    st->bytes_in = s->idx_bytes_in;
    if (!rc) xm_xms_out_set_pool(out, pool); /* blocks compress on the pool too */
    for (int64_t base = 0; !rc && base < s->n; base += chunk) {
        int64_t n = s->n - base < chunk ? s->n - base : chunk;
        j.base = base;
        xm_pool_for(pool, n, 1, decode_one, &j);
        for (int64_t k = 0; k < n; k++) {
            slot *sl = &j.slots[k];
            const xm_pack_item *it = &s->items[base + k];
            st->bytes_in += sl->bytes_in;
            if (!rc && sl->err.code) {
                if (o->strict) {
                    xm_err_set(err, sl->err.code, "%s", sl->err.msg);
                    rc = sl->err.code;
                } else {
                    st->skipped++;
                    if (cb && cb->skip) cb->skip(cb->ctx, it->path, &sl->err);
                }
            } else if (!rc) {
                char name[4200];
                if (it->idx >= 0) {
                    const char *b = strrchr(it->path, '/');
                    snprintf(name, sizeof name, "%s#%lld", b ? b + 1 : it->path, (long long)it->idx_i);
                } else {
                    snprintf(name, sizeof name, "%s", it->path);
                }
                rc = xm_xms_out_add(out, sl->im.px, sl->im.h, sl->im.w, sl->im.c, it->label, name, err);
                if (!rc) {
                    st->records++;
                    st->raw_bytes += (uint64_t)sl->im.h * sl->im.w * sl->im.c;
                }
            }
            xm_image_release(&sl->im);
        }
        if (!rc) rc = xm_xms_out_sync(out, err);
        if (cb && cb->progress) cb->progress(cb->ctx, base + n, s->n);
    }
    if (j.dec)
        for (int t = 0; t < nt; t++) xm_decoder_free(j.dec[t]);
    free(j.dec);
    free(j.slots);
    if (!rc) rc = xm_xms_out_sync(out, err);
    xm_xms_out_set_pool(out, NULL); /* the pool dies here; commit finishes serially */
    xm_pool_free(pool);
    st->seconds = xm_now() - t0;
    return rc;
}
