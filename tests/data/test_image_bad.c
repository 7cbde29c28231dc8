/* test_image_bad.c: hostile and broken inputs give XM_EDATA naming the file,
 * the bomb header is refused before any large allocation (timed), bad
 * arguments are usage errors; PNG write round trips bit-exact; resize edge
 * cases (identity, extreme aspect ratios, 1-pixel images). */
#include "xm_image.h"
#include "xm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Decode tests/images/FILE and expect XM_EDATA with "FILE: ...WHAT..." */
static void expect_bad(xm_decoder *d, const char *file, const char *what)
{
    char rel[256];
    snprintf(rel, sizeof rel, "images/%s", file);
    size_t len;
    uint8_t *buf = slurp(xm_test_path(rel), &len);
    XM_CHECKF(buf != NULL, "%s: missing test file", file);
    if (!buf) return;
    xm_err err;
    xm_err_clear(&err);
    xm_image im = {0};
    xm_decode_opts o = {3, 64, 0};
    double t0 = now();
    int rc = xm_image_decode(d, buf, len, file, &o, &im, &err);
    double dt = now() - t0;
    printf("%-14s rc %d  %.3f ms  \"%s\"\n", file, rc, dt * 1e3, err.msg);
    XM_CHECKF(rc == XM_EDATA, "%s: rc %d, want %d (%s)", file, rc, XM_EDATA, err.msg);
    XM_CHECKF(err.code == rc, "%s: err.code %d != rc %d", file, err.code, rc);
    XM_CHECKF(strncmp(err.msg, file, strlen(file)) == 0 && err.msg[strlen(file)] == ':',
              "%s: message does not start with the file name: %s", file, err.msg);
    XM_CHECKF(strstr(err.msg, what) != NULL, "%s: message lacks \"%s\": %s", file, what, err.msg);
    XM_CHECKF(im.px == NULL, "%s: output left allocated", file);
    if (strstr(file, "bomb")) XM_CHECKF(dt < 0.01, "%s: refusal took %.3f s", file, dt);
    free(buf);
}

static void test_bad_files(xm_decoder *d)
{
    expect_bad(d, "trunc.jpg", "truncated JPEG (premature end of data)");
    expect_bad(d, "extra.jpg", "corrupt JPEG");
    expect_bad(d, "trunc.png", "truncated PNG");
    expect_bad(d, "badcrc.png", "CRC");
    expect_bad(d, "corrupt.png", "corrupt PNG");
    expect_bad(d, "bomb.jpg", "too large");
    expect_bad(d, "bomb.png", "too large");
    expect_bad(d, "random.jpg", "not a JPEG or PNG");
    expect_bad(d, "empty.jpg", "empty");

    /* a PNG named .jpg decodes: the format comes from the magic bytes */
    size_t len;
    uint8_t *buf = slurp(xm_test_path("images/png_named.jpg"), &len);
    XM_CHECK(buf != NULL);
    if (buf) {
        xm_err err;
        xm_err_clear(&err);
        xm_image im;
        int rc = xm_image_decode(d, buf, len, "png_named.jpg", NULL, &im, &err);
        XM_CHECKF(rc == 0 && im.h == 90 && im.w == 120 && im.c == 1, "png_named.jpg: %s", err.msg);
        xm_image_release(&im);
        /* a lower pixel limit refuses the same file */
        xm_decode_opts o = {0, 0, 90 * 120 - 1};
        xm_err_clear(&err);
        rc = xm_image_decode(d, buf, len, "png_named.jpg", &o, &im, &err);
        XM_CHECKF(rc == XM_EDATA && strstr(err.msg, "too large"), "max_pixels: rc %d %s", rc, err.msg);
        /* every prefix of a valid file is refused, never crashes */
        int refused = 0;
        for (size_t n = 1; n < len; n += 97) {
            xm_err_clear(&err);
            rc = xm_image_decode(d, buf, n, "cut.png", NULL, &im, &err);
            refused += rc == XM_EDATA;
            if (rc == 0) xm_image_release(&im);
        }
        XM_CHECKF(refused == (int)((len - 2) / 97 + 1), "prefixes of a PNG: %d refused", refused);
        /* bad options are usage errors */
        xm_decode_opts bad = {2, 0, 0};
        xm_err_clear(&err);
        XM_CHECK(xm_image_decode(d, buf, len, "x.png", &bad, &im, &err) == XM_EUSAGE);
        free(buf);
    }
    buf = slurp(xm_test_path("images/photo.jpg"), &len);
    if (buf) {
        xm_err err;
        xm_image im;
        int refused = 0, n = 0;
        for (size_t cut = 10; cut < len - 2; cut += len / 23, n++) {
            xm_err_clear(&err);
            int rc = xm_image_decode(d, buf, cut, "cut.jpg", NULL, &im, &err);
            refused += rc == XM_EDATA;
            if (rc == 0) xm_image_release(&im);
        }
        XM_CHECKF(refused == n, "prefixes of a JPEG: %d of %d refused", refused, n);
        free(buf);
    }
}

static void test_png_roundtrip(xm_decoder *d)
{
    for (int c = 1; c <= 3; c += 2) {
        int h = 37, w = 53;
        uint8_t *px = malloc((size_t)h * w * c);
        for (int i = 0; i < h * w * c; i++) px[i] = (uint8_t)(i * 7 + i / 13);
        FILE *f = tmpfile();
        xm_err err;
        xm_err_clear(&err);
        XM_CHECKF(xm_png_write_file(f, px, h, w, c, &err) == 0, "png write c=%d: %s", c, err.msg);
        long n = ftell(f);
        rewind(f);
        uint8_t *buf = malloc((size_t)n);
        XM_CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        xm_image im;
        int rc = xm_image_decode(d, buf, (size_t)n, "rt.png", NULL, &im, &err);
        XM_CHECKF(rc == 0 && im.h == h && im.w == w && im.c == c, "round trip c=%d: %s", c, err.msg);
        if (rc == 0) XM_CHECKF(memcmp(im.px, px, (size_t)h * w * c) == 0, "round trip c=%d differs", c);
        xm_image_release(&im);
        free(buf);
        free(px);
    }
    xm_err err;
    xm_err_clear(&err);
    uint8_t one = 0;
    XM_CHECK(xm_png_write_file(stdout, &one, 1, 1, 2, &err) == XM_EUSAGE);
}

static void test_resize_edges(void)
{
    xm_err err;
    xm_err_clear(&err);
    /* size equal to a square image: identical copy */
    uint8_t px[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 31);
    xm_image in = {16, 16, 3, px}, out;
    XM_CHECK(xm_image_resize_crop(&in, 16, &out, &err) == 0);
    XM_CHECK(out.h == 16 && out.w == 16 && memcmp(out.px, px, sizeof px) == 0);
    xm_image_release(&out);
    /* constant image stays constant whatever the scale (weights sum to 1) */
    memset(px, 200, sizeof px);
    int sizes[] = {1, 3, 7, 15, 17, 40};
    for (int i = 0; i < 6; i++) {
        XM_CHECK(xm_image_resize_crop(&in, sizes[i], &out, &err) == 0);
        int bad = 0;
        for (int j = 0; j < out.h * out.w * 3; j++) bad += out.px[j] != 200;
        XM_CHECKF(bad == 0, "constant 16x16 to %d: %d values changed", sizes[i], bad);
        xm_image_release(&out);
    }
    /* a 1 x 4000 strip upscaled to 64: long side would be 256000, only the
     * crop is computed */
    uint8_t *strip = malloc(4000);
    for (int i = 0; i < 4000; i++) strip[i] = (uint8_t)i;
    xm_image s = {1, 4000, 1, strip};
    XM_CHECKF(xm_image_resize_crop(&s, 64, &out, &err) == 0, "strip: %s", err.msg);
    XM_CHECK(out.h == 64 && out.w == 64 && out.c == 1);
    xm_image_release(&out);
    /* 1 x 1 image */
    xm_image dot = {1, 1, 1, strip};
    XM_CHECK(xm_image_resize_crop(&dot, 5, &out, &err) == 0);
    XM_CHECK(out.px && out.px[0] == strip[0] && out.px[24] == strip[0]);
    xm_image_release(&out);
    free(strip);
    XM_CHECK(xm_image_resize_crop(&in, 0, &out, &err) == XM_EUSAGE);
    XM_CHECK(out.px == NULL);
    xm_image_release(NULL);
}

/* Flip random bytes of valid files: every result is a clean decode or
 * XM_EDATA, never a crash (run under -DXM_SANITIZE=ON to catch overruns). */
static void test_mutations(xm_decoder *d)
{
    const char *files[] = {"images/gray.png", "images/palette.png", "images/gray.jpg",
                           "images/prog.jpg", "images/cmyk.jpg"};
    uint32_t state = 12345;
    int ok = 0, bad = 0, other = 0;
    for (int fi = 0; fi < 5; fi++) {
        size_t len;
        uint8_t *orig = slurp(xm_test_path(files[fi]), &len);
        XM_CHECKF(orig != NULL, "%s missing", files[fi]);
        if (!orig) continue;
        uint8_t *buf = malloc(len);
        for (int t = 0; t < 150; t++) {
            memcpy(buf, orig, len);
            int flips = 1 + t % 4;
            for (int k = 0; k < flips; k++) {
                state = state * 1664525u + 1013904223u;
                size_t pos = (state >> 8) % len;
                buf[pos] ^= (uint8_t)(1u << (state % 8));
            }
            xm_err err;
            xm_err_clear(&err);
            xm_image im;
            xm_decode_opts o = {0, (t % 3) * 24, 0};
            int rc = xm_image_decode(d, buf, len, files[fi], &o, &im, &err);
            if (rc == 0) {
                ok++;
                xm_image_release(&im);
            } else if (rc == XM_EDATA) bad++;
            else other++;
        }
        free(buf);
        free(orig);
    }
    printf("mutations: %d decoded, %d refused, %d other\n", ok, bad, other);
    XM_CHECKF(other == 0, "%d mutations gave a status other than 0 or XM_EDATA", other);
    XM_CHECK(bad > 0);
}

int main(void)
{
    xm_err err;
    xm_err_clear(&err);
    xm_decoder *d = xm_decoder_new(&err);
    XM_CHECKF(d != NULL, "decoder: %s", err.msg);
    if (!d) return xm_test_finish();
    test_bad_files(d);
    test_png_roundtrip(d);
    test_mutations(d);
    test_resize_edges();
    xm_decoder_free(d);
    xm_decoder_free(NULL);
    return xm_test_finish();
}
