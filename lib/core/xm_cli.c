/* xm_cli.c: see xm_cli.h. */
#include "xm_cli.h"

#include <stdlib.h>
#include <string.h>

#include "xm_parse.h"

#ifndef XM_VERSION
#define XM_VERSION "0"
#endif

enum { B_HELP = 1, B_VERSION, B_QUIET, B_VERBOSE, B_FORCE };
static const struct {
    const char *name;
    char s;
    int id;
    const char *help;
} builtin[] = {
    {"help", 'h', B_HELP, "print this help on stdout and exit"},
    {"version", 0, B_VERSION, "print the version and exit"},
    {"quiet", 'q', B_QUIET, "print errors only"},
    {"verbose", 'v', B_VERBOSE, "print more (repeatable)"},
    {"force", 'f', B_FORCE, "overwrite existing outputs"},
};
#define NBUILTIN ((int)(sizeof builtin / sizeof builtin[0]))

void xm_cli_help(const xm_cli *c, FILE *f)
{
    fprintf(f, "usage: %s %s\n", c->tool, c->usage ? c->usage : "[OPTIONS]");
    if (c->about) fprintf(f, "\n%s\n", c->about);
    fprintf(f, "\noptions:\n");
    for (const xm_opt *o = c->opts; o && o->name; o++) {
        char lhs[96];
        int n = 0;
        if (o->short_name) n = snprintf(lhs, sizeof lhs, "-%c, ", o->short_name);
        snprintf(lhs + n, sizeof lhs - (size_t)n, "--%s%s%s", o->name, o->kind == XM_OPT_FLAG ? "" : " ",
                 o->kind == XM_OPT_FLAG ? "" : (o->arg ? o->arg : "VALUE"));
        fprintf(f, "  %-26s %s\n", lhs, o->help ? o->help : "");
    }
    for (int i = 0; i < NBUILTIN; i++) {
        char lhs[64];
        if (builtin[i].s) snprintf(lhs, sizeof lhs, "-%c, --%s", builtin[i].s, builtin[i].name);
        else snprintf(lhs, sizeof lhs, "--%s", builtin[i].name);
        fprintf(f, "  %-26s %s\n", lhs, builtin[i].help);
    }
    fprintf(f, "\nexit codes: 0 ok, 1 failure, 2 usage, 65 bad data, 66 missing input,\n"
               "73 cannot create output, 74 I/O error, 130/143 interrupted\n");
}

static int set_value(const xm_opt *o, const char *shown, const char *v, xm_err *err)
{
    int rc = 0;
    switch (o->kind) {
    case XM_OPT_STR: *(const char **)o->value = v; break;
    case XM_OPT_INT:
        if (o->min == 0 && o->max == 0) rc = xm_parse_i64(v, (int64_t *)o->value, err);
        else rc = xm_parse_i64_range(v, o->min, o->max, (int64_t *)o->value, err);
        break;
    case XM_OPT_DOUBLE: rc = xm_parse_double(v, (double *)o->value, err); break;
    case XM_OPT_FLAG: break;
    }
    if (rc) xm_err_prefix(err, "%s", shown);
    return rc;
}

static int do_builtin(xm_cli *c, int id)
{
    switch (id) {
    case B_HELP: xm_cli_help(c, stdout); return XM_CLI_DONE;
    case B_VERSION: printf("%s %s\n", c->tool, XM_VERSION); return XM_CLI_DONE;
    case B_QUIET: c->verbosity = XM_LOG_QUIET; return 0;
    case B_VERBOSE: c->verbosity++; return 0;
    case B_FORCE: c->force = 1; return 0;
    }
    return 0;
}

int xm_cli_parse(xm_cli *c, int argc, char **argv, xm_err *err)
{
    c->verbosity = XM_LOG_NORMAL;
    c->force = 0;
    c->nargs = 0;
    c->args = calloc((size_t)(argc > 0 ? argc : 1), sizeof *c->args);
    if (!c->args) return xm_err_set(err, XM_EFAIL, "out of memory");
    int only_pos = 0, done = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            c->args[c->nargs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const xm_opt *o = NULL;
        int bid = 0;
        const char *inl = NULL; /* inline value: --x=V or -xV */
        char shown[128];
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            if (eq) inl = eq + 1;
            for (const xm_opt *p = c->opts; p && p->name; p++)
                if (strlen(p->name) == nl && strncmp(p->name, name, nl) == 0) o = p;
            for (int b = 0; !o && b < NBUILTIN; b++)
                if (strlen(builtin[b].name) == nl && strncmp(builtin[b].name, name, nl) == 0)
                    bid = builtin[b].id;
            snprintf(shown, sizeof shown, "--%.*s", (int)(nl < 100 ? nl : 100), name);
        } else {
            for (const xm_opt *p = c->opts; p && p->name; p++)
                if (p->short_name == a[1]) o = p;
            for (int b = 0; !o && b < NBUILTIN; b++)
                if (builtin[b].s == a[1]) bid = builtin[b].id;
            if (a[2]) inl = a + 2;
            snprintf(shown, sizeof shown, "-%c", a[1]);
            /* Bundled short flags: -qv */
            if (inl && ((o && o->kind == XM_OPT_FLAG) || bid)) {
                int ok = 1;
                for (const char *q = a + 2; *q && ok; q++) {
                    ok = 0;
                    for (int b = 0; b < NBUILTIN; b++) ok |= builtin[b].s == *q;
                    for (const xm_opt *p = c->opts; p && p->name; p++)
                        ok |= p->short_name == *q && p->kind == XM_OPT_FLAG;
                }
                if (ok) {
                    for (const char *q = a + 1; *q; q++) {
                        for (const xm_opt *p = c->opts; p && p->name; p++)
                            if (p->short_name == *q) (*(int *)p->value)++;
                        for (int b = 0; b < NBUILTIN; b++)
                            if (builtin[b].s == *q && do_builtin(c, builtin[b].id)) done = 1;
                    }
                    if (done) return XM_CLI_DONE;
                    continue;
                }
            }
        }
        if (!o && !bid) {
            char s2[128];
            snprintf(s2, sizeof s2, "%s", a);
            char *eq = strchr(s2, '=');
            if (eq) *eq = '\0';
            return xm_err_set(err, XM_EUSAGE, "unknown option '%s' (see --help)", s2);
        }
        if (bid || o->kind == XM_OPT_FLAG) {
            if (inl) return xm_err_set(err, XM_EUSAGE, "option '%s' takes no value", shown);
            if (bid) {
                if (do_builtin(c, bid)) return XM_CLI_DONE;
            } else {
                (*(int *)o->value)++;
            }
            continue;
        }
        const char *v = inl;
        if (!v) {
            if (i + 1 >= argc)
                return xm_err_set(err, XM_EUSAGE, "option '%s' needs a value (%s)", shown,
                                  o->arg ? o->arg : "VALUE");
            v = argv[++i];
        }
        int rc = set_value(o, shown, v, err);
        if (rc) return rc;
    }
    return 0;
}

void xm_cli_release(xm_cli *c)
{
    free(c->args);
    c->args = NULL;
    c->nargs = 0;
}
