/* fuzz_xms.c: libFuzzer target for the .xms reader. The input is written to
 * a memory file and opened by path like any .xms; every record is read and
 * every block verified. Anything but a clean refusal (XM_EDATA) or success
 * is a bug; sanitizers catch memory errors. Limits are lowered so hostile
 * headers cannot ask for large allocations. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xm_hash.h"
#include "xm_xms.h"
#include "xm_xms_impl.h"

/* Most mutations only break a checksum. Half the time, recompute every
 * checksum the mutated header and index point at, so the fuzzer also
 * reaches the structural checks behind them. */
static void fix_checksums(uint8_t *d, size_t n)
{
    if (n < XM_XMS_HEADER_SIZE) return;
    uint64_t ioff = get64(d + H_INDEX_OFF), isize = get64(d + H_INDEX_SIZE);
    uint64_t moff = get64(d + H_META_OFF), mcs = get32(d + H_META_CSIZE);
    uint64_t nb = get32(d + H_NBLOCK);
    if (ioff <= n && isize <= n - ioff) {
        for (uint64_t b = 0; b < nb && (b + 1) * XMS_BLOCK_ENTRY <= isize; b++) {
            uint8_t *e = d + ioff + b * XMS_BLOCK_ENTRY;
            uint64_t off = get64(e), cs = get32(e + 8);
            if (off <= n && cs <= n - off) put32(e + 28, (uint32_t)xm_xxh64(d + off, cs, 0));
        }
        put64(d + H_INDEX_HASH, xm_xxh64(d + ioff, isize, 0));
    }
    if (moff <= n && mcs <= n - moff) put64(d + H_META_HASH, xm_xxh64(d + moff, mcs, 0));
    put64(d + H_HASH, xm_xxh64(d, H_HASH, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.xms", 0);
    if (fd < 0) return 0;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        close(fd);
        return 0;
    }
    memcpy(copy, data, size);
    if (size && (data[size - 1] & 1)) fix_checksums(copy, size);
    ssize_t w = write(fd, copy, size);
    free(copy);
    if (w != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    xm_xms_limits lim;
    xm_xms_limits_default(&lim);
    lim.max_record_bytes = 1 << 20;
    lim.max_block_bytes = 1 << 22;
    lim.max_meta_bytes = 1 << 22;
    lim.max_records = 1 << 20;
    xm_err e;
    xm_err_clear(&e);
    xm_xms *x = NULL;
    int rc = xm_xms_open(path, &lim, &x, &e);
    if (rc == 0) {
        xm_xms_cursor *c = xm_xms_cursor_new(&e);
        uint64_t n = xm_xms_count(x);
        for (uint64_t i = 0; i < n && i < 4096; i++) {
            xm_xms_rec r;
            xm_err_clear(&e);
            if (xm_xms_read(x, c, i, &r, &e) == 0) {
                volatile uint8_t s = 0;
                size_t sz = (size_t)r.h * r.w * r.c;
                for (size_t k = 0; k < sz; k += 97) s ^= r.px[k]; /* touch the pixels */
                (void)s;
            } else if (e.code != XM_EDATA) {
                abort();
            }
        }
        int64_t bad;
        xm_err_clear(&e);
        xm_xms_verify(x, c, &bad, &e);
        xm_xms_cursor_free(c);
        xm_xms_close(x);
    } else if (rc != XM_EDATA && rc != XM_EFAIL) {
        abort(); /* a bad file must be bad data, never a usage or I/O error */
    }
    close(fd);
    return 0;
}
