/* xm_log.c: see xm_log.h. One fprintf per line so lines from threads do not
 * interleave mid-line. */
#include "xm_log.h"

#include <stdarg.h>
#include <stdio.h>

static void vline(const char *tool, const char *tag, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "%s: %s%s\n", tool ? tool : "xm", tag, buf);
}

void xm_log_at(const xm_log *l, int lvl, const char *fmt, ...)
{
    if (l->level < lvl) return;
    va_list ap;
    va_start(ap, fmt);
    vline(l->tool, "", fmt, ap);
    va_end(ap);
}

void xm_log_warn(const xm_log *l, const char *fmt, ...)
{
    if (l->level < XM_LOG_NORMAL) return;
    va_list ap;
    va_start(ap, fmt);
    vline(l->tool, "warning: ", fmt, ap);
    va_end(ap);
}

void xm_log_error(const xm_log *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(l->tool, "error: ", fmt, ap);
    va_end(ap);
}

int xm_tool_fail(const char *tool, const xm_err *err)
{
    int code = err && err->code ? err->code : XM_EFAIL;
    fprintf(stderr, "%s: error: %s\n", tool ? tool : "xm",
            err && err->msg[0] ? err->msg : "failed");
    return code;
}
