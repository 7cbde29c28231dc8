/* xm_pair_io.c: centroid input and pairs / similarity output for xm-pair. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "xm_atomic.h"
#include "xm_h5.h"
#include "xm_hash.h"
#include "xm_pair.h"

int xm_pair_load(const char *path, xm_centroid *c, double **means, xm_err *err)
{
    *means = NULL;
    int rc = xm_centroid_read(path, c, err);
    if (rc) return rc;
    for (int64_t k = 0; k < c->nclasses; k++)
        if (c->counts[k] == 0) {
            rc = xm_err_set(err, XM_EDATA, "%s: class '%s' (%lld) has no samples", path,
                            c->classes[k], (long long)k);
            xm_centroid_release(c);
            return rc;
        }
    size_t n = (size_t)(c->nclasses * c->dim);
    *means = malloc((n ? n : 1) * sizeof **means);
    if (!*means) {
        xm_centroid_release(c);
        return xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    }
    xm_centroid_means(c, *means);
    return 0;
}

static int attr_file(hid_t f, const char *key, const char *path, xm_err *err)
{
    uint64_t h;
    char name[64], hex[17];
    int rc = xm_h5_attr_write_str(f, key, path, err);
    if (!rc) rc = xm_hash_file(path, &h, err);
    if (!rc) {
        snprintf(name, sizeof name, "%s_xxh64", key);
        snprintf(hex, sizeof hex, "%016" PRIx64, h);
        rc = xm_h5_attr_write_str(f, name, hex, err);
    }
    return rc;
}

int xm_pair_write(const char *path, const xm_pairs *p, const xm_pair_cfg *cfg,
                  const xm_centroid *tgt, const char *tgt_path, const xm_centroid *src,
                  const char *src_path, int flags, xm_err *err)
{
    xm_atomic a;
    hid_t f;
    int rc = xm_h5_out_open(&a, path, flags, &f, err);
    if (rc) return rc;
    int64_t k = p->k;
    rc = xm_h5_write(f, "target", XM_H5_I32, 1, &k, p->target, 0, err);
    if (!rc) rc = xm_h5_write(f, "source", XM_H5_I32, 1, &k, p->source, 0, err);
    if (!rc) rc = xm_h5_write(f, "round", XM_H5_I32, 1, &k, p->round, 0, err);
    if (!rc) rc = xm_h5_write(f, "similarity", XM_H5_F32, 1, &k, p->similarity, 0, err);
    if (!rc) rc = xm_h5_write_strings(f, "target_classes", tgt->classes, tgt->nclasses, err);
    if (!rc) rc = xm_h5_write_strings(f, "source_classes", src->classes, src->nclasses, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "method", xm_pair_method_name(cfg->method), err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "aux_size", p->aux_size, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "rounds", p->rounds, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "min_aux", cfg->min_aux, err);
    if (!rc && cfg->method == XM_PAIR_RANDOM)
        rc = xm_h5_attr_write_i64(f, "seed", (int64_t)cfg->seed, err);
    if (!rc) rc = attr_file(f, "target_file", tgt_path, err);
    if (!rc) rc = attr_file(f, "source_file", src_path, err);
    return xm_h5_out_close(&a, f, rc, NULL, err);
}

int xm_pair_write_similarity(const char *path, const double *sim, const xm_centroid *tgt,
                             const xm_centroid *src, int flags, xm_err *err)
{
    size_t n = (size_t)(tgt->nclasses * src->nclasses);
    float *m = malloc((n ? n : 1) * sizeof *m);
    if (!m) return xm_err_set(err, XM_EFAIL, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) m[i] = (float)sim[i];
    xm_atomic a;
    hid_t f;
    int rc = xm_h5_out_open(&a, path, flags, &f, err);
    if (rc) {
        free(m);
        return rc;
    }
    int64_t d[2] = {tgt->nclasses, src->nclasses};
    rc = xm_h5_write(f, "similarity", XM_H5_F32, 2, d, m, 0, err);
    if (!rc) rc = xm_h5_write_strings(f, "target_classes", tgt->classes, tgt->nclasses, err);
    if (!rc) rc = xm_h5_write_strings(f, "source_classes", src->classes, src->nclasses, err);
    free(m);
    return xm_h5_out_close(&a, f, rc, NULL, err);
}
