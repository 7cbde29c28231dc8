/* xm_parse.c: see xm_parse.h. strtoll/strtod with errno and end checks. */
#include "xm_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int xm_parse_i64(const char *s, int64_t *out, xm_err *err)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return xm_err_set(err, XM_EUSAGE, "'%s': not an integer", s ? s : "");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end) return xm_err_set(err, XM_EUSAGE, "'%s': not an integer", s);
    if (errno == ERANGE) return xm_err_set(err, XM_EUSAGE, "'%s': integer out of range", s);
    *out = (int64_t)v;
    return 0;
}

int xm_parse_u64(const char *s, uint64_t *out, xm_err *err)
{
    /* strtoull accepts "-1" and wraps it: refuse any sign up front. */
    if (!s || !isdigit((unsigned char)*s))
        return xm_err_set(err, XM_EUSAGE, "'%s': not an unsigned integer", s ? s : "");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return xm_err_set(err, XM_EUSAGE, "'%s': not an unsigned integer", s);
    if (errno == ERANGE) return xm_err_set(err, XM_EUSAGE, "'%s': integer out of range", s);
    *out = (uint64_t)v;
    return 0;
}

int xm_parse_double(const char *s, double *out, xm_err *err)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return xm_err_set(err, XM_EUSAGE, "'%s': not a number", s ? s : "");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) return xm_err_set(err, XM_EUSAGE, "'%s': not a number", s);
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return xm_err_set(err, XM_EUSAGE, "'%s': number out of range", s);
    *out = v;
    return 0;
}

int xm_parse_i64_range(const char *s, int64_t lo, int64_t hi, int64_t *out, xm_err *err)
{
    int64_t v;
    int rc = xm_parse_i64(s, &v, err);
    if (rc) return rc;
    if (v < lo || v > hi)
        return xm_err_set(err, XM_EUSAGE, "'%s': out of range [%lld, %lld]", s, (long long)lo,
                          (long long)hi);
    *out = v;
    return 0;
}

int xm_parse_shard(const char *s, int64_t *k, int64_t *n, xm_err *err)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || slash == s || !slash[1])
        return xm_err_set(err, XM_EUSAGE, "'%s': not a shard K/N", s ? s : "");
    char kb[32];
    size_t kl = (size_t)(slash - s);
    if (kl >= sizeof kb) return xm_err_set(err, XM_EUSAGE, "'%s': not a shard K/N", s);
    memcpy(kb, s, kl);
    kb[kl] = '\0';
    int64_t kv, nv;
    xm_err e;
    xm_err_clear(&e);
    if (xm_parse_i64(kb, &kv, &e) || xm_parse_i64(slash + 1, &nv, &e))
        return xm_err_set(err, XM_EUSAGE, "'%s': not a shard K/N", s);
    if (nv < 1 || kv < 0 || kv >= nv)
        return xm_err_set(err, XM_EUSAGE, "'%s': shard needs 0 <= K < N", s);
    *k = kv;
    *n = nv;
    return 0;
}

int xm_parse_list_i64(const char *s, int64_t lo, int64_t hi, int64_t **out, size_t *n,
                      xm_err *err)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s) return xm_err_set(err, XM_EUSAGE, "empty list");
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int64_t *v = malloc(cap * sizeof *v);
    if (!v) return xm_err_set(err, XM_EFAIL, "out of memory");
    size_t cnt = 0;
    const char *p = s;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char buf[32];
        if (len == 0 || len >= sizeof buf) {
            free(v);
            return xm_err_set(err, XM_EUSAGE, "'%s': bad list item", s);
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        int rc = xm_parse_i64_range(buf, lo, hi, &v[cnt], err);
        if (rc) {
            free(v);
            return rc;
        }
        cnt++;
        if (!q) break;
        p = q + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
}
