/* xm_plan_io.c: plan files (formats/plan.md) and reading pairs files. */
#include "xm_plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_h5.h"

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

/* Checksums are stored as 16 hex digits: readable in h5py and free of
 * signedness questions. */
static int write_hashes(hid_t f, const char *name, const uint64_t *h, int n, xm_err *err)
{
    char **s = calloc((size_t)n + 1, sizeof *s);
    if (!s) return xm_err_set(err, XM_EFAIL, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!(s[i] = malloc(17))) rc = xm_err_set(err, XM_EFAIL, "out of memory");
        else snprintf(s[i], 17, "%016" PRIx64, h[i]);
    }
    if (!rc) rc = xm_h5_attr_write_strs(f, name, s, n, err);
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
    return rc;
}

static int write_body(const xm_plan *p, hid_t f, xm_err *err)
{
    const int64_t S = p->steps, B = p->slots;
    const int64_t d2[2] = {S, B}, d3[3] = {S, B, 2}, d4[4] = {S, B, 2, 2};
    const xm_plan_cfg *c = &p->cfg;
    int rc;
    if ((rc = xm_h5_write(f, "target_record", XM_H5_I64, 2, d2, p->target_record, 4, err)) ||
        (rc = xm_h5_write(f, "partner_record", XM_H5_I64, 2, d2, p->partner_record, 4, err)) ||
        (rc = xm_h5_write(f, "partner_domain", XM_H5_U8, 2, d2, p->partner_domain, 4, err)) ||
        (rc = xm_h5_write(f, "lambda", XM_H5_F32, 2, d2, p->lambda, 4, err)) ||
        (rc = xm_h5_write(f, "crop", XM_H5_I16, 4, d4, p->crop, 4, err)) ||
        (rc = xm_h5_write(f, "flip", XM_H5_U8, 3, d3, p->flip, 4, err)))
        return rc;
    if ((rc = xm_h5_attr_write_str(f, "mode", xm_plan_mode_name(c->mode), err)) ||
        (rc = xm_h5_attr_write_f64(f, "alpha", c->alpha, err)) ||
        (rc = xm_h5_attr_write_f64(f, "beta", c->beta, err)) ||
        (rc = xm_h5_attr_write_i64(f, "seed", (int64_t)c->seed, err)) ||
        (rc = xm_h5_attr_write_i64(f, "input_size", c->input_size, err)) ||
        (rc = xm_h5_attr_write_i64(f, "pad", c->pad, err)) ||
        (rc = xm_h5_attr_write_i64(f, "random_flip", c->flip, err)) ||
        (rc = xm_h5_attr_write_i64(f, "batch", c->batch, err)) ||
        (rc = xm_h5_attr_write_i64(f, "n_source_classes", p->n_source, err)) ||
        (rc = xm_h5_attr_write_str(f, "xm_version", XM_VERSION, err)))
        return rc;
    if (p->n_target_files > 0 &&
        ((rc = xm_h5_attr_write_strs(f, "target_files", p->target_files, p->n_target_files,
                                     err)) ||
         (rc = write_hashes(f, "target_xxh64", p->target_xxh64, p->n_target_files, err))))
        return rc;
    if (p->n_partner_files > 0 &&
        ((rc = xm_h5_attr_write_strs(f, "partner_files", p->partner_files, p->n_partner_files,
                                     err)) ||
         (rc = write_hashes(f, "partner_xxh64", p->partner_xxh64, p->n_partner_files, err))))
        return rc;
    char pairs_hex[17];
    snprintf(pairs_hex, sizeof pairs_hex, "%016" PRIx64, p->pairs_xxh64);
    if (p->pairs_file &&
        ((rc = xm_h5_attr_write_str(f, "pairs_file", p->pairs_file, err)) ||
         (rc = xm_h5_attr_write_str(f, "pairs_xxh64", pairs_hex, err))))
        return rc;
    if (p->n_target_classes > 0 &&
        (rc = xm_h5_attr_write_strs(f, "target_classes", p->target_classes,
                                    p->n_target_classes, err)))
        return rc;
    if (p->n_source > 0 &&
        ((rc = xm_h5_attr_write_array(f, "source_classes", XM_H5_I32, p->source_classes,
                                      p->n_source, err)) ||
         (rc = xm_h5_attr_write_strs(f, "source_class_names", p->source_names, p->n_source,
                                     err))))
        return rc;
    return 0;
}

int xm_plan_save(const xm_plan *p, const char *path, int flags, xm_err *err)
{
    xm_atomic a;
    hid_t f;
    int rc = xm_h5_out_open(&a, path, flags, &f, err);
    if (rc) return rc;
    return xm_h5_out_close(&a, f, write_body(p, f, err), path, err);
}

/* ---- reading ---- */

static int read_hashes(hid_t f, const char *path, const char *name, int n, uint64_t **out,
                       xm_err *err)
{
    char **s = NULL;
    int64_t m = 0;
    int rc = xm_h5_attr_read_strs(f, name, &s, &m, err);
    if (rc) return rc;
    if (m != n) {
        xm_h5_strings_free(s, m);
        return xm_err_set(err, XM_EDATA, "%s: %s has %lld entries, expected %d", path, name,
                          (long long)m, n);
    }
    *out = calloc((size_t)n + 1, sizeof **out);
    if (!*out) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        char *end = NULL;
        (*out)[i] = strtoull(s[i], &end, 16);
        if (strlen(s[i]) != 16 || !end || *end)
            rc = xm_err_set(err, XM_EDATA, "%s: %s: bad checksum '%s'", path, name, s[i]);
    }
    xm_h5_strings_free(s, m);
    return rc;
}

static int read_files(hid_t f, const char *path, const char *names, const char *hashes,
                      char ***files, uint64_t **xxh, int *n, xm_err *err)
{
    *n = 0;
    if (!xm_h5_attr_exists(f, names)) return 0;
    int64_t m = 0;
    int rc = xm_h5_attr_read_strs(f, names, files, &m, err);
    if (rc) return rc;
    if (m < 1 || m > 65536) return xm_err_set(err, XM_EDATA, "%s: bad %s", path, names);
    *n = (int)m;
    return read_hashes(f, path, hashes, *n, xxh, err);
}

static int read_i64_attr(hid_t f, const char *path, const char *name, int64_t lo, int64_t hi,
                         int64_t *v, xm_err *err)
{
    int rc = xm_h5_attr_read_i64(f, name, v, err);
    if (rc) return rc;
    if (*v < lo || *v > hi)
        return xm_err_set(err, XM_EDATA, "%s: attribute %s = %lld is out of range", path, name,
                          (long long)*v);
    return 0;
}

static int read_attrs(hid_t f, const char *path, xm_plan *p, xm_err *err)
{
    char mode[32];
    int64_t v;
    int rc;
    xm_plan_cfg *c = &p->cfg;
    if ((rc = xm_h5_attr_read_str(f, "mode", mode, sizeof mode, err))) return rc;
    if (xm_plan_mode_parse(mode, &c->mode, NULL)) /* NULL: its usage error is not the one to report */
        return xm_err_set(err, XM_EDATA, "%s: attribute mode: unknown mode '%s'", path, mode);
    if ((rc = xm_h5_attr_read_f64(f, "alpha", &c->alpha, err)) ||
        (rc = xm_h5_attr_read_f64(f, "beta", &c->beta, err)) ||
        (rc = xm_h5_attr_read_i64(f, "seed", &v, err)))
        return rc;
    c->seed = (uint64_t)v;
    if ((rc = read_i64_attr(f, path, "input_size", 1, 65535, &v, err))) return rc;
    c->input_size = (int)v;
    c->pad = 0;
    c->flip = 0;
    if (xm_h5_attr_exists(f, "pad")) {
        if ((rc = read_i64_attr(f, path, "pad", 0, 4096, &v, err))) return rc;
        c->pad = (int)v;
    }
    if (xm_h5_attr_exists(f, "random_flip")) {
        if ((rc = read_i64_attr(f, path, "random_flip", 0, 1, &v, err))) return rc;
        c->flip = (int)v;
    }
    c->batch = c->mode == XM_PLAN_COTRAIN ? p->slots / 2 : p->slots;
    if (xm_h5_attr_exists(f, "batch")) {
        if ((rc = read_i64_attr(f, path, "batch", 1, XM_PLAN_MAX_BATCH, &v, err))) return rc;
        c->batch = (int)v;
    }
    c->steps = p->steps;
    if ((rc = read_files(f, path, "target_files", "target_xxh64", &p->target_files,
                         &p->target_xxh64, &p->n_target_files, err)) ||
        (rc = read_files(f, path, "partner_files", "partner_xxh64", &p->partner_files,
                         &p->partner_xxh64, &p->n_partner_files, err)))
        return rc;
    if (xm_h5_attr_exists(f, "target_classes")) {
        int64_t n = 0;
        if ((rc = xm_h5_attr_read_strs(f, "target_classes", &p->target_classes, &n, err)))
            return rc;
        p->n_target_classes = (int)n;
    }
    if (xm_h5_attr_exists(f, "source_classes")) {
        int64_t n = 0;
        p->source_classes = malloc(sizeof(int32_t) * 1000000);
        if (!p->source_classes) return xm_err_set(err, XM_EFAIL, "out of memory");
        if ((rc = xm_h5_attr_read_array(f, "source_classes", XM_H5_I32, p->source_classes, -1,
                                        1000000, &n, err)))
            return rc;
        p->n_source = (int)n;
        if (xm_h5_attr_exists(f, "source_class_names")) {
            int64_t m = 0;
            if ((rc = xm_h5_attr_read_strs(f, "source_class_names", &p->source_names, &m,
                                           err)))
                return rc;
            if (m != n) {
                xm_h5_strings_free(p->source_names, m);
                p->source_names = NULL;
                return xm_err_set(err, XM_EDATA,
                                  "%s: source_class_names and source_classes differ in length",
                                  path);
            }
        }
    }
    return 0;
}

/* Every row value in range: records >= -1, domains 0/1, lambda in [0, 1],
 * slot kinds consistent with the mode. */
static int check_rows(const xm_plan *p, const char *path, xm_err *err)
{
    size_t n = (size_t)p->steps * (size_t)p->slots;
    for (size_t i = 0; i < n; i++) {
        float l = p->lambda[i];
        const char *bad = p->target_record[i] < -1    ? "target_record"
                          : p->partner_record[i] < -1 ? "partner_record"
                          : p->partner_domain[i] > 1  ? "partner_domain"
                          : !(l >= 0.0f && l <= 1.0f) ? "lambda"
                          : p->flip[2 * i] > 1 || p->flip[2 * i + 1] > 1 ? "flip" : NULL;
        if (bad)
            return xm_err_set(err, XM_EDATA, "%s: step %lld slot %lld: %s out of range",
                              path, (long long)(i / (size_t)p->slots),
                              (long long)(i % (size_t)p->slots), bad);
        if (p->cfg.mode != XM_PLAN_EVAL && p->target_record[i] < 0 && p->partner_record[i] < 0)
            return xm_err_set(err, XM_EDATA, "%s: step %lld slot %lld: empty slot", path,
                              (long long)(i / (size_t)p->slots),
                              (long long)(i % (size_t)p->slots));
    }
    return 0;
}

int xm_plan_load(const char *path, xm_plan *p, xm_err *err)
{
    memset(p, 0, sizeof *p);
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return code_of(err);
    int rank, rc;
    int64_t d[XM_H5_MAX_RANK];
    if ((rc = xm_h5_shape(f, "target_record", &rank, d, err))) goto out;
    if (rank != 2 || d[0] < 1 || d[1] < 1 || d[0] > XM_PLAN_MAX_STEPS ||
        d[1] > 2 * XM_PLAN_MAX_BATCH) {
        rc = xm_err_set(err, XM_EDATA, "%s: target_record must be steps x slots", path);
        goto out;
    }
    if (d[0] > XM_PLAN_MAX_SLOTS / d[1]) {
        rc = xm_err_set(err, XM_EDATA, "%s: target_record: %lld steps x %lld slots, more than %lld slots",
                        path, (long long)d[0], (long long)d[1], (long long)XM_PLAN_MAX_SLOTS);
        goto out;
    }
    if ((rc = xm_plan_alloc(p, d[0], (int)d[1], err))) goto out;
    const int64_t d2[2] = {d[0], d[1]}, d3[3] = {d[0], d[1], 2}, d4[4] = {d[0], d[1], 2, 2};
    if ((rc = xm_h5_read(f, "target_record", XM_H5_I64, 2, d2, p->target_record, err)) ||
        (rc = xm_h5_read(f, "partner_record", XM_H5_I64, 2, d2, p->partner_record, err)) ||
        (rc = xm_h5_read(f, "partner_domain", XM_H5_U8, 2, d2, p->partner_domain, err)) ||
        (rc = xm_h5_read(f, "lambda", XM_H5_F32, 2, d2, p->lambda, err)) ||
        (rc = xm_h5_read(f, "crop", XM_H5_I16, 4, d4, p->crop, err)) ||
        (rc = xm_h5_read(f, "flip", XM_H5_U8, 3, d3, p->flip, err)))
        goto out;
    if ((rc = read_attrs(f, path, p, err))) goto out;
    rc = check_rows(p, path, err);
out:
    xm_h5_close(f, NULL);
    if (rc) {
        if (!strstr(err->msg, path)) xm_err_prefix(err, "%s", path);
        xm_plan_release(p);
    }
    return rc;
}

int xm_plan_read_pairs(const char *path, int32_t **target, int32_t **source, int *n,
                       xm_err *err)
{
    *target = *source = NULL;
    *n = 0;
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return code_of(err);
    int64_t d1[1] = {-1}, dt[XM_H5_MAX_RANK], ds[XM_H5_MAX_RANK];
    int rc = 0;
    *target = xm_h5_read_alloc(f, "target", XM_H5_I32, 1, d1, dt, err);
    if (*target) *source = xm_h5_read_alloc(f, "source", XM_H5_I32, 1, d1, ds, err);
    if (!*target || !*source) rc = code_of(err);
    else if (dt[0] != ds[0] || dt[0] < 1 || dt[0] > 100000000)
        rc = xm_err_set(err, XM_EDATA, "%s: target and source must have one equal length >= 1",
                        path);
    xm_h5_close(f, NULL);
    if (rc) {
        if (!strstr(err->msg, path)) xm_err_prefix(err, "%s", path);
        free(*target);
        free(*source);
        *target = *source = NULL;
        return rc;
    }
    *n = (int)dt[0];
    return 0;
}
