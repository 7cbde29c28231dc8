/* xm-centroid: features files (and centroid files) -> per-class sums,
 * counts and means (formats/centroids.md).
 *
 * A thin tool: options, then xm_centroid_add_file per input in command-line
 * order and xm_centroid_write. Centroid files of shards merge exactly into
 * what the shards' features files give (see xm_centroid.h). */
#include <stdio.h>
#include <stdlib.h>

#include "xm_atomic.h"
#include "xm_centroid.h"
#include "xm_cli.h"
#include "xm_json.h"
#include "xm_log.h"

#define TOOL "xm-centroid"

int main(int argc, char **argv)
{
    const char *out = NULL;
    int json = 0;
    const xm_opt table[] = {
        {"output", 'o', XM_OPT_STR, &out, "CENT.h5", "output centroid file", 0, 0},
        {"json", 0, XM_OPT_FLAG, &json, NULL, "print one JSON line with the totals on stdout", 0, 0},
        {0}};
    xm_cli cli = {.tool = TOOL,
                  .usage = "[OPTIONS] FILE.h5... -o CENT.h5",
                  .about = "Per-class feature sums (float64), counts and means of features files\n"
                           "(xm-embed) and/or centroid files (merging shards exactly).",
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
    if (!rc && !out) rc = xm_err_set(&err, XM_EUSAGE, "no output given (-o CENT.h5)");
    if (!rc && cli.nargs == 0) rc = xm_err_set(&err, XM_EUSAGE, "no input file given");
    xm_atomic_install_signals();
    xm_centroid c;
    xm_centroid_init(&c);
    for (int i = 0; !rc && i < cli.nargs; i++) {
        rc = xm_centroid_add_file(&c, cli.args[i], &err);
        if (!rc) xm_log_verbose(&log, "%s: added", cli.args[i]);
    }
    if (!rc) rc = xm_centroid_write(&c, out, cli.force ? XM_ATOMIC_FORCE : 0, &err);
    if (!rc) {
        int64_t n = 0, empty = xm_centroid_empty(&c);
        for (int64_t k = 0; k < c.nclasses; k++) n += c.counts[k];
        for (int64_t k = 0; k < c.nclasses && empty; k++)
            if (c.counts[k] == 0)
                xm_log_warn(&log, "class '%s' (%lld) has no samples", c.classes[k], (long long)k);
        xm_log_info(&log, "%s: %lld samples, %lld classes, dimension %lld, from %d input%s", out,
                    (long long)n, (long long)c.nclasses, (long long)c.dim, cli.nargs,
                    cli.nargs == 1 ? "" : "s");
        if (json) {
            printf("{\"output\":");
            xm_json_str(stdout, out);
            printf(",\"samples\":%lld,\"classes\":%lld,\"dim\":%lld,\"empty_classes\":%lld,"
                   "\"inputs\":%d}\n", (long long)n, (long long)c.nclasses, (long long)c.dim,
                   (long long)empty, cli.nargs);
        }
    }
    xm_centroid_release(&c);
    xm_cli_release(&cli);
    return rc ? xm_tool_fail(TOOL, &err) : 0;
}
