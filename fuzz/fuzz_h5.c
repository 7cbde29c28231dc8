/* fuzz_h5.c: libFuzzer target for the readers of xm's HDF5 schemas
 * (formats/ documents). The first input byte chooses the reader (byte % 6), the
 * rest is the file, written to /dev/shm (HDF5 resolves the real path of a
 * file, which a memfd does not have) and opened by path through lib/h5 like
 * any input:
 *   0 features    xm_feat_open, xm_feat_read (first rows), xm_centroid_add_file
 *   1 centroids   xm_centroid_read, xm_pair_load
 *   2 pairs       xm_plan_read_pairs
 *   3 plan        xm_plan_load
 *   4 model       xm_model_read_meta, xm_model_load (CPU backend)
 *   5 checkpoint  xm_model_load_into + xm_ckpt_load into a resnet20 trainer,
 *                 as xm-train --resume does
 * Declared shapes are trusted by the readers (allocation follows the
 * shape); the harness skips the whole-file passes whose declared size is
 * large, so that an unallocated 10^12-element dataset is not a "crash".
 * Anything but success or a refusal with a message (XM_EDATA, XM_EIO,
 * XM_ENOINPUT, XM_EFAIL) is a bug; sanitizers catch memory errors. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_backend.h"
#include "xm_centroid.h"
#include "xm_features.h"
#include "xm_model.h"
#include "xm_pair.h"
#include "xm_plan.h"
#include "xm_train_impl.h"

#define MAX_ELEMS ((int64_t)1 << 22) /* harness cap on declared sizes read whole */

static xm_backend *be;
static xm_net *ck_net;
static xm_train_cfg ck_cfg;
static char path[64]; /* the file image, /dev/shm/xm-fuzz-h5-PID.h5, rewritten each run */
static int debug; /* XM_FUZZ_DEBUG=1: print each refusal (to check seeds) */

/* libhdf5 1.10 leaks a few metadata-cache entries on some corrupt object
 * headers (its own error paths, e.g. H5O_protect under H5Oget_info_by_name);
 * not our code, so LeakSanitizer ignores leaks whose stack passes through it
 * (docs/reliability-fuzz.md, ignore list). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }

/* libhdf5 mallocs sizes read from a corrupt file (up to 2^56 bytes) and
 * handles the NULL; let it get one, as it does from glibc. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static void remove_file(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
    debug = getenv("XM_FUZZ_DEBUG") != NULL;
    snprintf(path, sizeof path, "/dev/shm/xm-fuzz-h5-%ld.h5", (long)getpid());
    atexit(remove_file);
    xm_err e;
    xm_err_clear(&e);
    xm_backend_cfg bc = {.threads = 1};
    if (!(be = xm_backend_cpu_new(&bc, &e))) abort();
    xm_net_cfg nc = {"resnet20", 1, 32, 2, 0};
    if (!(ck_net = xm_net_new(be, &nc, &e)) || xm_net_alloc_train(ck_net, &e)) abort();
    return 0;
}

static void check_rc(int rc, const xm_err *e)
{
    if (debug) fprintf(stderr, "fuzz_h5: %d %s\n", rc, rc ? e->msg : "ok");
    if (rc == 0) return;
    if (rc != XM_EDATA && rc != XM_EIO && rc != XM_ENOINPUT && rc != XM_EFAIL) abort();
    if (!e->msg[0]) abort(); /* every refusal says why */
}

static void do_features(void)
{
    xm_feat_file ff;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_feat_open(path, &ff, &e);
    check_rc(rc, &e);
    if (rc) return;
    int64_t n = ff.n < 16 ? ff.n : 16, big = ff.n > MAX_ELEMS / ff.dim;
    if (ff.dim <= MAX_ELEMS / 16 && n > 0) {
        double *rows = malloc((size_t)(n * ff.dim) * sizeof *rows);
        int64_t *labels = malloc((size_t)n * sizeof *labels), *records = malloc((size_t)n * sizeof *records);
        if (rows && labels && records) {
            xm_err_clear(&e);
            check_rc(xm_feat_read(&ff, 0, n, rows, labels, records, &e), &e);
        }
        free(rows);
        free(labels);
        free(records);
    }
    xm_feat_close(&ff);
    if (big || ff.dim > MAX_ELEMS / 4096) return;
    xm_centroid c;
    xm_centroid_init(&c);
    xm_err_clear(&e);
    check_rc(xm_centroid_add_file(&c, path, &e), &e);
    xm_centroid_release(&c);
}

static void do_centroids(void)
{
    xm_centroid c;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_centroid_read(path, &c, &e);
    check_rc(rc, &e);
    if (rc) return;
    for (int64_t k = 0; k < c.nclasses; k++) (void)strlen(c.classes[k]);
    xm_centroid_release(&c);
    double *means = NULL;
    xm_err_clear(&e);
    rc = xm_pair_load(path, &c, &means, &e);
    check_rc(rc, &e);
    if (!rc) {
        xm_centroid_release(&c);
        free(means);
    }
}

static void do_pairs(void)
{
    int32_t *t, *s;
    int n;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_plan_read_pairs(path, &t, &s, &n, &e);
    check_rc(rc, &e);
    if (!rc) {
        if (n < 1) abort();
        volatile int32_t x = t[n - 1] ^ s[n - 1];
        (void)x;
        free(t);
        free(s);
    }
}

static void do_plan(void)
{
    xm_plan p;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_plan_load(path, &p, &e);
    check_rc(rc, &e);
    if (!rc) xm_plan_release(&p);
}

static void do_model(void)
{
    xm_model_meta m;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_model_read_meta(path, &m, &e);
    check_rc(rc, &e);
    if (rc) return;
    int small = !strcmp(m.arch, "resnet20") && m.num_classes <= 1000 && m.source_classes <= 1000 &&
                m.input_size <= 64;
    xm_model_meta_release(&m);
    if (!small) return; /* a valid large network: allocation, not parsing */
    xm_err_clear(&e);
    xm_net *net = xm_model_load(be, path, &m, &e);
    check_rc(net ? 0 : e.code ? e.code : XM_EFAIL, &e);
    if (net) {
        xm_model_meta_release(&m);
        xm_net_free(net);
    }
}

static void do_checkpoint(void)
{
    xm_trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = &ck_cfg;
    t.be = be;
    t.net = ck_net;
    t.plan.steps = 100;
    snprintf(t.plan_xxh, sizeof t.plan_xxh, "0123456789abcdef");
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_model_load_into(ck_net, path, 0, &e);
    check_rc(rc, &e);
    for (int reg = 0; !rc && reg < 2; reg++) {
        ck_cfg.reg = reg ? XM_REG_L2SP : XM_REG_L2;
        xm_err_clear(&e);
        int r2 = xm_ckpt_load(&t, path, &e);
        check_rc(r2, &e);
        if (!r2 && (t.step < 0 || t.step > t.plan.steps)) abort();
    }
    if (t.w0) be->ops->free(be, t.w0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) abort();
    if (fclose(f)) abort();
    switch (data[0] % 6) {
    case 0: do_features(); break;
    case 1: do_centroids(); break;
    case 2: do_pairs(); break;
    case 3: do_plan(); break;
    case 4: do_model(); break;
    case 5: do_checkpoint(); break;
    }
    unlink(path); /* a process killed mid-run leaves at most this one file */
    return 0;
}
