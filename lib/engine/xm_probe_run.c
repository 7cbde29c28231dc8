/* xm_probe_run.c: a model over an .xms data set, batch by batch, in
 * evaluation mode, with the evaluation transform (center crop to the input
 * size, the model's mean/std) done by the backend's input_mix. Each batch's
 * records are read by xm_xms_readers (planned from the index, then read on
 * `readers` threads), between the batches' forward passes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"
#include "xm_xms_readers.h"

typedef struct run_bufs {
    xm_tensor x;
    uint8_t *host;        /* records of one batch, back to back */
    size_t host_cap;
    uint8_t *dev;         /* the same in backend memory */
    size_t dev_cap;
    xm_mix_item *items;
    xm_xms_fetch *reads;
    int32_t *labels;
    float *logits, *feat;
} run_bufs;

/* torchvision CenterCrop: top = int(round((h - S) / 2)), Python's round
 * being round-half-even; a smaller image is padded by (S - h) // 2 first,
 * which gives the same (negative) offset. */
static int32_t center_off(int stored, int s)
{
    return (int32_t)nearbyint((stored - s) / 2.0);
}

static int grow_dev(xm_backend *be, run_bufs *b, size_t need, xm_err *err)
{
    if (need <= b->dev_cap) return 0;
    be->ops->free(be, b->dev);
    b->dev_cap = need + need / 2;
    b->dev = be->ops->alloc(be, b->dev_cap, err);
    return b->dev ? 0 : XM_EFAIL;
}

int xm_probe_run(xm_backend *be, xm_net *net, const xm_model_meta *meta, const xm_xms_set *set,
                 const xm_probe_run_opts *o, xm_probe_fn fn, void *ctx, xm_err *err)
{
    const xm_net_cfg *cfg = xm_net_config(net);
    int S = cfg->input_size, C = cfg->in_channels, B = o->batch, d = xm_net_feature_dim(net);
    int k = o->head ? cfg->source_classes : cfg->num_classes;
    if (B <= 0) return xm_err_set(err, XM_EUSAGE, "batch size %d", B);
    if (o->head && cfg->source_classes <= 0)
        return xm_err_set(err, XM_EUSAGE, "the model has no source head (source_fc)");
    run_bufs b = {0};
    int rc = xm_tensor_alloc(be, &b.x, B, S, S, C, be->act_dtype, err);
    b.items = calloc((size_t)B, sizeof *b.items);
    b.reads = calloc((size_t)B, sizeof *b.reads);
    b.labels = calloc((size_t)B, sizeof *b.labels);
    b.logits = o->want_logits ? malloc((size_t)B * k * sizeof(float)) : NULL;
    b.feat = o->want_features ? malloc((size_t)B * d * sizeof(float)) : NULL;
    if (!rc && (!b.items || !b.reads || !b.labels || (o->want_logits && !b.logits) ||
                (o->want_features && !b.feat)))
        rc = xm_err_set(err, XM_EFAIL, "out of memory");
    xm_xms_readers *rd = rc ? NULL : xm_xms_readers_new(o->readers, err);
    if (!rc && !rd) rc = err->code ? err->code : XM_EFAIL;
    uint64_t total = xm_xms_set_count(set);
    for (uint64_t first = 0; !rc && first < total; first += (uint64_t)B) {
        int n = total - first < (uint64_t)B ? (int)(total - first) : B;
        size_t used = 0;
        for (int i = 0; !rc && i < n; i++) {
            xm_xms_rec r;
            xm_xms_set_peek(set, first + i, &r);
            if (r.c != C) {
                int f;
                uint64_t local;
                xm_xms_set_locate(set, first + i, &f, &local);
                rc = xm_err_set(err, XM_EDATA, "%s: record %llu has %d channels, the model expects %d",
                                xm_xms_path(xm_xms_set_file(set, f)), (unsigned long long)local, r.c, C);
                break;
            }
            size_t bytes = (size_t)r.h * r.w * r.c;
            if (used + bytes > b.host_cap) {
                size_t cap = (used + bytes) * 2;
                uint8_t *p = realloc(b.host, cap);
                if (!p) {
                    rc = xm_err_set(err, XM_EFAIL, "out of memory");
                    break;
                }
                b.host = p, b.host_cap = cap;
            }
            b.reads[i] = (xm_xms_fetch){set, (int64_t)(first + i), (int64_t)used, bytes, C};
            b.items[i] = (xm_mix_item){.off_a = (int64_t)used, .off_b = -1, .ha = r.h, .wa = r.w,
                                       .ya = center_off(r.h, S), .xa = center_off(r.w, S), .lam = 1.0f};
            b.labels[i] = r.label < 0 || r.label >= xm_xms_set_nclasses(set) ? -1
                          : o->map ? o->map[r.label] : r.label;
            used += bytes;
        }
        if (!rc) rc = xm_xms_readers_run(rd, b.reads, n, b.host, err);
        xm_tensor x = b.x;
        x.n = n;
        if (!rc) rc = grow_dev(be, &b, used, err);
        if (!rc) rc = be->ops->upload(be, b.dev, b.host, used, err);
        if (!rc) rc = be->ops->input_mix(be, b.dev, b.items, meta->mean, meta->std, &x, err);
        if (!rc) rc = xm_net_forward(net, &x, 0, err);
        if (!rc && b.logits) rc = be->ops->download_f32(be, xm_net_logits(net, o->head), b.logits, err);
        if (!rc && b.feat) rc = be->ops->download_f32(be, xm_net_features(net), b.feat, err);
        xm_probe_batch pb = {.first = (int64_t)first, .n = n, .labels = b.labels, .logits = b.logits,
                             .k = k, .features = b.feat, .d = d};
        if (!rc) rc = fn(ctx, &pb, err);
        if (!rc && o->progress) o->progress(o->progress_ctx, (int64_t)(first + n), (int64_t)total);
    }
    xm_xms_readers_free(rd);
    xm_tensor_release(be, &b.x);
    be->ops->free(be, b.dev);
    free(b.host), free(b.items), free(b.reads), free(b.labels), free(b.logits), free(b.feat);
    if (rc) xm_backend_oom_batch(err, B);
    return rc;
}
