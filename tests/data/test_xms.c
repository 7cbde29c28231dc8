/* test_xms.c: .xms round trips (bit-exact, every filter, fixed and mixed
 * shapes), random access in random order, several files, shards, and
 * detection of a flipped byte in each region and of truncation. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "xm_atomic.h"
#include "xm_hash.h"
#include "xm_pool.h"
#include "xm_rng.h"
#include "xm_test.h"
#include "xm_xms.h"
#include "xm_xms_out.h"

#define N 300

typedef struct sample {
    int h, w, c, label;
    uint8_t *px;
    char name[64];
} sample;

static sample S[N];
static const char *CLASSES[] = {"cat", "dog", "bird"};

/* Smooth images with noise (so filters matter) and varied shapes. */
static void make_samples(int mixed)
{
    xm_rng r;
    xm_rng_init(&r, 5, mixed);
    for (int i = 0; i < N; i++) {
        sample *s = &S[i];
        s->h = mixed ? 1 + (int)xm_rng_below(&r, 40) : 28;
        s->w = mixed ? 1 + (int)xm_rng_below(&r, 40) : 28;
        s->c = mixed ? (xm_rng_below(&r, 2) ? 3 : 1) : 1;
        s->label = (int)xm_rng_below(&r, 4) - 1; /* -1 .. 2 */
        snprintf(s->name, sizeof s->name, "img/%04d.png", i);
        free(s->px);
        s->px = malloc((size_t)s->h * s->w * s->c);
        for (int k = 0; k < s->h * s->w * s->c; k++)
            s->px[k] = (uint8_t)((k * 3 + i) / 5 + (xm_rng_below(&r, 8)));
    }
}

static xm_pool *g_pool; /* when set, write_file compresses on it */

static int write_file(const char *path, int from, int to, const xm_xms_wopts *o)
{
    xm_err e;
    xm_err_clear(&e);
    xm_atomic a;
    if (xm_atomic_open(&a, path, XM_ATOMIC_FORCE, &e)) return 1;
    xm_xms_writer *w = xm_xms_writer_new(a.fd, path, o, &e);
    int rc = !w || xm_xms_writer_set_classes(w, CLASSES, 3, &e);
    if (!rc && g_pool) rc = xm_xms_writer_set_pool(w, g_pool, &e);
    for (int i = from; !rc && i < to; i++) {
        rc = xm_xms_writer_add(w, S[i].px, S[i].h, S[i].w, S[i].c, S[i].label, S[i].name, &e);
        if (!rc && g_pool && i % 37 == 0) rc = xm_xms_writer_sync(w, &e);
    }
    if (!rc) rc = xm_xms_writer_finish(w, &e);
    xm_xms_writer_free(w);
    if (!rc) rc = xm_atomic_commit(&a, &e);
    else xm_atomic_abort(&a);
    if (rc) fprintf(stderr, "write: %s\n", e.msg);
    return rc;
}

static int same(const xm_xms_rec *r, const sample *s)
{
    return r->h == s->h && r->w == s->w && r->c == s->c && r->label == s->label &&
           strcmp(r->name, s->name) == 0 && memcmp(r->px, s->px, (size_t)s->h * s->w * s->c) == 0;
}

static int check_all_random(const xm_xms *x, int from, uint64_t seed)
{
    xm_err e;
    xm_err_clear(&e);
    xm_xms_cursor *c = xm_xms_cursor_new(&e);
    int64_t n = (int64_t)xm_xms_count(x), *ord = malloc((size_t)n * sizeof *ord);
    for (int64_t i = 0; i < n; i++) ord[i] = i;
    xm_rng r;
    xm_rng_init(&r, seed, 1);
    xm_rng_shuffle_i64(&r, ord, n);
    int bad = 0;
    for (int64_t k = 0; k < n; k++) {
        xm_xms_rec rec;
        if (xm_xms_read(x, c, (uint64_t)ord[k], &rec, &e) || !same(&rec, &S[from + ord[k]])) bad++;
    }
    free(ord);
    xm_xms_cursor_free(c);
    return bad;
}

typedef struct thr {
    const xm_xms_set *s;
    int bad;
    int id;
} thr;

static void *reader(void *p)
{
    thr *t = p;
    xm_xms_cursor *c = xm_xms_cursor_new(NULL);
    xm_rng r;
    xm_rng_init(&r, 77, (uint64_t)t->id);
    for (int k = 0; k < 2000; k++) {
        uint64_t i = xm_rng_below(&r, N);
        xm_xms_rec rec;
        if (xm_xms_set_read(t->s, c, i, &rec, NULL) || !same(&rec, &S[i])) t->bad++;
    }
    xm_xms_cursor_free(c);
    return NULL;
}

static void flip(const char *src, const char *dst, uint64_t off)
{
    FILE *f = fopen(src, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    XM_CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    b[off] ^= 0x10;
    f = fopen(dst, "wb");
    fwrite(b, 1, (size_t)n, f);
    fclose(f);
    free(b);
}

/* Open + verify; returns the first error code, filling msg. */
static int open_verify(const char *path, char *msg, int64_t *bad_block)
{
    xm_err e;
    xm_err_clear(&e);
    xm_xms *x = NULL;
    *bad_block = -1;
    int rc = xm_xms_open(path, NULL, &x, &e);
    if (!rc) {
        xm_xms_cursor *c = xm_xms_cursor_new(&e);
        rc = xm_xms_verify(x, c, bad_block, &e);
        xm_xms_cursor_free(c);
        xm_xms_close(x);
    }
    snprintf(msg, 1100, "%s", e.msg);
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/xm_test_xms_XXXXXX";
    XM_CHECK(mkdtemp(dir) != NULL);
    char p1[256], p2[256], p3[256], bad[256];
    snprintf(p1, sizeof p1, "%s/a.xms", dir);
    snprintf(p2, sizeof p2, "%s/b.xms", dir);
    snprintf(p3, sizeof p3, "%s/c.xms", dir);
    snprintf(bad, sizeof bad, "%s/bad.xms", dir);
    xm_err e;
    xm_err_clear(&e);

    /* XXH64 agrees with zstd's content checksum (low 32 bits, LE, at the end). */
    {
        uint8_t data[5000];
        for (int i = 0; i < 5000; i++) data[i] = (uint8_t)(i * 7 ^ (i >> 4));
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        uint8_t out[6000];
        size_t n = ZSTD_compress2(cc, out, sizeof out, data, sizeof data);
        ZSTD_freeCCtx(cc);
        uint32_t z = (uint32_t)out[n - 4] | (uint32_t)out[n - 3] << 8 | (uint32_t)out[n - 2] << 16 |
                     (uint32_t)out[n - 1] << 24;
        XM_CHECK(z == (uint32_t)xm_xxh64(data, sizeof data, 0));
    }

    /* Filters invert exactly. */
    make_samples(1);
    for (int f = 0; f <= 4; f++) {
        int ok = 1;
        for (int i = 0; i < 20; i++) {
            size_t n = (size_t)S[i].h * S[i].w * S[i].c;
            uint8_t *t = malloc(n);
            xm_xms_filter(f, S[i].px, t, S[i].h, S[i].w, S[i].c);
            xm_xms_unfilter(f, t, S[i].h, S[i].w, S[i].c);
            ok &= memcmp(t, S[i].px, n) == 0;
            free(t);
        }
        XM_CHECKF(ok, "filter %d does not invert", f);
    }
    /* The up filter against its definition (formats/xms.md): residual =
     * x - up mod 256, first row kept; rows of 3 x 23 = 69 bytes cross the
     * vector chunks (32 bytes) with a tail. */
    {
        enum { UH = 4, UW = 23, UC = 3, UN = UH * UW * UC };
        uint8_t px[UN], res[UN];
        for (int i = 0; i < UN; i++) px[i] = (uint8_t)(i * 37 + (i / 7) * 91);
        xm_xms_filter(XM_XMS_FILTER_UP, px, res, UH, UW, UC);
        int ok = 1;
        for (int i = 0; i < UN; i++)
            ok &= res[i] == (uint8_t)(px[i] - (i >= UW * UC ? px[i - UW * UC] : 0));
        XM_CHECKF(ok, "the up filter's residuals are not x - up");
        xm_xms_unfilter(XM_XMS_FILTER_UP, res, UH, UW, UC);
        XM_CHECK(memcmp(res, px, UN) == 0);
    }

    /* Round trips: fixed and mixed shapes, each filter, small blocks. */
    for (int mixed = 0; mixed <= 1; mixed++) {
        make_samples(mixed);
        for (int f = 0; f <= 4; f++) {
            xm_xms_wopts o = {.filter = f, .block_bytes = 4096};
            XM_CHECK(write_file(p1, 0, N, &o) == 0);
            xm_xms *x = NULL;
            xm_err_clear(&e);
            XM_CHECKF(xm_xms_open(p1, NULL, &x, &e) == 0, "open: %s", e.msg);
            if (!x) continue;
            xm_xms_info in;
            xm_xms_get_info(x, &in);
            XM_CHECK(in.n_records == N && in.n_classes == 3 && in.n_blocks > 10 && in.filter == f);
            XM_CHECK(mixed ? in.h == 0 : (in.h == 28 && in.w == 28 && in.c == 1));
            XM_CHECK(strcmp(xm_xms_class(x, 1), "dog") == 0);
            XM_CHECKF(check_all_random(x, 0, (uint64_t)f) == 0, "mixed %d filter %d: records differ", mixed, f);
            xm_xms_close(x);
        }
    }

    /* Compressing on a pool gives the same bytes as serial writing. */
    {
        xm_xms_wopts po = {.filter = XM_XMS_FILTER_PAETH, .block_bytes = 2000};
        XM_CHECK(write_file(p1, 0, N, &po) == 0);
        g_pool = xm_pool_new(3, &e);
        XM_CHECK(write_file(p2, 0, N, &po) == 0);
        xm_pool_free(g_pool);
        g_pool = NULL;
        FILE *a = fopen(p1, "rb"), *b = fopen(p2, "rb");
        int same_bytes = a && b, ca, cb;
        while (same_bytes && (ca = fgetc(a)) != EOF) same_bytes = ca == (cb = fgetc(b));
        if (same_bytes) same_bytes = fgetc(b) == EOF;
        if (a) fclose(a);
        if (b) fclose(b);
        XM_CHECKF(same_bytes, "pool-compressed file differs from the serial one");
    }

    /* JPEG codec: lossy but close, same shapes/labels/names, deterministic
     * reads, pool and serial writes byte-identical. */
    for (int mixed = 0; mixed <= 1; mixed++) {
        make_samples(mixed);
        xm_xms_wopts jo = {.codec = XM_XMS_CODEC_JPEG, .quality = 95, .block_bytes = 3000};
        XM_CHECK(write_file(p1, 0, N, &jo) == 0);
        g_pool = xm_pool_new(2, &e);
        XM_CHECK(write_file(p2, 0, N, &jo) == 0);
        xm_pool_free(g_pool);
        g_pool = NULL;
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cmp -s %s %s", p1, p2);
        XM_CHECKF(system(cmd) == 0, "JPEG: pool-compressed file differs from the serial one");
        xm_xms *x = NULL;
        xm_err_clear(&e);
        XM_CHECKF(xm_xms_open(p1, NULL, &x, &e) == 0, "open JPEG: %s", e.msg);
        if (!x) continue;
        xm_xms_info in;
        xm_xms_get_info(x, &in);
        XM_CHECK(in.codec == XM_XMS_CODEC_JPEG && in.filter == 0 && in.n_records == N);
        xm_xms_cursor *c1 = xm_xms_cursor_new(&e), *c2 = xm_xms_cursor_new(&e);
        double err_sum = 0, n_px = 0;
        int meta_ok = 1, det_ok = 1;
        for (int i = N - 1; i >= 0; i--) { /* reverse order: no block cache help */
            xm_xms_rec r, r2;
            if (xm_xms_read(x, c1, (uint64_t)i, &r, &e)) {
                meta_ok = 0;
                break;
            }
            const sample *sm = &S[i];
            meta_ok &= r.h == sm->h && r.w == sm->w && r.c == sm->c && r.label == sm->label &&
                       strcmp(r.name, sm->name) == 0;
            size_t n = (size_t)r.h * r.w * r.c;
            for (size_t k = 0; k < n; k++) err_sum += abs((int)r.px[k] - (int)sm->px[k]);
            n_px += (double)n;
            uint8_t *copy = malloc(n);
            memcpy(copy, r.px, n);
            det_ok &= xm_xms_read(x, c2, (uint64_t)i, &r2, &e) == 0 && memcmp(copy, r2.px, n) == 0;
            free(copy);
        }
        XM_CHECK(meta_ok && det_ok);
        XM_CHECKF(err_sum / n_px < 4.0, "JPEG q95 mean abs error %.2f levels", err_sum / n_px);
        int64_t bb;
        XM_CHECK(xm_xms_verify(x, c1, &bb, &e) == 0);
        xm_xms_cursor_free(c1);
        xm_xms_cursor_free(c2);
        xm_xms_close(x);
    }

    /* Several files as one set, read from 4 threads at once. */
    make_samples(1);
    xm_xms_wopts o = {.block_bytes = 3000};
    XM_CHECK(write_file(p1, 0, 100, &o) == 0);
    XM_CHECK(write_file(p2, 100, 100, &o) == 0); /* an empty file in the middle */
    XM_CHECK(write_file(p3, 100, N, &o) == 0);
    const char *paths[] = {p1, p2, p3};
    xm_xms_set *set = NULL;
    XM_CHECKF(xm_xms_set_open(paths, 3, NULL, &set, &e) == 0, "set: %s", e.msg);
    if (set) {
        XM_CHECK(xm_xms_set_count(set) == N && xm_xms_set_nclasses(set) == 3);
        pthread_t t[4];
        thr a[4];
        for (int k = 0; k < 4; k++) {
            a[k] = (thr){.s = set, .id = k};
            pthread_create(&t[k], NULL, reader, &a[k]);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(t[k], NULL);
            XM_CHECKF(a[k].bad == 0, "thread %d: %d bad reads", k, a[k].bad);
        }
        xm_xms_rec r;
        xm_err_clear(&e);
        xm_xms_cursor *c = xm_xms_cursor_new(&e);
        XM_CHECK(xm_xms_set_read(set, c, N, &r, &e) == XM_EUSAGE);
        xm_xms_cursor_free(c);
        xm_xms_set_close(set);
    }

    /* Shards through xm_xms_out: 300 records, 128 per shard -> 3 files. */
    {
        char pat[300];
        snprintf(pat, sizeof pat, "%s/sh-%%03d.xms", dir);
        xm_xms_out *so = NULL;
        xm_err_clear(&e);
        XM_CHECK(xm_xms_out_open(pat, 128, 0, NULL, &so, &e) == 0);
        XM_CHECK(xm_xms_out_set_classes(so, CLASSES, 3, &e) == 0);
        for (int i = 0; i < N; i++)
            XM_CHECK(xm_xms_out_add(so, S[i].px, S[i].h, S[i].w, S[i].c, S[i].label, S[i].name, &e) == 0);
        char s0[300];
        snprintf(s0, sizeof s0, "%s/sh-000.xms", dir);
        XM_CHECK(access(s0, F_OK) != 0); /* nothing published before commit */
        XM_CHECKF(xm_xms_out_commit(so, &e) == 0, "commit: %s", e.msg);
        XM_CHECK(xm_xms_out_nfiles(so) == 3);
        char sp[3][300];
        const char *sps[3];
        for (int k = 0; k < 3; k++) {
            snprintf(sp[k], sizeof sp[k], "%s/sh-%03d.xms", dir, k);
            sps[k] = sp[k];
        }
        xm_xms_out_free(so);
        XM_CHECK(xm_xms_set_open(sps, 3, NULL, &set, &e) == 0);
        if (set) {
            thr a = {.s = set};
            reader(&a);
            XM_CHECK(a.bad == 0 && xm_xms_set_count(set) == N);
            xm_xms_set_close(set);
        }
        for (int k = 0; k < 3; k++) unlink(sp[k]);
        xm_err_clear(&e);
        XM_CHECK(xm_xms_out_open(pat, 0, 0, NULL, &so, &e) == 0); /* pattern, one file */
        xm_xms_out_free(so);
        xm_err_clear(&e);
        XM_CHECK(xm_xms_out_open(p1, 10, 0, NULL, &so, &e) == XM_EUSAGE);
        xm_err_clear(&e);
        snprintf(pat, sizeof pat, "%s/x-%%s.xms", dir);
        XM_CHECK(xm_xms_out_open(pat, 10, 0, NULL, &so, &e) == XM_EUSAGE);
        xm_err_clear(&e);
        /* Abandoned output leaves no temporary file. */
        snprintf(pat, sizeof pat, "%s/gone-%%d.xms", dir);
        XM_CHECK(xm_xms_out_open(pat, 50, 0, NULL, &so, &e) == 0);
        xm_xms_out_set_classes(so, CLASSES, 3, &e);
        for (int i = 0; i < 120; i++)
            xm_xms_out_add(so, S[i].px, S[i].h, S[i].w, S[i].c, S[i].label, S[i].name, &e);
        xm_xms_out_free(so);
        XM_CHECK(xm_atomic_registered() == 0);
    }

    /* Corruption: one flipped byte in each region, and truncations. */
    XM_CHECK(write_file(p1, 0, 100, &o) == 0);
    xm_xms *x = NULL;
    XM_CHECK(xm_xms_open(p1, NULL, &x, &e) == 0);
    xm_xms_info in;
    xm_xms_get_info(x, &in);
    xm_xms_close(x);
    struct stat st;
    stat(p1, &st);
    XM_CHECK((uint64_t)st.st_size == in.file_size);
    uint64_t meta_off = XM_XMS_HEADER_SIZE + in.data_bytes, index_off = meta_off + in.meta_bytes;
    struct {
        const char *what;
        uint64_t off;
        const char *expect;
        int block;
    } cases[] = {
        {"magic", 1, "bad magic", -1},
        {"header count", 17, "header checksum", -1},
        {"header checksum", 121, "header checksum", -1},
        {"first block", XM_XMS_HEADER_SIZE + 5, "block 0 ", 0},
        {"middle of data", XM_XMS_HEADER_SIZE + in.data_bytes / 2, "checksum mismatch", -2},
        {"last data byte", meta_off - 1, "checksum mismatch", (int)in.n_blocks - 1},
        {"metadata", meta_off + in.meta_bytes / 2, "metadata checksum", -1},
        {"index blocks", index_off + 3, "index checksum", -1},
        {"index records", in.file_size - 10, "index checksum", -1},
    };
    char msg[1100];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        flip(p1, bad, cases[k].off);
        int64_t bb;
        int rc = open_verify(bad, msg, &bb);
        XM_CHECKF(rc == XM_EDATA && strstr(msg, cases[k].expect) && strstr(msg, bad),
                  "%s: rc %d msg '%s'", cases[k].what, rc, msg);
        if (cases[k].block >= 0) XM_CHECKF(bb == cases[k].block, "%s: bad block %lld", cases[k].what, (long long)bb);
        if (cases[k].block == -2) XM_CHECK(bb >= 0);
    }
    const uint64_t cuts[] = {0, 7, 100, 128, meta_off, in.file_size - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        flip(p1, bad, 200); /* copy, then truncate */
        XM_CHECK(truncate(bad, (off_t)cuts[k]) == 0);
        int64_t bb;
        int rc = open_verify(bad, msg, &bb);
        XM_CHECKF(rc == XM_EDATA && (cuts[k] < 8 || strstr(msg, "truncated")), "cut %llu: rc %d '%s'",
                  (unsigned long long)cuts[k], rc, msg);
    }
    int64_t bb;
    XM_CHECK(open_verify(p1, msg, &bb) == 0);
    snprintf(bad, sizeof bad, "%s/missing.xms", dir);
    XM_CHECK(open_verify(bad, msg, &bb) == XM_ENOINPUT);

    /* Limits: a file whose records exceed the reader's limit is refused. */
    xm_xms_limits lim;
    xm_xms_limits_default(&lim);
    lim.max_block_bytes = 1000;
    xm_err_clear(&e);
    XM_CHECK(xm_xms_open(p1, &lim, &x, &e) == XM_EDATA && strstr(e.msg, "over the limit"));
    xm_xms_limits_default(&lim);
    lim.max_record_bytes = 100;
    xm_err_clear(&e);
    XM_CHECK(xm_xms_open(p1, &lim, &x, &e) == XM_EDATA && strstr(e.msg, "over the limit"));

    unlink(p1);
    unlink(p2);
    unlink(p3);
    snprintf(bad, sizeof bad, "%s/bad.xms", dir);
    unlink(bad);
    XM_CHECK(rmdir(dir) == 0);
    for (int i = 0; i < N; i++) free(S[i].px);
    return xm_test_finish();
}
