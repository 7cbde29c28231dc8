/* xm_xms_write.c: the .xms writer. Records are appended to an uncompressed
 * block buffer (filtered if asked); a full block is compressed as one zstd
 * frame (content size and checksum on) and written at the current offset.
 * finish() writes the metadata frame, the index and finally the header. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <turbojpeg.h>
#include <zstd.h>

#include "xm_hash.h"
#include "xm_pool.h"
#include "xm_xms.h"
#include "xm_xms_impl.h"

typedef struct blk {
    uint64_t off, first;
    uint32_t csize, rsize, nrec, chash;
} blk;

typedef struct rec {
    uint32_t block, off;
    uint16_t h, w;
    uint8_t c;
    int32_t label;
    uint32_t name_off;
} rec;

struct xm_xms_writer {
    int fd;
    char name[512];
    xm_xms_wopts o;
    ZSTD_CCtx *cctx;
    uint8_t *raw, *comp;      /* current block, compression buffer */
    size_t nraw, rawcap, compcap;
    uint8_t *scratch;         /* filtered block (serial mode) */
    size_t scratchcap;
    tjhandle tj;              /* JPEG codec (serial mode) */
    uint32_t blk_nrec;
    uint64_t off;             /* next write offset */
    blk *blocks;
    size_t nblocks, blkcap;
    rec *recs;
    size_t nrecs, reccap;
    char *names;              /* NUL-terminated source names */
    size_t nnames, namecap;
    char **classes;
    int nclasses;
    int h, w, c, mixed;       /* shape of the first record; mixed if any differs */
    uint64_t raw_bytes;
    uint32_t max_block;
    /* Parallel mode (xm_xms_writer_set_pool): closed blocks wait here, raw,
     * and xm_xms_writer_sync filters and compresses them on the pool, one
     * zstd context per worker, then writes them in order. */
    xm_pool *pool;
    struct wctx { ZSTD_CCtx *cc; tjhandle tj; uint8_t *scratch; size_t scap; } *wc;
    int nwc;
    struct pend { uint32_t block; uint8_t *raw, *comp; size_t csize; const char *why; } *pend;
    size_t npend, pendcap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int write_at(xm_xms_writer *w, const void *buf, size_t n, uint64_t off, xm_err *err)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return xm_err_errno(err, XM_EIO, errno, "%s", w->name);
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

xm_xms_writer *xm_xms_writer_new(int fd, const char *name, const xm_xms_wopts *o, xm_err *err)
{
    xm_xms_writer *w = calloc(1, sizeof *w);
    if (!w) goto oom;
    w->fd = fd;
    snprintf(w->name, sizeof w->name, "%s", name ? name : "output");
    if (o) w->o = *o;
    if (w->o.level == 0) w->o.level = XM_XMS_DEFAULT_LEVEL;
    if (w->o.block_bytes == 0) w->o.block_bytes = XM_XMS_DEFAULT_BLOCK;
    if (w->o.quality == 0) w->o.quality = 90;
    if (w->o.codec == XM_XMS_CODEC_JPEG) w->o.filter = XM_XMS_FILTER_NONE; /* JPEG predicts itself */
    if (w->o.filter < 0 || w->o.filter > XM_XMS_FILTER_PAETH || w->o.codec < 0 ||
        w->o.codec > XM_XMS_CODEC_JPEG || w->o.quality < 1 || w->o.quality > 100) {
        xm_err_set(err, XM_EUSAGE, "bad writer options (filter %d, codec %d, quality %d)", w->o.filter,
                   w->o.codec, w->o.quality);
        free(w);
        return NULL;
    }
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) goto oom;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    w->off = XM_XMS_HEADER_SIZE;
    return w;
oom:
    xm_xms_writer_free(w);
    xm_err_set(err, XM_EFAIL, "out of memory");
    return NULL;
}

void xm_xms_writer_free(xm_xms_writer *w)
{
    if (!w) return;
    ZSTD_freeCCtx(w->cctx);
    if (w->tj) tjDestroy(w->tj);
    for (int i = 0; i < w->nwc; i++) {
        if (w->wc[i].tj) tjDestroy(w->wc[i].tj);
        ZSTD_freeCCtx(w->wc[i].cc);
        free(w->wc[i].scratch);
    }
    free(w->wc);
    for (size_t i = 0; i < w->npend; i++) {
        free(w->pend[i].raw);
        free(w->pend[i].comp);
    }
    free(w->pend);
    free(w->raw);
    free(w->comp);
    free(w->scratch);
    free(w->blocks);
    free(w->recs);
    free(w->names);
    for (int i = 0; i < w->nclasses; i++) free(w->classes[i]);
    free(w->classes);
    free(w);
}

int xm_xms_writer_set_classes(xm_xms_writer *w, const char *const *names, int n, xm_err *err)
{
    if (n < 0) return xm_err_set(err, XM_EUSAGE, "negative class count");
    char **cl = calloc((size_t)n + 1, sizeof *cl);
    if (!cl) return xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!names[i][0] || strpbrk(names[i], "\n\r") || strlen(names[i]) > 65535) {
            for (int j = 0; j < i; j++) free(cl[j]);
            free(cl);
            return xm_err_set(err, XM_EDATA, "class %d: bad class name '%s'", i, names[i]);
        }
        cl[i] = strdup(names[i]);
        if (!cl[i]) {
            for (int j = 0; j < i; j++) free(cl[j]);
            free(cl);
            return xm_err_set(err, XM_EFAIL, "out of memory");
        }
    }
    for (int i = 0; i < w->nclasses; i++) free(w->classes[i]);
    free(w->classes);
    w->classes = cl;
    w->nclasses = n;
    return 0;
}

/* Encode the records of block b (raw pixels, packed in record order): JPEG
 * them into *scratch (fixing each record's offset and the block's size), or
 * filter them into *scratch, or take them as they are; then compress into
 * *comp. Returns the compressed size, or a zstd error code / (size_t)-1. */
static size_t compress_block(xm_xms_writer *w, ZSTD_CCtx *cc, tjhandle *tj, uint8_t **scratch,
                             size_t *scap, uint32_t b, const uint8_t *raw, uint8_t **comp, size_t *ccap,
                             const char **why)
{
    blk *k = &w->blocks[b];
    const uint8_t *src = raw;
    if (w->o.codec == XM_XMS_CODEC_JPEG) {
        if (!*tj && !(*tj = tjInitCompress())) {
            *why = "cannot start the JPEG encoder";
            return (size_t)-1;
        }
        size_t in = 0, out = 0;
        for (uint64_t i = k->first; i < k->first + k->nrec; i++) {
            rec *r = &w->recs[i];
            unsigned char *jb = NULL;
            unsigned long jl = 0;
            if (tjCompress2(*tj, raw + in, r->w, 0, r->h, r->c == 1 ? TJPF_GRAY : TJPF_RGB, &jb, &jl,
                            r->c == 1 ? TJSAMP_GRAY : TJSAMP_420, w->o.quality, TJFLAG_ACCURATEDCT) != 0 ||
                grow((void **)scratch, scap, out + jl, 1)) {
                tjFree(jb);
                *why = "JPEG encoding failed";
                return (size_t)-1;
            }
            memcpy(*scratch + out, jb, jl);
            tjFree(jb);
            r->off = (uint32_t)out;
            in += (size_t)r->h * r->w * r->c;
            out += jl;
        }
        if (out > UINT32_MAX) {
            *why = "block too large";
            return (size_t)-1;
        }
        k->rsize = (uint32_t)out;
        src = *scratch;
    } else if (w->o.filter) {
        if (grow((void **)scratch, scap, k->rsize, 1)) {
            *why = "out of memory";
            return (size_t)-1;
        }
        for (uint64_t i = k->first; i < k->first + k->nrec; i++) {
            const rec *r = &w->recs[i];
            xm_xms_filter(w->o.filter, raw + r->off, *scratch + r->off, r->h, r->w, r->c);
        }
        src = *scratch;
    }
    if (grow((void **)comp, ccap, ZSTD_compressBound(k->rsize), 1)) {
        *why = "out of memory";
        return (size_t)-1;
    }
    size_t cs = ZSTD_compress2(cc, *comp, *ccap, src, k->rsize);
    if (ZSTD_isError(cs)) *why = ZSTD_getErrorName(cs);
    return cs;
}

static int write_block(xm_xms_writer *w, uint32_t b, const uint8_t *comp, size_t cs, xm_err *err)
{
    int rc = write_at(w, comp, cs, w->off, err);
    if (rc) return rc;
    blk *k = &w->blocks[b];
    k->off = w->off;
    k->csize = (uint32_t)cs;
    k->chash = (uint32_t)xm_xxh64(comp, cs, 0);
    if (k->rsize > w->max_block) w->max_block = k->rsize; /* known only now for JPEG */
    w->off += cs;
    return 0;
}

/* Close the current block: record it, then compress it now or queue it. */
static int flush_block(xm_xms_writer *w, xm_err *err)
{
    if (w->blk_nrec == 0) return 0;
    if (grow((void **)&w->blocks, &w->blkcap, w->nblocks + 1, sizeof *w->blocks))
        return xm_err_set(err, XM_EFAIL, "out of memory");
    if (w->nblocks >= UINT32_MAX - 1) return xm_err_set(err, XM_EDATA, "%s: too many blocks", w->name);
    uint32_t b = (uint32_t)w->nblocks++;
    blk *k = &w->blocks[b];
    memset(k, 0, sizeof *k);
    k->rsize = (uint32_t)w->nraw;
    k->nrec = w->blk_nrec;
    k->first = w->nrecs - w->blk_nrec;
    w->blk_nrec = 0;
    if (w->pool) {
        if (grow((void **)&w->pend, &w->pendcap, w->npend + 1, sizeof *w->pend))
            return xm_err_set(err, XM_EFAIL, "out of memory");
        w->pend[w->npend++] = (struct pend){.block = b, .raw = w->raw};
        w->raw = NULL; /* handed over; the next block allocates its own */
        w->rawcap = 0;
        w->nraw = 0;
        return 0;
    }
    const char *why = NULL;
    size_t cs = compress_block(w, w->cctx, &w->tj, &w->scratch, &w->scratchcap, b, w->raw, &w->comp,
                               &w->compcap, &why);
    w->nraw = 0;
    if (why) return xm_err_set(err, XM_EFAIL, "%s: block %u: %s", w->name, b, why);
    return write_block(w, b, w->comp, cs, err);
}

static ZSTD_CCtx *new_cctx(int level)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (!c) return NULL;
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    return c;
}

int xm_xms_writer_set_pool(xm_xms_writer *w, xm_pool *pool, xm_err *err)
{
    if (!pool || w->wc) { /* detach (queue must be synced), or re-attach */
        if (!pool && w->npend) return xm_err_set(err, XM_EFAIL, "%s: blocks still queued", w->name);
        if (pool && xm_pool_threads(pool) > w->nwc) return xm_err_set(err, XM_EFAIL, "pool grew");
        w->pool = pool;
        return 0;
    }
    int n = xm_pool_threads(pool);
    w->wc = calloc((size_t)n, sizeof *w->wc);
    if (!w->wc) return xm_err_set(err, XM_EFAIL, "out of memory");
    w->nwc = n;
    for (int i = 0; i < n; i++)
        if (!(w->wc[i].cc = new_cctx(w->o.level))) return xm_err_set(err, XM_EFAIL, "out of memory");
    w->pool = pool;
    return 0;
}

static void compress_pending(void *ctx, int64_t i, int worker)
{
    xm_xms_writer *w = ctx;
    struct pend *p = &w->pend[i];
    struct wctx *c = &w->wc[worker];
    size_t cap = 0;
    p->comp = NULL;
    size_t cs = compress_block(w, c->cc, &c->tj, &c->scratch, &c->scap, p->block, p->raw, &p->comp, &cap,
                               &p->why);
    if (!p->why) p->csize = cs;
}

int xm_xms_writer_sync(xm_xms_writer *w, xm_err *err)
{
    if (!w->npend) return 0;
    xm_pool_for(w->pool, (int64_t)w->npend, 1, compress_pending, w);
    int rc = 0;
    for (size_t i = 0; i < w->npend; i++) {
        struct pend *p = &w->pend[i];
        if (!rc && p->why) rc = xm_err_set(err, XM_EFAIL, "%s: block %u: %s", w->name, p->block, p->why);
        if (!rc) rc = write_block(w, p->block, p->comp, p->csize, err);
        free(p->raw);
        free(p->comp);
    }
    w->npend = 0;
    return rc;
}

int xm_xms_writer_add(xm_xms_writer *w, const uint8_t *px, int h, int wd, int c, int32_t label,
                      const char *src, xm_err *err)
{
    if (h < 1 || wd < 1 || h > 65535 || wd > 65535 || (c != 1 && c != 3))
        return xm_err_set(err, XM_EDATA, "%s: bad record shape %dx%dx%d", src ? src : "record", h, wd, c);
    size_t size = (size_t)h * (size_t)wd * (size_t)c;
    if (size > (size_t)3 * 64 * 1024 * 1024)
        return xm_err_set(err, XM_EDATA, "%s: record too large (%zu bytes)", src ? src : "record", size);
    if (label < -1 || (w->classes && label >= w->nclasses))
        return xm_err_set(err, XM_EDATA, "%s: label %d out of range", src ? src : "record", (int)label);
    if (w->blk_nrec && w->nraw + size > w->o.block_bytes) {
        int rc = flush_block(w, err);
        if (rc) return rc;
    }
    if (grow((void **)&w->raw, &w->rawcap, w->nraw + size, 1) ||
        grow((void **)&w->recs, &w->reccap, w->nrecs + 1, sizeof *w->recs))
        return xm_err_set(err, XM_EFAIL, "out of memory");
    const char *nm = src ? src : "";
    size_t nl = strlen(nm) + 1;
    if (w->nnames + nl > UINT32_MAX) return xm_err_set(err, XM_EDATA, "%s: names too long", w->name);
    if (grow((void **)&w->names, &w->namecap, w->nnames + nl, 1))
        return xm_err_set(err, XM_EFAIL, "out of memory");
    memcpy(w->raw + w->nraw, px, size); /* filtered when the block is compressed */
    rec *r = &w->recs[w->nrecs++];
    r->block = (uint32_t)w->nblocks;
    r->off = (uint32_t)w->nraw;
    r->h = (uint16_t)h;
    r->w = (uint16_t)wd;
    r->c = (uint8_t)c;
    r->label = label;
    r->name_off = (uint32_t)w->nnames;
    memcpy(w->names + w->nnames, nm, nl);
    w->nnames += nl;
    w->nraw += size;
    w->blk_nrec++;
    w->raw_bytes += size;
    if (w->nrecs == 1) {
        w->h = h;
        w->w = wd;
        w->c = c;
    } else if (h != w->h || wd != w->w || c != w->c) {
        w->mixed = 1;
    }
    return 0;
}

int64_t xm_xms_writer_count(const xm_xms_writer *w) { return (int64_t)w->nrecs; }
uint64_t xm_xms_writer_bytes(const xm_xms_writer *w) { return w->off; }

int xm_xms_writer_finish(xm_xms_writer *w, xm_err *err)
{
    int rc = flush_block(w, err);
    if (!rc && w->pool) rc = xm_xms_writer_sync(w, err);
    if (rc) return rc;
    for (size_t i = 0; i < w->nrecs; i++)
        if (w->recs[i].label >= w->nclasses)
            return xm_err_set(err, XM_EDATA, "%s: record %zu: label %d but %d classes", w->name, i,
                              (int)w->recs[i].label, w->nclasses);
    /* Metadata: u32 nclasses, (u32 len, bytes) per class, u64 names_len, names. */
    size_t msize = 4 + 8 + w->nnames;
    for (int i = 0; i < w->nclasses; i++) msize += 4 + strlen(w->classes[i]);
    if (msize > UINT32_MAX) return xm_err_set(err, XM_EDATA, "%s: metadata too large", w->name);
    uint8_t *meta = malloc(msize);
    size_t mbound = ZSTD_compressBound(msize);
    uint8_t *mcomp = malloc(mbound);
    size_t isize = w->nblocks * XMS_BLOCK_ENTRY + w->nrecs * XMS_RECORD_ENTRY;
    uint8_t *index = malloc(isize ? isize : 1), *icomp = NULL;
    if (!meta || !mcomp || !index) {
        free(meta);
        free(mcomp);
        free(index);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    uint8_t *p = meta;
    put32(p, (uint32_t)w->nclasses);
    p += 4;
    for (int i = 0; i < w->nclasses; i++) {
        uint32_t l = (uint32_t)strlen(w->classes[i]);
        put32(p, l);
        memcpy(p + 4, w->classes[i], l);
        p += 4 + l;
    }
    put64(p, w->nnames);
    if (w->nnames) memcpy(p + 8, w->names, w->nnames);
    size_t mcs = ZSTD_compress2(w->cctx, mcomp, mbound, meta, msize);
    if (ZSTD_isError(mcs)) {
        rc = xm_err_set(err, XM_EFAIL, "%s: zstd: %s", w->name, ZSTD_getErrorName(mcs));
        goto out;
    }
    uint64_t meta_off = w->off;
    rc = write_at(w, mcomp, mcs, meta_off, err);
    if (rc) goto out;
    uint64_t index_off = meta_off + mcs;
    p = index;
    for (size_t i = 0; i < w->nblocks; i++, p += XMS_BLOCK_ENTRY) {
        const blk *b = &w->blocks[i];
        memset(p, 0, XMS_BLOCK_ENTRY);
        put64(p, b->off);
        put32(p + 8, b->csize);
        put32(p + 12, b->rsize);
        put64(p + 16, b->first);
        put32(p + 24, b->nrec);
        put32(p + 28, b->chash);
    }
    for (size_t i = 0; i < w->nrecs; i++, p += XMS_RECORD_ENTRY) {
        const rec *r = &w->recs[i];
        memset(p, 0, XMS_RECORD_ENTRY);
        put32(p, r->block);
        put32(p + 4, r->off);
        put16(p + 8, r->h);
        put16(p + 10, r->w);
        p[12] = r->c;
        put32(p + 16, (uint32_t)r->label);
        put32(p + 20, r->name_off);
    }
    /* The index is one more zstd frame: record entries are regular (offsets
     * step by the record size, shapes repeat), so it shrinks several-fold. */
    size_t ibound = ZSTD_compressBound(isize);
    icomp = malloc(ibound);
    if (!icomp) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
        goto out;
    }
    size_t ics = ZSTD_compress2(w->cctx, icomp, ibound, index, isize);
    if (ZSTD_isError(ics)) {
        rc = xm_err_set(err, XM_EFAIL, "%s: zstd: %s", w->name, ZSTD_getErrorName(ics));
        goto out;
    }
    rc = write_at(w, icomp, ics, index_off, err);
    if (rc) goto out;
    uint8_t hd[XM_XMS_HEADER_SIZE];
    memset(hd, 0, sizeof hd);
    memcpy(hd + H_MAGIC, XMS_MAGIC, 8);
    put32(hd + H_VERSION, XM_XMS_VERSION);
    put32(hd + H_HSIZE, XM_XMS_HEADER_SIZE);
    put64(hd + H_NREC, w->nrecs);
    put32(hd + H_NCLASS, (uint32_t)w->nclasses);
    put32(hd + H_NBLOCK, (uint32_t)w->nblocks);
    if (!w->mixed && w->nrecs) {
        put16(hd + H_H, (uint16_t)w->h);
        put16(hd + H_W, (uint16_t)w->w);
        hd[H_C] = (uint8_t)w->c;
    }
    hd[H_FILTER] = (uint8_t)w->o.filter;
    hd[H_CODEC] = (uint8_t)w->o.codec;
    put64(hd + H_INDEX_OFF, index_off);
    put64(hd + H_INDEX_SIZE, ics);
    put64(hd + H_INDEX_RSIZE, isize);
    put64(hd + H_INDEX_HASH, xm_xxh64(icomp, ics, 0));
    put64(hd + H_META_OFF, meta_off);
    put32(hd + H_META_CSIZE, (uint32_t)mcs);
    put32(hd + H_META_RSIZE, (uint32_t)msize);
    put64(hd + H_META_HASH, xm_xxh64(mcomp, mcs, 0));
    put64(hd + H_FILE_SIZE, index_off + ics);
    put32(hd + H_MAX_BLOCK, w->max_block);
    put64(hd + H_HASH, xm_xxh64(hd, H_HASH, 0));
    rc = write_at(w, hd, sizeof hd, 0, err);
    if (!rc && ftruncate(w->fd, (off_t)(index_off + ics)) != 0)
        rc = xm_err_errno(err, XM_EIO, errno, "%s", w->name);
out:
    free(icomp);
    free(meta);
    free(mcomp);
    free(index);
    return rc;
}
