/* xm_parse.h: checked number parsing for options and text inputs.
 *
 * Never atoi: the whole string must be a number (no trailing garbage, no
 * empty string, no leading spaces), overflow is an error, and every error is
 * XM_EUSAGE with a message quoting the text: "'12x': not an integer". Callers
 * prefix the option or file name with xm_err_prefix. */
#ifndef XM_PARSE_H
#define XM_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"

int xm_parse_i64(const char *s, int64_t *out, xm_err *err);
int xm_parse_u64(const char *s, uint64_t *out, xm_err *err); /* no sign allowed */
/* Finite doubles only (no nan/inf). */
int xm_parse_double(const char *s, double *out, xm_err *err);
/* int64 in [lo, hi]. */
int xm_parse_i64_range(const char *s, int64_t lo, int64_t hi, int64_t *out, xm_err *err);
/* "K/N" with N >= 1 and 0 <= K < N. */
int xm_parse_shard(const char *s, int64_t *k, int64_t *n, xm_err *err);
/* Comma list of int64 in [lo, hi], e.g. "0,5,9" (no empty items). *out is
 * malloc'd (free it); *n >= 1 on success. */
int xm_parse_list_i64(const char *s, int64_t lo, int64_t hi, int64_t **out, size_t *n,
                      xm_err *err);

#endif
