/* xm-pack: images -> .xms (and --info, --verify, --extract on .xms files).
 *
 * A thin tool: options, mode checks, then one library call per mode
 * (lib/data/xm_pack.h, xm_xms.h). Modes are functions taking the parsed
 * options; a new mode (--mix, issue 6) adds its options to the table and a
 * function to the dispatch in main. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_cli.h"
#include "xm_image.h"
#include "xm_log.h"
#include "xm_pack.h"
#include "xm_plan.h"
#include "xm_parse.h"
#include "xm_progress.h"
#include "xm_xms.h"
#include "xm_xms_out.h"

#define TOOL "xm-pack"

typedef struct opts {
    int64_t size, channels, threads, shard_size, level, filter, block_kib;
    int native, strict, info, verify, extract;
    const char *out, *classes, *idx_labels, *records, *codec;
    int64_t quality;
    xm_cli cli;
    xm_log log;
} opts;

static const char *FILTER_NAME[] = {"none", "sub", "up", "avg", "paeth"};

/* ---- --info ---- */
static int mode_info(opts *o, xm_err *err)
{
    for (int k = 0; k < o->cli.nargs; k++) {
        xm_xms *x;
        int rc = xm_xms_open(o->cli.args[k], NULL, &x, err);
        if (rc) return rc;
        xm_xms_info in;
        xm_xms_get_info(x, &in);
        printf("%s: .xms version %u\n", o->cli.args[k], in.version);
        printf("  records   %llu\n", (unsigned long long)in.n_records);
        /* Class names on one line, cut at ~70 characters (-v lists them all). */
        char names[96] = "";
        size_t used = 0;
        for (uint32_t c = 0; c < in.n_classes && used < 70; c++) {
            int k = snprintf(names + used, sizeof names - used, "%s%s", c ? ", " : "", xm_xms_class(x, (int)c));
            used += k > 0 ? (size_t)k : 0;
            if (used >= sizeof names) used = sizeof names - 1;
        }
        if (used >= 70 && in.n_classes > 1) snprintf(names + 66, sizeof names - 66, " ...");
        printf("  classes   %u%s%s%s\n", in.n_classes, in.n_classes ? " (" : "", names, in.n_classes ? ")" : "");
        if (in.h) printf("  shape     %dx%dx%d (H x W x C, every record)\n", in.h, in.w, in.c);
        else printf("  shape     varies per record\n");
        printf("  blocks    %u (largest %u bytes uncompressed)\n", in.n_blocks, in.max_block_raw);
        printf("  codec     %s\n", in.codec == XM_XMS_CODEC_JPEG ? "jpeg (lossy)" : "raw");
        printf("  filter    %s\n", FILTER_NAME[in.filter]);
        printf("  pixels    %llu bytes\n", (unsigned long long)in.raw_bytes);
        printf("  file      %llu bytes (data %llu, metadata %llu, index %llu)\n",
               (unsigned long long)in.file_size, (unsigned long long)in.data_bytes,
               (unsigned long long)in.meta_bytes, (unsigned long long)in.index_bytes);
        printf("  ratio     %.3f (pixels / file)\n",
               in.file_size ? (double)in.raw_bytes / (double)in.file_size : 0.0);
        if (o->log.level >= XM_LOG_VERBOSE) {
            int64_t *cnt = calloc(in.n_classes + 1, sizeof *cnt);
            for (uint64_t i = 0; cnt && i < in.n_records; i++) {
                xm_xms_rec r;
                xm_xms_peek(x, i, &r);
                cnt[r.label >= 0 ? r.label : (int32_t)in.n_classes]++;
            }
            for (uint32_t c = 0; cnt && c < in.n_classes; c++)
                printf("  class %u  %-24s %lld\n", c, xm_xms_class(x, (int)c), (long long)cnt[c]);
            free(cnt);
        }
        xm_xms_close(x);
    }
    return 0;
}

/* ---- --verify ---- */
static int mode_verify(opts *o, xm_err *err)
{
    xm_xms_cursor *cur = xm_xms_cursor_new(err);
    if (!cur) return XM_EFAIL;
    int rc = 0;
    for (int k = 0; !rc && k < o->cli.nargs; k++) {
        xm_xms *x;
        if ((rc = xm_xms_open(o->cli.args[k], NULL, &x, err))) break;
        int64_t bad;
        rc = xm_xms_verify(x, cur, &bad, err);
        xm_xms_info in;
        xm_xms_get_info(x, &in);
        if (!rc && o->log.level >= XM_LOG_NORMAL)
            printf("%s: ok (%llu records, %u blocks)\n", o->cli.args[k], (unsigned long long)in.n_records,
                   in.n_blocks);
        xm_xms_close(x);
    }
    xm_xms_cursor_free(cur);
    return rc;
}

/* ---- --extract ---- */
static int mode_extract(opts *o, xm_err *err)
{
    xm_xms_set *set;
    int rc = xm_xms_set_open((const char *const *)o->cli.args, o->cli.nargs, NULL, &set, err);
    if (rc) return rc;
    uint64_t n = xm_xms_set_count(set);
    int64_t *recs = NULL;
    size_t nrec = 0;
    if (n == 0) {
        xm_xms_set_close(set);
        return xm_err_set(err, XM_EUSAGE, "--records: the input has no records");
    }
    if ((rc = xm_parse_list_i64(o->records, 0, (int64_t)n - 1, &recs, &nrec, err))) {
        xm_err_prefix(err, "--records");
        xm_xms_set_close(set);
        return rc;
    }
    struct stat st;
    int made = 0; /* a directory made here is removed again if the run fails before writing to it */
    if (stat(o->out, &st) != 0 && !(made = mkdir(o->out, 0777) == 0))
        rc = xm_err_errno(err, XM_ECANTCREAT, errno, "%s", o->out);
    int digits = 6;
    for (uint64_t m = n - 1; m >= 1000000; m /= 10) digits++;
    xm_xms_cursor *cur = rc ? NULL : xm_xms_cursor_new(err);
    for (size_t k = 0; !rc && k < nrec; k++) {
        xm_xms_rec r;
        if ((rc = xm_xms_set_read(set, cur, (uint64_t)recs[k], &r, err))) break;
        char path[4200];
        snprintf(path, sizeof path, "%s/%0*lld.png", o->out, digits, (long long)recs[k]);
        xm_atomic a;
        if ((rc = xm_atomic_open(&a, path, o->cli.force ? XM_ATOMIC_FORCE : 0, err))) break;
        FILE *f = xm_atomic_file(&a);
        rc = f ? xm_png_write_file(f, r.px, r.h, r.w, r.c, err) : xm_err_set(err, XM_EFAIL, "out of memory");
        if (!rc) rc = xm_atomic_commit(&a, err);
        else xm_atomic_abort(&a);
        if (!rc) xm_log_verbose(&o->log, "%s: record %lld (%s, label %d)", path, (long long)recs[k], r.name, r.label);
    }
    xm_xms_cursor_free(cur);
    free(recs);
    xm_xms_set_close(set);
    if (rc && made) rmdir(o->out); /* fails, as it should, once a PNG is in it */
    return rc;
}

/* ---- packing ---- */
typedef struct pack_ui {
    const xm_log *log;
    xm_progress prog;
} pack_ui;

static void on_skip(void *ctx, const char *name, const xm_err *why)
{
    (void)name;
    pack_ui *ui = ctx;
    xm_progress_end(&ui->prog);
    xm_log_info(ui->log, "skipped %s", why->msg);
}

static void on_progress(void *ctx, int64_t done, int64_t total)
{
    pack_ui *ui = ctx;
    ui->prog.total = total;
    xm_progress_update(&ui->prog, done);
}

static int mode_pack(opts *o, xm_err *err)
{
    if (!o->out) return xm_err_set(err, XM_EUSAGE, "no output: give -o OUT.xms");
    if (o->cli.nargs == 0) return xm_err_set(err, XM_EUSAGE, "no input: give a directory, a list file or IDX files");
    if (o->records) return xm_err_set(err, XM_EUSAGE, "--records is for --extract");
    xm_atomic_install_signals();
    xm_pack_src src;
    xm_pack_src_init(&src);
    int rc = 0;
    for (int k = 0; !rc && k < o->cli.nargs; k++) rc = xm_pack_src_add(&src, o->cli.args[k], o->idx_labels, err);
    if (!rc) rc = xm_pack_src_finish(&src, o->classes, err);
    for (int k = 0; !rc && k < src.nwarnings; k++) {
        if (o->strict) rc = xm_err_set(err, XM_EDATA, "%s", src.warnings[k]);
        else xm_log_warn(&o->log, "%s", src.warnings[k]);
    }
    if (!rc && src.n == 0) rc = xm_err_set(err, XM_EDATA, "no images found in the inputs");
    xm_xms_wopts wo = {.level = (int)o->level, .filter = (int)o->filter, .block_bytes = (size_t)o->block_kib * 1024,
                       .quality = (int)o->quality};
    if (o->codec && !strcmp(o->codec, "jpeg")) wo.codec = XM_XMS_CODEC_JPEG;
    else if (o->codec && strcmp(o->codec, "raw"))
        rc = xm_err_set(err, XM_EUSAGE, "--codec: '%s': must be raw or jpeg", o->codec);
    xm_xms_out *out = NULL;
    if (!rc) rc = xm_xms_out_open(o->out, o->shard_size, o->cli.force ? XM_ATOMIC_FORCE : 0, &wo, &out, err);
    if (!rc) rc = xm_xms_out_set_classes(out, (const char *const *)src.classes, src.nclasses, err);
    pack_ui ui = {.log = &o->log};
    xm_progress_init(&ui.prog, "decoding", src.n, o->log.level >= XM_LOG_NORMAL);
    xm_pack_opts po = {.size = (int)o->size, .channels = (int)o->channels, .strict = o->strict,
                       .threads = (int)o->threads};
    xm_pack_cb cb = {.ctx = &ui, .skip = on_skip, .progress = on_progress};
    xm_pack_stats st = {0};
    if (!rc) rc = xm_pack_run(&src, &po, out, &cb, &st, err);
    xm_progress_end(&ui.prog);
    if (!rc && st.records == 0) rc = xm_err_set(err, XM_EDATA, "every image was skipped; nothing to pack");
    if (!rc) rc = xm_xms_out_commit(out, err);
    if (!rc) {
        uint64_t bout = xm_xms_out_bytes(out);
        char shards[64] = "";
        if (xm_xms_out_nfiles(out) > 1) snprintf(shards, sizeof shards, " in %d files", xm_xms_out_nfiles(out));
        xm_log_info(&o->log,
                    "%s%s: %lld records, %d classes, %llu bytes in, %llu bytes out, ratio %.2f "
                    "(pixels %.2f), %.2f s, %lld skipped",
                    o->out, shards, (long long)st.records, src.nclasses, (unsigned long long)st.bytes_in,
                    (unsigned long long)bout, bout ? (double)st.bytes_in / (double)bout : 0.0,
                    bout ? (double)st.raw_bytes / (double)bout : 0.0, st.seconds, (long long)st.skipped);
    }
    xm_xms_out_free(out); /* removes temporaries if not committed */
    xm_pack_src_release(&src);
    return rc;
}

int main(int argc, char **argv)
{
    /* --mix MODE writes a plan: its own options (lib/engine/xm_plan_cli.c) */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--mix") || !strncmp(argv[i], "--mix=", 6))
            return xm_plan_cli_main(argc, argv);
    opts o = {.filter = XM_XMS_DEFAULT_FILTER, .level = XM_XMS_DEFAULT_LEVEL,
              .block_kib = XM_XMS_DEFAULT_BLOCK / 1024};
    const xm_opt table[] = {
        {"output", 'o', XM_OPT_STR, &o.out, "OUT", "output .xms (pattern with %05d for shards; a directory for --extract)", 0, 0},
        {"size", 0, XM_OPT_INT, &o.size, "S", "resize the shorter side to S (antialiased), center-crop S x S", 1, 65535},
        {"native", 0, XM_OPT_FLAG, &o.native, NULL, "keep every image at its own size (the default)", 0, 0},
        {"channels", 0, XM_OPT_INT, &o.channels, "1|3", "store gray (1) or RGB (3); default: as decoded", 1, 3},
        {"strict", 0, XM_OPT_FLAG, &o.strict, NULL, "stop at the first bad image (default: skip and list it)", 0, 0},
        {"threads", 'j', XM_OPT_INT, &o.threads, "N", "decoding threads (0 = all cores, the default)", 0, 4096},
        {"shard-size", 0, XM_OPT_INT, &o.shard_size, "N", "records per output file (-o needs a %d pattern)", 1, INT64_MAX},
        {"classes", 0, XM_OPT_STR, &o.classes, "FILE", "class names, one per line (list and IDX inputs)", 0, 0},
        {"idx-labels", 0, XM_OPT_STR, &o.idx_labels, "FILE", "labels for an IDX images file", 0, 0},
        {"level", 0, XM_OPT_INT, &o.level, "L", "zstd level (default 3)", 1, 19},
        {"filter", 0, XM_OPT_INT, &o.filter, "F", "prediction filter: 0 none, 1 sub, 2 up (default), 3 avg, 4 paeth", 0, 4},
        {"codec", 0, XM_OPT_STR, &o.codec, "raw|jpeg", "record codec: raw pixels (lossless, default) or JPEG bytes", 0, 0},
        {"quality", 0, XM_OPT_INT, &o.quality, "Q", "JPEG quality for --codec jpeg (default 90)", 1, 100},
        {"block-kib", 0, XM_OPT_INT, &o.block_kib, "K", "target block size in KiB (default 16)", 1, 262144},
        {"info", 0, XM_OPT_FLAG, &o.info, NULL, "print the header and sizes of FILE.xms...", 0, 0},
        {"verify", 0, XM_OPT_FLAG, &o.verify, NULL, "check every checksum of FILE.xms... (exit 65 at the first bad block)", 0, 0},
        {"extract", 0, XM_OPT_FLAG, &o.extract, NULL, "write --records of FILE.xms... as PNG into -o DIR", 0, 0},
        {"records", 0, XM_OPT_STR, &o.records, "LIST", "record indices for --extract, e.g. 0,5,9", 0, 0},
        /* issue 6: --mix MODE and its options go here */
        {0}};
    o.cli = (xm_cli){.tool = TOOL,
                     .usage = "[--size S | --native] [--channels 1|3] [--strict] [--threads N]\n"
                              "               [--shard-size N] [--classes FILE] INPUT... -o OUT.xms\n"
                              "       xm-pack --info FILE.xms...\n"
                              "       xm-pack --verify FILE.xms...\n"
                              "       xm-pack --extract FILE.xms... --records 0,5,9 -o DIR\n"
                              "       xm-pack --mix MODE ... -o PLAN.h5   (see xm-pack --mix none --help)",
                     .about = "Decode images once and pack them into .xms shards. INPUT is an ImageFolder\n"
                              "directory (one subdirectory per class), a list file of 'path<TAB>label' lines\n"
                              "('-' reads stdin), or an IDX images file (labels found by name or --idx-labels).",
                     .opts = table};
    xm_err err;
    xm_err_clear(&err);
    int rc = xm_cli_parse(&o.cli, argc, argv, &err);
    if (rc == XM_CLI_DONE) {
        xm_cli_release(&o.cli);
        return 0;
    }
    xm_log_init(&o.log, TOOL, o.cli.verbosity);
    int modes = o.info + o.verify + o.extract;
    if (!rc && modes > 1) rc = xm_err_set(&err, XM_EUSAGE, "--info, --verify and --extract exclude each other");
    if (!rc && o.native && o.size) rc = xm_err_set(&err, XM_EUSAGE, "--size and --native exclude each other");
    if (!rc && o.channels == 2) rc = xm_err_set(&err, XM_EUSAGE, "--channels: '2': must be 1 or 3");
    if (!rc && modes && o.cli.nargs == 0) rc = xm_err_set(&err, XM_EUSAGE, "no .xms file given");
    if (!rc && o.extract && (!o.records || !o.out)) rc = xm_err_set(&err, XM_EUSAGE, "--extract needs --records LIST and -o DIR");
    if (!rc) {
        if (o.info) rc = mode_info(&o, &err);
        else if (o.verify) rc = mode_verify(&o, &err);
        else if (o.extract) rc = mode_extract(&o, &err);
        else rc = mode_pack(&o, &err);
    }
    xm_cli_release(&o.cli);
    if (rc) return xm_tool_fail(TOOL, &err);
    return 0;
}
