/* bench_engine.c: images/s of one training step (forward, loss, backward,
 * SGD update) and of one inference batch, for one network on one backend.
 * Not a test; bench/bench_cpu_engine.sh runs it next to PyTorch.
 *
 *   bench_engine --arch resnet50 --batch 16 --size 224 [--channels 3]
 *                [--threads N] [--steps N] [--warmup N] [--mode train|infer|both]
 *                [--device cpu|cuda|auto] [--precision f32|tf32|bf16|f16] [--json]
 *                [--graph]
 *
 * Prints one line per mode: "arch channels size batch mode img/s ms/step"
 * (or a JSON object per line with --json). The input tensor is filled once
 * (the input step is not timed, as in the PyTorch script).
 * On the CUDA backend with XM_CUDA_PROFILE=1 in the environment, the per-op
 * timing table of the timed steps (cuda/xm_cuda_profile.h) follows each
 * mode's line on stderr.
 * --graph (backends with graphs: CUDA): the warm-up steps run eagerly (at
 * least one, so every buffer, plan and workspace exists), then one step is
 * captured (recorded, not run) and the timed steps replay it; JSON lines
 * get "graph":1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xm_backend.h"
#include "xm_cli.h"
#include "xm_net.h"
#ifdef XM_HAVE_CUDA
#include "xm_cuda_profile.h"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_precision(const char *s, xm_precision *p, xm_err *err)
{
    int i = xm_precision_parse(s);
    if (i >= 0) {
        *p = (xm_precision)i;
        return 0;
    }
    return xm_err_set(err, XM_EUSAGE, "--precision %s: expected f32, tf32, bf16 or f16", s);
}

typedef struct bench {
    xm_backend *be;
    xm_net *net;
    xm_tensor x, tgt, dl;
    xm_sgd_cfg sgd;
    int graph;   /* --graph: time replays of a captured step */
    void *g;     /* the captured step of the current mode */
} bench;

static int step(bench *b, int train, xm_err *err)
{
    xm_backend *be = b->be;
    if (xm_net_forward(b->net, &b->x, train, err)) return err->code;
    if (!train) return 0;
    if (be->ops->softmax_xent(be, xm_net_logits(b->net, 0), &b->tgt, NULL, &b->dl, err))
        return err->code;
    const xm_tensor *dl[2] = {&b->dl, NULL};
    if (xm_net_backward(b->net, dl, NULL, err)) return err->code;
    return xm_net_sgd_step(b->net, &b->sgd, NULL, err);
}

typedef struct step_ctx {
    bench *b;
    int train;
} step_ctx;

static int step_of(void *ctx, xm_err *err)
{
    step_ctx *s = ctx;
    return step(s->b, s->train, err);
}

/* Record one step into b->g. */
static int capture(bench *b, int train, xm_err *err)
{
    step_ctx s = {b, train};
    return xm_backend_graph_record(b->be, step_of, &s, &b->g, err);
}

static int run(bench *b, int train, int warmup, int steps, double *sec, xm_err *err)
{
    if (b->graph && warmup < 1) warmup = 1;
    for (int i = 0; i < warmup; i++)
        if (step(b, train, err)) return err->code;
    if (b->graph && capture(b, train, err)) return err->code;
    if (b->be->ops->sync(b->be, err)) return err->code;
#ifdef XM_HAVE_CUDA
    xm_cuda_profile_reset(b->be); /* XM_CUDA_PROFILE=1: time the timed steps only */
#endif
    double t0 = now();
    for (int i = 0; i < steps; i++)
        if (b->graph ? b->be->ops->graph_launch(b->be, b->g, err) : step(b, train, err))
            return err->code;
    if (b->be->ops->sync(b->be, err)) return err->code;
    *sec = now() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    const char *arch = "resnet18", *device = "cpu", *prec = "f32", *mode = "both";
    int64_t batch = 16, size = 0, channels = 3, threads = 0, steps = 5, warmup = 2,
            classes = 10;
    int json = 0, graph = 0;
    const xm_opt opts[] = {
        {"arch", 'a', XM_OPT_STR, &arch, "ARCH", "resnet18/34/50/101, resnet20/32/56", 0, 0},
        {"batch", 'b', XM_OPT_INT, &batch, "N", "batch size", 1, 4096},
        {"size", 's', XM_OPT_INT, &size, "S", "input side (default: the arch's)", 0, 4096},
        {"channels", 'c', XM_OPT_INT, &channels, "C", "input channels", 1, 64},
        {"classes", 0, XM_OPT_INT, &classes, "K", "classes of the head", 1, 100000},
        {"threads", 't', XM_OPT_INT, &threads, "N", "CPU threads (0: all cores)", 0, 4096},
        {"steps", 'n', XM_OPT_INT, &steps, "N", "timed steps", 1, 1000000},
        {"warmup", 0, XM_OPT_INT, &warmup, "N", "untimed steps first", 0, 1000},
        {"mode", 'm', XM_OPT_STR, &mode, "M", "train, infer or both", 0, 0},
        {"device", 'd', XM_OPT_STR, &device, "DEV", "cpu, cuda or auto", 0, 0},
        {"precision", 'p', XM_OPT_STR, &prec, "P", "f32, tf32, bf16 or f16", 0, 0},
        {"json", 0, XM_OPT_FLAG, &json, NULL, "JSON lines on stdout", 0, 0},
        {"graph", 0, XM_OPT_FLAG, &graph, NULL,
         "replay a captured step (CUDA graphs) after the warm-up", 0, 0},
        {0}};
    xm_cli cli = {.tool = "bench_engine", .usage = "[OPTIONS]",
                  .about = "Images/s of training steps and inference batches.", .opts = opts};
    xm_err err = {0};
    int rc = xm_cli_parse(&cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) return 0;
    bench b = {0};
    xm_backend_cfg cfg = {.threads = (int)threads};
    int do_train = !strcmp(mode, "train") || !strcmp(mode, "both");
    int do_infer = !strcmp(mode, "infer") || !strcmp(mode, "both");
    if (!rc && !do_train && !do_infer)
        rc = xm_err_set(&err, XM_EUSAGE, "--mode %s: expected train, infer or both", mode);
    if (!rc) rc = parse_precision(prec, &cfg.precision, &err);
    if (!rc && !size) size = xm_net_arch_default_size(arch);
    if (rc) goto out;
    if (!(b.be = xm_backend_new(device, &cfg, &err))) goto out;
    b.graph = graph;
    if (graph && !b.be->ops->graph_begin) {
        xm_err_set(&err, XM_EUSAGE, "--graph: the %s backend has no graphs (CUDA only)",
                   b.be->name);
        goto out;
    }
    xm_net_cfg ncfg = {arch, (int)channels, (int)size, (int)classes, 0};
    if (!(b.net = xm_net_new(b.be, &ncfg, &err)) || xm_net_init(b.net, 1, &err)) goto out;
    if (xm_net_alloc_train(b.net, &err)) goto out;
    int n = (int)batch;
    if (xm_tensor_alloc(b.be, &b.x, n, (int)size, (int)size, (int)channels, b.be->act_dtype, &err) ||
        xm_tensor_alloc(b.be, &b.tgt, n, 1, 1, (int)classes, XM_DT_F32, &err) ||
        xm_tensor_alloc(b.be, &b.dl, n, 1, 1, (int)classes, XM_DT_F32, &err))
        goto out;
    {
        size_t nx = xm_tensor_count(&b.x);
        float *h = malloc((nx > (size_t)(n * classes) ? nx : (size_t)(n * classes)) * sizeof(float));
        if (!h) {
            xm_err_set(&err, XM_EFAIL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nx; i++) h[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        if (b.be->ops->upload_f32(b.be, &b.x, h, &err)) {
            free(h);
            goto out;
        }
        memset(h, 0, (size_t)(n * classes) * sizeof(float));
        for (int i = 0; i < n; i++) h[i * classes + i % classes] = 1.0f;
        rc = b.be->ops->upload_f32(b.be, &b.tgt, h, &err);
        free(h);
        if (rc) goto out;
    }
    b.sgd = (xm_sgd_cfg){0.01f, 0.9f, 5e-4f, 0.0f, 0};
    for (int pass = 0; pass < 2; pass++) {
        int train = pass == 0;
        if ((train && !do_train) || (!train && !do_infer)) continue;
        double sec = 0;
        if (run(&b, train, (int)warmup, (int)steps, &sec, &err)) goto out;
        if (b.g) {
            b.be->ops->graph_free(b.be, b.g);
            b.g = NULL;
        }
        double ips = (double)batch * (double)steps / sec;
        if (json)
            printf("{\"arch\":\"%s\",\"channels\":%d,\"size\":%d,\"batch\":%d,\"mode\":\"%s\","
                   "\"device\":\"%s\",\"precision\":\"%s\",\"threads\":%d,\"img_per_s\":%.2f,"
                   "\"ms_per_step\":%.3f%s}\n", arch, (int)channels, (int)size, n,
                   train ? "train" : "infer", b.be->name, prec, (int)threads, ips,
                   1e3 * sec / (double)steps, graph ? ",\"graph\":1" : "");
        else
            printf("%s %dx%dx%d batch %d %s: %.1f img/s, %.2f ms/step (%s, %s%s)\n", arch,
                   (int)channels, (int)size, (int)size, n, train ? "train" : "infer", ips,
                   1e3 * sec / (double)steps, b.be->name, prec, graph ? ", graph" : "");
        fflush(stdout);
#ifdef XM_HAVE_CUDA
        char *prof = xm_cuda_profile_report(b.be, (int)steps);
        if (prof) {
            fprintf(stderr, "%s %s batch %d %s:\n%s", arch, train ? "train" : "infer", n, prec,
                    prof);
            free(prof);
        }
#endif
    }
out:
    rc = err.code;
    if (rc) fprintf(stderr, "bench_engine: error: %s\n", err.msg);
    if (b.be) {
        if (b.g) b.be->ops->graph_free(b.be, b.g);
        xm_tensor_release(b.be, &b.x);
        xm_tensor_release(b.be, &b.tgt);
        xm_tensor_release(b.be, &b.dl);
    }
    xm_net_free(b.net);
    xm_backend_free(b.be);
    xm_cli_release(&cli);
    return rc;
}
