/* test_cuda_graph.c: CUDA graphs (xm_backend.h, graph_begin) against eager
 * steps on the CUDA backend, which has no debug sync here (it refuses
 * graphs in that mode).
 *
 * Cases: ResNet-20 (1x28x28, batch 8, fc 10 + source_fc 6) and ResNet-18
 * (3x64x64, batch 4, fc 10), f32 and bf16. One backend per case, two
 * networks with the same initial weights. A trains eagerly for N steps. B
 * runs step 1 eagerly, captures step 2 (forward, soft-label losses without
 * readback, backward, SGD with momentum) and replays the graph for steps
 * 2..N (a capture records the step, it does not run it). Every step's
 * input comes from input_mix with new items, run eagerly into the tensor
 * the graph reads. Then A's and B's weights, momentum and running
 * statistics are compared. Then an inference graph against an eager
 * forward, before and after an eager step changed the weights (replays must
 * convert the new weights); two more eager steps on both networks, a second
 * training capture on B, replays, and the comparison again.
 * Misuse: graph_begin refuses in debug-sync mode; while capturing, sync,
 * upload, download, alloc and input_mix refuse and graph_end then makes no
 * graph (it names the first refusal); a free makes graph_end fail (the
 * block is kept); xm_backend_graph_record of a step that fails returns no
 * graph; a one-memset capture replays.
 *
 * Exactness: the backend has no deterministic-algorithm switch, and batch
 * norm sums per-block partials with double atomics, so A and B agree to
 * rounding, not always bit for bit. Weights are checked with
 * test_cuda_net's "weights after SGD" tolerances (f32 1e-4, bf16 2e-2),
 * momentum with its gradient ones; the test prints whether the slabs were
 * bitwise equal. The inference graph runs the same deterministic kernels
 * as the eager forward: 1e-6. Without a GPU: "skipped: no GPU", exit 77.
 * Built with -DTC_FAKE_GPU (ctest cuda/test_cuda_graph_fake) the "GPU" is the CPU backend and a
 * replay runs the recorded step eagerly, which checks the test itself. */
#include "test_cuda_common.h"
#include "xm_net.h"

#ifdef XM_HAVE_CUDA

#define STEPS 5 /* N */

typedef struct side {
    xm_net *net;
    xm_tensor x, t[2], dz[2];
} side;

typedef struct gcase {
    xm_backend *be;
    side s[2]; /* A (eager), B (graphs) */
    uint8_t *rec;
    int batch, size, in_ch, rs, nh, k[2];
    xm_rng rng; /* the items of each step */
    xm_sgd_cfg sgd;
    double tol_w, tol_mom, tol_buf;
} gcase;

typedef int (*step_fn)(gcase *c, side *s, xm_err *err);

/* A recorded step: the graph, or in the fake build the step to rerun. */
typedef struct recorded {
    void *g;
    step_fn fn;
    side *s;
} recorded;

static int train_step(gcase *c, side *s, xm_err *err)
{
    xm_backend *be = c->be;
    if (xm_net_forward(s->net, &s->x, 1, err)) return err->code;
    for (int h = 0; h < c->nh; h++)
        if (be->ops->softmax_xent(be, xm_net_logits(s->net, h), &s->t[h], NULL, &s->dz[h], err))
            return err->code;
    const xm_tensor *dl[2] = {&s->dz[0], c->nh == 2 ? &s->dz[1] : NULL};
    if (xm_net_backward(s->net, dl, NULL, err)) return err->code;
    return xm_net_sgd_step(s->net, &c->sgd, NULL, err);
}

static int infer_step(gcase *c, side *s, xm_err *err)
{
    (void)c;
    return xm_net_forward(s->net, &s->x, 0, err);
}

#ifndef TC_FAKE_GPU
typedef struct fn_ctx {
    gcase *c;
    side *s;
    step_fn fn;
} fn_ctx;

static int run_fn(void *ctx, xm_err *err)
{
    fn_ctx *f = ctx;
    return f->fn(f->c, f->s, err);
}
#endif

/* Record fn on side s (xm_backend_graph_record). */
static int capture(gcase *c, side *s, step_fn fn, recorded *r, xm_err *err)
{
    *r = (recorded){NULL, fn, s};
#ifdef TC_FAKE_GPU
    (void)c, (void)err;
    return 0;
#else
    fn_ctx f = {c, s, fn};
    return xm_backend_graph_record(c->be, run_fn, &f, &r->g, err);
#endif
}

static int replay(gcase *c, recorded *r, xm_err *err)
{
#ifdef TC_FAKE_GPU
    return r->fn(c, r->s, err);
#else
    return c->be->ops->graph_launch(c->be, r->g, err);
#endif
}

static void release(gcase *c, recorded *r)
{
    if (c->be->ops->graph_free) c->be->ops->graph_free(c->be, r->g);
    r->g = NULL;
}

/* New items for one step: crops that reach outside, flips, mixed pairs. */
static void items_next(gcase *c, xm_mix_item *it)
{
    size_t img = (size_t)c->rs * c->rs * c->in_ch;
    for (int i = 0; i < c->batch; i++) {
        xm_mix_item *m = &it[i];
        memset(m, 0, sizeof *m);
        m->off_a = (int64_t)(img * xm_rng_below(&c->rng, (uint64_t)c->batch));
        m->off_b = i % 3 == 2 ? -1 : (int64_t)(img * xm_rng_below(&c->rng, (uint64_t)c->batch));
        m->ha = m->wa = m->hb = m->wb = c->rs;
        m->ya = (int)xm_rng_below(&c->rng, 9) - 2, m->xa = (int)xm_rng_below(&c->rng, 9) - 2;
        m->yb = (int)xm_rng_below(&c->rng, 9) - 2, m->xb = (int)xm_rng_below(&c->rng, 9) - 2;
        m->flip_a = (int)xm_rng_below(&c->rng, 2), m->flip_b = (int)xm_rng_below(&c->rng, 2);
        m->lam = (float)xm_rng_uniform(&c->rng);
    }
}

/* The same new input into A's and B's input tensors (eagerly). */
static void mix_both(gcase *c)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    xm_mix_item *it = tc_xmalloc(sizeof *it * (size_t)c->batch);
    items_next(c, it);
    for (int i = 0; i < 2; i++)
        TC_OK(c->be->ops->input_mix(c->be, c->rec, it, mean, sd, &c->s[i].x, err));
    free(it);
}

static double cmp_report(const float *b, const float *a, size_t n, const char *name, double tol)
{
    double e = xm_test_rel_err(b, a, n);
    int same = !memcmp(a, b, n * sizeof *a);
    XM_CHECKF(e <= tol && e == e, "%s: relative error %.3g > %.3g", name, e, tol);
    fprintf(stderr, "  %-58s rel %.3g%s\n", name, e, same ? " (bitwise equal)" : "");
    return e;
}

/* A's and B's slabs after the same steps. */
static void cmp_sides(gcase *c, const char *tag, const char *when)
{
    xm_err err = {0};
    xm_backend *be = c->be;
    const xm_net_slabs *sa = xm_net_slabs_get(c->s[0].net), *sb = xm_net_slabs_get(c->s[1].net);
    size_t nw = sa->n_w, nb = sa->n_buf ? sa->n_buf : 1;
    float *wa = tc_xmalloc(nw * 4), *wb = tc_xmalloc(nw * 4);
    float *ba = tc_xmalloc(nb * 4), *bb = tc_xmalloc(nb * 4);
    char name[200];
    if (xm_net_get_weights(c->s[0].net, wa, ba, &err) ||
        xm_net_get_weights(c->s[1].net, wb, bb, &err))
        tc_die("weights", &err);
    snprintf(name, sizeof name, "%s weights %s", tag, when);
    cmp_report(wb, wa, nw, name, c->tol_w);
    if (sa->n_buf) {
        snprintf(name, sizeof name, "%s running stats %s", tag, when);
        cmp_report(bb, ba, sa->n_buf, name, c->tol_buf);
    }
    if (be->ops->download(be, wa, sa->mom, nw * 4, &err) ||
        be->ops->download(be, wb, sb->mom, nw * 4, &err))
        tc_die("momentum", &err);
    snprintf(name, sizeof name, "%s momentum %s", tag, when);
    cmp_report(wb, wa, nw, name, c->tol_mom);
    free(wa), free(wb), free(ba), free(bb);
}

static float *logits_host(gcase *c, const xm_tensor *z)
{
    xm_err err = {0};
    float *h = tc_xmalloc(xm_tensor_count(z) * 4);
    if (c->be->ops->download_f32(c->be, z, h, &err)) tc_die("logits", &err);
    return h;
}

static void setup(gcase *c, xm_precision prec, const char *arch, int in_ch, int size, int batch,
                  int classes, int src_classes)
{
    xm_err err = {0};
    memset(c, 0, sizeof *c);
    c->be = tc_gpu_new_sync(prec, 0);
    c->batch = batch, c->size = size, c->in_ch = in_ch, c->rs = size + 4;
    c->nh = src_classes > 0 ? 2 : 1, c->k[0] = classes, c->k[1] = src_classes;
    c->sgd = (xm_sgd_cfg){.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f};
    xm_rng_init(&c->rng, 99, 0);
    xm_backend *be = c->be;
    xm_net_cfg cfg = {.arch = arch, .in_channels = in_ch, .input_size = size,
                      .num_classes = classes, .source_classes = src_classes};
    for (int i = 0; i < 2; i++) {
        if (!(c->s[i].net = xm_net_new(be, &cfg, &err))) tc_die("xm_net_new", &err);
        if (xm_net_alloc_train(c->s[i].net, &err)) tc_die("xm_net_alloc_train", &err);
    }
    if (xm_net_init(c->s[0].net, 1234, &err)) tc_die("xm_net_init", &err);
    const xm_net_slabs *sl = xm_net_slabs_get(c->s[0].net);
    float *w = tc_xmalloc(sl->n_w * 4), *buf = tc_xmalloc((sl->n_buf + 1) * 4);
    if (xm_net_get_weights(c->s[0].net, w, buf, &err) ||
        xm_net_set_weights(c->s[1].net, w, buf, &err))
        tc_die("weights", &err);
    free(w), free(buf);
    /* records: batch images of (size+4)^2 x in_ch */
    size_t bytes = (size_t)c->rs * c->rs * in_ch * batch;
    uint8_t *rec = tc_xmalloc(bytes);
    for (size_t i = 0; i < bytes; i++) rec[i] = (uint8_t)xm_rng_below(&c->rng, 256);
    c->rec = be->ops->alloc(be, bytes, &err);
    if (!c->rec || be->ops->upload(be, c->rec, rec, bytes, &err)) tc_die("records", &err);
    free(rec);
    /* soft labels; source_fc rows weigh less (split mode) */
    for (int h = 0; h < c->nh; h++) {
        int k = c->k[h];
        float *th = tc_xmalloc((size_t)batch * k * 4);
        for (int i = 0; i < batch; i++) {
            th[(size_t)i * k + i % k] += h ? 0.4f : 0.7f;
            th[(size_t)i * k + (i * 3 + 1) % k] += h ? 0.2f : 0.3f;
        }
        for (int i = 0; i < 2; i++)
            if (xm_tensor_alloc(be, &c->s[i].t[h], batch, 1, 1, k, XM_DT_F32, &err) ||
                xm_tensor_alloc(be, &c->s[i].dz[h], batch, 1, 1, k, XM_DT_F32, &err) ||
                be->ops->upload_f32(be, &c->s[i].t[h], th, &err))
                tc_die("labels", &err);
        free(th);
    }
    for (int i = 0; i < 2; i++)
        if (xm_tensor_alloc(be, &c->s[i].x, batch, size, size, in_ch, be->act_dtype, &err))
            tc_die("x", &err);
    int f32 = prec == XM_PREC_F32;
    c->tol_w = f32 ? 1e-4 : 2e-2;
    c->tol_buf = f32 ? 1e-4 : 1e-2;
    c->tol_mom = f32 ? 1e-3 : 0.6;
}

static void teardown(gcase *c)
{
    for (int i = 0; i < 2; i++) {
        side *s = &c->s[i];
        xm_tensor_release(c->be, &s->x);
        for (int h = 0; h < 2; h++) {
            xm_tensor_release(c->be, &s->t[h]);
            xm_tensor_release(c->be, &s->dz[h]);
        }
        xm_net_free(s->net);
    }
    c->be->ops->free(c->be, c->rec);
    xm_backend_free(c->be);
}

/* Steps on both: A eagerly, B by replaying r (eagerly when r is NULL). */
static void steps_both(gcase *c, recorded *r, int n)
{
    for (int i = 0; i < n; i++) {
        mix_both(c);
        TC_OK(train_step(c, &c->s[0], err));
        TC_OK(r ? replay(c, r, err) : train_step(c, &c->s[1], err));
    }
}

static void graph_case(xm_precision prec, const char *arch, int in_ch, int size, int batch,
                       int classes, int src_classes)
{
    char tag[96], name[200];
    snprintf(tag, sizeof tag, "[%s] %s %dx%dx%d batch %d", tc_prec_name(prec), arch, in_ch, size,
             size, batch);
    fprintf(stderr, "%s\n", tag);
    int failures0 = xm_test_failures;
    gcase c;
    setup(&c, prec, arch, in_ch, size, batch, classes, src_classes);
    side *B = &c.s[1];
    recorded tr = {0}, inf = {0};

    /* step 1 eager on both; step 2 captured on B; steps 2..N replayed */
    steps_both(&c, NULL, 1);
    mix_both(&c);
    TC_OK(train_step(&c, &c.s[0], err));
    TC_OK(capture(&c, B, train_step, &tr, err));
    if (xm_test_failures > failures0) goto out;
    TC_OK(replay(&c, &tr, err));
    steps_both(&c, &tr, STEPS - 2);
    if (xm_test_failures > failures0) goto out;
    snprintf(name, sizeof name, "after %d steps (1 eager, %d replays)", STEPS, STEPS - 1);
    cmp_sides(&c, tag, name);

    /* inference: a captured forward against the eager one, twice, with an
     * eager training step on the same input (new weights) in between. zi:
     * the inference logits (xm_net_logits follows the last forward). */
    TC_OK(infer_step(&c, B, err));
    const xm_tensor zi = *xm_net_logits(B->net, 0);
    size_t nz = xm_tensor_count(&zi);
    float *ze = logits_host(&c, &zi);
    TC_OK(capture(&c, B, infer_step, &inf, err));
    if (xm_test_failures > failures0) goto out_ze;
    TC_OK(c.be->ops->memset0(c.be, zi.data, nz * 4, err)); /* the replay must write them */
    TC_OK(replay(&c, &inf, err));
    float *zg = logits_host(&c, &zi);
    snprintf(name, sizeof name, "%s infer logits: graph vs eager", tag);
    cmp_report(zg, ze, nz, name, 1e-6);
    TC_OK(train_step(&c, &c.s[0], err));
    TC_OK(train_step(&c, B, err));
    TC_OK(replay(&c, &inf, err));
    float *zg2 = logits_host(&c, &zi);
    TC_OK(infer_step(&c, B, err));
    float *ze2 = logits_host(&c, &zi);
    snprintf(name, sizeof name, "%s infer logits after an eager step: graph vs eager", tag);
    cmp_report(zg2, ze2, nz, name, 1e-6);
    XM_CHECKF(xm_test_rel_err(zg2, zg, nz) > 1e-4,
              "%s: the inference replay did not see the new weights", tag);

    /* more eager steps, then a second training capture (the inference graph
     * stays live meanwhile) */
    release(&c, &tr);
    steps_both(&c, NULL, 2);
    mix_both(&c);
    TC_OK(train_step(&c, &c.s[0], err));
    TC_OK(capture(&c, B, train_step, &tr, err));
    if (xm_test_failures == failures0) {
        TC_OK(replay(&c, &tr, err));
        steps_both(&c, &tr, 2);
        snprintf(name, sizeof name, "after %d steps (second capture)", STEPS + 6);
        cmp_sides(&c, tag, name);
    }
    free(zg), free(zg2), free(ze2);
out_ze:
    free(ze);
out:
    release(&c, &tr);
    release(&c, &inf);
    teardown(&c);
}

#ifndef TC_FAKE_GPU
/* rc must be XM_EUSAGE with a message containing want. */
static void expect_refused(int rc, const xm_err *e, const char *what, const char *want)
{
    XM_CHECKF(rc == XM_EUSAGE && strstr(e->msg, want), "%s: rc %d, message \"%s\"", what, rc,
              e->msg);
}

/* A step that records one op and then does what a capture refuses. */
typedef struct refused_ctx {
    xm_backend *be;
    void *buf;
} refused_ctx;

static int refused_step(void *ctx, xm_err *err)
{
    const refused_ctx *r = ctx;
    float back[4];
    if (r->be->ops->memset0(r->be, r->buf, sizeof back, err)) return err->code;
    return r->be->ops->download(r->be, back, r->buf, sizeof back, err);
}

static void misuse_checks(void)
{
    fprintf(stderr, "[misuse]\n");
    xm_err err = {0}, e = {0};
    xm_backend *dbg = tc_gpu_new_sync(XM_PREC_F32, 1);
    expect_refused(dbg->ops->graph_begin(dbg, &e), &e, "graph_begin in debug-sync mode", "debug");
    fprintf(stderr, "  debug sync: %s\n", e.msg);
    TC_OK(dbg->ops->sync(dbg, err)); /* not left capturing */
    xm_backend_free(dbg);

    xm_backend *be = tc_gpu_new_sync(XM_PREC_F32, 0);
    float host[64] = {0};
    for (int i = 0; i < 64; i++) host[i] = (float)i + 1.f;
    void *p = be->ops->alloc(be, sizeof host, &err);
    uint8_t *rec = be->ops->alloc(be, 64, &err);
    xm_tensor x = {0};
    if (!p || !rec || xm_tensor_alloc(be, &x, 1, 4, 4, 1, be->act_dtype, &err))
        tc_die("misuse buffers", &err);
    xm_mix_item it = {.off_a = 0, .off_b = -1, .ha = 8, .wa = 8};
    float mean = 0.5f, sd = 0.25f;
    TC_OK(be->ops->graph_begin(be, err));
    e = (xm_err){0};
    expect_refused(be->ops->sync(be, &e), &e, "sync while capturing", "sync");
    fprintf(stderr, "  sync: %s\n", e.msg);
    e = (xm_err){0};
    expect_refused(be->ops->download(be, host, p, sizeof host, &e), &e, "download", "download");
    e = (xm_err){0};
    expect_refused(be->ops->upload(be, p, host, sizeof host, &e), &e, "upload", "upload");
    e = (xm_err){0};
    XM_CHECK(be->ops->alloc(be, 16, &e) == NULL);
    expect_refused(e.code, &e, "alloc while capturing", "allocating");
    e = (xm_err){0};
    expect_refused(be->ops->input_mix(be, rec, &it, &mean, &sd, &x, &e), &e, "input_mix",
                   "input_mix");
    /* the refusals left the recording short: graph_end makes no graph and
     * names the first refused op */
    void *g = &e;
    e = (xm_err){0};
    expect_refused(be->ops->graph_end(be, &g, &e), &e, "graph_end after refusals", "sync");
    fprintf(stderr, "  after refusals: %s\n", e.msg);
    XM_CHECK(g == NULL);
    TC_OK(be->ops->graph_begin(be, err));
    TC_OK(be->ops->memset0(be, p, sizeof host, err));
    be->ops->free(be, p); /* not allowed: kept, and graph_end fails */
    g = &e;
    e = (xm_err){0};
    expect_refused(be->ops->graph_end(be, &g, &e), &e, "graph_end after a free", "free");
    fprintf(stderr, "  free: %s\n", e.msg);
    XM_CHECK(g == NULL);
    /* the refused op's name is built on the refusing call's stack ("allocating
     * ..."): graph_end must still name it */
    TC_OK(be->ops->graph_begin(be, err));
    e = (xm_err){0};
    XM_CHECK(be->ops->alloc(be, 16, &e) == NULL);
    g = &e;
    e = (xm_err){0};
    expect_refused(be->ops->graph_end(be, &g, &e), &e, "graph_end after a refused alloc",
                   "allocating");
    XM_CHECK(g == NULL);
    /* xm_backend_graph_record: a step that fails while recording hands out no graph */
    g = &e;
    e = (xm_err){0};
    refused_ctx rctx = {be, p};
    expect_refused(xm_backend_graph_record(be, refused_step, &rctx, &g, &e), &e,
                   "graph_record of a refused step", "download");
    XM_CHECK(g == NULL);
    /* p was kept; a capture of one memset replays */
    TC_OK(be->ops->upload(be, p, host, sizeof host, err));
    TC_OK(be->ops->graph_begin(be, err));
    TC_OK(be->ops->memset0(be, p, sizeof host, err));
    TC_OK(be->ops->graph_end(be, &g, err));
    float back[64];
    TC_OK(be->ops->download(be, back, p, sizeof back, err));
    XM_CHECKF(back[5] == 6.f, "the capture ran the memset instead of recording it (%g)",
              back[5]);
    TC_OK(be->ops->graph_launch(be, g, err));
    TC_OK(be->ops->download(be, back, p, sizeof back, err));
    XM_CHECKF(back[5] == 0.f && back[63] == 0.f, "the replay did not run the memset (%g)",
              back[5]);
    be->ops->graph_free(be, g);
    e = (xm_err){0};
    g = NULL;
    expect_refused(be->ops->graph_end(be, &g, &e), &e, "graph_end without graph_begin",
                   "without graph_begin");
    be->ops->free(be, p);
    be->ops->free(be, rec);
    xm_tensor_release(be, &x);
    xm_backend_free(be);
}
#endif

int main(void)
{
    if (xm_cuda_device_count() <= 0) return xm_test_skip("no GPU");
    const char *sync = getenv("XM_CUDA_SYNC"), *prof = getenv("XM_CUDA_PROFILE");
    if ((sync && *sync && strcmp(sync, "0")) || (prof && *prof && strcmp(prof, "0")))
        return xm_test_skip("XM_CUDA_SYNC or XM_CUDA_PROFILE is set: graphs are refused then");
#ifndef TC_FAKE_GPU
    misuse_checks();
#endif
    xm_precision precs[2] = {XM_PREC_F32, XM_PREC_BF16};
    for (int p = 0; p < 2; p++) {
        graph_case(precs[p], "resnet20", 1, 28, 8, 10, 6);
        graph_case(precs[p], "resnet18", 3, 64, 4, 10, 0);
    }
    return xm_test_finish();
}

#else

int main(void) { return xm_test_skip("no GPU (this build has no CUDA backend)"); }

#endif
