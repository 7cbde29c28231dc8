/* xm_idx.c: IDX reader (MNIST family). gzopen reads gzip'd and raw files
 * alike. The header is checked before the data is trusted, and the buffer
 * grows with the bytes actually read, so a header that lies about its size
 * costs no more memory than the file holds. */
#include "xm_idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

int xm_idx_read(const char *path, int64_t max_bytes, xm_idx *out, xm_err *err)
{
    memset(out, 0, sizeof *out);
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
    if (r < 4 || hdr[0] != 0 || hdr[1] != 0) {
        rc = xm_err_set(err, XM_EDATA, "%s: not an IDX file (bad magic)", path);
        goto done;
    }
    uint8_t type = hdr[2];
    int ndim = hdr[3];
    if (type != 0x08) {
        rc = xm_err_set(err, XM_EDATA, "%s: IDX element type 0x%02x is not uint8 (0x08)", path,
                        type);
        goto done;
    }
    if (ndim < 1 || ndim > 4) {
        rc = xm_err_set(err, XM_EDATA, "%s: IDX with %d dimensions (1 to 4 supported)", path, ndim);
        goto done;
    }
    r = read_full(g, hdr + 4, 4 * (size_t)ndim, path, err);
    if (r < 0) {
        rc = err ? err->code : XM_EDATA;
        goto done;
    }
    if (r < 4 * ndim) {
        rc = xm_err_set(err, XM_EDATA, "%s: truncated IDX header", path);
        goto done;
    }
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = hdr + 4 + 4 * i;
        uint64_t d = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        if (d == 0) {
            rc = xm_err_set(err, XM_EDATA, "%s: IDX dimension %d is 0", path, i);
            goto done;
        }
        /* d < 2^32 and total < 2^63 / ... : check before multiplying */
        if (total > (uint64_t)INT64_MAX / d) {
            rc = xm_err_set(err, XM_EDATA, "%s: IDX dimensions overflow", path);
            goto done;
        }
        total *= d;
        out->dims[i] = (int64_t)d;
    }
    if ((max_bytes > 0 && total > (uint64_t)max_bytes) || total > SIZE_MAX / 2) {
        rc = xm_err_set(err, XM_EDATA, "%s: IDX data of %llu bytes exceeds the limit of %lld", path,
                        (unsigned long long)total, (long long)max_bytes);
        goto done;
    }
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
    out->type = type;
    out->data = data;
    out->bytes = (size_t)total;
    data = NULL;
done:
    free(data);
    gzclose(g);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}
