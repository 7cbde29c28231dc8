/* xm_xms_readers.h: many .xms records into one host buffer, read by a few
 * threads at once (each with its own cursor). xm-train's and xm-embed's
 * loaders fill their next batch with it while the device computes the
 * current one; one reader decodes about 8,500 224 px records a second
 * here, a GPU trains or infers faster (bench/bench_loader.c).
 *
 * Every read lands at its planned offset, so the buffer's bytes do not
 * depend on the thread count; when reads fail, the error reported is the
 * lowest-numbered failing read's, whatever the thread count. */
#ifndef XM_XMS_READERS_H
#define XM_XMS_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"
#include "xm_xms.h"

/* One record to read: record `index` of `set`, written at px + off as
 * h x w x c_out bytes (bytes = h * w * c_out); c_out is the record's own
 * channel count, or 3 for a gray record replicated to RGB. */
typedef struct xm_xms_fetch {
    const xm_xms_set *set;
    int64_t index;
    int64_t off;
    size_t bytes;
    int c_out;
} xm_xms_fetch;

typedef struct xm_xms_readers xm_xms_readers;

/* n reader threads; n <= 0: half the cores, 1 to 8. With one reader the
 * reads run on the calling thread. */
xm_xms_readers *xm_xms_readers_new(int n, xm_err *err);
int xm_xms_readers_count(const xm_xms_readers *r);
/* The default count for n <= 0 (half the cores, 1 to 8). */
int xm_xms_readers_default(void);
/* Read reads[0..n) into px. */
int xm_xms_readers_run(xm_xms_readers *r, const xm_xms_fetch *reads, int n, uint8_t *px,
                       xm_err *err);
void xm_xms_readers_free(xm_xms_readers *r); /* NULL ok */

#endif
