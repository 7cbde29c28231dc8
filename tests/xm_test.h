/* xm_test.h: a minimal test harness for ctest executables.
 * Each test binary calls XM_CHECK* and returns xm_test_finish(). Failures
 * print file:line and the message; exit 1 if any failed, 77 for a skip. */
#ifndef XM_TEST_H
#define XM_TEST_H

#include <stddef.h>

extern int xm_test_failures;
extern int xm_test_checks;

void xm_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define XM_CHECK(cond)                                                         \
    do {                                                                       \
        xm_test_checks++;                                                      \
        if (!(cond)) xm_test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)
#define XM_CHECKF(cond, ...)                                                   \
    do {                                                                       \
        xm_test_checks++;                                                      \
        if (!(cond)) xm_test_fail(__FILE__, __LINE__, __VA_ARGS__);            \
    } while (0)

/* Scale-free relative error ||a - b|| / ||b|| (b the reference); if ||b|| is
 * 0 returns ||a||. Computed in double. */
double xm_test_rel_err(const float *a, const float *b, size_t n);
/* Check rel_err(a, b) <= tol, naming the tensor on failure. */
#define XM_CHECK_CLOSE(name, a, b, n, tol)                                     \
    do {                                                                       \
        double _e = xm_test_rel_err((a), (b), (n));                            \
        XM_CHECKF(_e <= (tol), "%s: relative error %.3g > %.3g", (name), _e, (double)(tol)); \
    } while (0)

/* Path of a file under tests/ (from env XM_TESTS, else the source dir at
 * build time). Returns a static buffer valid until the next call. */
const char *xm_test_path(const char *rel);

/* Exit status for main: 0 ok, 1 failures. Prints "N checks, M failed". */
int xm_test_finish(void);
/* Print "skipped: <why>" and return 77 (ctest SKIP_RETURN_CODE). */
int xm_test_skip(const char *why);

#endif
