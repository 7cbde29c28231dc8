/* xm-embed: a model's pooled backbone features of .xms records -> a
 * features file (formats/features.md).
 *
 * A thin tool: options, then xm_embed_run; progress on a terminal and a
 * final line "N images, S s, R images/s" on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "xm_atomic.h"
#include "xm_backend.h"
#include "xm_cli.h"
#include "xm_embed.h"
#include "xm_log.h"
#include "xm_parse.h"
#include "xm_progress.h"

#define TOOL "xm-embed"

static void on_progress(void *ctx, int64_t done, int64_t total)
{
    xm_progress *p = ctx;
    p->total = total;
    xm_progress_update(p, done);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *shard = NULL, *device = "auto", *prec = "f32";
    int64_t batch = 64, threads = 0, readers = 0;
    int json = 0;
    const xm_opt table[] = {
        {"model", 'm', XM_OPT_STR, &model, "MODEL.h5", "model file (formats/model.md)", 0, 0},
        {"output", 'o', XM_OPT_STR, &out, "FEAT.h5", "output features file", 0, 0},
        {"shard", 0, XM_OPT_STR, &shard, "K/N", "embed records with index % N == K-1 (K from 1)", 0, 0},
        {"batch", 'b', XM_OPT_INT, &batch, "B", "images per batch (default 64)", 1, 65536},
        {"device", 0, XM_OPT_STR, &device, "DEV", "cpu, cuda or auto (default)", 0, 0},
        {"threads", 'j', XM_OPT_INT, &threads, "N", "CPU threads (0 = all cores, the default)", 0, 4096},
        {"readers", 0, XM_OPT_INT, &readers, "N", "threads reading records ahead of the device (0 = half the cores, 1 to 8)", 0, 64},
        {"precision", 0, XM_OPT_STR, &prec, "P", "f32 (default), tf32, bf16 or f16 (half activations; CUDA); features are stored as float32", 0, 0},
        {"json", 0, XM_OPT_FLAG, &json, NULL, "print one JSON line with the totals on stdout", 0, 0},
        {0}};
    xm_cli cli = {.tool = TOOL,
                  .usage = "-m MODEL.h5 DATA.xms... -o FEAT.h5 [--shard K/N] [--batch B]\n"
                           "               [--device cpu|cuda|auto] [--precision P] [--threads N]",
                  .about = "Pooled backbone features of every record (center crop to the model's input\n"
                           "size, its mean/std), with labels, record indices and class names.",
                  .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&cli);
        return 0;
    }
    xm_log log;
    xm_log_init(&log, TOOL, cli.verbosity);
    xm_embed_cfg cfg = {.model = model, .inputs = (const char *const *)cli.args,
                        .ninputs = cli.nargs, .output = out, .batch = (int)batch,
                        .device = device, .threads = (int)threads, .readers = (int)readers,
                        .flags = cli.force ? XM_ATOMIC_FORCE : 0};
    if (!rc && (!model || !out)) rc = xm_err_set(&err, XM_EUSAGE, "-m MODEL.h5 and -o FEAT.h5 are required");
    if (!rc && cli.nargs == 0) rc = xm_err_set(&err, XM_EUSAGE, "no .xms file given");
    int pi = xm_precision_parse(prec);
    if (!rc && pi < 0) rc = xm_err_set(&err, XM_EUSAGE, "--precision: unknown value '%s'", prec);
    cfg.precision = pi < 0 ? 0 : pi;
    if (!rc && shard) {
        /* K/N with K from 1 (xm_parse_shard takes 0 <= K < N) */
        int64_t k, n;
        char buf[64];
        const char *slash = NULL;
        for (const char *c = shard; *c; c++)
            if (*c == '/') slash = c;
        if (!slash || slash == shard || (size_t)(slash - shard) >= 32) {
            rc = xm_err_set(&err, XM_EUSAGE, "--shard: '%s': expected K/N with 1 <= K <= N", shard);
        } else {
            snprintf(buf, sizeof buf, "%.*s", (int)(slash - shard), shard);
            if (xm_parse_i64(buf, &k, &err) || xm_parse_i64(slash + 1, &n, &err) || n < 1 ||
                k < 1 || k > n) {
                xm_err_clear(&err);
                rc = xm_err_set(&err, XM_EUSAGE, "--shard: '%s': expected K/N with 1 <= K <= N", shard);
            } else {
                cfg.shard_k = k;
                cfg.shard_n = n;
            }
        }
    }
    xm_embed_stats st;
    if (!rc) {
        xm_atomic_install_signals();
        xm_progress prog;
        xm_progress_init(&prog, "embedding", 0, cli.verbosity >= XM_LOG_NORMAL);
        rc = xm_embed_run(&cfg, on_progress, &prog, &st, &err);
        xm_progress_end(&prog);
    }
    if (!rc) {
        double rate = st.seconds > 0 ? (double)st.images / st.seconds : 0;
        xm_log_info(&log, "%s: %lld images, dimension %lld, %s, %.2f s, %.1f images/s", out,
                    (long long)st.images, (long long)st.dim, st.device, st.seconds, rate);
        if (json)
            printf("{\"images\":%lld,\"dim\":%lld,\"device\":\"%s\",\"seconds\":%.4f,"
                   "\"images_per_s\":%.2f}\n", (long long)st.images, (long long)st.dim,
                   st.device, st.seconds, rate);
    }
    xm_cli_release(&cli);
    return rc ? xm_tool_fail(TOOL, &err) : 0;
}
