/* xmpl-chars: the pipelines' source data set, printed characters.
 *
 * Renders the 62 classes 0-9 A-Z a-z from every font of a list file with
 * FreeType and writes them, white on black at 28 x 28, straight into an
 * .xms (no PNG round trip). Each render is augmented (rotation, scale,
 * shear, shift, stroke thickness, blur) from the counter-based RNG keyed by
 * (seed, font, class), so the output is the same on every machine. Every
 * --holdout-every'th font (index % N == N - 1) forms the test split, so test
 * glyphs come from faces the model never saw.
 *
 * Class order is ASCII ('0' < 'A' < 'a'), which is also what a
 * case-sensitive sort (ImageFolder, C locale) gives. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "xm_atomic.h"
#include "xm_cli.h"
#include "xm_log.h"
#include "xm_rng.h"
#include "xm_xms_out.h"

#define TOOL "xmpl-chars"
#define NCLASS 62
#define SS 4          /* supersampling factor for rendering and stroke changes */
#define MAX_FONTS 1024

static const char CLASSES[NCLASS + 1] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

typedef struct opts {
    const char *fonts, *split, *out;
    int64_t per_font, holdout, seed, size, cap;
    xm_cli cli;
    xm_log log;
} opts;

typedef struct canvas {
    int n;          /* side at supersampled resolution */
    float *a, *b;   /* n x n work buffers */
    float *keep;    /* n x n: the glyph before thinning */
    float *small;   /* size x size */
    float *tmp;     /* size x size */
} canvas;

/* Separable max (grow > 0) or min (grow < 0) filter with a square window of
 * radius |grow|: thicker or thinner strokes. */
static void morph(canvas *cv, int grow)
{
    int r = grow < 0 ? -grow : grow, n = cv->n;
    if (r == 0) return;
    for (int pass = 0; pass < 2; pass++) {
        const float *src = pass ? cv->b : cv->a;
        float *dst = pass ? cv->a : cv->b;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                float v = grow > 0 ? 0.0f : 1.0f;
                for (int d = -r; d <= r; d++) {
                    int yy = pass ? y + d : y, xx = pass ? x : x + d;
                    float s = (yy < 0 || yy >= n || xx < 0 || xx >= n) ? 0.0f : src[yy * n + xx];
                    v = grow > 0 ? (s > v ? s : v) : (s < v ? s : v);
                }
                dst[y * n + x] = v;
            }
    }
}

/* Gaussian blur of the size x size image in place (radius 2, separable). */
static void blur(canvas *cv, int size, double sigma)
{
    if (sigma < 0.05) return;
    float k[5];
    double s = 0;
    for (int i = -2; i <= 2; i++) s += (k[i + 2] = (float)exp(-0.5 * i * i / (sigma * sigma)));
    for (int i = 0; i < 5; i++) k[i] = (float)(k[i] / s);
    for (int pass = 0; pass < 2; pass++) {
        const float *src = pass ? cv->tmp : cv->small;
        float *dst = pass ? cv->small : cv->tmp;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                float v = 0;
                for (int d = -2; d <= 2; d++) {
                    int yy = pass ? y + d : y, xx = pass ? x : x + d;
                    if (yy >= 0 && yy < size && xx >= 0 && xx < size) v += k[d + 2] * src[yy * size + xx];
                }
                dst[y * size + x] = v;
            }
    }
}

/* Height of 'H' in pixels per pixel of em size: puts every font's capitals
 * at the same height (printed size varies a lot between faces). */
static double cap_ratio(FT_Face face)
{
    FT_Set_Transform(face, NULL, NULL);
    if (FT_Set_Pixel_Sizes(face, 0, 200) || FT_Load_Char(face, 'H', FT_LOAD_NO_HINTING))
        return 0.7;
    double h = face->glyph->metrics.height / 64.0 / 200.0;
    return h > 0.2 && h < 1.5 ? h : 0.7;
}

/* Render class character ch of face into out (size x size, uint8). Returns
 * 0, or 1 when the face has no glyph for ch. */
static int render(FT_Face face, double capr, int ch, xm_rng *rng, const opts *o, canvas *cv,
                  uint8_t *out)
{
    int n = cv->n, size = (int)o->size;
    if (FT_Get_Char_Index(face, (FT_ULong)ch) == 0) return 1;
    double scale = 0.85 + 0.25 * xm_rng_uniform(rng);
    double cap = (double)o->cap * SS * scale;          /* capital height, supersampled px */
    double rot = (xm_rng_uniform(rng) * 2 - 1) * 12.0 * M_PI / 180.0;
    double shear = (xm_rng_uniform(rng) * 2 - 1) * 0.15;
    double aspect = 0.9 + 0.2 * xm_rng_uniform(rng);
    int dx = (int)lround((xm_rng_uniform(rng) * 2 - 1) * 2.0 * SS);
    int dy = (int)lround((xm_rng_uniform(rng) * 2 - 1) * 2.0 * SS);
    int grow = (int)xm_rng_below(rng, 6) - 2;         /* -2 .. 3 supersampled px */
    double sigma = 0.8 * xm_rng_uniform(rng);
    /* matrix = rotation * shear * horizontal aspect, 16.16 fixed point */
    double c = cos(rot), s = sin(rot);
    double m00 = c * aspect, m01 = c * shear - s, m10 = s * aspect, m11 = s * shear + c;
    FT_Matrix m = {(FT_Fixed)lround(m00 * 65536), (FT_Fixed)lround(m01 * 65536),
                   (FT_Fixed)lround(m10 * 65536), (FT_Fixed)lround(m11 * 65536)};
    FT_UInt ppem = (FT_UInt)lround(cap / capr);
    if (ppem < 4) ppem = 4;
    if (FT_Set_Pixel_Sizes(face, 0, ppem)) return 1;
    FT_Set_Transform(face, &m, NULL);
    if (FT_Load_Char(face, (FT_ULong)ch, FT_LOAD_RENDER | FT_LOAD_NO_HINTING)) return 1;
    FT_GlyphSlot g = face->glyph;
    const FT_Bitmap *bm = &g->bitmap;
    memset(cv->a, 0, sizeof(float) * (size_t)n * n);
    /* centre horizontally on the ink, vertically on the capital band so that
     * lower case stays smaller and descenders hang below */
    int x0 = (n - (int)bm->width) / 2 + dx;
    int y0 = (int)lround(n / 2.0 + cap / 2.0) - g->bitmap_top + dy;
    for (unsigned r = 0; r < bm->rows; r++)
        for (unsigned q = 0; q < bm->width; q++) {
            int y = y0 + (int)r, x = x0 + (int)q;
            if (y < 0 || y >= n || x < 0 || x >= n) continue;
            const unsigned char *row = bm->buffer + (ptrdiff_t)r * bm->pitch;
            float v = bm->pixel_mode == FT_PIXEL_MODE_MONO ? (float)((row[q >> 3] >> (7 - (q & 7))) & 1)
                                                           : row[q] / 255.0f;
            cv->a[y * n + x] = v;
        }
    double ink0 = 0, ink1 = 0;
    for (int i = 0; i < n * n; i++) ink0 += cv->a[i];
    if (grow < 0) memcpy(cv->keep, cv->a, sizeof(float) * (size_t)n * n);
    morph(cv, grow);
    for (int i = 0; i < n * n; i++) ink1 += cv->a[i];
    if (grow < 0 && ink1 < 0.4 * ink0) /* erosion erased most of a thin face: undo */
        memcpy(cv->a, cv->keep, sizeof(float) * (size_t)n * n);
    /* box-filter down to size x size */
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float v = 0;
            for (int yy = 0; yy < SS; yy++)
                for (int xx = 0; xx < SS; xx++) v += cv->a[(y * SS + yy) * n + x * SS + xx];
            cv->small[y * size + x] = v / (SS * SS);
        }
    blur(cv, size, sigma);
    for (int i = 0; i < size * size; i++) {
        float v = cv->small[i] * 255.0f + 0.5f;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return 0;
}

/* Read the font list: one path a line, '#' comments and blank lines skipped. */
static int read_fonts(const char *path, char ***fonts, int *nf, xm_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return xm_err_errno(err, XM_ENOINPUT, errno, "%s", path);
    char line[4096];
    char **v = calloc(MAX_FONTS, sizeof *v);
    int n = 0, rc = v ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
    while (!rc && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (len == 0 || line[0] == '#') continue;
        if (n == MAX_FONTS) rc = xm_err_set(err, XM_EDATA, "%s: more than %d fonts", path, MAX_FONTS);
        else if (!(v[n++] = strdup(line))) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    }
    fclose(f);
    if (!rc && n == 0) rc = xm_err_set(err, XM_EDATA, "%s: no font files listed", path);
    *fonts = v;
    *nf = n;
    return rc;
}

static int run(opts *o, xm_err *err)
{
    int test = 0;
    if (!o->fonts) return xm_err_set(err, XM_EUSAGE, "no font list: give --fonts FILE");
    if (!o->out) return xm_err_set(err, XM_EUSAGE, "no output: give -o OUT.xms");
    if (o->cli.nargs) return xm_err_set(err, XM_EUSAGE, "unexpected argument '%s'", o->cli.args[0]);
    if (!strcmp(o->split, "test")) test = 1;
    else if (strcmp(o->split, "train")) return xm_err_set(err, XM_EUSAGE, "--split: '%s': must be train or test", o->split);
    if (o->cap * 1.5 > o->size) return xm_err_set(err, XM_EUSAGE, "--cap %lld is too large for --size %lld", (long long)o->cap, (long long)o->size);
    char **fonts = NULL;
    int nf = 0, rc = read_fonts(o->fonts, &fonts, &nf, err);
    FT_Library ft = NULL;
    if (!rc && FT_Init_FreeType(&ft)) rc = xm_err_set(err, XM_EFAIL, "FreeType initialisation failed");
    xm_xms_out *out = NULL;
    xm_atomic_install_signals();
    if (!rc) rc = xm_xms_out_open(o->out, 0, o->cli.force ? XM_ATOMIC_FORCE : 0, NULL, &out, err);
    char names[NCLASS][2];
    const char *cls[NCLASS];
    for (int k = 0; k < NCLASS; k++) names[k][0] = CLASSES[k], names[k][1] = 0, cls[k] = names[k];
    if (!rc) rc = xm_xms_out_set_classes(out, cls, NCLASS, err);
    canvas cv = {.n = (int)o->size * SS};
    size_t nn = (size_t)cv.n * cv.n;
    cv.a = malloc(nn * sizeof(float));
    cv.b = malloc(nn * sizeof(float));
    cv.keep = malloc(nn * sizeof(float));
    cv.small = malloc((size_t)o->size * o->size * sizeof(float));
    cv.tmp = malloc((size_t)o->size * o->size * sizeof(float));
    uint8_t *px = malloc((size_t)o->size * o->size);
    if (!rc && !(cv.a && cv.b && cv.keep && cv.small && cv.tmp && px)) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    int64_t records = 0, missing = 0, used = 0;
    for (int fi = 0; !rc && fi < nf; fi++) {
        if ((fi % o->holdout == o->holdout - 1) != test) continue;
        FT_Face face;
        if (FT_New_Face(ft, fonts[fi], 0, &face)) {
            rc = xm_err_set(err, XM_ENOINPUT, "%s: cannot open as a font (is its Debian package installed? see pipelines/README.md)", fonts[fi]);
            break;
        }
        used++;
        double capr = cap_ratio(face);
        const char *base = strrchr(fonts[fi], '/');
        base = base ? base + 1 : fonts[fi];
        for (int k = 0; !rc && k < NCLASS; k++) {
            xm_rng rng;
            xm_rng_init(&rng, (uint64_t)o->seed, (uint64_t)fi * NCLASS + (uint64_t)k);
            for (int64_t j = 0; !rc && j < o->per_font; j++) {
                if (render(face, capr, CLASSES[k], &rng, o, &cv, px)) {
                    missing++;
                    continue;
                }
                char name[512];
                snprintf(name, sizeof name, "%s:%c:%lld", base, CLASSES[k], (long long)j);
                rc = xm_xms_out_add(out, px, (int)o->size, (int)o->size, 1, k, name, err);
                records++;
            }
        }
        FT_Done_Face(face);
    }
    if (!rc && records == 0) rc = xm_err_set(err, XM_EDATA, "no glyphs rendered (no %s fonts in %s?)", o->split, o->fonts);
    if (!rc) rc = xm_xms_out_commit(out, err);
    if (!rc)
        xm_log_info(&o->log, "%s: %lld records, %d classes, %lld fonts (%s split), %lld glyphs missing",
                    o->out, (long long)records, NCLASS, (long long)used, o->split, (long long)missing);
    xm_xms_out_free(out);
    if (ft) FT_Done_FreeType(ft);
    free(cv.a), free(cv.b), free(cv.keep), free(cv.small), free(cv.tmp), free(px);
    for (int i = 0; i < nf; i++) free(fonts[i]);
    free(fonts);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.split = "train", .per_font = 6, .holdout = 8, .seed = 1, .size = 28, .cap = 18};
    const xm_opt table[] = {
        {"fonts", 0, XM_OPT_STR, &o.fonts, "FILE", "font files, one path a line (pipelines/fonts.txt)", 0, 0},
        {"split", 0, XM_OPT_STR, &o.split, "train|test", "fonts kept for training, or the held-out ones (default train)", 0, 0},
        {"per-font", 'n', XM_OPT_INT, &o.per_font, "N", "augmented renders per class and font (default 6)", 1, 10000},
        {"holdout-every", 0, XM_OPT_INT, &o.holdout, "N", "every N-th font is a test font (default 8)", 2, 1000},
        {"seed", 0, XM_OPT_INT, &o.seed, "S", "augmentation seed (default 1)", 0, INT64_MAX},
        {"size", 0, XM_OPT_INT, &o.size, "S", "image side in pixels (default 28)", 8, 256},
        {"cap", 0, XM_OPT_INT, &o.cap, "H", "capital height in pixels before jitter (default 18)", 4, 200},
        {"output", 'o', XM_OPT_STR, &o.out, "OUT", "output .xms", 0, 0},
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "--fonts FILE [--split train|test] [--per-font N] [--seed S] -o OUT.xms",
                     .about = "Render the 62 classes 0-9 A-Z a-z from a list of fonts, augmented, into an .xms\n"
                              "(white glyph on black, classes in ASCII order).",
                     .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&o.cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&o.cli);
        return 0;
    }
    xm_log_init(&o.log, TOOL, o.cli.verbosity);
    if (!rc) rc = run(&o, &err);
    xm_cli_release(&o.cli);
    return rc ? xm_tool_fail(TOOL, &err) : 0;
}
