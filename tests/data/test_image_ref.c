/* test_image_ref.c: decode + resize + center crop against PIL references
 * (tests/images/cases.txt, made by scripts/make_image_refs.py): for every
 * case >= 99% of pixels within 2 levels of PIL, same shape. */
#include "xm_image.h"
#include "xm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(void)
{
    xm_err err;
    xm_err_clear(&err);
    xm_decoder *d = xm_decoder_new(&err);
    XM_CHECK(d != NULL);
    char cases[4096];
    snprintf(cases, sizeof cases, "%s", xm_test_path("images/cases.txt"));
    FILE *cf = fopen(cases, "r");
    XM_CHECKF(cf != NULL, "cannot open %s", cases);
    if (!cf) return xm_test_finish();
    char line[1024];
    int ncases = 0, nexact = 0;
    long long all_px = 0, all_close = 0;
    while (fgets(line, sizeof line, cf)) {
        if (line[0] == '#') continue;
        char file[256], ref[256];
        int size, ch, h, w, c;
        if (sscanf(line, "%255s %d %d %d %d %d %255s", file, &size, &ch, &h, &w, &c, ref) != 7)
            continue;
        ncases++;
        size_t len, rlen;
        char path[512];
        snprintf(path, sizeof path, "images/%s", file);
        uint8_t *buf = slurp(xm_test_path(path), &len);
        snprintf(path, sizeof path, "images/%s", ref);
        uint8_t *rbuf = slurp(xm_test_path(path), &rlen);
        XM_CHECKF(buf && rbuf, "%s: missing input or reference", file);
        if (!buf || !rbuf) continue;
        XM_CHECKF(rlen == (size_t)h * w * c, "%s: reference size", ref);
        xm_decode_opts o = {ch, size, 0};
        xm_image im;
        xm_err_clear(&err);
        int rc = xm_image_decode(d, buf, len, file, &o, &im, &err);
        XM_CHECKF(rc == 0, "%s size %d ch %d: %s", file, size, ch, err.msg);
        if (rc == 0) {
            XM_CHECKF(im.h == h && im.w == w && im.c == c, "%s s%d c%d: shape %dx%dx%d, PIL %dx%dx%d",
                      file, size, ch, im.h, im.w, im.c, h, w, c);
            if (im.h == h && im.w == w && im.c == c) {
                size_t n = rlen, close = 0, exact = 0;
                int maxd = 0;
                for (size_t i = 0; i < n; i++) {
                    int dd = abs((int)im.px[i] - (int)rbuf[i]);
                    close += dd <= 2;
                    exact += dd == 0;
                    if (dd > maxd) maxd = dd;
                }
                double frac = (double)close / n;
                printf("%-12s size %3d ch %d -> %3dx%3dx%d  exact %6.2f%%  within 2: %6.2f%%  max diff %d\n",
                       file, size, ch, h, w, c, 100.0 * exact / n, 100.0 * frac, maxd);
                XM_CHECKF(frac >= 0.99, "%s s%d c%d: only %.2f%% within 2 levels of PIL", file, size,
                          ch, 100 * frac);
                nexact += exact == n;
                all_px += (long long)n;
                all_close += (long long)close;
            }
            xm_image_release(&im);
        }
        free(buf);
        free(rbuf);
    }
    fclose(cf);
    printf("%d cases, %d bit-exact, %.3f%% of all values within 2 levels\n", ncases, nexact,
           all_px ? 100.0 * all_close / all_px : 0.0);
    XM_CHECKF(ncases >= 20, "only %d cases read from %s", ncases, cases);
    xm_decoder_free(d);
    return xm_test_finish();
}
