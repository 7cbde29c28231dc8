/* xm_progress.c: see xm_progress.h. */
#include "xm_progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double xm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void xm_progress_init(xm_progress *p, const char *label, int64_t total, int want)
{
    p->label = label;
    p->total = total;
    p->enabled = want && isatty(2);
    p->drawn = 0;
    p->t0 = xm_now();
    p->last = 0;
}

void xm_progress_format(const xm_progress *p, int64_t done, double now, char *buf, int n)
{
    double dt = now - p->t0;
    double rate = dt > 0 ? (double)done / dt : 0;
    if (p->total > 0) {
        double pct = 100.0 * (double)done / (double)p->total;
        long eta = rate > 0 ? (long)((double)(p->total - done) / rate + 0.5) : 0;
        snprintf(buf, (size_t)n, "%s: %lld/%lld (%.0f%%) %.0f/s ETA %ld:%02ld", p->label,
                 (long long)done, (long long)p->total, pct, rate, eta / 60, eta % 60);
    } else {
        snprintf(buf, (size_t)n, "%s: %lld %.0f/s", p->label, (long long)done, rate);
    }
}

void xm_progress_update(xm_progress *p, int64_t done)
{
    if (!p->enabled) return;
    double now = xm_now();
    if (p->drawn && now - p->last < 1.0 / XM_PROGRESS_HZ) return;
    p->last = now;
    char buf[256];
    xm_progress_format(p, done, now, buf, sizeof buf);
    fprintf(stderr, "\r\033[K%s", buf);
    fflush(stderr);
    p->drawn = 1;
}

void xm_progress_end(xm_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
