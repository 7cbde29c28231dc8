/* xm_log.h: messages for people, on stderr, from TOOLS only.
 *
 * The library never prints (see xm_err.h); tools own an xm_log (no global
 * state) and print through it, so -q/-v behave the same everywhere:
 *   level 0 (-q): errors only; 1 (default): warnings and summaries;
 *   2 (-v): progress details; 3 (-vv): debugging.
 * Every line starts with the tool name: "xm-pack: ...". */
#ifndef XM_LOG_H
#define XM_LOG_H

#include "xm_err.h"

typedef enum xm_log_level {
    XM_LOG_QUIET = 0,
    XM_LOG_NORMAL = 1,
    XM_LOG_VERBOSE = 2,
    XM_LOG_DEBUG = 3
} xm_log_level;

typedef struct xm_log {
    const char *tool; /* "xm-pack" */
    int level;        /* an xm_log_level */
} xm_log;

static inline void xm_log_init(xm_log *l, const char *tool, int level)
{
    l->tool = tool;
    l->level = level;
}

/* "TOOL: msg" when level >= lvl. */
void xm_log_at(const xm_log *l, int lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define xm_log_info(l, ...) xm_log_at((l), XM_LOG_NORMAL, __VA_ARGS__)
#define xm_log_verbose(l, ...) xm_log_at((l), XM_LOG_VERBOSE, __VA_ARGS__)
#define xm_log_debug(l, ...) xm_log_at((l), XM_LOG_DEBUG, __VA_ARGS__)
/* "TOOL: warning: msg" unless quiet. */
void xm_log_warn(const xm_log *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "TOOL: error: msg", always printed. */
void xm_log_error(const xm_log *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "TOOL: error: <err->msg>" and return the exit code (err->code, or
 * XM_EFAIL if no code was set). `tool` is the full name, e.g. "xm-pack". */
int xm_tool_fail(const char *tool, const xm_err *err);

#endif
