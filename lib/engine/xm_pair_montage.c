/* xm_pair_montage.c: a PNG to look at a pairing (xm-pair --montage).
 *
 * Row t: `per` images of target class t, a gap, then `per` images of each
 * of t's round-0 source classes (by descending similarity, at most
 * MAX_SRC). Images are the first records of each class in the .xms set (so
 * the picture is reproducible), center-cropped to a square and scaled to a
 * tile by nearest neighbour (a preview, not a measurement). */
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_image.h"
#include "xm_pair.h"
#include "xm_xms.h"

#define MAX_SRC 4
#define GAP 6
#define BG 40

/* First `per` record indices of every class (-1 where a class has fewer). */
static int64_t *class_records(const xm_xms_set *s, int per, xm_err *err)
{
    int nc = xm_xms_set_nclasses(s);
    int64_t *r = malloc((size_t)(nc ? nc : 1) * (size_t)per * sizeof *r);
    int *have = calloc(nc ? (size_t)nc : 1, sizeof *have);
    if (!r || !have) {
        free(r);
        free(have);
        xm_err_set(err, XM_EFAIL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < (size_t)nc * (size_t)per; i++) r[i] = -1;
    uint64_t n = xm_xms_set_count(s);
    for (uint64_t i = 0; i < n; i++) {
        xm_xms_rec rec;
        xm_xms_set_peek(s, i, &rec);
        if (rec.label >= 0 && rec.label < nc && have[rec.label] < per)
            r[(size_t)rec.label * per + have[rec.label]++] = (int64_t)i;
    }
    free(have);
    return r;
}

/* Draw record i of s into the canvas at (y0, x0) as a tile x tile RGB square. */
static int draw(const xm_xms_set *s, xm_xms_cursor *cur, int64_t i, uint8_t *canvas, int cw,
                int y0, int x0, int tile, xm_err *err)
{
    if (i < 0) return 0;
    xm_xms_rec r;
    int rc = xm_xms_set_read(s, cur, (uint64_t)i, &r, err);
    if (rc) return rc;
    int side = r.h < r.w ? r.h : r.w;
    int oy = (r.h - side) / 2, ox = (r.w - side) / 2;
    for (int y = 0; y < tile; y++) {
        int sy = oy + (int)((int64_t)y * side / tile);
        for (int x = 0; x < tile; x++) {
            int sx = ox + (int)((int64_t)x * side / tile);
            const uint8_t *p = r.px + ((size_t)sy * r.w + sx) * r.c;
            uint8_t *q = canvas + ((size_t)(y0 + y) * cw + (x0 + x)) * 3;
            for (int k = 0; k < 3; k++) q[k] = p[r.c == 3 ? k : 0];
        }
    }
    return 0;
}

int xm_pair_montage(const char *png_path, const xm_pairs *p, int64_t nt,
                    const char *const *tdata, int ntd, const char *const *sdata, int nsd,
                    int per, int tile, int flags, xm_err *err)
{
    xm_xms_set *ts = NULL, *ss = NULL;
    xm_xms_cursor *cur = NULL;
    int64_t *trec = NULL, *srec = NULL, *src = NULL;
    uint8_t *canvas = NULL;
    int rc = xm_xms_set_open(tdata, ntd, NULL, &ts, err);
    if (!rc) rc = xm_xms_set_open(sdata, nsd, NULL, &ss, err);
    if (!rc && xm_xms_set_nclasses(ts) != nt)
        rc = xm_err_set(err, XM_EDATA, "%s: %d classes, the target centroids have %lld",
                        tdata[0], xm_xms_set_nclasses(ts), (long long)nt);
    int nsrc = ss ? xm_xms_set_nclasses(ss) : 0;
    for (int64_t i = 0; !rc && i < p->k; i++)
        if (p->source[i] >= nsrc)
            rc = xm_err_set(err, XM_EDATA, "%s: %d classes, fewer than the paired source "
                            "class %d", sdata[0], nsrc, p->source[i]);
    /* Round-0 sources per target, best first (pairs are in target order). */
    src = rc ? NULL : malloc((size_t)nt * MAX_SRC * sizeof *src);
    if (!rc && !src) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int64_t i = 0; !rc && i < nt * MAX_SRC; i++) src[i] = -1;
    for (int64_t i = 0; !rc && i < p->k; i++) {
        if (p->round[i] != 0) continue;
        int64_t *row = src + (int64_t)p->target[i] * MAX_SRC;
        /* insertion into a short list sorted by similarity */
        for (int j = 0; j < MAX_SRC; j++) {
            if (row[j] >= 0 && p->similarity[row[j]] >= p->similarity[i]) continue;
            memmove(row + j + 1, row + j, (size_t)(MAX_SRC - 1 - j) * sizeof *row);
            row[j] = i;
            break;
        }
    }
    if (!rc && !(trec = class_records(ts, per, err))) rc = err ? err->code : XM_EFAIL;
    if (!rc && !(srec = class_records(ss, per, err))) rc = err ? err->code : XM_EFAIL;
    if (!rc && !(cur = xm_xms_cursor_new(err))) rc = err ? err->code : XM_EFAIL;
    int ncols = 0;
    for (int64_t t = 0; !rc && t < nt; t++) {
        int n = 0;
        while (n < MAX_SRC && src[t * MAX_SRC + n] >= 0) n++;
        if (n > ncols) ncols = n;
    }
    int cw = (per * tile) + ncols * (GAP + per * tile), ch = (int)nt * tile;
    if (!rc && (int64_t)cw * ch > 256LL * 1024 * 1024)
        rc = xm_err_set(err, XM_EUSAGE, "%s: montage of %d x %d pixels is too large", png_path,
                        cw, ch);
    if (!rc && !(canvas = malloc((size_t)cw * ch * 3))) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) memset(canvas, BG, (size_t)cw * ch * 3);
    for (int64_t t = 0; !rc && t < nt; t++) {
        int y0 = (int)t * tile;
        for (int k = 0; !rc && k < per; k++)
            rc = draw(ts, cur, trec[t * per + k], canvas, cw, y0, k * tile, tile, err);
        for (int j = 0; !rc && j < MAX_SRC && src[t * MAX_SRC + j] >= 0; j++) {
            int s = p->source[src[t * MAX_SRC + j]];
            int x0 = per * tile + j * (GAP + per * tile) + GAP;
            for (int k = 0; !rc && k < per; k++)
                rc = draw(ss, cur, srec[(int64_t)s * per + k], canvas, cw, y0, x0 + k * tile,
                          tile, err);
        }
    }
    xm_atomic a;
    if (!rc && !(rc = xm_atomic_open(&a, png_path, flags, err))) {
        FILE *f = xm_atomic_file(&a);
        if (!f) rc = xm_err_set(err, XM_EFAIL, "out of memory");
        if (!rc && (rc = xm_png_write_file(f, canvas, ch, cw, 3, err)))
            xm_err_prefix(err, "%s", png_path);
        if (!rc) rc = xm_atomic_commit(&a, err);
        else xm_atomic_abort(&a);
    }
    free(canvas);
    free(trec);
    free(srec);
    free(src);
    xm_xms_cursor_free(cur);
    xm_xms_set_close(ts);
    xm_xms_set_close(ss);
    return rc;
}
