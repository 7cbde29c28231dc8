/* xm_ckpt.c: training checkpoints (formats/checkpoint.md) and the final
 * model file. A checkpoint is a model file (every tensor, attributes) plus
 * a `train` group with the momentum slab, the L2-SP starting weights and
 * the step; with the plan (the only randomness of training) that is all a
 * bit-identical continuation needs. Written atomically. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_train_impl.h"

static int code_of(const xm_err *err) { return err && err->code ? err->code : XM_EFAIL; }

static void json_str(char *buf, size_t n, size_t *len, const char *key, const char *v)
{
    if (*len >= n) return;
    *len += (size_t)snprintf(buf + *len, n - *len, "%s\"%s\": ", *len > 1 ? ", " : "", key);
    if (*len >= n) return;
    if (!v) {
        *len += (size_t)snprintf(buf + *len, n - *len, "null");
        return;
    }
    *len += (size_t)snprintf(buf + *len, n - *len, "\"");
    for (const char *p = v; *p && *len + 8 < n; p++) {
        if (*p == '"' || *p == '\\') buf[(*len)++] = '\\';
        if ((unsigned char)*p < 0x20) continue;
        buf[(*len)++] = *p;
    }
    if (*len < n) *len += (size_t)snprintf(buf + *len, n - *len, "\"");
}

static void json_num(char *buf, size_t n, size_t *len, const char *key, double v)
{
    if (*len >= n) return;
    *len += (size_t)snprintf(buf + *len, n - *len, "%s\"%s\": %.17g", *len > 1 ? ", " : "",
                             key, v);
}

char *xm_train_config_json(const xm_train_cfg *c)
{
    static const char *const lm[] = {"joint", "split"};
    static const char *const sk[] = {"multistep", "cosine", "constant"};
    static const char *const rk[] = {"l2", "l2sp", "bss"};
    size_t n = 8192, len = 1;
    char *b = malloc(n);
    if (!b) return NULL;
    b[0] = '{';
    json_str(b, n, &len, "model", c->model_path);
    json_str(b, n, &len, "arch", c->arch);
    json_num(b, n, &len, "init_seed", (double)c->init_seed);
    json_str(b, n, &len, "plan", c->plan_path);
    json_str(b, n, &len, "eval", c->eval_path);
    json_str(b, n, &len, "label_mode", lm[c->label_mode]);
    json_num(b, n, &len, "lr", c->lr);
    json_num(b, n, &len, "momentum", c->momentum);
    json_num(b, n, &len, "wd", c->wd);
    json_num(b, n, &len, "nesterov", c->nesterov);
    json_str(b, n, &len, "schedule", sk[c->sched]);
    char ms[512] = "";
    size_t ml = 0;
    for (int i = 0; i < c->n_milestones && ml < sizeof ms; i++)
        ml += (size_t)snprintf(ms + ml, sizeof ms - ml, "%s%lld", i ? "," : "",
                               (long long)c->milestones[i]);
    json_str(b, n, &len, "milestones", ms);
    json_num(b, n, &len, "gamma", c->gamma);
    json_num(b, n, &len, "warmup", (double)c->warmup);
    json_num(b, n, &len, "head_lr_mult", c->head_lr_mult);
    json_str(b, n, &len, "freeze_upto", c->freeze_upto);
    json_str(b, n, &len, "reg", rk[c->reg]);
    json_num(b, n, &len, "l2sp_alpha", c->l2sp_alpha);
    json_num(b, n, &len, "l2sp_beta", c->l2sp_beta);
    json_num(b, n, &len, "bss_k", c->bss_k);
    json_num(b, n, &len, "bss_eta", c->bss_eta);
    json_str(b, n, &len, "device", c->device);
    json_str(b, n, &len, "precision",
             xm_precision_name(c->precision >= 0 && c->precision < 4 ? c->precision : 0));
    json_num(b, n, &len, "threads", c->threads);
    char ls[64];
    xm_train_loss_scale_name(c, ls, sizeof ls);
    json_str(b, n, &len, "loss_scale", ls);
    if (len + 2 < n) {
        b[len++] = '}';
        b[len] = 0;
    } else {
        snprintf(b, n, "{}");
    }
    return b;
}

static int write_provenance(xm_trainer *t, hid_t f, xm_err *err)
{
    int rc = xm_h5_attr_write_str(f, "train_config", t->config_json ? t->config_json : "{}", err);
    if (!rc) rc = xm_h5_attr_write_str(f, "plan_file", t->cfg->plan_path, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "plan_xxh64", t->plan_xxh, err);
    if (!rc) rc = xm_h5_attr_write_str(f, "plan_mode", xm_plan_mode_name(t->plan.cfg.mode), err);
    return rc;
}

static int write_train_group(xm_trainer *t, hid_t f, xm_err *err)
{
    xm_backend *be = t->be;
    const xm_net_slabs *s = xm_net_slabs_get(t->net);
    float *h = malloc(s->n_w * sizeof *h);
    if (!h) return xm_err_set(err, XM_EFAIL, "out of memory");
    hid_t g = xm_h5_group_create(f, "train", err);
    int rc = g < 0 ? code_of(err) : 0;
    const int64_t d[1] = {(int64_t)s->n_w};
    if (!rc && be->ops->download(be, h, s->mom, s->n_w * sizeof *h, err)) rc = code_of(err);
    if (!rc) rc = xm_h5_write(g, "momentum", XM_H5_F32, 1, d, h, 0, err);
    if (!rc && t->w0) {
        if (be->ops->download(be, h, t->w0, s->n_w * sizeof *h, err)) rc = code_of(err);
        if (!rc) rc = xm_h5_write(g, "w0", XM_H5_F32, 1, d, h, 0, err);
    }
    if (!rc) rc = xm_h5_attr_write_i64(g, "step", t->step, err);
    if (!rc) rc = xm_h5_attr_write_i64(g, "steps", t->plan.steps, err);
    if (!rc) rc = xm_h5_attr_write_i64(g, "plan_seed", (int64_t)t->plan.cfg.seed, err);
    if (!rc) rc = xm_h5_attr_write_i64(g, "freeze_end", (int64_t)t->freeze_end, err);
    if (!rc && t->ls_scale > 0) {
        rc = xm_h5_attr_write_f64(g, "loss_scale", t->ls_scale, err);
        if (!rc) rc = xm_h5_attr_write_i64(g, "loss_scale_good", t->ls_good, err);
        if (!rc) rc = xm_h5_attr_write_i64(g, "loss_scale_skipped", t->ls_skipped, err);
    }
    if (!rc) rc = xm_h5_attr_write_str(g, "format", "xm-checkpoint-1", err);
    if (g >= 0) H5Gclose(g);
    free(h);
    return rc;
}

static int save(xm_trainer *t, const char *path, int flags, int ckpt, xm_err *err)
{
    xm_atomic a;
    hid_t f;
    int rc = xm_h5_out_open(&a, path, flags, &f, err);
    if (rc) return rc;
    rc = xm_model_write_meta(t->net, &t->meta, f, err);
    if (!rc) rc = xm_model_write_tensors(t->net, f, err);
    if (!rc) rc = write_provenance(t, f, err);
    if (!rc && ckpt) rc = write_train_group(t, f, err);
    return xm_h5_out_close(&a, f, rc, path, err);
}

int xm_ckpt_save(xm_trainer *t, const char *path, xm_err *err)
{
    return save(t, path, XM_ATOMIC_FORCE, 1, err);
}

int xm_train_save_model(xm_trainer *t, const char *path, int flags, xm_err *err)
{
    return save(t, path, flags, 0, err);
}

/* NaN optimizer state would only surface as a NaN loss steps later */
static int check_finite(const float *v, size_t n, const char *path, const char *name, xm_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return xm_err_set(err, XM_EDATA, "%s: dataset %s: value %zu is not finite", path, name, i);
    return 0;
}

/* The loss scaler's state: a checkpoint continues with the same scale
 * only when the run scales the loss as the checkpointed one did. */
static int load_loss_scale(xm_trainer *t, hid_t g, const char *path, xm_err *err)
{
    int has = xm_h5_attr_exists(g, "loss_scale");
    if (has != (t->ls_scale > 0))
        return xm_err_set(err, XM_EDATA, "%s: written %s loss scaling (give the same "
                          "--loss-scale as that run)", path, has ? "with" : "without");
    if (!has) return 0;
    double s = 0;
    int64_t good = 0, skipped = 0;
    int rc = xm_h5_attr_read_f64(g, "loss_scale", &s, err);
    if (!rc) rc = xm_h5_attr_read_i64(g, "loss_scale_good", &good, err);
    if (!rc) rc = xm_h5_attr_read_i64(g, "loss_scale_skipped", &skipped, err);
    if (rc) return rc;
    if (!xm_train_loss_scale_ok(s) || good < 0 || skipped < 0)
        return xm_err_set(err, XM_EDATA, "%s: train/loss_scale state out of range (%g, %lld, "
                          "%lld)", path, s, (long long)good, (long long)skipped);
    if (t->ls_dynamic) t->ls_scale = s; /* a fixed scale is the option's */
    t->ls_good = good;
    t->ls_skipped = skipped;
    return 0;
}

int xm_ckpt_load(xm_trainer *t, const char *path, xm_err *err)
{
    xm_backend *be = t->be;
    const xm_net_slabs *s = xm_net_slabs_get(t->net);
    hid_t f = xm_h5_open(path, 0, err);
    if (f < 0) return code_of(err);
    float *h = malloc(s->n_w * sizeof *h);
    char px[32] = "";
    int64_t step = 0, fe = 0;
    const int64_t d[1] = {(int64_t)s->n_w};
    int rc = h ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
    if (!rc && !xm_h5_exists(f, "train/momentum"))
        rc = xm_err_set(err, XM_EDATA, "%s: not a training checkpoint (no train/momentum)", path);
    if (!rc) rc = xm_h5_attr_read_str(f, "plan_xxh64", px, sizeof px, err);
    if (!rc && strcmp(px, t->plan_xxh))
        rc = xm_err_set(err, XM_EDATA, "%s: written for another plan (checksum %s, this plan %s)",
                        path, px, t->plan_xxh);
    hid_t g = rc ? -1 : xm_h5_group_open(f, "train", err);
    if (!rc && g < 0) rc = code_of(err);
    if (!rc) rc = xm_h5_attr_read_i64(g, "step", &step, err);
    if (!rc && (step < 0 || step > t->plan.steps))
        rc = xm_err_set(err, XM_EDATA, "%s: step %lld is out of range", path, (long long)step);
    if (!rc) rc = xm_h5_attr_read_i64(g, "freeze_end", &fe, err);
    if (!rc && (size_t)fe != t->freeze_end)
        rc = xm_err_set(err, XM_EDATA, "%s: written with another --freeze-upto", path);
    if (!rc) rc = load_loss_scale(t, g, path, err);
    if (!rc) rc = xm_h5_read(g, "momentum", XM_H5_F32, 1, d, h, err);
    if (!rc) rc = check_finite(h, s->n_w, path, "train/momentum", err);
    if (!rc && be->ops->upload(be, s->mom, h, s->n_w * sizeof *h, err)) rc = code_of(err);
    if (!rc && t->cfg->reg == XM_REG_L2SP) {
        if (!xm_h5_exists(g, "w0"))
            rc = xm_err_set(err, XM_EDATA, "%s: no L2-SP starting weights (train/w0): the run "
                            "was not an l2sp run", path);
        if (!rc) rc = xm_h5_read(g, "w0", XM_H5_F32, 1, d, h, err);
        if (!rc) rc = check_finite(h, s->n_w, path, "train/w0", err);
        if (!rc && !t->w0 && !(t->w0 = be->ops->alloc(be, s->n_w * sizeof *h, err)))
            rc = code_of(err);
        if (!rc && be->ops->upload(be, t->w0, h, s->n_w * sizeof *h, err)) rc = code_of(err);
    }
    if (g >= 0) H5Gclose(g);
    xm_h5_close(f, NULL);
    free(h);
    if (rc) {
        if (!strstr(err->msg, path)) xm_err_prefix(err, "%s", path);
        return rc;
    }
    t->step = step;
    return 0;
}
