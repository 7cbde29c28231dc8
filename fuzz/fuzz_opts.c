/* fuzz_opts.c: libFuzzer target for the option parser (xm_cli_parse) and the
 * number and list parsers of xm_parse.h.
 *
 * The input is split at NUL bytes (and newlines) into an argv, parsed against
 * a table with every kind of option (counted flags with short names, ints
 * with and without a range, doubles, strings). Then every argument is also fed
 * to each xm_parse function. Anything but success or a clean XM_EUSAGE
 * refusal is a bug; a parsed value must respect its declared range. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_cli.h"
#include "xm_parse.h"

#define MAX_ARGS 256

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* --help and --version print on stdout: keep the fuzzer's output readable. */
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        close(fd);
    }
    return 0;
}

static void check_parsers(const char *s)
{
    xm_err e;
    int64_t i, k, n;
    uint64_t u;
    double d;
    int rc;
    xm_err_clear(&e);
    if ((rc = xm_parse_i64(s, &i, &e)) && rc != XM_EUSAGE) abort();
    xm_err_clear(&e);
    if ((rc = xm_parse_u64(s, &u, &e)) && rc != XM_EUSAGE) abort();
    xm_err_clear(&e);
    rc = xm_parse_double(s, &d, &e);
    if (rc ? rc != XM_EUSAGE : !isfinite(d)) abort();
    xm_err_clear(&e);
    rc = xm_parse_i64_range(s, -5, 1000, &i, &e);
    if (rc ? rc != XM_EUSAGE : (i < -5 || i > 1000)) abort();
    xm_err_clear(&e);
    rc = xm_parse_shard(s, &k, &n, &e);
    if (rc ? rc != XM_EUSAGE : (n < 1 || k < 0 || k >= n)) abort();
    int64_t *v = NULL;
    size_t nv = 0;
    xm_err_clear(&e);
    rc = xm_parse_list_i64(s, 0, 99, &v, &nv, &e);
    if (rc) {
        if (rc != XM_EUSAGE) abort();
    } else {
        if (nv < 1) abort();
        for (size_t j = 0; j < nv; j++)
            if (v[j] < 0 || v[j] > 99) abort();
        free(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* argv: "xm-fuzz" then the input split at NUL and newline. */
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "xm-fuzz";
    char *p = buf, *end = buf + size;
    while (p <= end && argc < MAX_ARGS + 1) {
        char *q = p;
        while (q < end && *q != '\0' && *q != '\n') q++;
        *q = '\0';
        argv[argc++] = p;
        p = q + 1;
    }
    argv[argc] = NULL;

    int64_t size_opt = 0, seed = 0, jobs = 0;
    int strict = 0, flip = 0;
    double alpha = 1.0, lr = 0.0;
    const char *out = NULL, *classes = NULL, *list = NULL;
    const xm_opt opts[] = {
        {"size", 's', XM_OPT_INT, &size_opt, "S", "size", 1, 65535},
        {"seed", 0, XM_OPT_INT, &seed, "N", "seed (any int64)", 0, 0},
        {"jobs", 'j', XM_OPT_INT, &jobs, "N", "jobs", 0, 1024},
        {"strict", 0, XM_OPT_FLAG, &strict, NULL, "strict", 0, 0},
        {"flip", 'F', XM_OPT_FLAG, &flip, NULL, "flip", 0, 0},
        {"alpha", 'a', XM_OPT_DOUBLE, &alpha, "A", "alpha", 0, 0},
        {"lr", 0, XM_OPT_DOUBLE, &lr, "LR", "learning rate", 0, 0},
        {"output", 'o', XM_OPT_STR, &out, "FILE", "output", 0, 0},
        {"classes", 'c', XM_OPT_STR, &classes, "FILE", "classes", 0, 0},
        {"list", 'l', XM_OPT_STR, &list, "I,J", "a list", 0, 0},
        {0}};
    xm_cli cli = {.tool = "xm-fuzz", .usage = "[OPTIONS] IN...", .about = "fuzzing", .opts = opts};
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_cli_parse(&cli, argc, argv, &e);
    if (rc == 0) {
        if (size_opt != 0 && (size_opt < 1 || size_opt > 65535)) abort();
        if (jobs < 0 || jobs > 1024) abort();
        if (!isfinite(alpha) || !isfinite(lr)) abort();
        if (cli.nargs < 0 || cli.nargs >= argc) abort();
        for (int i = 0; i < cli.nargs; i++) (void)strlen(cli.args[i]);
        if (out) (void)strlen(out);
        if (list) check_parsers(list);
    } else if (rc != XM_CLI_DONE && rc != XM_EUSAGE) {
        abort();
    }
    if (rc != 0 && rc != XM_CLI_DONE && !e.msg[0]) abort(); /* every refusal says why */
    xm_cli_release(&cli);
    for (int i = 1; i < argc && i < 16; i++) check_parsers(argv[i]);
    free(buf);
    return 0;
}
