/* test_parse.c: checked number parsing and the option parser. */
#include <stdlib.h>
#include <string.h>

#include "xm_cli.h"
#include "xm_parse.h"
#include "xm_test.h"

static int bad_i64(const char *s)
{
    xm_err e;
    xm_err_clear(&e);
    int64_t v;
    return xm_parse_i64(s, &v, &e) == XM_EUSAGE && strstr(e.msg, s) != NULL;
}

int main(void)
{
    xm_err e;
    int64_t v;
    uint64_t u;
    double d;
    xm_err_clear(&e);
    XM_CHECK(xm_parse_i64("-42", &v, &e) == 0 && v == -42);
    XM_CHECK(xm_parse_i64("9223372036854775807", &v, &e) == 0 && v == INT64_MAX);
    XM_CHECK(bad_i64("9223372036854775808"));
    XM_CHECK(bad_i64("-9223372036854775809"));
    XM_CHECK(bad_i64("12x"));
    XM_CHECK(bad_i64(""));
    XM_CHECK(bad_i64(" 1"));
    XM_CHECK(bad_i64("1 "));
    XM_CHECK(bad_i64("0x10") );
    XM_CHECK(xm_parse_u64("18446744073709551615", &u, &e) == 0 && u == UINT64_MAX);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_u64("18446744073709551616", &u, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_u64("-1", &u, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_double("0.25", &d, &e) == 0 && d == 0.25);
    XM_CHECK(xm_parse_double("1e400", &d, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_double("nan", &d, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_double("1.5a", &d, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_i64_range("300", 0, 255, &v, &e) == XM_EUSAGE);
    xm_err_clear(&e);

    int64_t k, n;
    XM_CHECK(xm_parse_shard("2/8", &k, &n, &e) == 0 && k == 2 && n == 8);
    XM_CHECK(xm_parse_shard("8/8", &k, &n, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_shard("1/", &k, &n, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_shard("-1/2", &k, &n, &e) == XM_EUSAGE);
    xm_err_clear(&e);

    int64_t *l = NULL;
    size_t ln = 0;
    XM_CHECK(xm_parse_list_i64("0,5,9", 0, 100, &l, &ln, &e) == 0 && ln == 3 && l[0] == 0 &&
             l[1] == 5 && l[2] == 9);
    free(l);
    XM_CHECK(xm_parse_list_i64("0,,9", 0, 100, &l, &ln, &e) == XM_EUSAGE && !l);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_list_i64("0,101", 0, 100, &l, &ln, &e) == XM_EUSAGE);
    xm_err_clear(&e);
    XM_CHECK(xm_parse_list_i64("1,", 0, 100, &l, &ln, &e) == XM_EUSAGE);
    xm_err_clear(&e);

    /* Option table. */
    int64_t size = 0;
    int strict = 0;
    const char *out = NULL;
    const xm_opt opts[] = {{"size", 0, XM_OPT_INT, &size, "S", "size", 1, 65535},
                           {"strict", 0, XM_OPT_FLAG, &strict, NULL, "strict", 0, 0},
                           {"output", 'o', XM_OPT_STR, &out, "FILE", "out", 0, 0},
                           {0}};
    char *argv1[] = {"xm-t", "--size=64", "a", "-o", "x.xms", "--strict", "-qf", "--", "-b", NULL};
    xm_cli c = {.tool = "xm-t", .usage = "IN", .opts = opts};
    XM_CHECK(xm_cli_parse(&c, 9, argv1, &e) == 0);
    XM_CHECK(size == 64 && strict == 1 && out && strcmp(out, "x.xms") == 0);
    XM_CHECK(c.verbosity == 0 && c.force == 1);
    XM_CHECK(c.nargs == 2 && strcmp(c.args[0], "a") == 0 && strcmp(c.args[1], "-b") == 0);
    xm_cli_release(&c);
    char *argv2[] = {"xm-t", "--sise", "3", NULL};
    xm_err_clear(&e);
    XM_CHECK(xm_cli_parse(&c, 3, argv2, &e) == XM_EUSAGE &&
             strcmp(e.msg, "unknown option '--sise' (see --help)") == 0);
    xm_cli_release(&c);
    char *argv3[] = {"xm-t", "--size", "0", NULL};
    xm_err_clear(&e);
    XM_CHECK(xm_cli_parse(&c, 3, argv3, &e) == XM_EUSAGE && strstr(e.msg, "--size: '0'"));
    xm_cli_release(&c);
    char *argv4[] = {"xm-t", "-o", NULL};
    xm_err_clear(&e);
    XM_CHECK(xm_cli_parse(&c, 2, argv4, &e) == XM_EUSAGE && strstr(e.msg, "needs a value"));
    xm_cli_release(&c);
    char *argv5[] = {"xm-t", "-vv", "-o-", NULL};
    xm_err_clear(&e);
    XM_CHECK(xm_cli_parse(&c, 3, argv5, &e) == 0 && c.verbosity == 3 && strcmp(out, "-") == 0);
    xm_cli_release(&c);
    return xm_test_finish();
}
