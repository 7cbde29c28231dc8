/* xm_xms_out.c: see xm_xms_out.h. Finished shards keep only their temporary
 * path (the descriptor is closed) so thousands of shards need no fds. */
#include "xm_xms_out.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xm_atomic.h"

struct xm_xms_out {
    char *pattern;
    int64_t shard_size;
    int flags;
    xm_xms_wopts o;
    char **classes;
    int nclasses;
    xm_atomic *files; /* one per shard, all open or finished-but-uncommitted */
    int nfiles, cap;
    xm_xms_writer *w; /* writer of the last shard, NULL if none open */
    int committed;
    struct xm_pool *pool;
    uint64_t bytes;
};

/* Our own formatter: the user's pattern never reaches printf. */
int xm_xms_out_format(const char *pattern, int64_t k, char *buf, size_t n, xm_err *err)
{
    size_t o = 0;
    int convs = 0;
    for (const char *p = pattern; *p; p++) {
        char tmp[32];
        const char *piece = NULL;
        size_t plen = 1;
        if (*p == '%') {
            if (p[1] == '%') {
                piece = "%";
                p++;
            } else {
                const char *q = p + 1;
                int zero = *q == '0';
                int width = 0;
                while (isdigit((unsigned char)*q) && width < 100) width = width * 10 + (*q++ - '0');
                if (*q != 'd' || width > 20) {
                    xm_err_set(err, XM_EUSAGE, "%s: bad pattern (only %%d, %%Nd, %%0Nd, %%%%)", pattern);
                    return -1;
                }
                snprintf(tmp, sizeof tmp, zero ? "%0*lld" : "%*lld", width, (long long)k);
                piece = tmp;
                plen = strlen(tmp);
                convs++;
                p = q;
            }
        } else {
            piece = p;
        }
        if (o + plen >= n) {
            xm_err_set(err, XM_EUSAGE, "%s: path too long", pattern);
            return -1;
        }
        memcpy(buf + o, piece, plen);
        o += plen;
    }
    buf[o] = '\0';
    if (convs > 1) {
        xm_err_set(err, XM_EUSAGE, "%s: more than one %%d in the pattern", pattern);
        return -1;
    }
    return convs;
}

int xm_xms_out_open(const char *pattern, int64_t shard_size, int flags, const xm_xms_wopts *o,
                    xm_xms_out **out, xm_err *err)
{
    *out = NULL;
    char buf[XM_ATOMIC_PATH_MAX];
    int convs = xm_xms_out_format(pattern, 0, buf, sizeof buf, err);
    if (convs < 0) return XM_EUSAGE;
    if (shard_size < 0) return xm_err_set(err, XM_EUSAGE, "negative shard size");
    if (shard_size > 0 && convs != 1)
        return xm_err_set(err, XM_EUSAGE, "%s: --shard-size needs a %%d pattern in the output name", pattern);
    xm_xms_out *s = calloc(1, sizeof *s);
    if (!s || !(s->pattern = strdup(pattern))) {
        free(s);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    s->shard_size = shard_size;
    s->flags = flags;
    if (o) s->o = *o;
    *out = s;
    return 0;
}

int xm_xms_out_set_classes(xm_xms_out *s, const char *const *names, int n, xm_err *err)
{
    s->classes = calloc((size_t)n + 1, sizeof *s->classes);
    if (!s->classes) return xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; i < n; i++)
        if (!(s->classes[i] = strdup(names[i]))) return xm_err_set(err, XM_EFAIL, "out of memory");
    s->nclasses = n;
    return 0;
}

static int close_shard(xm_xms_out *s, xm_err *err)
{
    if (!s->w) return 0;
    xm_atomic *a = &s->files[s->nfiles - 1];
    int rc = xm_xms_writer_finish(s->w, err);
    if (!rc) {
        struct stat st;
        if (fstat(a->fd, &st) == 0) s->bytes += (uint64_t)st.st_size;
    }
    xm_xms_writer_free(s->w);
    s->w = NULL;
    xm_atomic_close_fd(a);
    return rc;
}

static int open_shard(xm_xms_out *s, xm_err *err)
{
    if (s->nfiles == s->cap) {
        int nc = s->cap ? s->cap * 2 : 8;
        xm_atomic *f = realloc(s->files, (size_t)nc * sizeof *f);
        if (!f) return xm_err_set(err, XM_EFAIL, "out of memory");
        s->files = f;
        s->cap = nc;
    }
    char path[XM_ATOMIC_PATH_MAX];
    xm_xms_out_format(s->pattern, s->nfiles, path, sizeof path, NULL);
    xm_atomic *a = &s->files[s->nfiles];
    int rc = xm_atomic_open(a, path, s->flags, err);
    if (rc) return rc;
    s->nfiles++;
    s->w = xm_xms_writer_new(a->fd, path, &s->o, err);
    if (!s->w) return err && err->code ? err->code : XM_EFAIL;
    if (s->pool && (rc = xm_xms_writer_set_pool(s->w, s->pool, err))) return rc;
    return xm_xms_writer_set_classes(s->w, (const char *const *)s->classes, s->nclasses, err);
}

int xm_xms_out_add(xm_xms_out *s, const uint8_t *px, int h, int w, int c, int32_t label,
                   const char *src, xm_err *err)
{
    int rc;
    if (s->w && s->shard_size > 0 && xm_xms_writer_count(s->w) >= s->shard_size &&
        (rc = close_shard(s, err)))
        return rc;
    if (!s->w && (rc = open_shard(s, err))) return rc;
    return xm_xms_writer_add(s->w, px, h, w, c, label, src, err);
}

int xm_xms_out_commit(xm_xms_out *s, xm_err *err)
{
    int rc;
    if (s->nfiles == 0 && (rc = open_shard(s, err))) return rc; /* an empty data set: one empty file */
    if ((rc = close_shard(s, err))) return rc;
    for (int k = 0; k < s->nfiles; k++)
        if ((rc = xm_atomic_commit(&s->files[k], err))) {
            /* Un-publish what this run already renamed: all or nothing. */
            for (int j = 0; j < k; j++) remove(s->files[j].path);
            return rc;
        }
    s->committed = 1;
    return 0;
}

void xm_xms_out_free(xm_xms_out *s)
{
    if (!s) return;
    xm_xms_writer_free(s->w);
    for (int k = 0; k < s->nfiles; k++) xm_atomic_abort(&s->files[k]); /* no-op once committed */
    free(s->files);
    for (int i = 0; i < s->nclasses; i++) free(s->classes[i]);
    free(s->classes);
    free(s->pattern);
    free(s);
}

int xm_xms_out_set_pool(xm_xms_out *s, struct xm_pool *pool)
{
    s->pool = pool; /* used by shards opened from now on, and the open one */
    return s->w ? xm_xms_writer_set_pool(s->w, pool, NULL) : 0;
}

int xm_xms_out_sync(xm_xms_out *s, xm_err *err) { return s->w && s->pool ? xm_xms_writer_sync(s->w, err) : 0; }

int xm_xms_out_nfiles(const xm_xms_out *s) { return s->nfiles; }
const char *xm_xms_out_path(const xm_xms_out *s, int k) { return s->files[k].path; }
uint64_t xm_xms_out_bytes(const xm_xms_out *s) { return s->bytes; }
