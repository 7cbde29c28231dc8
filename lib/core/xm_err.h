/* xm_err.h: status codes and error messages.
 *
 * The library never prints or exits. A function that can fail takes an
 * `xm_err *` last, fills it on failure and returns the status (nonzero).
 * Messages read "FILE: reason" (or just "reason"), so a tool can print
 * "xm-TOOL: error: <msg>" and exit with the status as its exit code.
 */
#ifndef XM_ERR_H
#define XM_ERR_H

#include <stddef.h>

/* Status codes double as the tools' exit codes (sysexits.h values). */
typedef enum xm_status {
    XM_OK = 0,
    XM_EFAIL = 1,       /* generic failure (also: out of memory, NaN loss) */
    XM_EUSAGE = 2,      /* bad command line or option value */
    XM_EDATA = 65,      /* input data is malformed, hostile or inconsistent */
    XM_ENOINPUT = 66,   /* input missing or unreadable */
    XM_ECANTCREAT = 73, /* output cannot be created (exists without --force, dir missing) */
    XM_EIO = 74,        /* I/O error while reading or writing (disk full, short read) */
    XM_EINTR_INT = 130, /* interrupted by SIGINT */
    XM_EINTR_TERM = 143 /* interrupted by SIGTERM */
} xm_status;

#define XM_ERR_MSG_MAX 1024

typedef struct xm_err {
    int code;                    /* an xm_status; 0 while no error is set */
    char msg[XM_ERR_MSG_MAX];    /* one line, no trailing newline */
} xm_err;

/* Clear *e (may be NULL). */
void xm_err_clear(xm_err *e);

/* Set the error (printf-style) and return `code`. e may be NULL.
 * The first error set wins: a later call does not overwrite a set error,
 * so callers can propagate the root cause. Newlines are replaced by spaces. */
int xm_err_set(xm_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an already-set message with "prefix: " (e.g. a file name), keeping
 * its code. Returns e->code. */
int xm_err_prefix(xm_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like xm_err_set but appends ": strerror(errnum)". */
int xm_err_errno(xm_err *e, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Programmer errors only (never bad input): abort with file and line. */
#define XM_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) xm_assert_fail(#cond, __FILE__, __LINE__);                \
    } while (0)
void xm_assert_fail(const char *cond, const char *file, int line)
    __attribute__((noreturn));

#endif
