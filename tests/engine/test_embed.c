/* test_embed.c: xm_embed_run against PyTorch (tests/refs/embed_ref.h5, from
 * tests/refs/make_embed_refs.py): a CIFAR ResNet-20 with the shared
 * deterministic weights, saved as a model file, over images of assorted
 * sizes in a two-file .xms set; torchvision's CenterCrop rounding; shard
 * coverage (every record exactly once, same features); provenance. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_embed.h"
#include "xm_features.h"
#include "xm_hash.h"
#include "xm_model.h"
#include "xm_xms.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_net_ref.h"
#pragma GCC diagnostic pop

static char dir[64];

static const char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

typedef struct ref {
    uint8_t *px;
    int32_t *shapes; /* n x 3 */
    int32_t *labels;
    float *feat;
    char **classes;
    int64_t n, nc, dim;
    float mean[3], std[3];
} ref;

static int load_ref(ref *r)
{
    xm_err err = {0};
    hid_t f = xm_h5_open(xm_test_path("refs/embed_ref.h5"), 0, &err);
    if (f < 0) return -1;
    int64_t d[XM_H5_MAX_RANK];
    r->px = xm_h5_read_alloc(f, "pixels", XM_H5_U8, 1, NULL, d, &err);
    r->shapes = xm_h5_read_alloc(f, "shapes", XM_H5_I32, 2, NULL, d, &err);
    r->n = d[0];
    r->labels = xm_h5_read_alloc(f, "labels", XM_H5_I32, 1, NULL, d, &err);
    r->feat = xm_h5_read_alloc(f, "features", XM_H5_F32, 2, NULL, d, &err);
    r->dim = d[1];
    xm_h5_read_strings(f, "classes", &r->classes, &r->nc, &err);
    xm_h5_attr_read_array(f, "mean", XM_H5_F32, r->mean, 3, 0, NULL, &err);
    xm_h5_attr_read_array(f, "std", XM_H5_F32, r->std, 3, 0, NULL, &err);
    xm_h5_close(f, NULL);
    if (err.code) fprintf(stderr, "load_ref: %s\n", err.msg);
    return err.code ? -1 : 0;
}

/* Records [i0, i1) of the reference into an .xms file. */
static int write_xms(const ref *r, const char *path, int64_t i0, int64_t i1)
{
    xm_err err = {0};
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    xm_xms_writer *w = fd >= 0 ? xm_xms_writer_new(fd, path, NULL, &err) : NULL;
    int rc = w ? 0 : -1;
    if (!rc) rc = xm_xms_writer_set_classes(w, (const char *const *)r->classes, (int)r->nc, &err);
    size_t off = 0;
    for (int64_t i = 0; i < i1; i++) {
        const int32_t *s = r->shapes + 3 * i;
        if (!rc && i >= i0)
            rc = xm_xms_writer_add(w, r->px + off, s[0], s[1], s[2], r->labels[i], NULL, &err);
        off += (size_t)s[0] * s[1] * s[2];
    }
    if (!rc) rc = xm_xms_writer_finish(w, &err);
    if (rc) fprintf(stderr, "write_xms: %s\n", err.msg);
    xm_xms_writer_free(w);
    if (fd >= 0) close(fd);
    return rc;
}

static int save_model(const ref *r, const char *path)
{
    xm_err err = {0};
    xm_backend_cfg bc = {.threads = 2};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    xm_net_cfg nc = {.arch = "resnet20", .in_channels = 3, .input_size = 32, .num_classes = 10};
    xm_net *net = be ? xm_net_new(be, &nc, &err) : NULL;
    int rc = net ? ref_load_weights(net, be, &err) : -1;
    xm_model_meta m;
    xm_model_meta_default(&m, &nc);
    memcpy(m.mean, r->mean, sizeof r->mean);
    memcpy(m.std, r->std, sizeof r->std);
    if (!rc) rc = xm_model_save(net, &m, path, XM_MODEL_FORCE, &err);
    if (rc) fprintf(stderr, "save_model: %s\n", err.msg);
    xm_net_free(net);
    xm_backend_free(be);
    return rc;
}

static void test_offsets(void)
{
    /* torchvision: round((h - S) / 2) with Python's half-to-even; padding
     * floor((S - h) / 2) on top when smaller */
    XM_CHECK(xm_embed_center_offset(32, 32) == 0);
    XM_CHECK(xm_embed_center_offset(36, 32) == 2);
    XM_CHECK(xm_embed_center_offset(33, 32) == 0);  /* 0.5 -> 0 */
    XM_CHECK(xm_embed_center_offset(35, 32) == 2);  /* 1.5 -> 2 */
    XM_CHECK(xm_embed_center_offset(37, 32) == 2);  /* 2.5 -> 2 */
    XM_CHECK(xm_embed_center_offset(39, 32) == 4);  /* 3.5 -> 4 */
    XM_CHECK(xm_embed_center_offset(28, 32) == -2);
    XM_CHECK(xm_embed_center_offset(27, 32) == -2);
    XM_CHECK(xm_embed_center_offset(256, 224) == 16);
}

/* Read a features file fully. */
static int read_feat(const char *path, int64_t *n, float **x, int64_t **rec, int64_t **lab)
{
    xm_feat_file ff;
    xm_err err = {0};
    if (xm_feat_open(path, &ff, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *n = ff.n;
    double *d = malloc((size_t)(ff.n * ff.dim + 1) * sizeof *d);
    *x = malloc((size_t)(ff.n * ff.dim + 1) * sizeof **x);
    *rec = malloc((size_t)(ff.n + 1) * sizeof **rec);
    *lab = malloc((size_t)(ff.n + 1) * sizeof **lab);
    int rc = xm_feat_read(&ff, 0, ff.n, d, *lab, *rec, &err);
    for (int64_t i = 0; i < ff.n * ff.dim; i++) (*x)[i] = (float)d[i];
    free(d);
    xm_feat_close(&ff);
    return rc;
}

static void test_embed(const ref *r)
{
    char model[256], out[256];
    snprintf(model, sizeof model, "%s", tpath("m.h5"));
    snprintf(out, sizeof out, "%s", tpath("f.h5"));
    XM_CHECK(save_model(r, model) == 0);
    int64_t half = r->n / 2;
    XM_CHECK(write_xms(r, tpath("a.xms"), 0, half) == 0);
    XM_CHECK(write_xms(r, tpath("b.xms"), half, r->n) == 0);
    const char *inputs[2] = {tpath("a.xms"), tpath("b.xms")};
    char in0[256], in1[300];
    snprintf(in0, sizeof in0, "%s", inputs[0]);
    snprintf(in1, sizeof in1, "%s", inputs[1]);
    const char *in[2] = {in0, in1};
    xm_embed_cfg cfg = {.model = model, .inputs = in, .ninputs = 2, .output = out,
                        .batch = 4, .device = "cpu", .threads = 2};
    xm_embed_stats st;
    xm_err err = {0};
    int rc = xm_embed_run(&cfg, NULL, NULL, &st, &err);
    XM_CHECKF(rc == 0, "embed: %s", err.msg);
    if (rc) return;
    XM_CHECK(st.images == r->n && st.dim == r->dim);
    int64_t n;
    float *x;
    int64_t *rec, *lab;
    XM_CHECK(read_feat(out, &n, &x, &rec, &lab) == 0);
    XM_CHECK(n == r->n);
    for (int64_t i = 0; i < n && i < r->n; i++) {
        XM_CHECK(rec[i] == i && lab[i] == r->labels[i]);
        char name[48];
        snprintf(name, sizeof name, "features row %lld", (long long)i);
        XM_CHECK_CLOSE(name, x + i * r->dim, r->feat + i * r->dim, (size_t)r->dim, 1e-5);
    }
    /* provenance */
    hid_t f = xm_h5_open(out, 0, &err);
    char hx[32], want[32], layer[16];
    uint64_t h;
    xm_hash_file(model, &h, &err);
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    XM_CHECK(xm_h5_attr_read_str(f, "model_xxh64", hx, sizeof hx, &err) == 0 && !strcmp(hx, want));
    XM_CHECK(xm_h5_attr_read_str(f, "layer", layer, sizeof layer, &err) == 0 && !strcmp(layer, "pool"));
    char **ins = NULL;
    int64_t nin = 0;
    XM_CHECK(xm_h5_attr_read_strs(f, "inputs_xxh64", &ins, &nin, &err) == 0 && nin == 2);
    xm_h5_strings_free(ins, nin);
    xm_h5_close(f, NULL);

    /* shards 1/3, 2/3, 3/3 (batch 2): every record exactly once, same rows */
    int *seen = calloc((size_t)r->n, sizeof *seen);
    for (int k = 1; k <= 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.h5", k);
        xm_embed_cfg c = cfg;
        c.output = tpath(name);
        c.batch = 2;
        c.shard_k = k;
        c.shard_n = 3;
        xm_err_clear(&err);
        XM_CHECKF(xm_embed_run(&c, NULL, NULL, &st, &err) == 0, "shard %d: %s", k, err.msg);
        int64_t m;
        float *y;
        int64_t *rr, *ll;
        if (read_feat(tpath(name), &m, &y, &rr, &ll)) continue;
        for (int64_t i = 0; i < m; i++) {
            XM_CHECK(rr[i] >= 0 && rr[i] < r->n && rr[i] % 3 == k - 1);
            if (rr[i] < 0 || rr[i] >= r->n) continue;
            seen[rr[i]]++;
            XM_CHECK_CLOSE("shard row", y + i * r->dim, x + rr[i] * r->dim, (size_t)r->dim, 1e-6);
        }
        free(y);
        free(rr);
        free(ll);
    }
    int once = 1;
    for (int64_t i = 0; i < r->n; i++) once &= seen[i] == 1;
    XM_CHECKF(once, "shard outputs do not hold every record exactly once");
    free(seen);
    free(x);
    free(rec);
    free(lab);

    /* refusals: output exists, missing model */
    xm_err_clear(&err);
    XM_CHECK(xm_embed_run(&cfg, NULL, NULL, &st, &err) == XM_ECANTCREAT);
    cfg.flags = XM_ATOMIC_FORCE;
    cfg.model = tpath("nope.h5");
    xm_err_clear(&err);
    XM_CHECKF(xm_embed_run(&cfg, NULL, NULL, &st, &err) == XM_ENOINPUT, "%d %s", err.code, err.msg);
}

int main(void)
{
    test_offsets();
    ref r = {0};
    if (load_ref(&r)) {
        XM_CHECKF(0, "cannot read tests/refs/embed_ref.h5");
        return xm_test_finish();
    }
    snprintf(dir, sizeof dir, "/tmp/xm_test_embed.XXXXXX");
    if (!mkdtemp(dir)) return xm_test_skip("cannot create a temporary directory");
    test_embed(&r);
    int rc = xm_test_finish();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(r.px);
    free(r.shapes);
    free(r.labels);
    free(r.feat);
    xm_h5_strings_free(r.classes, r.nc);
    return rc;
}
