/* xm_err.c: status codes and error messages (see xm_err.h). */
#include "xm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xm_err_clear(xm_err *e)
{
    if (!e) return;
    e->code = 0;
    e->msg[0] = '\0';
}

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

static int vset(xm_err *e, int code, const char *fmt, va_list ap)
{
    if (!e) return code;
    if (e->code != 0) return e->code; /* first error wins */
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    one_line(e->msg);
    return code;
}

int xm_err_set(xm_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(e, code, fmt, ap);
    va_end(ap);
    return r;
}

int xm_err_errno(xm_err *e, int code, int errnum, const char *fmt, ...)
{
    if (!e) return code;
    if (e->code != 0) return e->code;
    char head[XM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    return xm_err_set(e, code, "%s: %s", head, strerror(errnum));
}

int xm_err_prefix(xm_err *e, const char *fmt, ...)
{
    if (!e || e->code == 0) return e ? e->code : 0;
    char head[XM_ERR_MSG_MAX], old[XM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Join in a buffer big enough for both, then cut to the message size
     * (keeps -Wformat-truncation quiet without hiding real truncation). */
    char both[2 * XM_ERR_MSG_MAX + 4];
    snprintf(both, sizeof both, "%s: %s", head, old);
    memcpy(e->msg, both, sizeof e->msg - 1);
    e->msg[sizeof e->msg - 1] = '\0';
    one_line(e->msg);
    return e->code;
}

void xm_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "xm: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}
