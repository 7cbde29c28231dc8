/* test_idx.c: IDX reader against the real Fashion-MNIST files (constants in
 * tests/images/fmnist_ref.txt, computed by scripts/make_image_refs.py with
 * gzip + numpy) and against crafted bad files, raw and gzip'd. */
#include "xm_idx.h"
#include "xm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FM "/usr/share/datasets/fashion-mnist/"

static long long ref_value(const char *key)
{
    FILE *f = fopen(xm_test_path("images/fmnist_ref.txt"), "r");
    if (!f) return -1;
    char k[128];
    long long v, found = -1;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %lld", k, &v) == 2 && strcmp(k, key) == 0) found = v;
    fclose(f);
    XM_CHECKF(found >= 0, "fmnist_ref.txt lacks %s", key);
    return found;
}

static long long img_sum(const xm_idx *x, long long i)
{
    long long s = 0, n = x->dims[1] * x->dims[2];
    for (long long j = 0; j < n; j++) s += x->data[i * n + j];
    return s;
}

static void test_fmnist(void)
{
    xm_err err;
    xm_err_clear(&err);
    xm_idx im, lb;
    int rc = xm_idx_read(FM "train-images-idx3-ubyte.gz", 0, &im, &err);
    XM_CHECKF(rc == 0, "train images: %s", err.msg);
    rc |= xm_idx_read(FM "train-labels-idx1-ubyte.gz", 0, &lb, &err);
    XM_CHECKF(rc == 0, "train labels: %s", err.msg);
    if (rc) return;
    XM_CHECK(im.ndim == 3 && im.type == 0x08);
    XM_CHECK(im.dims[0] == ref_value("train_n") && im.dims[1] == ref_value("rows") &&
             im.dims[2] == ref_value("cols"));
    XM_CHECK(im.bytes == (size_t)(60000 * 28 * 28));
    XM_CHECK(lb.ndim == 1 && lb.dims[0] == 60000 && lb.bytes == 60000);
    XM_CHECK(lb.data[0] == 9); /* Ankle boot */
    XM_CHECK(lb.data[0] == ref_value("train_label0"));
    XM_CHECK(lb.data[1] == ref_value("train_label1"));
    XM_CHECK(lb.data[59999] == ref_value("train_label_last"));
    XM_CHECK(img_sum(&im, 0) == ref_value("train_img0_sum"));
    XM_CHECK(img_sum(&im, 1) == ref_value("train_img1_sum"));
    XM_CHECK(img_sum(&im, 59999) == ref_value("train_img_last_sum"));
    XM_CHECK(im.data[14 * 28 + 14] == ref_value("train_img0_px_14_14"));
    long long all = 0, lsum = 0, n9 = 0;
    for (size_t i = 0; i < im.bytes; i++) all += im.data[i];
    for (size_t i = 0; i < lb.bytes; i++) {
        lsum += lb.data[i];
        n9 += lb.data[i] == 9;
    }
    XM_CHECK(all == ref_value("train_all_sum"));
    XM_CHECK(lsum == ref_value("train_label_sum"));
    XM_CHECK(n9 == ref_value("train_label9_count"));
    xm_idx_release(&im);
    xm_idx_release(&lb);

    XM_CHECK(xm_idx_read(FM "t10k-images-idx3-ubyte.gz", 0, &im, &err) == 0);
    XM_CHECK(xm_idx_read(FM "t10k-labels-idx1-ubyte.gz", 0, &lb, &err) == 0);
    XM_CHECK(im.dims[0] == ref_value("test_n") && lb.dims[0] == ref_value("test_n"));
    XM_CHECK(lb.data && lb.data[0] == ref_value("test_label0"));
    XM_CHECK(im.data && img_sum(&im, 0) == ref_value("test_img0_sum"));
    xm_idx_release(&im);
    xm_idx_release(&lb);
    /* max_bytes below the data size refuses before reading */
    xm_err_clear(&err);
    XM_CHECK(xm_idx_read(FM "train-labels-idx1-ubyte.gz", 59999, &lb, &err) == XM_EDATA);
    XM_CHECK(strstr(err.msg, "train-labels-idx1-ubyte.gz: ") != NULL);
    XM_CHECK(lb.data == NULL);
}

/* Write bytes to DIR/NAME, raw or gzip'd; returns the path (static). */
static const char *craft(const char *dir, const char *name, const uint8_t *b, size_t n, int gz)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (n) gzwrite(g, b, (unsigned)n);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(b, 1, n, f);
        fclose(f);
    }
    return path;
}

static void expect(const char *path, int want, const char *what)
{
    xm_err err;
    xm_err_clear(&err);
    xm_idx x;
    int rc = xm_idx_read(path, (int64_t)1 << 30, &x, &err);
    XM_CHECKF(rc == want, "%s: rc %d, want %d (%s)", path, rc, want, err.msg);
    if (want) {
        XM_CHECKF(strstr(err.msg, path) == err.msg, "%s: message lacks the path: %s", path, err.msg);
        XM_CHECKF(strstr(err.msg, what) != NULL, "%s: message lacks \"%s\": %s", path, what, err.msg);
        XM_CHECK(x.data == NULL);
    } else {
        xm_idx_release(&x);
    }
}

static void test_crafted(void)
{
    char dir[] = "/tmp/xm_test_idx_XXXXXX";
    XM_CHECK(mkdtemp(dir) != NULL);
    for (int gz = 0; gz <= 1; gz++) {
        uint8_t ok[4 + 8 + 6] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
        expect(craft(dir, "ok", ok, sizeof ok, gz), 0, "");
        xm_idx x;
        xm_err err;
        xm_err_clear(&err);
        XM_CHECK(xm_idx_read(craft(dir, "ok", ok, sizeof ok, gz), 0, &x, &err) == 0);
        XM_CHECK(x.ndim == 2 && x.dims[0] == 2 && x.dims[1] == 3 && x.bytes == 6 && x.data[5] == 6);
        xm_idx_release(&x);

        uint8_t magic[sizeof ok];
        memcpy(magic, ok, sizeof ok);
        magic[0] = 0x1f;
        expect(craft(dir, "magic", magic, sizeof magic, gz), XM_EDATA, "bad magic");
        memcpy(magic, ok, sizeof ok);
        magic[2] = 0x0D; /* float */
        expect(craft(dir, "type", magic, sizeof magic, gz), XM_EDATA, "not uint8");
        magic[2] = 8;
        magic[3] = 0;
        expect(craft(dir, "ndim0", magic, sizeof magic, gz), XM_EDATA, "dimensions");
        magic[3] = 9;
        expect(craft(dir, "ndim9", magic, sizeof magic, gz), XM_EDATA, "dimensions");
        /* 0xffffffff^3 overflows int64 */
        uint8_t ovf[4 + 12] = {0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
        expect(craft(dir, "overflow", ovf, sizeof ovf, gz), XM_EDATA, "overflow");
        /* 0xffffff^2 fits int64 but exceeds the limit */
        uint8_t big[4 + 8] = {0, 0, 8, 2, 0, 255, 255, 255, 0, 255, 255, 255};
        expect(craft(dir, "big", big, sizeof big, gz), XM_EDATA, "exceeds the limit");
        /* counts exceeding the file: header says 60000 x 28 x 28, 6 bytes follow */
        uint8_t lie[4 + 12 + 6] = {0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
        expect(craft(dir, "short", lie, sizeof lie, gz), XM_EDATA, "truncated");
        uint8_t zero[4 + 4] = {0, 0, 8, 1, 0, 0, 0, 0};
        expect(craft(dir, "zerodim", zero, sizeof zero, gz), XM_EDATA, "is 0");
        uint8_t trail[sizeof ok + 1];
        memcpy(trail, ok, sizeof ok);
        trail[sizeof ok] = 7;
        expect(craft(dir, "trailing", trail, sizeof trail, gz), XM_EDATA, "trailing bytes");
        expect(craft(dir, "hdrcut", ok, 6, gz), XM_EDATA, "truncated IDX header");
        expect(craft(dir, "empty", ok, 0, gz), XM_EDATA, "bad magic");
    }
    /* a gzip stream cut in half */
    uint8_t ok[4 + 4 + 4000] = {0, 0, 8, 1, 0, 0, 0x0F, 0xA0};
    for (int i = 0; i < 4000; i++) ok[8 + i] = (uint8_t)(i * 2654435761u >> 13);
    const char *p = craft(dir, "cut", ok, sizeof ok, 1);
    FILE *f = fopen(p, "rb");
    uint8_t gzb[8192];
    size_t n = fread(gzb, 1, sizeof gzb, f);
    fclose(f);
    expect(p, 0, "");
    p = craft(dir, "cut", gzb, n / 2, 0); /* raw write of half the gzip bytes, same name */
    char cut[512];
    snprintf(cut, sizeof cut, "%s/cut.gz", dir);
    rename(p, cut);
    expect(cut, XM_EDATA, "truncated");
    /* missing file */
    char missing[512];
    snprintf(missing, sizeof missing, "%s/nope.gz", dir);
    xm_err err;
    xm_err_clear(&err);
    xm_idx x;
    XM_CHECK(xm_idx_read(missing, 0, &x, &err) == XM_ENOINPUT);
    XM_CHECK(strstr(err.msg, missing) != NULL);
    xm_idx_release(NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    XM_CHECK(system(cmd) == 0);
}

/* xm_idx_parse: the same checks on memory */
static void test_parse(void)
{
    uint8_t ok[4 + 8 + 6] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    xm_idx x;
    xm_err err;
    xm_err_clear(&err);
    XM_CHECK(xm_idx_parse(ok, sizeof ok, "m.idx", 0, &x, &err) == 0);
    XM_CHECK(x.ndim == 2 && x.dims[1] == 3 && x.bytes == 6 && x.data && x.data[0] == 1);
    xm_idx_release(&x);
    for (size_t n = 0; n < sizeof ok; n++) {
        xm_err_clear(&err);
        XM_CHECKF(xm_idx_parse(ok, n, "m.idx", 0, &x, &err) == XM_EDATA && x.data == NULL,
                  "prefix %zu accepted", n);
        XM_CHECK(strncmp(err.msg, "m.idx: ", 7) == 0);
    }
    uint8_t trail[sizeof ok + 1] = {0};
    memcpy(trail, ok, sizeof ok);
    xm_err_clear(&err);
    XM_CHECK(xm_idx_parse(trail, sizeof trail, "m.idx", 0, &x, &err) == XM_EDATA);
    XM_CHECK(strstr(err.msg, "trailing") != NULL);
    xm_err_clear(&err);
    XM_CHECK(xm_idx_parse(ok, sizeof ok, "m.idx", 5, &x, &err) == XM_EDATA);
    XM_CHECK(strstr(err.msg, "exceeds the limit") != NULL);
}

int main(void)
{
    if (access(FM "train-images-idx3-ubyte.gz", R_OK) == 0) test_fmnist();
    else printf("Fashion-MNIST not installed: real-file checks skipped\n");
    test_crafted();
    test_parse();
    return xm_test_finish();
}
