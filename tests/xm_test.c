/* xm_test.c: see xm_test.h. */
#include "xm_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int xm_test_failures = 0;
int xm_test_checks = 0;

void xm_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    xm_test_failures++;
}

double xm_test_rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (!isfinite(num)) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

const char *xm_test_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("XM_TESTS");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : ".", rel);
    return buf;
}

int xm_test_finish(void)
{
    printf("%d checks, %d failed\n", xm_test_checks, xm_test_failures);
    return xm_test_failures ? 1 : 0;
}

int xm_test_skip(const char *why)
{
    printf("skipped: %s\n", why);
    return 77;
}
