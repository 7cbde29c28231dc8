/* xms_read.c: read throughput of .xms files (a bench helper, built by
 * bench/bench_pack.sh, not part of the product).
 *   xms_read [--threads T] [--order seq|random] [--raw OUT] FILE.xms...
 * Reads every record once with T threads (own cursor each), in file order
 * or in a random permutation, and prints "records/s MB/s" of pixel bytes.
 * --raw OUT also writes all pixels concatenated (for zstd -b). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_progress.h"
#include "xm_rng.h"
#include "xm_xms.h"

typedef struct arg {
    const xm_xms_set *s;
    const int64_t *order;
    int64_t lo, hi;
    uint64_t bytes;
    int bad;
} arg;

static void *run(void *p)
{
    arg *a = p;
    xm_xms_cursor *c = xm_xms_cursor_new(NULL);
    for (int64_t k = a->lo; k < a->hi; k++) {
        xm_xms_rec r;
        if (xm_xms_set_read(a->s, c, (uint64_t)a->order[k], &r, NULL)) a->bad++;
        else a->bytes += (uint64_t)r.h * r.w * r.c;
    }
    xm_xms_cursor_free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1, random = 0, i = 1;
    const char *raw = NULL;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--order") && i + 1 < argc) random = !strcmp(argv[++i], "random");
        else if (!strcmp(argv[i], "--raw") && i + 1 < argc) raw = argv[++i];
        else break;
    }
    if (i >= argc || threads < 1) {
        fprintf(stderr, "usage: xms_read [--threads T] [--order seq|random] [--raw OUT] FILE.xms...\n");
        return 2;
    }
    xm_err e;
    xm_err_clear(&e);
    xm_xms_set *s;
    if (xm_xms_set_open((const char *const *)argv + i, argc - i, NULL, &s, &e)) {
        fprintf(stderr, "xms_read: error: %s\n", e.msg);
        return e.code;
    }
    int64_t n = (int64_t)xm_xms_set_count(s);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t k = 0; k < n; k++) order[k] = k;
    if (random) {
        xm_rng r;
        xm_rng_init(&r, 1, 0);
        xm_rng_shuffle_i64(&r, order, n);
    }
    if (raw) {
        FILE *f = fopen(raw, "wb");
        xm_xms_cursor *c = xm_xms_cursor_new(NULL);
        for (int64_t k = 0; k < n; k++) {
            xm_xms_rec r;
            if (!xm_xms_set_read(s, c, (uint64_t)k, &r, NULL)) fwrite(r.px, 1, (size_t)r.h * r.w * r.c, f);
        }
        xm_xms_cursor_free(c);
        fclose(f);
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    arg *a = calloc((size_t)threads, sizeof *a);
    double t0 = xm_now();
    for (int k = 0; k < threads; k++) {
        a[k] = (arg){.s = s, .order = order, .lo = n * k / threads, .hi = n * (k + 1) / threads};
        pthread_create(&t[k], NULL, run, &a[k]);
    }
    uint64_t bytes = 0;
    int bad = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        bytes += a[k].bytes;
        bad += a[k].bad;
    }
    double dt = xm_now() - t0;
    printf("%.0f records/s %.1f MB/s (%lld records, %.3f s, %d threads, %s)\n", (double)n / dt,
           (double)bytes / dt / 1e6, (long long)n, dt, threads, random ? "random" : "sequential");
    free(order);
    free(t);
    free(a);
    xm_xms_set_close(s);
    return bad ? 65 : 0;
}
