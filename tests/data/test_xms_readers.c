/* test_xms_readers.c: xm_xms_readers fills a buffer identically with 1, 2,
 * 3 and 7 readers (random and sequential order, mixed shapes, gray records
 * replicated to RGB, records sharing blocks), every byte as xm_xms_set_read
 * gives it; a corrupt block gives the same error (the lowest failing read)
 * at every reader count; a planned size that does not match is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_rng.h"
#include "xm_test.h"
#include "xm_xms.h"
#include "xm_xms_out.h"
#include "xm_xms_readers.h"

#define NREC 400

static const char *CLASSES[] = {"a", "b"};

/* NREC records, shapes 1..33 x 1..33, gray or RGB, in the default 16 KiB
 * blocks (many records a block), into path. */
static void write_set(const char *path)
{
    xm_err e;
    xm_err_clear(&e);
    xm_xms_out *o = NULL;
    XM_CHECK(xm_xms_out_open(path, 0, XM_ATOMIC_FORCE, NULL, &o, &e) == 0);
    XM_CHECK(xm_xms_out_set_classes(o, CLASSES, 2, &e) == 0);
    xm_rng r;
    xm_rng_init(&r, 17, 0);
    uint8_t px[33 * 33 * 3];
    for (int i = 0; i < NREC; i++) {
        int h = 1 + (int)xm_rng_below(&r, 33), w = 1 + (int)xm_rng_below(&r, 33);
        int c = xm_rng_below(&r, 3) ? 1 : 3;
        for (int k = 0; k < h * w * c; k++) px[k] = (uint8_t)(k * 7 + i * 13 + (k / 5));
        XM_CHECKF(xm_xms_out_add(o, px, h, w, c, i % 2, NULL, &e) == 0, "%s", e.msg);
    }
    XM_CHECKF(xm_xms_out_commit(o, &e) == 0, "%s", e.msg);
    xm_xms_out_free(o);
}

/* Plan reads of records order[0..n) as RGB (c_out 3); returns the bytes. */
static size_t plan(const xm_xms_set *s, const int64_t *order, int n, xm_xms_fetch *q)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        xm_xms_rec rec;
        xm_xms_set_peek(s, (uint64_t)order[i], &rec);
        size_t bytes = (size_t)rec.h * rec.w * 3;
        q[i] = (xm_xms_fetch){s, order[i], (int64_t)off, bytes, 3};
        off += bytes;
    }
    return off;
}

/* The expected buffer, one record at a time on one cursor. */
static void expect_buf(const xm_xms_set *s, const xm_xms_fetch *q, int n, uint8_t *out)
{
    xm_err e;
    xm_err_clear(&e);
    xm_xms_cursor *cur = xm_xms_cursor_new(&e);
    for (int i = 0; i < n; i++) {
        xm_xms_rec rec;
        XM_CHECK(xm_xms_set_read(s, cur, (uint64_t)q[i].index, &rec, &e) == 0);
        for (size_t p = 0; p < (size_t)rec.h * rec.w; p++)
            for (int k = 0; k < 3; k++)
                out[q[i].off + 3 * p + k] = rec.px[rec.c == 3 ? 3 * p + k : p];
    }
    xm_xms_cursor_free(cur);
}

int main(void)
{
    char dir[] = "/tmp/xm_test_readers.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/set.xms", dir);
    snprintf(bad, sizeof bad, "%s/bad.xms", dir);
    write_set(path);
    xm_err e;
    xm_err_clear(&e);
    const char *paths[1] = {path};
    xm_xms_set *s = NULL;
    XM_CHECKF(xm_xms_set_open(paths, 1, NULL, &s, &e) == 0, "%s", e.msg);
    int64_t order[2][NREC];
    for (int i = 0; i < NREC; i++) order[0][i] = order[1][i] = i;
    xm_rng r;
    xm_rng_init(&r, 3, 0);
    xm_rng_shuffle_i64(&r, order[1], NREC);
    static xm_xms_fetch q[NREC];
    const int counts[4] = {1, 2, 3, 7};
    for (int o = 0; o < 2; o++) {
        size_t bytes = plan(s, order[o], NREC, q);
        uint8_t *want = calloc(bytes, 1), *got = malloc(bytes);
        expect_buf(s, q, NREC, want);
        for (int k = 0; k < 4; k++) {
            xm_xms_readers *rd = xm_xms_readers_new(counts[k], &e);
            XM_CHECK(rd && xm_xms_readers_count(rd) == counts[k]);
            memset(got, 0xA5, bytes);
            XM_CHECKF(xm_xms_readers_run(rd, q, NREC, got, &e) == 0, "%s", e.msg);
            XM_CHECKF(memcmp(got, want, bytes) == 0, "%s order, %d readers: bytes differ",
                      o ? "random" : "sequential", counts[k]);
            xm_xms_readers_free(rd);
        }
        free(want);
        free(got);
    }
    /* a size that does not match the record is refused */
    {
        xm_xms_fetch w = q[5];
        w.bytes += 3;
        uint8_t *buf = malloc(q[5].bytes + 3 + (size_t)q[5].off);
        xm_xms_readers *rd = xm_xms_readers_new(1, &e);
        XM_CHECK(xm_xms_readers_run(rd, &w, 1, buf, &e) == XM_EDATA);
        XM_CHECKF(strstr(e.msg, "changed size") != NULL, "%s", e.msg);
        xm_xms_readers_free(rd);
        free(buf);
    }
    xm_xms_set_close(s);

    /* corrupt two blocks' bytes (past the header): every reader count
     * reports the error of the lowest failing read */
    FILE *f = fopen(path, "rb"), *g = fopen(bad, "wb");
    XM_CHECK(f && g);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *all = malloc((size_t)size);
    XM_CHECK(fread(all, 1, (size_t)size, f) == (size_t)size);
    all[300] ^= 0x55;    /* an early block */
    all[size / 3] ^= 0x55; /* a later one */
    XM_CHECK(fwrite(all, 1, (size_t)size, g) == (size_t)size);
    fclose(f);
    fclose(g);
    free(all);
    const char *bp[1] = {bad};
    XM_CHECKF(xm_xms_set_open(bp, 1, NULL, &s, &e) == 0, "%s", e.msg);
    size_t bytes = plan(s, order[1], NREC, q);
    uint8_t *buf = malloc(bytes);
    char first[sizeof e.msg] = "";
    for (int k = 0; k < 4; k++) {
        xm_xms_readers *rd = xm_xms_readers_new(counts[k], &e);
        xm_err_clear(&e);
        XM_CHECK(xm_xms_readers_run(rd, q, NREC, buf, &e) == XM_EDATA);
        if (k == 0) snprintf(first, sizeof first, "%s", e.msg);
        XM_CHECKF(strcmp(e.msg, first) == 0, "%d readers: \"%s\", 1 reader: \"%s\"", counts[k],
                  e.msg, first);
        xm_xms_readers_free(rd);
    }
    XM_CHECKF(strstr(first, "checksum mismatch") != NULL, "%s", first);
    fprintf(stderr, "corrupt blocks: %s\n", first);
    free(buf);
    xm_xms_set_close(s);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    return xm_test_finish();
}
