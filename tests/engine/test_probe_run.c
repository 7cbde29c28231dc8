/* test_probe_run.c: xm_probe_run and the xm-probe tool on a crafted model
 * and data set with known answers.
 *
 * The model is a ResNet-20 (1 channel, 28 px, classes a, b, c) whose fc
 * weight is 0 and bias (0, 0, 1): every image is predicted 'c', whatever the
 * backbone computes. The data: 2 images of a, 3 of b, 5 of c, so top-1 is
 * 0.5, mean per-class accuracy 1/3, top-5 (= top-3 here) 1. Images of a
 * class share a brightness (0, 120, 240, plus noise), which a random
 * backbone maps to separable features: the linear probe must reach 100 %. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_hash.h"
#include "xm_probe.h"
#include "xm_rng.h"
#include "xm_test.h"
#include "xm_xms_out.h"

static const char *NAMES[3] = {"a", "b", "c"};
static const int COUNT[3] = {2, 3, 5};

static int write_data(const char *path, const char *const *classes, int reps, int size, xm_err *err)
{
    xm_xms_out *out;
    int rc = xm_xms_out_open(path, 0, XM_ATOMIC_FORCE, NULL, &out, err);
    if (!rc) rc = xm_xms_out_set_classes(out, classes, 3, err);
    uint8_t px[40 * 40];
    xm_rng r;
    xm_rng_init(&r, 3, (uint64_t)size);
    for (int rep = 0; !rc && rep < reps; rep++)
        for (int c = 0; !rc && c < 3; c++)
            for (int i = 0; !rc && i < COUNT[c]; i++) {
                for (int p = 0; p < size * size; p++) {
                    int v = 120 * c + (int)xm_rng_below(&r, 11) - 5;
                    px[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                rc = xm_xms_out_add(out, px, size, size, 1, c, NULL, err);
            }
    if (!rc) rc = xm_xms_out_commit(out, err);
    xm_xms_out_free(out);
    return rc;
}

static xm_net *make_model(xm_backend *be, xm_err *err)
{
    xm_net_cfg cfg = {.arch = "resnet20", .in_channels = 1, .input_size = 28, .num_classes = 3};
    xm_net *net = xm_net_new(be, &cfg, err);
    if (!net || xm_net_init(net, 5, err)) return net;
    const xm_net_slabs *sl = xm_net_slabs_get(net);
    float *w = malloc(sizeof(float) * sl->n_w);
    int np, iw = xm_net_param_find(net, "fc.weight"), ib = xm_net_param_find(net, "fc.bias");
    const xm_param *p = xm_net_params(net, &np);
    XM_CHECK(w && iw >= 0 && ib >= 0);
    if (!w || iw < 0 || ib < 0) return net;
    xm_net_get_weights(net, w, NULL, err);
    memset(w + p[iw].offset, 0, sizeof(float) * p[iw].count);
    w[p[ib].offset + 0] = 0, w[p[ib].offset + 1] = 0, w[p[ib].offset + 2] = 1;
    xm_net_set_weights(net, w, NULL, err);
    free(w);
    return net;
}

typedef struct cnt {
    xm_probe_acc acc;
    int64_t rows;
    int d;
    xm_xxh64_state h; /* over every batch's logits and features */
} cnt;

static int count_batch(void *ctx, const xm_probe_batch *b, xm_err *err)
{
    (void)err;
    cnt *c = ctx;
    xm_probe_acc_add(&c->acc, b->logits, b->labels, b->n, NULL, NULL);
    c->rows += b->n;
    c->d = b->d;
    XM_CHECK(b->features != NULL);
    xm_xxh64_update(&c->h, b->logits, (size_t)b->n * b->k * sizeof(float));
    if (b->features) xm_xxh64_update(&c->h, b->features, (size_t)b->n * b->d * sizeof(float));
    return 0;
}

/* Run the tool; return its exit status and its first stdout line in out. */
static int tool(const char *args, char *out, size_t n)
{
    const char *bin = getenv("XM_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/xm-probe %s 2>/dev/null", bin ? bin : "bin", args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    out[0] = 0;
    if (!fgets(out, (int)n, p)) out[0] = 0;
    char rest[4096];
    while (fgets(rest, sizeof rest, p)) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double field(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *s = strstr(json, pat);
    return s ? atof(s + strlen(pat)) : NAN;
}

int main(void)
{
    char dir[] = "/tmp/xm_test_probe_XXXXXX";
    if (!mkdtemp(dir)) return xm_test_skip("no temporary directory");
    char model[256], data[256], data2[256], other[256], train[256], conf[256], pred[256], spec[256];
    snprintf(model, sizeof model, "%s/m.h5", dir);
    snprintf(data, sizeof data, "%s/d.xms", dir);
    snprintf(data2, sizeof data2, "%s/d32.xms", dir);
    snprintf(other, sizeof other, "%s/o.xms", dir);
    snprintf(train, sizeof train, "%s/t.xms", dir);
    snprintf(conf, sizeof conf, "%s/conf.csv", dir);
    snprintf(pred, sizeof pred, "%s/pred.csv", dir);
    snprintf(spec, sizeof spec, "%s/spec.csv", dir);
    xm_err err;
    xm_err_clear(&err);
    xm_backend_cfg bc = {.threads = 2};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    XM_CHECKF(be != NULL, "backend: %s", err.msg);
    xm_net *net = be ? make_model(be, &err) : NULL;
    XM_CHECKF(net != NULL && !err.code, "model: %s", err.msg);
    if (!net) return xm_test_finish();
    xm_model_meta meta;
    xm_model_meta_default(&meta, xm_net_config(net));
    meta.classes = (char **)NAMES;
    XM_CHECKF(xm_model_save(net, &meta, model, XM_MODEL_FORCE, &err) == 0, "save: %s", err.msg);
    meta.classes = NULL;
    XM_CHECK(write_data(data, NAMES, 1, 28, &err) == 0);
    XM_CHECK(write_data(data2, NAMES, 1, 32, &err) == 0); /* center-cropped to 28 */
    XM_CHECK(write_data(train, NAMES, 4, 28, &err) == 0);
    const char *onames[3] = {"c", "b", "x"};
    XM_CHECK(write_data(other, onames, 1, 28, &err) == 0);

    /* library: batches of 3 over 10 records */
    xm_xms_set *set;
    const char *paths[2] = {data, data2};
    XM_CHECK(xm_xms_set_open(paths, 2, NULL, &set, &err) == 0);
    uint64_t digest[2];
    for (int k = 0; k < 2; k++) { /* one reader, then three: the same numbers */
        cnt c = {0};
        xm_xxh64_init(&c.h, 0);
        xm_probe_acc_init(&c.acc, 3, NULL);
        xm_probe_run_opts ro = {.batch = 3, .want_logits = 1, .want_features = 1,
                                .readers = k ? 3 : 1};
        XM_CHECKF(xm_probe_run(be, net, &meta, set, &ro, count_batch, &c, &err) == 0, "run: %s",
                  err.msg);
        XM_CHECK(c.rows == 20 && c.acc.n == 20 && c.acc.top1 == 10 && c.acc.top5 == 20 && c.d == 64);
        XM_CHECK(c.acc.confusion[0 * 3 + 2] == 4 && c.acc.confusion[1 * 3 + 2] == 6 &&
                 c.acc.confusion[2 * 3 + 2] == 10);
        digest[k] = xm_xxh64_digest(&c.h);
        xm_probe_acc_release(&c.acc);
    }
    XM_CHECKF(digest[0] == digest[1], "3 readers gave other logits or features than 1");
    xm_xms_set_close(set);

    /* the tool */
    char out[8192], args[2048];
    snprintf(args, sizeof args, "-m %s %s --device cpu -j 2 --batch 4 --per-class --confusion %s --predictions %s --spectrum %s",
             model, data, conf, pred, spec);
    int st = tool(args, out, sizeof out);
    XM_CHECKF(st == 0, "xm-probe exit %d", st);
    XM_CHECKF(field(out, "top1") == 0.5 && field(out, "n") == 10 && field(out, "top5") == 1.0, "%s", out);
    XM_CHECKF(fabs(field(out, "mean_class_acc") - 1.0 / 3) < 1e-6, "%s", out);
    XM_CHECKF(strstr(out, "{\"class\":\"b\",\"n\":3,\"correct\":0,\"acc\":0.000000}") != NULL, "%s", out);
    FILE *f = fopen(conf, "r");
    char line[512] = "";
    XM_CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "true\\predicted,a,b,c\n"));
    XM_CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "a,0,0,2\n"));
    if (f) fclose(f);
    f = fopen(pred, "r");
    int rows = 0;
    while (f && fgets(line, sizeof line, f)) rows++;
    XM_CHECK(rows == 11 && !strncmp(line, "9,2,2,", 6));
    if (f) fclose(f);
    f = fopen(spec, "r");
    XM_CHECK(f && fgets(line, sizeof line, f) && fgets(line, sizeof line, f) && !strncmp(line, "0,", 2) &&
             strstr(line, ",1\n"));
    if (f) fclose(f);
    /* outputs exist: refused without --force */
    st = tool(args, out, sizeof out);
    XM_CHECK(st == XM_ECANTCREAT);

    /* classes mapped by name: data "c", "b", "x" -> 2, 1, skipped */
    snprintf(args, sizeof args, "-q -m %s %s --device cpu", model, other);
    st = tool(args, out, sizeof out);
    XM_CHECKF(st == 0 && field(out, "n") == 5 && field(out, "skipped") == 5, "exit %d: %s", st, out);
    XM_CHECKF(fabs(field(out, "top1") - 2.0 / 5) < 1e-6, "%s", out); /* the 2 'c'-labelled of class 0 */

    /* the linear probe separates the brightness classes */
    snprintf(args, sizeof args, "-q -m %s %s --device cpu --linear-probe %s", model, data, train);
    st = tool(args, out, sizeof out);
    XM_CHECKF(st == 0 && field(out, "top1") == 1.0 && field(out, "train_n") == 40, "exit %d: %s", st, out);
    XM_CHECKF(strstr(out, "\"converged\":true") != NULL, "%s", out);

    /* errors */
    snprintf(args, sizeof args, "-m %s %s --head source --device cpu", model, data);
    XM_CHECK(tool(args, out, sizeof out) == XM_EUSAGE);
    snprintf(args, sizeof args, "-m %s/missing.h5 %s --device cpu", dir, data);
    XM_CHECK(tool(args, out, sizeof out) == XM_ENOINPUT);
    snprintf(args, sizeof args, "%s", data);
    XM_CHECK(tool(args, out, sizeof out) == XM_EUSAGE);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    xm_net_free(net);
    xm_backend_free(be);
    return xm_test_finish();
}
