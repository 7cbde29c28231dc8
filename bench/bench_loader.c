/* bench_loader.c: how fast xm-train's loader thread produces batches, with
 * nothing else to do: the records of a plan's steps read from their .xms
 * shards (zstd blocks decoded) into host memory, as xm-train does one step
 * ahead of the device. Not a test. If this rate is below the device's
 * images/s, training on that device waits for data (xm-train's metrics
 * report the wait itself as data_wait_ms).
 *
 *   bench_loader PLAN.h5 [--steps N] [--readers N] [--json]
 *
 * The loader reads on --readers threads (default half the cores, 1 to 8,
 * as xm-train's --readers). The
 * first step is not timed (files opened, buffers sized). Prints steps,
 * images, MB of records, seconds, images/s and MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_pool.h"
#include "xm_progress.h"
#include "xm_train_impl.h"

static int run(const char *plan, int64_t steps, int readers, int json, xm_err *err)
{
    xm_train_cfg cfg;
    xm_train_cfg_default(&cfg);
    cfg.plan_path = plan;
    xm_trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = &cfg;
    int rc = xm_plan_load(plan, &t.plan, err);
    if (!rc) rc = xm_trainer_open_data(&t, err);
    if (rc) {
        xm_trainer_release(&t);
        return rc;
    }
    int64_t end = steps > 0 && steps < t.plan.steps ? steps : t.plan.steps;
    xm_loader *ld = NULL;
    xm_loader_src src = {&t.plan, t.target, t.partner, t.src_row};
    if (end < 2) rc = xm_err_set(err, XM_EUSAGE, "%s: need at least 2 steps", plan);
    if (!rc) rc = xm_loader_start(&src, 0, end, readers, &ld, err);
    double t0 = 0, mb = 0;
    int64_t images = 0;
    for (int64_t k = 0; k < end && !rc; k++) {
        const xm_batch *b;
        if ((rc = xm_loader_next(ld, &b, err))) break;
        if (k == 0) {
            t0 = xm_now();
            continue;
        }
        images += b->n;
        mb += (double)b->px_bytes / 1e6;
    }
    double dt = xm_now() - t0;
    xm_loader_free(ld);
    if (!rc) {
        int nw = readers > 0 ? readers : xm_xms_readers_default();
        if (json)
            printf("{\"impl\": \"xm_loader\", \"plan\": \"%s\", \"steps\": %lld, \"images\": %lld, "
                   "\"mb\": %.1f, \"seconds\": %.4f, \"images_per_s\": %.1f, \"mb_per_s\": %.1f, "
                   "\"readers\": %d}\n",
                   plan, (long long)(end - 1), (long long)images, mb, dt, images / dt, mb / dt, nw);
        else
            printf("%s: %lld steps, %lld images, %.1f MB of records in %.3f s: %.1f images/s, "
                   "%.1f MB/s (%d reader thread%s)\n",
                   plan, (long long)(end - 1), (long long)images, mb, dt, images / dt, mb / dt, nw,
                   nw > 1 ? "s" : "");
    }
    xm_trainer_release(&t);
    return rc;
}

int main(int argc, char **argv)
{
    const char *plan = NULL;
    int64_t steps = 0;
    int json = 0, readers = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--readers") && i + 1 < argc) readers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] != '-' && !plan) plan = argv[i];
        else {
            fprintf(stderr, "usage: bench_loader PLAN.h5 [--steps N] [--readers N] [--json]\n");
            return 2;
        }
    }
    if (!plan) {
        fprintf(stderr, "usage: bench_loader PLAN.h5 [--steps N] [--readers N] [--json]\n");
        return 2;
    }
    xm_err err;
    xm_err_clear(&err);
    if (run(plan, steps, readers, json, &err)) {
        fprintf(stderr, "bench_loader: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
