/* test_model.c: model files: save/load round trip (tensors, counters,
 * attributes), atomic output, backbone-only loading, and errors naming the
 * missing, unexpected and mismatched tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xm_model.h"
#include "xm_test.h"

static xm_net *make(xm_backend *be, const char *arch, int classes, int src, uint64_t seed)
{
    xm_err err = {0};
    xm_net_cfg cfg = {arch, 1, 28, classes, src};
    xm_net *net = xm_net_new(be, &cfg, &err);
    XM_CHECKF(net && xm_net_init(net, seed, &err) == 0, "%s", err.msg);
    return net;
}

static float *weights(const xm_net *net)
{
    const xm_net_slabs *s = xm_net_slabs_get(net);
    float *w = malloc((s->n_w + s->n_buf) * sizeof(float));
    xm_err err = {0};
    XM_CHECK(xm_net_get_weights(net, w, w + s->n_w, &err) == 0);
    return w;
}

int main(void)
{
    xm_err err = {0};
    xm_backend_cfg bc = {.threads = 1};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    if (!be) return xm_test_skip(err.msg);
    char dir[128], path[192], p2[192];
    snprintf(dir, sizeof dir, "/tmp/xm_test_model_%d", (int)getpid());
    XM_CHECK(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/m.h5", dir);
    snprintf(p2, sizeof p2, "%s/other.h5", dir);

    /* Round trip with a source head, class names and counters. */
    xm_net *a = make(be, "resnet20", 3, 2, 11);
    const xm_net_slabs *sa = xm_net_slabs_get(a);
    for (int i = 0; i < sa->n_bn; i++) sa->nbt[i] = 100 + i;
    xm_model_meta m;
    xm_model_meta_default(&m, xm_net_config(a));
    char *cls[3] = {"T-shirt", "trouser", "pull over"}, *src[2] = {"digit 0", "digit 1"};
    m.classes = cls;
    m.source_names = src;
    m.mean[0] = 0.286f;
    m.std[0] = 0.353f;
    XM_CHECKF(xm_model_save(a, &m, path, 0, &err) == 0, "%s", err.msg);
    /* No temporary file is left behind; an existing output needs FORCE. */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s/.m.h5.tmp.%d", dir, (int)getpid());
    XM_CHECK(access(tmp, F_OK) != 0);
    xm_err e2 = {0};
    XM_CHECK(xm_model_save(a, &m, path, 0, &e2) == XM_ECANTCREAT);
    XM_CHECK(xm_model_save(a, &m, path, XM_MODEL_FORCE, &err) == 0);

    xm_model_meta got;
    xm_net *b = xm_model_load(be, path, &got, &err);
    XM_CHECKF(b != NULL, "%s", err.msg);
    if (b) {
        XM_CHECK(!strcmp(got.arch, "resnet20") && got.num_classes == 3 && got.in_channels == 1 &&
                 got.input_size == 28 && got.source_classes == 2);
        XM_CHECK(got.classes && !strcmp(got.classes[2], "pull over"));
        XM_CHECK(got.source_names && !strcmp(got.source_names[1], "digit 1"));
        XM_CHECK(got.mean[0] == 0.286f && got.std[0] == 0.353f);
        float *wa = weights(a), *wb = weights(b);
        XM_CHECK(memcmp(wa, wb, (sa->n_w + sa->n_buf) * sizeof(float)) == 0);
        const xm_net_slabs *sb = xm_net_slabs_get(b);
        XM_CHECK(sb->nbt[0] == 100 && sb->nbt[sa->n_bn - 1] == 100 + sa->n_bn - 1);
        free(wa);
        free(wb);
        xm_model_meta_release(&got);
        xm_net_free(b);
    }

    /* Backbone only: a 3-class file into a 7-class network without a source
     * head keeps the new head and takes the backbone. */
    xm_net *c = make(be, "resnet20", 7, 0, 12);
    float *before = weights(c);
    XM_CHECKF(xm_model_load_into(c, path, XM_MODEL_BACKBONE_ONLY, &err) == 0, "%s", err.msg);
    float *after = weights(c), *wa = weights(a);
    const xm_net_slabs *sc = xm_net_slabs_get(c);
    XM_CHECK(memcmp(after, wa, sc->n_backbone * sizeof(float)) == 0);
    XM_CHECK(memcmp(after + sc->n_backbone, before + sc->n_backbone,
                    (sc->n_w - sc->n_backbone) * sizeof(float)) == 0);
    XM_CHECK(memcmp(after + sc->n_w, wa + sa->n_w, sc->n_buf * sizeof(float)) == 0);
    free(before);
    free(after);
    free(wa);

    /* A full load into the wrong head size: mismatched shape, by name. */
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load_into(c, path, 0, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "unexpected tensors: source_fc.bias, source_fc.weight"), "%s", e2.msg);
    xm_net *d = make(be, "resnet20", 7, 2, 13);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load_into(d, path, 0, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "m.h5: dataset fc.weight has shape 3x64, expected 7x64"), "%s",
              e2.msg);
    /* A different architecture: missing and unexpected tensors listed. */
    xm_net *e = make(be, "resnet32", 3, 2, 14);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load_into(e, path, 0, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "does not match resnet32; missing tensors: layer1.3.conv1.weight,") &&
              strstr(e2.msg, ", ..."), "%s", e2.msg);

    /* A tensor with the wrong dtype, an extra tensor, a missing attribute. */
    XM_CHECK(xm_model_save(a, NULL, p2, 0, &err) == 0);
    hid_t f = xm_h5_open(p2, 1, &err);
    H5Ldelete(f, "layer1.0.bn1.running_var", H5P_DEFAULT);
    double dv[16] = {0};
    int64_t n16 = 16;
    XM_CHECK(xm_h5_write(f, "layer1.0.bn1.running_var", XM_H5_F64, 1, &n16, dv, 0, &err) == 0);
    xm_h5_close(f, &err);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load_into(a, p2, 0, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "layer1.0.bn1.running_var has a 8-byte float type, expected float32"),
              "%s", e2.msg);
    f = xm_h5_open(p2, 1, &err);
    XM_CHECK(xm_h5_write(f, "extra.weight", XM_H5_F64, 1, &n16, dv, 0, &err) == 0);
    H5Adelete(f, "arch");
    xm_h5_close(f, &err);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load(be, p2, NULL, &e2) == NULL && e2.code == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "attribute arch is missing"), "%s", e2.msg);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load_into(a, p2, 0, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "unexpected tensors: extra.weight"), "%s", e2.msg);
    xm_err_clear(&e2);
    XM_CHECK(xm_model_load(be, "/nonexistent/m.h5", NULL, &e2) == NULL &&
             e2.code == XM_ENOINPUT);
    XM_CHECKF(err.code == 0, "%s", err.msg);

    xm_net_free(a);
    xm_net_free(c);
    xm_net_free(d);
    xm_net_free(e);
    xm_backend_free(be);
    unlink(path);
    unlink(p2);
    rmdir(dir);
    return xm_test_finish();
}
