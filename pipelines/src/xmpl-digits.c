/* xmpl-digits: the pipelines' target data set, OpenCV's handwritten digits.
 *
 * digits.png (opencv-doc, examples/data/) is a 2000 x 1000 px sheet: a grid
 * of 50 rows x 100 columns of 20 x 20 cells, white on black, digit d in grid
 * rows 5d .. 5d+4 (500 per class). Each cell is padded by 4 px of black on
 * every side to 28 x 28 (MNIST's 20 x 20 box in a 28 x 28 frame) and written
 * straight into an .xms. The K-shot split: for each class the 500 cells are
 * shuffled by the counter-based RNG keyed by (--seed, class); the first K
 * are the training split and the other 500 - K the test split, so each seed
 * is a different draw and the two splits of one seed never overlap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_cli.h"
#include "xm_image.h"
#include "xm_log.h"
#include "xm_rng.h"
#include "xm_xms_out.h"

#define TOOL "xmpl-digits"
#define CELL 20
#define ROWS 50
#define COLS 100
#define PER_CLASS (ROWS / 10 * COLS)
#define MAX_PNG_BYTES (64 << 20)

typedef struct opts {
    const char *split, *out;
    int64_t k, seed, pad;
    xm_cli cli;
    xm_log log;
} opts;

static int load_png(const char *path, xm_image *im, xm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return xm_err_errno(err, XM_ENOINPUT, errno, "%s", path);
    uint8_t *buf = malloc(MAX_PNG_BYTES);
    size_t len = buf ? fread(buf, 1, MAX_PNG_BYTES, f) : 0;
    int rc = 0;
    if (!buf) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    else if (ferror(f)) rc = xm_err_errno(err, XM_EIO, errno, "%s", path);
    else if (len == MAX_PNG_BYTES) rc = xm_err_set(err, XM_EDATA, "%s: larger than %d bytes", path, MAX_PNG_BYTES);
    fclose(f);
    xm_decoder *d = rc ? NULL : xm_decoder_new(err);
    if (!rc && !d) rc = XM_EFAIL;
    xm_decode_opts dopt = {.channels = 1};
    if (!rc) rc = xm_image_decode(d, buf, len, path, &dopt, im, err);
    if (!rc && (im->h != ROWS * CELL || im->w != COLS * CELL))
        rc = xm_err_set(err, XM_EDATA, "%s: %d x %d px, expected %d x %d (OpenCV's digits.png)", path, im->w,
                        im->h, COLS * CELL, ROWS * CELL);
    xm_decoder_free(d);
    free(buf);
    return rc;
}

static int run(opts *o, xm_err *err)
{
    int want; /* 0 train, 1 test, 2 all */
    if (o->cli.nargs != 1) return xm_err_set(err, XM_EUSAGE, "give exactly one input: the path of digits.png");
    if (!o->out) return xm_err_set(err, XM_EUSAGE, "no output: give -o OUT.xms");
    if (!strcmp(o->split, "train")) want = 0;
    else if (!strcmp(o->split, "test")) want = 1;
    else if (!strcmp(o->split, "all")) want = 2;
    else return xm_err_set(err, XM_EUSAGE, "--split: '%s': must be train, test or all", o->split);
    xm_image im = {0};
    int rc = load_png(o->cli.args[0], &im, err);
    xm_xms_out *out = NULL;
    xm_atomic_install_signals();
    if (!rc) rc = xm_xms_out_open(o->out, 0, o->cli.force ? XM_ATOMIC_FORCE : 0, NULL, &out, err);
    const char *cls[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    if (!rc) rc = xm_xms_out_set_classes(out, cls, 10, err);
    int side = CELL + 2 * (int)o->pad;
    uint8_t *px = calloc((size_t)side * side, 1);
    if (!rc && !px) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    int64_t records = 0;
    for (int d = 0; !rc && d < 10; d++) {
        int64_t order[PER_CLASS];
        for (int i = 0; i < PER_CLASS; i++) order[i] = i;
        xm_rng rng;
        xm_rng_init(&rng, (uint64_t)o->seed, (uint64_t)d);
        xm_rng_shuffle_i64(&rng, order, PER_CLASS);
        int lo = want == 1 ? (int)o->k : 0, hi = want == 0 ? (int)o->k : PER_CLASS;
        if (want == 2) {
            for (int i = 0; i < PER_CLASS; i++) order[i] = i; /* all: sheet order */
        }
        for (int j = lo; !rc && j < hi; j++) {
            int cell = (int)order[j], gr = d * (ROWS / 10) + cell / COLS, gc = cell % COLS;
            for (int y = 0; y < CELL; y++)
                memcpy(px + (size_t)(y + o->pad) * side + o->pad,
                       im.px + (size_t)(gr * CELL + y) * im.w + (size_t)gc * CELL, CELL);
            char name[64];
            snprintf(name, sizeof name, "digits.png:r%02d:c%02d", gr, gc);
            rc = xm_xms_out_add(out, px, side, side, 1, d, name, err);
            records++;
        }
    }
    if (!rc) rc = xm_xms_out_commit(out, err);
    if (!rc)
        xm_log_info(&o->log, "%s: %lld records (%s split, K = %lld, seed %lld), %d x %d px", o->out,
                    (long long)records, o->split, (long long)o->k, (long long)o->seed, side, side);
    xm_xms_out_free(out);
    xm_image_release(&im);
    free(px);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.split = "train", .k = 10, .seed = 1, .pad = 4};
    const xm_opt table[] = {
        {"split", 0, XM_OPT_STR, &o.split, "train|test|all", "K per class, the rest, or all 5,000 (default train)", 0, 0},
        {"k", 'k', XM_OPT_INT, &o.k, "K", "training images per class (default 10)", 1, PER_CLASS - 1},
        {"seed", 0, XM_OPT_INT, &o.seed, "S", "seed of the K-shot draw (default 1)", 0, INT64_MAX},
        {"pad", 0, XM_OPT_INT, &o.pad, "P", "black border around each 20 x 20 cell (default 4: 28 x 28)", 0, 100},
        {"output", 'o', XM_OPT_STR, &o.out, "OUT", "output .xms", 0, 0},
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "[--split train|test|all] [-k K] [--seed S] [--pad P] digits.png -o OUT.xms",
                     .about = "Cut OpenCV's handwritten-digit sheet (opencv-doc examples/data/digits.png) into\n"
                              "an .xms of 28 x 28 digits, split K-shot per seed.",
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
