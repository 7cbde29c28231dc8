/* xm_xms_read.c: the .xms reader. open() checks everything that is small
 * (header, index, metadata) once, so a read only has to check its block. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <turbojpeg.h>
#include <zstd.h>

#include "xm_hash.h"
#include "xm_xms.h"
#include "xm_xms_impl.h"

typedef struct blk {
    uint64_t off, first;
    uint32_t csize, rsize, nrec, chash;
} blk;

struct xm_xms {
    int fd;
    char *path;
    xm_xms_limits lim;
    xm_xms_info info;
    blk *blocks;
    uint8_t *recs; /* the raw record table (24 bytes each), validated */
    uint8_t *index;
    uint8_t *meta;
    char **classes;
    const char *names;
    uint64_t names_len;
    uint64_t id; /* header checksum: covers index and metadata, so same id = same content */
};

struct xm_xms_cursor {
    ZSTD_DCtx *dctx;
    uint8_t *cbuf, *raw, *rec;
    size_t ccap, rcap, reccap;
    tjhandle tj;      /* JPEG codec, created on first use */
    uint64_t file_id; /* header checksum of the file the cached block is from */
    int64_t block;    /* cached block, -1 none */
    int window_log;
};

void xm_xms_limits_default(xm_xms_limits *l)
{
    l->max_records = (uint64_t)1 << 32;
    l->max_record_bytes = 3u * 64 * 1024 * 1024;
    l->max_block_bytes = 256u * 1024 * 1024;
    l->max_meta_bytes = 1024u * 1024 * 1024;
    l->window_log_max = 27;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return k < 0 ? errno : EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

#define BAD(...) do { rc = xm_err_set(err, XM_EDATA, __VA_ARGS__); goto fail; } while (0)

/* Decompress one zstd frame of exactly `rsize` bytes, checking that it
 * declares its size and a content checksum and stays within the window. */
static const char *unzstd(ZSTD_DCtx *d, int wlog, const uint8_t *src, size_t n, uint8_t *dst,
                          size_t rsize)
{
    ZSTD_frameHeader fh;
    size_t r = ZSTD_getFrameHeader(&fh, src, n);
    if (ZSTD_isError(r) || r != 0) return "bad zstd frame header";
    if (fh.frameType != ZSTD_frame) return "not a zstd data frame";
    if (!fh.checksumFlag) return "zstd frame without content checksum";
    if (fh.frameContentSize != rsize) return "zstd frame size differs from the index";
    if (fh.windowSize > ((unsigned long long)1 << wlog)) return "zstd window over the limit";
    if (ZSTD_findFrameCompressedSize(src, n) != n) return "zstd frame size differs from the index";
    size_t got = ZSTD_decompressDCtx(d, dst, rsize, src, n);
    if (ZSTD_isError(got)) return ZSTD_getErrorName(got);
    if (got != rsize) return "short zstd frame";
    return NULL;
}

int xm_xms_open(const char *path, const xm_xms_limits *lim, xm_xms **out, xm_err *err)
{
    int rc = 0;
    *out = NULL;
    xm_xms *x = calloc(1, sizeof *x);
    ZSTD_DCtx *dctx = NULL;
    if (!x || !(x->path = strdup(path))) {
        free(x);
        return xm_err_set(err, XM_EFAIL, "out of memory");
    }
    x->fd = -1;
    if (lim) x->lim = *lim;
    else xm_xms_limits_default(&x->lim);
    x->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO: refused below, not waited on */
    if (x->fd < 0) {
        rc = xm_err_errno(err, errno == ENOENT || errno == EACCES ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
        goto fail;
    }
    struct stat st;
    if (fstat(x->fd, &st) != 0) {
        rc = xm_err_errno(err, XM_EIO, errno, "%s", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) BAD("%s: not a regular file", path);
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t hd[XM_XMS_HEADER_SIZE];
    if (fsize < XM_XMS_HEADER_SIZE) {
        if (fsize >= 8 && pread_full(x->fd, hd, 8, 0) == 0 && memcmp(hd, XMS_MAGIC, 8) == 0)
            BAD("%s: truncated (%llu bytes, header is %d)", path, (unsigned long long)fsize,
                XM_XMS_HEADER_SIZE);
        BAD("%s: not an .xms file (too short)", path);
    }
    int e = pread_full(x->fd, hd, sizeof hd, 0);
    if (e) {
        rc = xm_err_errno(err, XM_EIO, e, "%s", path);
        goto fail;
    }
    if (memcmp(hd, XMS_MAGIC, 8) != 0) BAD("%s: not an .xms file (bad magic)", path);
    if (get64(hd + H_HASH) != xm_xxh64(hd, H_HASH, 0)) BAD("%s: header checksum mismatch", path);
    x->id = get64(hd + H_HASH);
    xm_xms_info *in = &x->info;
    in->version = get32(hd + H_VERSION);
    if (in->version != XM_XMS_VERSION)
        BAD("%s: unsupported .xms version %u (this reader knows %d)", path, in->version, XM_XMS_VERSION);
    if (get32(hd + H_HSIZE) != XM_XMS_HEADER_SIZE) BAD("%s: bad header size", path);
    in->n_records = get64(hd + H_NREC);
    in->n_classes = get32(hd + H_NCLASS);
    in->n_blocks = get32(hd + H_NBLOCK);
    in->h = get16(hd + H_H);
    in->w = get16(hd + H_W);
    in->c = hd[H_C];
    in->filter = hd[H_FILTER];
    in->codec = hd[H_CODEC];
    in->file_size = get64(hd + H_FILE_SIZE);
    in->max_block_raw = get32(hd + H_MAX_BLOCK);
    uint64_t index_off = get64(hd + H_INDEX_OFF), index_size = get64(hd + H_INDEX_SIZE);
    uint64_t index_rsize = get64(hd + H_INDEX_RSIZE);
    uint64_t meta_off = get64(hd + H_META_OFF);
    uint32_t meta_cs = get32(hd + H_META_CSIZE), meta_rs = get32(hd + H_META_RSIZE);
    if (in->file_size != fsize)
        BAD("%s: truncated or extended: %llu bytes, header says %llu", path,
            (unsigned long long)fsize, (unsigned long long)in->file_size);
    if (in->filter > XM_XMS_FILTER_PAETH) BAD("%s: unknown filter %d", path, in->filter);
    if (in->codec > XM_XMS_CODEC_JPEG) BAD("%s: unknown codec %d", path, in->codec);
    if (in->codec == XM_XMS_CODEC_JPEG && in->filter) BAD("%s: a filter with the JPEG codec", path);
    if (hd[101] || hd[102] || hd[103] || get64(hd + 112)) BAD("%s: reserved header bytes set", path);
    if (get16(hd + H_FLAGS) != 0) BAD("%s: unknown flags", path);
    if (in->n_records > x->lim.max_records)
        BAD("%s: %llu records over the limit", path, (unsigned long long)in->n_records);
    if (in->n_blocks > in->n_records || (in->n_records && !in->n_blocks))
        BAD("%s: bad block count %u", path, in->n_blocks);
    if (in->max_block_raw > x->lim.max_block_bytes)
        BAD("%s: block size %u over the limit %u", path, in->max_block_raw, x->lim.max_block_bytes);
    /* zstd cannot expand more than ~32768x (an RLE block of 128 KiB costs 4
     * bytes), which bounds what a hostile header can make us allocate. */
    if (index_rsize != (uint64_t)in->n_blocks * XMS_BLOCK_ENTRY + in->n_records * XMS_RECORD_ENTRY ||
        index_off > fsize || index_size != fsize - index_off || index_size == 0 ||
        index_rsize / 32768 > index_size)
        BAD("%s: bad index position or size", path);
    if (meta_off < XM_XMS_HEADER_SIZE || meta_off > index_off || index_off - meta_off != meta_cs)
        BAD("%s: bad metadata position or size", path);
    if (meta_rs > x->lim.max_meta_bytes) BAD("%s: metadata size %u over the limit", path, meta_rs);

    /* Index: checksum of the compressed bytes, then the zstd frame. */
    dctx = ZSTD_createDCtx();
    uint8_t *ic = malloc(index_size);
    x->index = malloc(index_rsize ? index_rsize : 1);
    if (!ic || !x->index || !dctx) {
        free(ic);
        rc = xm_err_set(err, XM_EFAIL, "%s: index too large for memory", path);
        goto fail;
    }
    if ((e = pread_full(x->fd, ic, index_size, index_off))) {
        free(ic);
        rc = xm_err_errno(err, XM_EIO, e, "%s", path);
        goto fail;
    }
    if (xm_xxh64(ic, index_size, 0) != get64(hd + H_INDEX_HASH)) {
        free(ic);
        BAD("%s: index checksum mismatch", path);
    }
    const char *iwhy = unzstd(dctx, x->lim.window_log_max, ic, index_size, x->index, index_rsize);
    free(ic);
    if (iwhy) BAD("%s: index: %s", path, iwhy);
    x->blocks = calloc(in->n_blocks ? in->n_blocks : 1, sizeof *x->blocks);
    if (!x->blocks) BAD("%s: out of memory", path);
    uint64_t expect_off = XM_XMS_HEADER_SIZE, expect_first = 0;
    for (uint32_t b = 0; b < in->n_blocks; b++) {
        const uint8_t *p = x->index + (size_t)b * XMS_BLOCK_ENTRY;
        blk *k = &x->blocks[b];
        k->off = get64(p);
        k->csize = get32(p + 8);
        k->rsize = get32(p + 12);
        k->first = get64(p + 16);
        k->nrec = get32(p + 24);
        k->chash = get32(p + 28);
        if (k->off != expect_off || k->csize == 0 || k->csize > meta_off - k->off)
            BAD("%s: block %u: bad offset or size", path, b);
        if (k->rsize == 0 || k->rsize > in->max_block_raw) BAD("%s: block %u: bad size", path, b);
        if (k->first != expect_first || k->nrec == 0 || k->nrec > in->n_records - k->first)
            BAD("%s: block %u: bad record range", path, b);
        expect_off += k->csize;
        expect_first += k->nrec;
        in->data_bytes += k->csize;
    }
    if (expect_off != meta_off || expect_first != in->n_records)
        BAD("%s: blocks do not cover the data section", path);
    x->recs = x->index + (size_t)in->n_blocks * XMS_BLOCK_ENTRY;

    /* Metadata. */
    uint8_t *mc = malloc(meta_cs ? meta_cs : 1);
    x->meta = malloc(meta_rs ? meta_rs : 1);
    if (!mc || !x->meta) {
        free(mc);
        BAD("%s: metadata too large for memory", path);
    }
    if ((e = pread_full(x->fd, mc, meta_cs, meta_off))) {
        free(mc);
        rc = xm_err_errno(err, XM_EIO, e, "%s", path);
        goto fail;
    }
    if (xm_xxh64(mc, meta_cs, 0) != get64(hd + H_META_HASH)) {
        free(mc);
        BAD("%s: metadata checksum mismatch", path);
    }
    const char *why = unzstd(dctx, x->lim.window_log_max, mc, meta_cs, x->meta, meta_rs);
    free(mc);
    if (why) BAD("%s: metadata: %s", path, why);
    const uint8_t *p = x->meta, *end = x->meta + meta_rs;
    if (end - p < 4 || get32(p) != in->n_classes) BAD("%s: metadata: class count differs", path);
    p += 4;
    x->classes = calloc((size_t)in->n_classes + 1, sizeof *x->classes);
    if (!x->classes) BAD("%s: out of memory", path);
    for (uint32_t k = 0; k < in->n_classes; k++) {
        if (end - p < 4) BAD("%s: metadata: class table truncated", path);
        uint32_t l = get32(p);
        p += 4;
        if (l == 0 || l > (uint64_t)(end - p) || memchr(p, 0, l))
            BAD("%s: metadata: bad class name %u", path, k);
        x->classes[k] = malloc(l + 1);
        if (!x->classes[k]) BAD("%s: out of memory", path);
        memcpy(x->classes[k], p, l);
        x->classes[k][l] = '\0';
        p += l;
    }
    if (end - p < 8) BAD("%s: metadata: names truncated", path);
    x->names_len = get64(p);
    p += 8;
    if (x->names_len != (uint64_t)(end - p) || (x->names_len && p[x->names_len - 1] != 0))
        BAD("%s: metadata: bad names table", path);
    x->names = (const char *)p;

    /* Records: packed in order inside their blocks, shapes within limits. */
    uint32_t b = 0;
    uint64_t off_in_block = 0;
    for (uint64_t i = 0; i < in->n_records; i++) {
        const uint8_t *r = x->recs + i * XMS_RECORD_ENTRY;
        while (b < in->n_blocks && i >= x->blocks[b].first + x->blocks[b].nrec) {
            if (off_in_block != x->blocks[b].rsize) BAD("%s: block %u: records do not fill it", path, b);
            b++;
            off_in_block = 0;
        }
        uint32_t rb = get32(r), ro = get32(r + 4);
        uint64_t h = get16(r + 8), w = get16(r + 10), c = r[12];
        int32_t label = (int32_t)get32(r + 16);
        uint32_t no = get32(r + 20);
        if (rb != b || ro != off_in_block) BAD("%s: record %llu: bad position", path, (unsigned long long)i);
        if (h == 0 || w == 0 || (c != 1 && c != 3) || r[13] || r[14] || r[15])
            BAD("%s: record %llu: bad shape", path, (unsigned long long)i);
        uint64_t size = h * w * c; /* decoded */
        uint64_t stored = size;    /* bytes in the block */
        if (in->codec == XM_XMS_CODEC_JPEG) {
            /* A JPEG record runs to the next record of its block, or the block end. */
            uint64_t next = x->blocks[b].rsize;
            if (i + 1 < in->n_records && get32(r + XMS_RECORD_ENTRY) == b) next = get32(r + XMS_RECORD_ENTRY + 4);
            if (next <= ro) BAD("%s: record %llu: bad JPEG length", path, (unsigned long long)i);
            stored = next - ro;
        }
        if (size > x->lim.max_record_bytes)
            BAD("%s: record %llu: size %llu over the limit", path, (unsigned long long)i,
                (unsigned long long)size);
        if (label < -1 || label >= (int64_t)in->n_classes)
            BAD("%s: record %llu: label %d out of range", path, (unsigned long long)i, (int)label);
        if (no >= x->names_len) BAD("%s: record %llu: bad name offset", path, (unsigned long long)i);
        if ((in->h && h != (uint64_t)in->h) || (in->w && w != (uint64_t)in->w) ||
            (in->c && c != (uint64_t)in->c))
            BAD("%s: record %llu: shape differs from the header", path, (unsigned long long)i);
        off_in_block += stored;
        if (off_in_block > x->blocks[b].rsize) BAD("%s: block %u: records overflow it", path, b);
        in->raw_bytes += size;
    }
    if (in->n_blocks && (b != in->n_blocks - 1 || off_in_block != x->blocks[b].rsize))
        BAD("%s: records do not fill the blocks", path);
    in->meta_bytes = meta_cs;
    in->index_bytes = index_size;
    (void)index_rsize;
    ZSTD_freeDCtx(dctx);
    *out = x;
    return 0;
fail:
    ZSTD_freeDCtx(dctx);
    xm_xms_close(x);
    return rc;
}

void xm_xms_close(xm_xms *x)
{
    if (!x) return;
    if (x->fd >= 0) close(x->fd);
    if (x->classes)
        for (uint32_t k = 0; k < x->info.n_classes; k++) free(x->classes[k]);
    free(x->classes);
    free(x->blocks);
    free(x->index);
    free(x->meta);
    free(x->path);
    free(x);
}

const char *xm_xms_path(const xm_xms *x) { return x->path; }
void xm_xms_get_info(const xm_xms *x, xm_xms_info *info) { *info = x->info; }
uint64_t xm_xms_count(const xm_xms *x) { return x->info.n_records; }
int xm_xms_nclasses(const xm_xms *x) { return (int)x->info.n_classes; }
const char *xm_xms_class(const xm_xms *x, int k)
{
    return k >= 0 && (uint32_t)k < x->info.n_classes ? x->classes[k] : NULL;
}

void xm_xms_peek(const xm_xms *x, uint64_t i, xm_xms_rec *r)
{
    const uint8_t *e = x->recs + i * XMS_RECORD_ENTRY;
    r->h = get16(e + 8);
    r->w = get16(e + 10);
    r->c = e[12];
    r->label = (int32_t)get32(e + 16);
    r->name = x->names + get32(e + 20);
    r->px = NULL;
}

uint32_t xm_xms_block_of(const xm_xms *x, uint64_t i) { return get32(x->recs + i * XMS_RECORD_ENTRY); }

xm_xms_cursor *xm_xms_cursor_new(xm_err *err)
{
    xm_xms_cursor *c = calloc(1, sizeof *c);
    if (c) c->dctx = ZSTD_createDCtx();
    if (!c || !c->dctx) {
        free(c);
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    c->block = -1;
    return c;
}

void xm_xms_cursor_free(xm_xms_cursor *c)
{
    if (!c) return;
    ZSTD_freeDCtx(c->dctx);
    if (c->tj) tjDestroy(c->tj);
    free(c->cbuf);
    free(c->raw);
    free(c->rec);
    free(c);
}

static int ensure(uint8_t **p, size_t *cap, size_t n)
{
    if (n <= *cap) return 0;
    uint8_t *q = realloc(*p, n);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int load_block(const xm_xms *x, xm_xms_cursor *cur, uint32_t b, xm_err *err)
{
    if (cur->block == (int64_t)b && cur->file_id == x->id) return 0;
    const blk *k = &x->blocks[b];
    cur->block = -1;
    if (ensure(&cur->cbuf, &cur->ccap, k->csize) || ensure(&cur->raw, &cur->rcap, k->rsize))
        return xm_err_set(err, XM_EFAIL, "%s: block %u: out of memory", x->path, b);
    int e = pread_full(x->fd, cur->cbuf, k->csize, k->off);
    if (e) return xm_err_errno(err, XM_EIO, e, "%s: block %u", x->path, b);
    if ((uint32_t)xm_xxh64(cur->cbuf, k->csize, 0) != k->chash)
        return xm_err_set(err, XM_EDATA, "%s: block %u (offset %llu): checksum mismatch", x->path, b,
                          (unsigned long long)k->off);
    const char *why = unzstd(cur->dctx, x->lim.window_log_max, cur->cbuf, k->csize, cur->raw, k->rsize);
    if (why)
        return xm_err_set(err, XM_EDATA, "%s: block %u (offset %llu): %s", x->path, b,
                          (unsigned long long)k->off, why);
    /* Undo the prediction filter for every record of the block once, in
     * place, so reads of the cached block are zero-copy. */
    if (x->info.filter != XM_XMS_FILTER_NONE)
        for (uint64_t i = k->first; i < k->first + k->nrec; i++) {
            const uint8_t *e = x->recs + i * XMS_RECORD_ENTRY;
            xm_xms_unfilter(x->info.filter, cur->raw + get32(e + 4), get16(e + 8), get16(e + 10), e[12]);
        }
    cur->file_id = x->id;
    cur->block = b;
    return 0;
}

int xm_xms_read(const xm_xms *x, xm_xms_cursor *cur, uint64_t i, xm_xms_rec *r, xm_err *err)
{
    if (i >= x->info.n_records)
        return xm_err_set(err, XM_EUSAGE, "%s: record %llu out of range (%llu records)", x->path,
                          (unsigned long long)i, (unsigned long long)x->info.n_records);
    const uint8_t *e = x->recs + i * XMS_RECORD_ENTRY;
    uint32_t b = get32(e), off = get32(e + 4);
    int rc = load_block(x, cur, b, err);
    if (rc) return rc;
    xm_xms_peek(x, i, r);
    if (x->info.codec == XM_XMS_CODEC_RAW) {
        r->px = cur->raw + off;
        return 0;
    }
    /* JPEG: its bytes run to the next record of the block (checked on open). */
    uint32_t end = x->blocks[b].rsize;
    if (i + 1 < x->info.n_records && get32(e + XMS_RECORD_ENTRY) == b) end = get32(e + XMS_RECORD_ENTRY + 4);
    size_t size = (size_t)r->h * r->w * r->c;
    if (!cur->tj && !(cur->tj = tjInitDecompress()))
        return xm_err_set(err, XM_EFAIL, "cannot start the JPEG decoder");
    if (ensure(&cur->rec, &cur->reccap, size)) return xm_err_set(err, XM_EFAIL, "out of memory");
    int jw, jh, sub, cs;
    unsigned char *jp = cur->raw + off;
    if (tjDecompressHeader3(cur->tj, jp, end - off, &jw, &jh, &sub, &cs) != 0 || jw != r->w || jh != r->h ||
        (r->c == 1) != (cs == TJCS_GRAY))
        return xm_err_set(err, XM_EDATA, "%s: record %llu: JPEG header does not match the index", x->path,
                          (unsigned long long)i);
    /* Any warning (truncated, corrupt data) is an error: stored data must be clean. */
    if (tjDecompress2(cur->tj, jp, end - off, cur->rec, r->w, 0, r->h, r->c == 1 ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0)
        return xm_err_set(err, XM_EDATA, "%s: record %llu: bad JPEG: %s", x->path, (unsigned long long)i,
                          tjGetErrorStr2(cur->tj));
    r->px = cur->rec;
    return 0;
}

int xm_xms_verify(const xm_xms *x, xm_xms_cursor *cur, int64_t *bad_block, xm_err *err)
{
    *bad_block = -1;
    for (uint32_t b = 0; b < x->info.n_blocks; b++) {
        cur->block = -1;
        int rc = load_block(x, cur, b, err);
        if (rc) {
            *bad_block = b;
            return rc;
        }
    }
    return 0;
}
