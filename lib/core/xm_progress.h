/* xm_progress.h: a one-line progress display on stderr for tools.
 *
 * Redrawn at most XM_PROGRESS_HZ times a second and only when stderr is a
 * terminal (and not quiet), so logs and pipes never see it. Shows count,
 * total, rate and ETA. Call from one thread (the one that owns the count). */
#ifndef XM_PROGRESS_H
#define XM_PROGRESS_H

#include <stdint.h>

#define XM_PROGRESS_HZ 4

typedef struct xm_progress {
    const char *label; /* e.g. "decoding" */
    int64_t total;     /* 0 if unknown */
    int enabled;
    int drawn;         /* something is on the line: clear it at the end */
    double t0, last;   /* monotonic seconds */
} xm_progress;

/* Monotonic time in seconds. */
double xm_now(void);

/* enabled only if `want` and stderr is a terminal. */
void xm_progress_init(xm_progress *p, const char *label, int64_t total, int want);
/* Redraw if enabled and 1/HZ s passed since the last draw. */
void xm_progress_update(xm_progress *p, int64_t done);
/* Clear the line (nothing is left behind). */
void xm_progress_end(xm_progress *p);
/* Format "label: done/total (pct%) rate/s ETA m:ss" into buf (for tests). */
void xm_progress_format(const xm_progress *p, int64_t done, double now, char *buf, int n);

#endif
