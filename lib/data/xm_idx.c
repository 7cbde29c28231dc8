/* xm_idx.c: IDX reader (MNIST family). gzopen reads gzip'd and raw files
 * alike. The header is checked before the data is trusted, and the buffer
 * grows with the bytes actually read, so a header that lies about its size
 * costs no more memory than the file holds. */
#include "xm_idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

void xm_idx_release(xm_idx *x)
{
    if (!x) return;
    free(x->data);
    memset(x, 0, sizeof *x);
}

/* gzread, failing on a gzip-level error (corrupt or truncated stream);
 * returns bytes read (< n only at end of data) or -1. */
static long long read_full(gzFile g, uint8_t *dst, size_t n, const char *path, xm_err *err)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(g, dst + got, (unsigned)want);
        if (r < 0) {
            int zerr = 0;
            const char *m = gzerror(g, &zerr);
            if (zerr == Z_ERRNO) xm_err_errno(err, XM_EIO, errno, "%s", path);
            else xm_err_set(err, XM_EDATA, "%s: corrupt gzip data (%s)", path, m);
            return -1;
        }
        if (r == 0) {
            int zerr = 0;
            const char *m = gzerror(g, &zerr);
            if (zerr != Z_OK && zerr != Z_STREAM_END) {
                /* Z_BUF_ERROR at EOF: the gzip stream itself is cut short */
                xm_err_set(err, XM_EDATA, "%s: truncated gzip data (%s)", path, m);
                return -1;
            }
            break;
        }
        got += (size_t)r;
    }
    return (long long)got;
}

/* The 4-byte magic: 0, 0, type 0x08, ndim 1..4. `n` bytes are available. */
static int check_magic(const uint8_t *h, long long n, const char *path, int *ndim, xm_err *err)
{
    if (n < 4 || h[0] != 0 || h[1] != 0)
        return xm_err_set(err, XM_EDATA, "%s: not an IDX file (bad magic)", path);
    if (h[2] != 0x08)
        return xm_err_set(err, XM_EDATA, "%s: IDX element type 0x%02x is not uint8 (0x08)", path,
                          h[2]);
    if (h[3] < 1 || h[3] > 4)
        return xm_err_set(err, XM_EDATA, "%s: IDX with %d dimensions (1 to 4 supported)", path,
                          h[3]);
    *ndim = h[3];
    return XM_OK;
}

/* Big-endian dims: each > 0, product overflow-checked and within max_bytes. */
static int check_dims(const uint8_t *p, int ndim, int64_t max_bytes, const char *path,
                      xm_idx *out, uint64_t *total_out, xm_err *err)
{
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++, p += 4) {
        uint64_t d = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        if (d == 0) return xm_err_set(err, XM_EDATA, "%s: IDX dimension %d is 0", path, i);
        if (total > (uint64_t)INT64_MAX / d) /* check before multiplying */
            return xm_err_set(err, XM_EDATA, "%s: IDX dimensions overflow", path);
        total *= d;
        out->dims[i] = (int64_t)d;
    }
    if ((max_bytes > 0 && total > (uint64_t)max_bytes) || total > SIZE_MAX / 2)
        return xm_err_set(err, XM_EDATA, "%s: IDX data of %llu bytes exceeds the limit of %lld",
                          path, (unsigned long long)total, (long long)max_bytes);
    *total_out = total;
    return XM_OK;
}

int xm_idx_parse(const uint8_t *buf, size_t len, const char *name, int64_t max_bytes,
                 xm_idx *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    int ndim = 0;
    int rc = check_magic(buf, (long long)len, name, &ndim, err);
    if (rc) return rc;
    size_t head = 4 + 4 * (size_t)ndim;
    if (len < head) return xm_err_set(err, XM_EDATA, "%s: truncated IDX header", name);
    uint64_t total = 0;
    rc = check_dims(buf + 4, ndim, max_bytes, name, out, &total, err);
    if (rc) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (len - head != total) {
        memset(out, 0, sizeof *out);
        if (len - head < total)
            return xm_err_set(err, XM_EDATA, "%s: IDX data truncated (%zu of %llu bytes)", name,
                              len - head, (unsigned long long)total);
        return xm_err_set(err, XM_EDATA, "%s: trailing bytes after the IDX data of %llu bytes",
                          name, (unsigned long long)total);
    }
    out->data = malloc(total ? (size_t)total : 1);
    if (!out->data) {
        memset(out, 0, sizeof *out);
        return xm_err_set(err, XM_EFAIL, "%s: out of memory", name);
    }
    memcpy(out->data, buf + head, (size_t)total);
    out->ndim = ndim;
    out->type = 0x08;
    out->bytes = (size_t)total;
    return XM_OK;
}

int xm_idx_read(const char *path, int64_t max_bytes, xm_idx *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
    struct stat st; /* gzopen would block on a FIFO and fail late on a directory */
    if (stat(path, &st) != 0)
        return xm_err_errno(err, errno == ENOENT || errno == EACCES ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
    if (!S_ISREG(st.st_mode)) return xm_err_set(err, XM_ENOINPUT, "%s: not a regular file", path);
    gzFile g = gzopen(path, "rb");
    if (!g) {
        int e = errno ? errno : ENOMEM;
        return xm_err_errno(err, e == ENOENT ? XM_ENOINPUT : XM_EIO, e, "%s", path);
    }
    uint8_t *data = NULL;
    int rc = XM_OK;
    uint8_t hdr[4 + 4 * 4];
    long long r = read_full(g, hdr, 4, path, err);
    if (r < 0) {
        rc = err ? err->code : XM_EDATA;
        goto done;
    }
    int ndim = 0;
    rc = check_magic(hdr, r, path, &ndim, err);
    if (rc) goto done;
    r = read_full(g, hdr + 4, 4 * (size_t)ndim, path, err);
    if (r < 0) {
        rc = err ? err->code : XM_EDATA;
        goto done;
    }
    if (r < 4 * ndim) {
        rc = xm_err_set(err, XM_EDATA, "%s: truncated IDX header", path);
        goto done;
    }
    uint64_t total = 0;
    rc = check_dims(hdr + 4, ndim, max_bytes, path, out, &total, err);
    if (rc) goto done;
    /* grow as data arrives: a lying header cannot make us allocate much more
     * than the file holds */
    size_t cap = total < (1u << 20) ? (size_t)total : (1u << 20), got = 0;
    data = malloc(cap);
    if (!data) {
        rc = xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
        goto done;
    }
    for (;;) {
        r = read_full(g, data + got, cap - got, path, err);
        if (r < 0) {
            rc = err ? err->code : XM_EDATA;
            goto done;
        }
        got += (size_t)r;
        if (got < cap || got == total) break;
        size_t ncap = cap * 2 > total ? (size_t)total : cap * 2;
        uint8_t *nd = realloc(data, ncap);
        if (!nd) {
            rc = xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
            goto done;
        }
        data = nd;
        cap = ncap;
    }
    if (got < total) {
        rc = xm_err_set(err, XM_EDATA, "%s: IDX data truncated (%zu of %llu bytes)", path, got,
                        (unsigned long long)total);
        goto done;
    }
    uint8_t extra;
    r = read_full(g, &extra, 1, path, err);
    if (r < 0) {
        rc = err ? err->code : XM_EDATA;
        goto done;
    }
    if (r > 0) {
        rc = xm_err_set(err, XM_EDATA, "%s: trailing bytes after the IDX data of %llu bytes", path,
                        (unsigned long long)total);
        goto done;
    }
    out->ndim = ndim;
    out->type = 0x08;
    out->data = data;
    out->bytes = (size_t)total;
    data = NULL;
done:
    free(data);
    gzclose(g);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}
