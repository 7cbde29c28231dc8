/* xm_cli.h: one option-parsing style for every tool.
 *
 * A tool declares a table of options (git's parse-options, zstd's prefs):
 *
 *     int64_t size = 0; int strict = 0; const char *out = NULL;
 *     const xm_opt opts[] = {
 *         {"size", 0, XM_OPT_INT, &size, "S", "resize shorter side to S", 1, 65535},
 *         {"strict", 0, XM_OPT_FLAG, &strict, NULL, "fail on the first bad image"},
 *         {"output", 'o', XM_OPT_STR, &out, "FILE", "output file"},
 *         {0}};
 *     xm_cli cli = {.tool = "xm-pack", .usage = "[OPTIONS] INPUT... -o OUT", .opts = opts};
 *     int rc = xm_cli_parse(&cli, argc, argv, &err);
 *     if (rc == XM_CLI_DONE) return 0;           // --help / --version printed
 *     if (rc) return xm_tool_fail(cli.tool, &err); // usage error: exit 2
 *
 * Built in for all tools: -h/--help (stdout), --version, -q/--quiet,
 * -v/--verbose (repeatable), -f/--force. Accepted forms: --name VALUE,
 * --name=VALUE, -x VALUE, -xVALUE, and "--" ends the options; "-" alone is a
 * positional argument (stdin). Numbers are checked (xm_parse). Errors are
 * XM_EUSAGE with one line such as "unknown option '--sise' (see --help)". */
#ifndef XM_CLI_H
#define XM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "xm_err.h"
#include "xm_log.h"

typedef enum xm_opt_kind {
    XM_OPT_FLAG,   /* int *: set to 1 (counted: each use adds 1) */
    XM_OPT_STR,    /* const char **: points into argv; last use wins */
    XM_OPT_INT,    /* int64_t *: checked, in [min, max] unless both are 0 */
    XM_OPT_DOUBLE  /* double *: finite */
} xm_opt_kind;

typedef struct xm_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    char short_name;  /* 0 if none */
    xm_opt_kind kind;
    void *value;
    const char *arg;  /* argument name in --help, e.g. "FILE" */
    const char *help;
    int64_t min, max;
} xm_opt;

typedef struct xm_cli {
    const char *tool;   /* "xm-pack" */
    const char *usage;  /* after the tool name; may hold several lines */
    const char *about;  /* one sentence for --help */
    const xm_opt *opts; /* the tool's table */
    /* Filled by xm_cli_parse: */
    int verbosity;      /* an xm_log_level: 1, 0 with -q, +1 per -v */
    int force;
    char **args;        /* positional arguments (malloc'd array) */
    int nargs;
} xm_cli;

#define XM_CLI_DONE (-1) /* --help or --version was printed: exit 0 */

int xm_cli_parse(xm_cli *c, int argc, char **argv, xm_err *err);
void xm_cli_help(const xm_cli *c, FILE *f);
void xm_cli_release(xm_cli *c);

#endif
