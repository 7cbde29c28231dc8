/* xm_xms_out.h: writing a data set to one .xms file or to numbered shards
 * (-o data-%05d.xms --shard-size N), through atomic outputs: every shard is
 * written under a temporary name and all are renamed only by
 * xm_xms_out_commit, so a failed or interrupted run leaves none of them. */
#ifndef XM_XMS_OUT_H
#define XM_XMS_OUT_H

#include "xm_xms.h"

typedef struct xm_xms_out xm_xms_out;

/* `pattern` is a path, or with shard_size > 0 a path with exactly one
 * printf-style integer conversion (%d, %5d or %05d; "%%" is a literal %).
 * shard_size 0: one file (a pattern is then formatted with 0). flags:
 * XM_ATOMIC_FORCE to overwrite. Usage errors are XM_EUSAGE. */
int xm_xms_out_open(const char *pattern, int64_t shard_size, int flags, const xm_xms_wopts *o,
                    xm_xms_out **out, xm_err *err);
/* Class table for every shard (copied). */
int xm_xms_out_set_classes(xm_xms_out *s, const char *const *names, int n, xm_err *err);
int xm_xms_out_add(xm_xms_out *s, const uint8_t *px, int h, int w, int c, int32_t label,
                   const char *src, xm_err *err);
/* Compress on a thread pool (see xm_xms_writer_set_pool); sync writes the
 * queued blocks of the open shard. */
int xm_xms_out_set_pool(xm_xms_out *s, struct xm_pool *pool);
int xm_xms_out_sync(xm_xms_out *s, xm_err *err);
/* Finish and publish every shard. Returns 0 or the first error (then nothing
 * is published). */
int xm_xms_out_commit(xm_xms_out *s, xm_err *err);
/* Remove all temporary files and free (also after commit: then only frees). */
void xm_xms_out_free(xm_xms_out *s);
int xm_xms_out_nfiles(const xm_xms_out *s);
const char *xm_xms_out_path(const xm_xms_out *s, int k); /* final name of shard k */
uint64_t xm_xms_out_bytes(const xm_xms_out *s);          /* total file bytes after commit */

/* Format `pattern` with index k into buf. Returns the number of conversions
 * (0 or 1), or -1 with err set (XM_EUSAGE). */
int xm_xms_out_format(const char *pattern, int64_t k, char *buf, size_t n, xm_err *err);

#endif
