/* test_h5.c: the xm_h5 helper layer: round trips of datasets, strings,
 * attributes and growable 2-D datasets; shape/type checks and messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_h5.h"
#include "xm_test.h"

int main(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/xm_test_h5_%d.h5", (int)getpid());
    xm_err err = {0};

    hid_t f = xm_h5_create(path, &err);
    XM_CHECK(f >= 0);
    float w[2 * 3 * 2] = {0};
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f;
    int64_t d3[3] = {2, 3, 2};
    XM_CHECK(xm_h5_write(f, "layer1.0.conv1.weight", XM_H5_F32, 3, d3, w, 0, &err) == 0);
    XM_CHECK(xm_h5_write(f, "zipped", XM_H5_F32, 3, d3, w, 4, &err) == 0);
    int64_t one = 7;
    XM_CHECK(xm_h5_write(f, "bn1.num_batches_tracked", XM_H5_I64, 0, NULL, &one, 0, &err) == 0);
    char *cls[3] = {"cat", "dog", "zebra crossing"};
    XM_CHECK(xm_h5_write_strings(f, "classes", cls, 3, &err) == 0);
    XM_CHECK(xm_h5_attr_write_str(f, "arch", "resnet20", &err) == 0);
    XM_CHECK(xm_h5_attr_write_strs(f, "classes", cls, 3, &err) == 0);
    XM_CHECK(xm_h5_attr_write_strs(f, "empty", NULL, 0, &err) == 0);
    XM_CHECK(xm_h5_attr_write_i64(f, "num_classes", 3, &err) == 0);
    float mean[3] = {0.485f, 0.456f, 0.406f};
    XM_CHECK(xm_h5_attr_write_array(f, "mean", XM_H5_F32, mean, 3, &err) == 0);
    hid_t g = xm_h5_group_create(f, "a/b", &err);
    XM_CHECK(g >= 0);
    XM_CHECK(xm_h5_f32_2d_create(g, "features", 4, 2, &err) == 0);
    float rows[12];
    for (int i = 0; i < 12; i++) rows[i] = (float)i;
    XM_CHECK(xm_h5_f32_2d_append(g, "features", rows, 1, &err) == 0);
    XM_CHECK(xm_h5_f32_2d_append(g, "features", rows + 4, 2, &err) == 0);
    H5Gclose(g);
    XM_CHECK(xm_h5_close(f, &err) == 0);
    XM_CHECKF(err.code == 0, "%s", err.msg);

    f = xm_h5_open(path, 0, &err);
    XM_CHECK(f >= 0);
    float r[12];
    XM_CHECK(xm_h5_read(f, "layer1.0.conv1.weight", XM_H5_F32, 3, d3, r, &err) == 0);
    XM_CHECK(memcmp(r, w, sizeof w) == 0);
    memset(r, 0, sizeof r);
    XM_CHECK(xm_h5_read(f, "zipped", XM_H5_F32, 3, d3, r, &err) == 0);
    XM_CHECK(memcmp(r, w, sizeof w) == 0);
    int64_t nbt = 0;
    XM_CHECK(xm_h5_read(f, "bn1.num_batches_tracked", XM_H5_I64, 0, NULL, &nbt, &err) == 0);
    XM_CHECK(nbt == 7);

    /* Wrong shape: the message names file, dataset and both shapes. */
    int64_t bad[3] = {2, 2, 2};
    xm_err e2 = {0};
    XM_CHECK(xm_h5_read(f, "layer1.0.conv1.weight", XM_H5_F32, 3, bad, r, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "layer1.0.conv1.weight has shape 2x3x2, expected 2x2x2") &&
              strstr(e2.msg, path), "%s", e2.msg);
    xm_err_clear(&e2);
    XM_CHECK(xm_h5_read(f, "bn1.num_batches_tracked", XM_H5_F32, 0, NULL, r, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "integer type"), "%s", e2.msg);
    xm_err_clear(&e2);
    XM_CHECK(xm_h5_read(f, "missing", XM_H5_F32, 0, NULL, r, &e2) == XM_EDATA);
    XM_CHECKF(strstr(e2.msg, "dataset missing is missing"), "%s", e2.msg);
    XM_CHECK(!xm_h5_exists(f, "x/y/z"));
    XM_CHECK(xm_h5_exists(f, "a/b/features"));

    char **s = NULL;
    int64_t n = 0;
    XM_CHECK(xm_h5_read_strings(f, "classes", &s, &n, &err) == 0);
    XM_CHECK(n == 3 && s && !strcmp(s[2], "zebra crossing"));
    xm_h5_strings_free(s, n);
    XM_CHECK(xm_h5_attr_read_strs(f, "classes", &s, &n, &err) == 0);
    XM_CHECK(n == 3 && s && !strcmp(s[0], "cat"));
    xm_h5_strings_free(s, n);
    XM_CHECK(xm_h5_attr_read_strs(f, "empty", &s, &n, &err) == 0 && n == 0);
    xm_h5_strings_free(s, n);
    char arch[32];
    XM_CHECK(xm_h5_attr_read_str(f, "arch", arch, sizeof arch, &err) == 0);
    XM_CHECK(!strcmp(arch, "resnet20"));
    int64_t nc = 0;
    XM_CHECK(xm_h5_attr_read_i64(f, "num_classes", &nc, &err) == 0 && nc == 3);
    float m2[3];
    XM_CHECK(xm_h5_attr_read_array(f, "mean", XM_H5_F32, m2, 3, 3, NULL, &err) == 0);
    XM_CHECK(m2[1] == mean[1]);

    float back[12];
    int64_t d2[2] = {3, 4};
    XM_CHECK(xm_h5_read(f, "a/b/features", XM_H5_F32, 2, d2, back, &err) == 0);
    XM_CHECK(memcmp(back, rows, sizeof back) == 0);
    XM_CHECK(xm_h5_read_rows(f, "a/b/features", XM_H5_F32, 1, 2, back, &err) == 0);
    XM_CHECK(back[0] == 4.0f && back[7] == 11.0f);

    char **names = NULL;
    XM_CHECK(xm_h5_list_datasets(f, &names, &n, &err) == 0);
    XM_CHECK(n == 4 && !strcmp(names[0], "bn1.num_batches_tracked"));
    xm_h5_strings_free(names, n);
    XM_CHECKF(err.code == 0, "%s", err.msg);
    xm_h5_close(f, &err);

    /* Not an HDF5 file / missing file. */
    FILE *fp = fopen(path, "w");
    fputs("not hdf5\n", fp);
    fclose(fp);
    xm_err_clear(&e2);
    XM_CHECK(xm_h5_open(path, 0, &e2) < 0 && e2.code == XM_EDATA);
    unlink(path);
    xm_err_clear(&e2);
    XM_CHECK(xm_h5_open(path, 0, &e2) < 0 && e2.code == XM_ENOINPUT);
    return xm_test_finish();
}
