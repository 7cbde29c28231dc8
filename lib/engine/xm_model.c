/* xm_model.c: reading and writing model files (formats/model.md). */
#include "xm_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"

static int fail_code(xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

void xm_model_meta_default(xm_model_meta *m, const xm_net_cfg *cfg)
{
    static const float im_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float im_std[3] = {0.229f, 0.224f, 0.225f};
    memset(m, 0, sizeof *m);
    snprintf(m->arch, sizeof m->arch, "%s", cfg->arch ? cfg->arch : "");
    m->num_classes = cfg->num_classes;
    m->in_channels = cfg->in_channels;
    m->input_size = cfg->input_size;
    m->source_classes = cfg->source_classes;
    for (int c = 0; c < XM_MODEL_MAX_CH; c++) {
        m->mean[c] = cfg->in_channels == 3 && c < 3 ? im_mean[c] : 0.5f;
        m->std[c] = cfg->in_channels == 3 && c < 3 ? im_std[c] : 0.5f;
    }
}

xm_net_cfg xm_model_meta_cfg(const xm_model_meta *m)
{
    xm_net_cfg c = {m->arch, m->in_channels, m->input_size, m->num_classes, m->source_classes};
    return c;
}

void xm_model_meta_release(xm_model_meta *m)
{
    if (!m) return;
    xm_h5_strings_free(m->classes, m->num_classes);
    xm_h5_strings_free(m->source_names, m->source_classes);
    m->classes = m->source_names = NULL;
}

int xm_model_read_meta_h5(hid_t f, const char *path, xm_model_meta *m, xm_err *err)
{
    memset(m, 0, sizeof *m);
    int64_t v = 0, n = 0;
    int rc;
    if ((rc = xm_h5_attr_read_str(f, "arch", m->arch, sizeof m->arch, err))) return rc;
    if (!xm_net_arch_known(m->arch))
        return xm_err_set(err, XM_EDATA, "%s: unknown architecture '%s'", path, m->arch);
    if ((rc = xm_h5_attr_read_i64(f, "num_classes", &v, err))) return rc;
    if (v <= 0 || v > 1000000)
        return xm_err_set(err, XM_EDATA, "%s: num_classes %lld is out of range", path,
                          (long long)v);
    m->num_classes = (int)v;
    /* in_channels: attribute, else the stem conv's input channels. */
    if (xm_h5_attr_exists(f, "in_channels")) {
        if ((rc = xm_h5_attr_read_i64(f, "in_channels", &v, err))) return rc;
    } else {
        int r;
        int64_t d[XM_H5_MAX_RANK];
        if ((rc = xm_h5_shape(f, "conv1.weight", &r, d, err))) return rc;
        v = r == 4 ? d[1] : 0;
    }
    if (v <= 0 || v > XM_MODEL_MAX_CH)
        return xm_err_set(err, XM_EDATA, "%s: in_channels %lld is out of range", path,
                          (long long)v);
    m->in_channels = (int)v;
    v = xm_net_arch_default_size(m->arch);
    if (xm_h5_attr_exists(f, "input_size") && (rc = xm_h5_attr_read_i64(f, "input_size", &v, err)))
        return rc;
    if (v <= 0 || v > 65536)
        return xm_err_set(err, XM_EDATA, "%s: input_size %lld is out of range", path,
                          (long long)v);
    m->input_size = (int)v;
    xm_net_cfg cfg = {m->arch, m->in_channels, m->input_size, m->num_classes, 0};
    xm_model_meta def;
    xm_model_meta_default(&def, &cfg);
    memcpy(m->mean, def.mean, sizeof m->mean);
    memcpy(m->std, def.std, sizeof m->std);
    if (xm_h5_attr_exists(f, "mean") &&
        (rc = xm_h5_attr_read_array(f, "mean", XM_H5_F32, m->mean, m->in_channels, 0, NULL, err)))
        return rc;
    if (xm_h5_attr_exists(f, "std") &&
        (rc = xm_h5_attr_read_array(f, "std", XM_H5_F32, m->std, m->in_channels, 0, NULL, err)))
        return rc;
    for (int c = 0; c < m->in_channels; c++) {
        if (!(m->std[c] > 0) || !isfinite(m->std[c]))
            return xm_err_set(err, XM_EDATA, "%s: std[%d] is not positive and finite", path, c);
        if (!isfinite(m->mean[c])) return xm_err_set(err, XM_EDATA, "%s: mean[%d] is not finite", path, c);
    }
    if (xm_h5_attr_exists(f, "classes")) {
        if ((rc = xm_h5_attr_read_strs(f, "classes", &m->classes, &n, err))) return rc;
        if (n != m->num_classes) {
            xm_h5_strings_free(m->classes, n);
            m->classes = NULL;
            return xm_err_set(err, XM_EDATA, "%s: %lld class names for num_classes %d", path,
                              (long long)n, m->num_classes);
        }
    }
    /* The source head: its size comes from the tensor, names from the
     * attribute (which must agree). */
    if (xm_h5_exists(f, "source_fc.weight")) {
        int r;
        int64_t d[XM_H5_MAX_RANK];
        if ((rc = xm_h5_shape(f, "source_fc.weight", &r, d, err))) goto fail;
        if (r != 2 || d[0] <= 0 || d[0] > 1000000) {
            rc = xm_err_set(err, XM_EDATA, "%s: source_fc.weight is not a matrix", path);
            goto fail;
        }
        m->source_classes = (int)d[0];
    }
    if (xm_h5_attr_exists(f, "source_classes")) {
        if ((rc = xm_h5_attr_read_strs(f, "source_classes", &m->source_names, &n, err))) goto fail;
        if (n != m->source_classes) {
            xm_h5_strings_free(m->source_names, n);
            m->source_names = NULL;
            rc = xm_err_set(err, XM_EDATA, "%s: %lld source class names for a source head "
                            "of %d classes", path, (long long)n, m->source_classes);
            goto fail;
        }
    }
    return 0;
fail:
    xm_model_meta_release(m);
    return rc;
}

int xm_model_read_meta(const char *path, xm_model_meta *m, xm_err *err)
{
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return fail_code(err);
    int rc = xm_model_read_meta_h5(f, path, m, err);
    xm_h5_close(f, NULL);
    return rc;
}

/* ---- tensors ---- */

static int is_head(const xm_param *p) { return p->group != XM_PG_BACKBONE; }
static int is_head_name(const char *s)
{
    return !strncmp(s, "fc.", 3) || !strncmp(s, "source_fc.", 10);
}

/* Append "name" to a comma-separated list, with an ellipsis past a limit. */
static void list_add(char *buf, size_t size, int *count, const char *name)
{
    size_t len = strlen(buf);
    if (*count < 8 && len + strlen(name) + 3 < size)
        snprintf(buf + len, size - len, "%s%s", *count ? ", " : "", name);
    else if (*count == 8 && len + 6 < size)
        snprintf(buf + len, size - len, ", ...");
    (*count)++;
}

int xm_model_read_tensors(xm_net *net, hid_t f, const char *path, int flags, xm_err *err)
{
    const xm_net_slabs *s = xm_net_slabs_get(net);
    int np;
    const xm_param *params = xm_net_params(net, &np);
    int backbone_only = flags & XM_MODEL_BACKBONE_ONLY;
    float *w = malloc(s->n_w * sizeof(float)), *buf = malloc((s->n_buf + 1) * sizeof(float));
    int64_t *nbt = malloc(((size_t)s->n_bn + 1) * sizeof(int64_t));
    char **names = NULL;
    int64_t nnames = 0;
    char missing[512] = "", extra[512] = "";
    int n_missing = 0, n_extra = 0, rc = 0;
    if (!w || !buf || !nbt) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
        goto done;
    }
    /* Heads are kept when only the backbone is read. */
    if (backbone_only && (rc = xm_net_get_weights(net, w, buf, err))) goto done;
    memcpy(nbt, s->nbt, (size_t)s->n_bn * sizeof(int64_t));
    if ((rc = xm_h5_list_datasets(f, &names, &nnames, err))) goto done;
    for (int64_t k = 0; k < nnames; k++)
        if (xm_net_param_find(net, names[k]) < 0 && !(backbone_only && is_head_name(names[k])))
            list_add(extra, sizeof extra, &n_extra, names[k]);
    for (int i = 0; i < np; i++)
        if (!(backbone_only && is_head(&params[i])) && !xm_h5_exists(f, params[i].name))
            list_add(missing, sizeof missing, &n_missing, params[i].name);
    if (n_missing || n_extra) {
        rc = xm_err_set(err, XM_EDATA, "%s: does not match %s%s%s%s%s", path,
                        xm_net_config(net)->arch, n_missing ? "; missing tensors: " : "",
                        missing, n_extra ? "; unexpected tensors: " : "", extra);
        goto done;
    }
    for (int i = 0; i < np && !rc; i++) {
        const xm_param *p = &params[i];
        if (backbone_only && is_head(p)) continue;
        if (p->kind == XM_PK_BN_COUNT)
            rc = xm_h5_read(f, p->name, XM_H5_I64, 0, NULL, nbt + p->offset, err);
        else
            rc = xm_h5_read(f, p->name, XM_H5_F32, p->rank, p->shape,
                            (p->trainable ? w : buf) + p->offset, err);
        /* a NaN weight or a negative variance would only show as NaN features or loss */
        const float *v = (p->trainable ? w : buf) + p->offset;
        for (size_t j = 0; !rc && p->kind != XM_PK_BN_COUNT && j < p->count; j++)
            if (!isfinite(v[j]) || (p->kind == XM_PK_BN_VAR && v[j] < 0))
                rc = xm_err_set(err, XM_EDATA, "%s: dataset %s: value %zu is %s", path, p->name, j,
                                isfinite(v[j]) ? "a negative variance" : "not finite");
    }
    if (!rc && (rc = xm_net_set_weights(net, w, buf, err)) == 0)
        memcpy(s->nbt, nbt, (size_t)s->n_bn * sizeof(int64_t));
done:
    xm_h5_strings_free(names, nnames);
    free(w);
    free(buf);
    free(nbt);
    return rc;
}

int xm_model_load_into(xm_net *net, const char *path, int flags, xm_err *err)
{
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return fail_code(err);
    int rc = xm_model_read_tensors(net, f, path, flags, err);
    xm_h5_close(f, NULL);
    return rc;
}

xm_net *xm_model_load(xm_backend *be, const char *path, xm_model_meta *meta, xm_err *err)
{
    xm_model_meta m;
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return NULL;
    xm_net *net = NULL;
    if (xm_model_read_meta_h5(f, path, &m, err) == 0) {
        xm_net_cfg cfg = xm_model_meta_cfg(&m);
        net = xm_net_new(be, &cfg, err);
        if (net && xm_model_read_tensors(net, f, path, 0, err)) {
            xm_net_free(net);
            net = NULL;
        }
        if (net && meta) *meta = m;
        else xm_model_meta_release(&m);
    }
    xm_h5_close(f, NULL);
    return net;
}

/* ---- writing ---- */

int xm_model_write_tensors(const xm_net *net, hid_t f, xm_err *err)
{
    const xm_net_slabs *s = xm_net_slabs_get(net);
    int np;
    const xm_param *params = xm_net_params(net, &np);
    float *w = malloc(s->n_w * sizeof(float)), *buf = malloc((s->n_buf + 1) * sizeof(float));
    int rc = 0;
    if (!w || !buf) rc = xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc) rc = xm_net_get_weights(net, w, buf, err);
    for (int i = 0; i < np && !rc; i++) {
        const xm_param *p = &params[i];
        if (p->kind == XM_PK_BN_COUNT)
            rc = xm_h5_write(f, p->name, XM_H5_I64, 0, NULL, s->nbt + p->offset, 0, err);
        else
            rc = xm_h5_write(f, p->name, XM_H5_F32, p->rank, p->shape,
                             (p->trainable ? w : buf) + p->offset, 0, err);
    }
    free(w);
    free(buf);
    return rc;
}

/* Class names, or "0".."n-1" when none are known (so every file has them). */
static int write_names(hid_t f, const char *attr, char **names, int n, xm_err *err)
{
    if (names) return xm_h5_attr_write_strs(f, attr, names, n, err);
    char **v = calloc((size_t)n + 1, sizeof *v);
    char *store = malloc((size_t)n * 12 + 1);
    int rc = 0;
    if (!v || !store) {
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            v[i] = store + (size_t)i * 12;
            snprintf(v[i], 12, "%d", i);
        }
        rc = xm_h5_attr_write_strs(f, attr, v, n, err);
    }
    free(v);
    free(store);
    return rc;
}

int xm_model_write_meta(const xm_net *net, const xm_model_meta *meta, hid_t f, xm_err *err)
{
    const xm_net_cfg *c = xm_net_config(net);
    xm_model_meta def;
    if (!meta) {
        xm_model_meta_default(&def, c);
        meta = &def;
    }
    int rc = xm_h5_attr_write_str(f, "arch", c->arch, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "num_classes", c->num_classes, err);
    if (!rc) rc = write_names(f, "classes", meta->classes, c->num_classes, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "input_size", c->input_size, err);
    if (!rc) rc = xm_h5_attr_write_i64(f, "in_channels", c->in_channels, err);
    if (!rc) rc = xm_h5_attr_write_array(f, "mean", XM_H5_F32, meta->mean, c->in_channels, err);
    if (!rc) rc = xm_h5_attr_write_array(f, "std", XM_H5_F32, meta->std, c->in_channels, err);
    if (!rc && c->source_classes > 0)
        rc = write_names(f, "source_classes",
                         meta->source_classes == c->source_classes ? meta->source_names : NULL,
                         c->source_classes, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "format", "xm-model-1", err);
    return rc;
}

int xm_model_save(const xm_net *net, const xm_model_meta *meta, const char *path, int flags,
                  xm_err *err)
{
    xm_atomic a;
    hid_t f;
    int rc = xm_h5_out_open(&a, path, (flags & XM_MODEL_FORCE) ? XM_ATOMIC_FORCE : 0, &f, err);
    if (rc) return rc;
    rc = xm_model_write_meta(net, meta, f, err);
    if (!rc) rc = xm_model_write_tensors(net, f, err);
    return xm_h5_out_close(&a, f, rc, path, err);
}
