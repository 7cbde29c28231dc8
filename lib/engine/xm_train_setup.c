/* xm_train_setup.c: the trainer's inputs: the plan's files (checked against
 * their checksums), the network with its heads, and per-step buffers. */
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_hash.h"
#include "xm_train_impl.h"

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

/* A plan's file name: as given, else relative to the plan's directory. */
static void resolve(const char *plan_path, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    if (name[0] == '/' || access(name, F_OK) == 0) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", plan_path);
    char *d = dirname(tmp);
    char alt[8192];
    snprintf(alt, sizeof alt, "%s/%s", d, name);
    if (access(alt, F_OK) == 0 && strlen(alt) < n) memcpy(out, alt, strlen(alt) + 1);
}

static int open_files(const xm_trainer *t, char **names, const uint64_t *xxh, int n,
                      xm_xms_set **out, xm_err *err)
{
    char **paths = calloc((size_t)n, sizeof *paths);
    int rc = paths ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        if (!(paths[i] = malloc(4096))) {
            rc = xm_err_set(err, XM_EFAIL, "out of memory");
            break;
        }
        resolve(t->cfg->plan_path, names[i], paths[i], 4096);
        uint64_t h = 0;
        if ((rc = xm_hash_file(paths[i], &h, err))) break;
        if (h != xxh[i])
            rc = xm_err_set(err, XM_EDATA,
                            "%s: checksum %016" PRIx64 " differs from the plan's %016" PRIx64
                            " (the file changed since the plan was written)",
                            paths[i], h, xxh[i]);
    }
    if (!rc) rc = xm_xms_set_open((const char *const *)paths, n, NULL, out, err);
    for (int i = 0; i < n && paths; i++) free(paths[i]);
    free(paths);
    return rc;
}

static int set_channels(const xm_xms_set *s, int *c, xm_err *err)
{
    for (int k = 0; k < xm_xms_set_nfiles(s); k++) {
        xm_xms_info in;
        xm_xms_get_info(xm_xms_set_file(s, k), &in);
        if (in.n_records == 0) continue;
        if (in.c == 0 || (*c && in.c != *c))
            return xm_err_set(err, XM_EDATA, "%s: records have different channel counts",
                              xm_xms_path(xm_xms_set_file(s, k)));
        *c = in.c;
    }
    return 0;
}

static int same_classes(const xm_xms_set *s, char **names, int n)
{
    if (xm_xms_set_nclasses(s) != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(xm_xms_set_class(s, i), names[i])) return 0;
    return 1;
}

int xm_trainer_open_data(xm_trainer *t, xm_err *err)
{
    const xm_plan *p = &t->plan;
    const char *pp = t->cfg->plan_path;
    int rc;
    if (p->cfg.mode == XM_PLAN_EVAL)
        return xm_err_set(err, XM_EDATA, "%s: an eval plan cannot be trained on", pp);
    if (p->n_target_files > 0 &&
        (rc = open_files(t, p->target_files, p->target_xxh64, p->n_target_files, &t->target, err)))
        return rc;
    if (p->n_partner_files > 0 &&
        (rc = open_files(t, p->partner_files, p->partner_xxh64, p->n_partner_files,
                         &t->partner, err)))
        return rc;
    if (p->cfg.mode != XM_PLAN_SOURCE && !t->target)
        return xm_err_set(err, XM_EDATA, "%s: the plan names no target files", pp);
    if (t->target && p->target_classes && !same_classes(t->target, p->target_classes,
                                                        p->n_target_classes))
        return xm_err_set(err, XM_EDATA, "%s: the target set's classes differ from the plan's",
                          pp);
    /* every record the plan names must exist */
    int64_t nt = t->target ? (int64_t)xm_xms_set_count(t->target) : 0;
    int64_t np = t->partner ? (int64_t)xm_xms_set_count(t->partner) : 0;
    size_t n = (size_t)p->steps * p->slots;
    for (size_t i = 0; i < n; i++) {
        int64_t tr = p->target_record[i], pr = p->partner_record[i];
        int64_t plim = p->partner_domain[i] ? np : nt;
        if (tr >= nt || pr >= plim)
            return xm_err_set(err, XM_EDATA,
                              "%s: step %lld slot %lld names record %lld, but the %s set has "
                              "%lld records", pp, (long long)(i / p->slots),
                              (long long)(i % p->slots), (long long)(tr >= nt ? tr : pr),
                              tr >= nt || !p->partner_domain[i] ? "target" : "partner",
                              (long long)(tr >= nt ? nt : plim));
    }
    t->channels = 0;
    if ((t->target && (rc = set_channels(t->target, &t->channels, err))) ||
        (t->partner && (rc = set_channels(t->partner, &t->channels, err))))
        return rc;
    /* source head rows */
    t->ns = p->n_source;
    if (t->partner) {
        int nc = xm_xms_set_nclasses(t->partner);
        t->src_row = malloc(((size_t)nc + 1) * sizeof *t->src_row);
        if (!t->src_row) return xm_err_set(err, XM_EFAIL, "out of memory");
        for (int c = 0; c < nc; c++) t->src_row[c] = -1;
        for (int i = 0; i < p->n_source; i++) {
            if (p->source_classes[i] < 0 || p->source_classes[i] >= nc)
                return xm_err_set(err, XM_EDATA, "%s: source class %d is out of range", pp,
                                  p->source_classes[i]);
            t->src_row[p->source_classes[i]] = i;
        }
    }
    t->nolabel = p->cfg.mode == XM_PLAN_XMIXUP_NOLABEL;
    if (t->cfg->eval_path) {
        const char *e[1] = {t->cfg->eval_path};
        if ((rc = xm_xms_set_open(e, 1, NULL, &t->test, err))) return rc;
        int same = t->target && xm_xms_set_nclasses(t->test) == xm_xms_set_nclasses(t->target);
        for (int i = 0; same && i < xm_xms_set_nclasses(t->test); i++)
            same = !strcmp(xm_xms_set_class(t->test, i), xm_xms_set_class(t->target, i));
        if (!same)
            return xm_err_set(err, XM_EDATA, "%s: classes differ from the plan's target classes",
                              t->cfg->eval_path);
        int c = t->channels;
        if ((rc = set_channels(t->test, &c, err))) return rc;
    }
    return 0;
}

static int index_of(char **names, int n, const char *s)
{
    for (int i = 0; names && i < n; i++)
        if (names[i] && !strcmp(names[i], s)) return i;
    return -1;
}

static char **dup_strs(char **s, int n)
{
    char **v = calloc((size_t)n + 1, sizeof *v);
    for (int i = 0; v && i < n; i++) v[i] = strdup(s[i] ? s[i] : "");
    return v;
}

static void note(xm_trainer *t, const char *fmt, const char *a, int x, int y)
{
    size_t len = strlen(t->notes);
    if (len + 2 < sizeof t->notes) {
        if (len) t->notes[len++] = '\n';
        snprintf(t->notes + len, sizeof t->notes - len, fmt, a, x, y);
    }
}

/* Copy head rows from the model file: the target head when the model's
 * classes are the plan's target classes; source rows by class name from
 * the model's classifier (trained on the source set) or its source head. */
static int copy_heads(xm_trainer *t, const xm_model_meta *m, xm_err *err)
{
    const xm_net_slabs *s = xm_net_slabs_get(t->net);
    const int D = xm_net_feature_dim(t->net);
    float *w = malloc(s->n_w * sizeof *w);
    if (!w) return xm_err_set(err, XM_EFAIL, "out of memory");
    int rc = xm_net_get_weights(t->net, w, NULL, err);
    hid_t f = rc ? -1 : xm_h5_open(t->cfg->model_path, 0, err);
    if (!rc && f < 0) rc = code_of(err);
    float *fw = NULL, *fb = NULL, *sw = NULL, *sb = NULL;
    const int64_t dw[2] = {m->num_classes, D}, db[1] = {m->num_classes};
    const int64_t sdw[2] = {m->source_classes, D}, sdb[1] = {m->source_classes};
    if (!rc && (!(fw = xm_h5_read_alloc(f, "fc.weight", XM_H5_F32, 2, dw, NULL, err)) ||
                !(fb = xm_h5_read_alloc(f, "fc.bias", XM_H5_F32, 1, db, NULL, err))))
        rc = code_of(err);
    if (!rc && m->source_classes > 0 && xm_h5_exists(f, "source_fc.weight") &&
        (!(sw = xm_h5_read_alloc(f, "source_fc.weight", XM_H5_F32, 2, sdw, NULL, err)) ||
         !(sb = xm_h5_read_alloc(f, "source_fc.bias", XM_H5_F32, 1, sdb, NULL, err))))
        rc = code_of(err);
    if (f >= 0) xm_h5_close(f, NULL);
    int pw = xm_net_param_find(t->net, "fc.weight"), pb = xm_net_param_find(t->net, "fc.bias");
    int qw = xm_net_param_find(t->net, "source_fc.weight");
    int qb = xm_net_param_find(t->net, "source_fc.bias");
    const xm_param *par = xm_net_params(t->net, NULL);
    if (!rc) {
        int same = m->num_classes == t->nt;
        for (int i = 0; same && i < t->nt; i++)
            same = m->classes && t->meta.classes &&
                   !strcmp(m->classes[i], t->meta.classes[i]);
        if (same) {
            memcpy(w + par[pw].offset, fw, (size_t)t->nt * D * sizeof *w);
            memcpy(w + par[pb].offset, fb, (size_t)t->nt * sizeof *w);
            note(t, "target head: the model's classifier (%s%d classes)%.0d", "", t->nt, 0);
        } else {
            note(t, "target head: new (%s%d classes, seed %d)", "", t->nt, (int)t->cfg->init_seed);
        }
        int from_fc = 0, from_src = 0;
        for (int i = 0; i < t->ns; i++) {
            const char *name = t->plan.source_names ? t->plan.source_names[i] : "";
            int c = index_of(m->classes, m->num_classes, name);
            const float *rw = NULL, *rb = NULL;
            if (c >= 0) {
                rw = fw + (size_t)c * D;
                rb = fb + c;
                from_fc++;
            } else if (sw && (c = index_of(m->source_names, m->source_classes, name)) >= 0) {
                rw = sw + (size_t)c * D;
                rb = sb + c;
                from_src++;
            }
            if (rw) {
                memcpy(w + par[qw].offset + (size_t)i * D, rw, (size_t)D * sizeof *w);
                w[par[qb].offset + i] = *rb;
            }
        }
        if (t->ns > 0)
            note(t, "source head: %s%d of %d rows from the model's classifiers, the rest new",
                 "", from_fc + from_src, t->ns);
        rc = xm_net_set_weights(t->net, w, NULL, err);
    }
    free(w);
    free(fw);
    free(fb);
    free(sw);
    free(sb);
    return rc;
}

static int find_freeze(xm_trainer *t, xm_err *err)
{
    t->freeze_end = 0;
    const char *l = t->cfg->freeze_upto;
    if (!l) return 0;
    int np;
    const xm_param *p = xm_net_params(t->net, &np);
    size_t n = strlen(l);
    int found = 0;
    for (int i = 0; i < np; i++)
        if (p[i].trainable && p[i].group == XM_PG_BACKBONE && !strncmp(p[i].name, l, n) &&
            (p[i].name[n] == '.' || p[i].name[n] == 0)) {
            found = 1;
            if (p[i].offset + p[i].count > t->freeze_end) t->freeze_end = p[i].offset + p[i].count;
        }
    if (!found)
        return xm_err_set(err, XM_EUSAGE, "--freeze-upto: no backbone layer '%s' in %s", l,
                          xm_net_config(t->net)->arch);
    return 0;
}

int xm_trainer_build_net(xm_trainer *t, xm_err *err)
{
    const xm_train_cfg *c = t->cfg;
    const xm_plan *p = &t->plan;
    int rc;
    xm_model_meta m;
    memset(&m, 0, sizeof m);
    const char *src_path = c->resume_path ? c->resume_path : c->model_path;
    if (src_path && (rc = xm_model_read_meta(src_path, &m, err))) return rc;
    if (!src_path && !c->arch)
        return xm_err_set(err, XM_EUSAGE, "give a model (-m MODEL.h5) or --arch for a fresh one");
    if (!src_path && !xm_net_arch_known(c->arch))
        return xm_err_set(err, XM_EUSAGE, "--arch: unknown architecture '%s'", c->arch);
    if (src_path && m.input_size != p->cfg.input_size) {
        rc = xm_err_set(err, XM_EDATA, "%s: the plan was built for input size %d, the model "
                        "has %d", c->plan_path, p->cfg.input_size, m.input_size);
        goto done;
    }
    if (src_path && m.in_channels != t->channels) {
        rc = xm_err_set(err, XM_EDATA, "%s: the model takes %d channels, the data has %d",
                        src_path, m.in_channels, t->channels);
        goto done;
    }
    /* the target head: the plan's target classes (source plans keep the
     * model's own classifier as the target head) */
    xm_net_cfg nc = {src_path ? m.arch : c->arch, t->channels, p->cfg.input_size, 0, t->ns};
    if (t->target) {
        nc.num_classes = t->nt = p->n_target_classes > 0 ? p->n_target_classes
                                                         : xm_xms_set_nclasses(t->target);
    } else if (src_path) {
        nc.num_classes = t->nt = m.num_classes;
    } else {
        rc = xm_err_set(err, XM_EUSAGE, "mode source needs a model (-m)");
        goto done;
    }
    if (c->resume_path && (m.num_classes != t->nt || m.source_classes != t->ns)) {
        rc = xm_err_set(err, XM_EDATA, "%s: heads (%d, %d) do not match the plan's (%d, %d)",
                        c->resume_path, m.num_classes, m.source_classes, t->nt, t->ns);
        goto done;
    }
    if (!(t->net = xm_net_new(t->be, &nc, err)) || (rc = xm_net_alloc_train(t->net, err)) ||
        (rc = xm_net_init(t->net, c->init_seed, err))) {
        rc = code_of(err);
        if (src_path && rc == XM_EUSAGE) { /* the file's arch, not an option, is at fault */
            rc = err->code = XM_EDATA;
            xm_err_prefix(err, "%s", src_path);
        }
        goto done;
    }
    /* meta of the files we write */
    xm_model_meta_default(&t->meta, &nc);
    if (src_path) {
        memcpy(t->meta.mean, m.mean, sizeof m.mean);
        memcpy(t->meta.std, m.std, sizeof m.std);
    }
    t->meta.classes = t->target ? dup_strs(p->target_classes ? p->target_classes : NULL,
                                           p->target_classes ? t->nt : 0)
                                : dup_strs(m.classes, m.classes ? t->nt : 0);
    if (t->target && !p->target_classes) {
        free(t->meta.classes);
        char **v = calloc((size_t)t->nt + 1, sizeof *v);
        for (int i = 0; v && i < t->nt; i++) v[i] = strdup(xm_xms_set_class(t->target, i));
        t->meta.classes = v;
    }
    t->meta.source_classes = t->ns;
    t->meta.source_names = t->ns ? dup_strs(p->source_names, p->source_names ? t->ns : 0) : NULL;
    if (c->resume_path) {
        rc = xm_model_load_into(t->net, c->resume_path, 0, err);
    } else if (c->model_path) {
        if (!(rc = xm_model_load_into(t->net, c->model_path, XM_MODEL_BACKBONE_ONLY, err)))
            rc = copy_heads(t, &m, err);
    }
    if (!rc) rc = find_freeze(t, err);
done:
    xm_model_meta_release(&m);
    return rc;
}

int xm_trainer_alloc(xm_trainer *t, xm_err *err)
{
    xm_backend *be = t->be;
    const int n = t->plan.slots, S = t->plan.cfg.input_size, D = xm_net_feature_dim(t->net);
    int rc;
    if ((rc = xm_tensor_alloc(be, &t->x, n, S, S, t->channels, be->act_dtype, err)) ||
        (rc = xm_tensor_alloc(be, &t->lab_t, n, 1, 1, t->nt, XM_DT_F32, err)) ||
        (rc = xm_tensor_alloc(be, &t->dl_t, n, 1, 1, t->nt, XM_DT_F32, err)))
        return rc;
    if (t->ns > 0 &&
        ((rc = xm_tensor_alloc(be, &t->lab_s, n, 1, 1, t->ns, XM_DT_F32, err)) ||
         (rc = xm_tensor_alloc(be, &t->dl_s, n, 1, 1, t->ns, XM_DT_F32, err))))
        return rc;
    if (t->cfg->reg == XM_REG_BSS &&
        (rc = xm_tensor_alloc(be, &t->dfeat, n, 1, 1, D, XM_DT_F32, err)))
        return rc;
    t->host_t = calloc((size_t)n * (t->nt + t->ns + 1), sizeof(float));
    t->host_s = calloc((size_t)n * (t->ns + 1), sizeof(float));
    t->host_f = calloc((size_t)n * D, sizeof(float));
    t->host_df = calloc((size_t)n * D, sizeof(float));
    t->host_j = calloc(2 * (size_t)n * (t->nt + t->ns), sizeof(float));
    if (!t->host_t || !t->host_s || !t->host_f || !t->host_df || !t->host_j)
        return xm_err_set(err, XM_EFAIL, "out of memory");
    if (t->cfg->reg == XM_REG_L2SP && !t->w0) {
        const xm_net_slabs *s = xm_net_slabs_get(t->net);
        if (!(t->w0 = be->ops->alloc(be, s->n_w * sizeof(float), err)) ||
            be->ops->copy(be, t->w0, s->w, s->n_w * sizeof(float), err))
            return code_of(err);
    }
    return 0;
}

void xm_trainer_release(xm_trainer *t)
{
    xm_backend *be = t->be;
    if (be) {
        xm_tensor *ts[] = {&t->x, &t->lab_t, &t->lab_s, &t->dl_t, &t->dl_s, &t->dfeat};
        for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) xm_tensor_release(be, ts[i]);
        be->ops->free(be, t->w0);
        be->ops->free(be, t->rec_dev);
    }
    xm_net_free(t->net);
    xm_model_meta_release(&t->meta);
    xm_plan_release(&t->plan);
    xm_xms_set_close(t->target);
    xm_xms_set_close(t->partner);
    xm_xms_set_close(t->test);
    free(t->src_row);
    free(t->host_t);
    free(t->host_s);
    free(t->host_f);
    free(t->host_df);
    free(t->host_j);
    free(t->config_json);
    if (t->metrics) fclose(t->metrics);
    xm_backend_free(be);
    memset(t, 0, sizeof *t);
}
