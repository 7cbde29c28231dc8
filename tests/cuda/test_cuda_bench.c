/* test_cuda_bench.c: steady-state training and inference steps through
 * xm_net on the CUDA backend.
 *
 * As a test (no arguments): ResNet-20 1x28x28 batch 16, a few training
 * steps in f32 and bf16: every step runs, the loss stays finite and the
 * steps after the first allocate no more GPU memory. Skipped without a GPU.
 *
 * As the fallback xm side of the GPU benchmark (scripts/device_check.sh
 * uses it when bench/bench_engine is not built):
 *     test_cuda_bench --bench MODE BATCH PREC [ARCH SIZE ITERS WARMUP]
 * MODE train|infer, PREC f32|tf32|bf16|f16, default resnet50 224 10 3.
 * One step = input_mix of uint8 records (random crops and flips, mixed
 * pairs) + forward (+ soft-label loss, backward, SGD with momentum) as the
 * trainer does; the loss is read back only after the timed steps. Prints one
 * JSON line with images/s. */
#include "test_cuda_common.h"
#include "xm_net.h"

#ifdef XM_HAVE_CUDA

#include <cuda_runtime_api.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct bench {
    xm_backend *be;
    xm_net *net;
    uint8_t *rec;
    xm_mix_item *items;
    xm_tensor x, t, dz;
    int batch, size, rs, classes;
    xm_rng rng;
} bench;

static int bench_setup(bench *b, xm_precision prec, const char *arch, int size, int batch,
                       int classes, int in_ch, xm_err *err)
{
    memset(b, 0, sizeof *b);
    xm_backend_cfg cfg = {.precision = prec};
#ifdef TC_FAKE_GPU
    cfg.precision = XM_PREC_F32;
#endif
    if (!(b->be = xm_backend_new(TC_GPU_DEVICE, &cfg, err))) return err->code;
    xm_net_cfg nc = {.arch = arch, .in_channels = in_ch, .input_size = size,
                     .num_classes = classes};
    if (!(b->net = xm_net_new(b->be, &nc, err))) return err->code;
    if (xm_net_init(b->net, 7, err) || xm_net_alloc_train(b->net, err)) return err->code;
    b->batch = batch, b->size = size, b->classes = classes;
    b->rs = size + size / 7; /* stored images a little larger than the crop */
    size_t img = (size_t)b->rs * b->rs * in_ch, bytes = img * batch;
    uint8_t *h = tc_xmalloc(bytes);
    xm_rng_init(&b->rng, 5, 0);
    for (size_t i = 0; i < bytes; i++) h[i] = (uint8_t)(i * 2654435761u >> 24);
    xm_backend *be = b->be;
    b->rec = be->ops->alloc(be, bytes, err);
    int rc = !b->rec || be->ops->upload(be, b->rec, h, bytes, err);
    free(h);
    if (rc) return err->code ? err->code : XM_EFAIL;
    b->items = tc_xmalloc(sizeof *b->items * batch);
    float *t = tc_xmalloc((size_t)batch * classes * 4);
    for (int i = 0; i < batch; i++) {
        t[(size_t)i * classes + i % classes] += 0.6f;
        t[(size_t)i * classes + (i * 7 + 3) % classes] += 0.4f;
    }
    rc = xm_tensor_alloc(be, &b->x, batch, size, size, in_ch, be->act_dtype, err) ||
         xm_tensor_alloc(be, &b->t, batch, 1, 1, classes, XM_DT_F32, err) ||
         xm_tensor_alloc(be, &b->dz, batch, 1, 1, classes, XM_DT_F32, err) ||
         be->ops->upload_f32(be, &b->t, t, err);
    free(t);
    return rc ? (err->code ? err->code : XM_EFAIL) : 0;
}

static void bench_free(bench *b)
{
    if (b->be) {
        xm_tensor_release(b->be, &b->x);
        xm_tensor_release(b->be, &b->t);
        xm_tensor_release(b->be, &b->dz);
        b->be->ops->free(b->be, b->rec);
    }
    xm_net_free(b->net);
    xm_backend_free(b->be);
    free(b->items);
}

/* One step; loss_host NULL: the loss stays on the GPU (no sync). */
static int bench_step(bench *b, int train, double *loss_host, xm_err *err)
{
    xm_backend *be = b->be;
    int img = b->rs * b->rs * b->x.c;
    for (int i = 0; i < b->batch; i++) {
        xm_mix_item *it = &b->items[i];
        int span = b->rs - b->size + 1;
        it->off_a = (int64_t)img * i;
        it->off_b = (int64_t)img * ((i + 1) % b->batch);
        it->ha = it->wa = it->hb = it->wb = b->rs;
        it->ya = (int)xm_rng_below(&b->rng, span), it->xa = (int)xm_rng_below(&b->rng, span);
        it->yb = (int)xm_rng_below(&b->rng, span), it->xb = (int)xm_rng_below(&b->rng, span);
        it->flip_a = (int)xm_rng_below(&b->rng, 2), it->flip_b = (int)xm_rng_below(&b->rng, 2);
        it->lam = (float)xm_rng_uniform(&b->rng);
    }
    float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    if (be->ops->input_mix(be, b->rec, b->items, mean, sd, &b->x, err) ||
        xm_net_forward(b->net, &b->x, train, err))
        return err->code;
    if (!train) return 0;
    const xm_tensor *dl[2] = {&b->dz, NULL};
    xm_sgd_cfg sgd = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-4f};
    if (be->ops->softmax_xent(be, xm_net_logits(b->net, 0), &b->t, loss_host, &b->dz, err) ||
        xm_net_backward(b->net, dl, NULL, err) || xm_net_sgd_step(b->net, &sgd, NULL, err))
        return err->code;
    return 0;
}

static int parse_prec(const char *s, xm_precision *p)
{
    if (!strcmp(s, "f32")) *p = XM_PREC_F32;
    else if (!strcmp(s, "tf32")) *p = XM_PREC_TF32;
    else if (!strcmp(s, "bf16")) *p = XM_PREC_BF16;
    else if (!strcmp(s, "f16")) *p = XM_PREC_F16;
    else return -1;
    return 0;
}

static int run_bench(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: test_cuda_bench --bench train|infer BATCH f32|tf32|bf16|f16 "
                        "[ARCH SIZE ITERS WARMUP]\n");
        return 2;
    }
    const char *mode = argv[2], *arch = argc > 5 ? argv[5] : "resnet50";
    int batch = atoi(argv[3]), size = argc > 6 ? atoi(argv[6]) : 224;
    int iters = argc > 7 ? atoi(argv[7]) : 10, warmup = argc > 8 ? atoi(argv[8]) : 3;
    xm_precision prec;
    int train = !strcmp(mode, "train");
    if ((!train && strcmp(mode, "infer")) || batch <= 0 || size <= 0 || iters <= 0 ||
        warmup < 0 || parse_prec(argv[4], &prec)) {
        fprintf(stderr, "test_cuda_bench: bad arguments\n");
        return 2;
    }
    xm_err err = {0};
    bench b;
    double t0 = now();
    if (bench_setup(&b, prec, arch, size, batch, 1000, 3, &err)) {
        fprintf(stderr, "test_cuda_bench: %s\n", err.msg);
        printf("{\"impl\": \"xm\", \"mode\": \"%s\", \"batch\": %d, \"precision\": \"%s\", "
               "\"error\": \"setup failed\"}\n", mode, batch, argv[4]);
        bench_free(&b);
        return 1;
    }
    double loss = 0, t1 = 0, t2 = 0;
    int rc = 0;
    for (int i = 0; i < warmup && !rc; i++) rc = bench_step(&b, train, NULL, &err);
    if (!rc) rc = b.be->ops->sync(b.be, &err);
    t1 = now();
    for (int i = 0; i < iters && !rc; i++)
        rc = bench_step(&b, train, train && i == iters - 1 ? &loss : NULL, &err);
    if (!rc) rc = b.be->ops->sync(b.be, &err);
    t2 = now();
    if (rc) {
        fprintf(stderr, "test_cuda_bench: %s\n", err.msg);
        printf("{\"impl\": \"xm\", \"mode\": \"%s\", \"batch\": %d, \"precision\": \"%s\", "
               "\"error\": \"step failed\"}\n", mode, batch, argv[4]);
        bench_free(&b);
        return 1;
    }
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    double step = (t2 - t1) / iters;
    printf("{\"impl\": \"xm\", \"arch\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"precision\": "
           "\"%s\", \"size\": %d, \"step_ms\": %.3f, \"images_per_s\": %.1f, \"loss\": %.5f, "
           "\"setup_s\": %.2f, \"gpu_mem_used_mib\": %zu}\n",
           arch, mode, batch, argv[4], size, step * 1e3, batch / step, loss, t1 - t0,
           (tot - fr) >> 20);
    bench_free(&b);
    return 0;
}

static void smoke(xm_precision prec)
{
    xm_err err = {0};
    bench b;
    int rc = bench_setup(&b, prec, "resnet20", 28, 16, 10, 1, &err);
    XM_CHECKF(rc == 0, "[%s] setup: %s", tc_prec_name(prec), err.msg);
    size_t used1 = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        double loss = NAN;
        rc = bench_step(&b, 1, &loss, &err);
        XM_CHECKF(rc == 0, "[%s] step %d: %s", tc_prec_name(prec), i, err.msg);
        XM_CHECKF(isfinite(loss), "[%s] step %d: loss %g", tc_prec_name(prec), i, loss);
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        if (i == 1) used1 = tot - fr;
        if (i == 3)
            XM_CHECKF(tot - fr <= used1, "[%s] GPU memory grew from %zu to %zu bytes",
                      tc_prec_name(prec), used1, tot - fr);
        fprintf(stderr, "[%s] step %d loss %.5f\n", tc_prec_name(prec), i, loss);
    }
    if (rc == 0) {
        rc = bench_step(&b, 0, NULL, &err);
        XM_CHECKF(rc == 0, "[%s] inference step: %s", tc_prec_name(prec), err.msg);
    }
    bench_free(&b);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--bench")) return run_bench(argc, argv);
    if (xm_cuda_device_count() <= 0) return xm_test_skip("no GPU");
    smoke(XM_PREC_F32);
    smoke(XM_PREC_BF16);
    return xm_test_finish();
}

#else

int main(void) { return xm_test_skip("no GPU (this build has no CUDA backend)"); }

#endif
