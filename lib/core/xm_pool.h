/* xm_pool.h: a fixed pthread thread pool.
 *
 * Tasks get the index of the worker running them (0..threads-1), so callers
 * can keep one context per worker (a decoder, a read cursor) without locks.
 * xm_pool_for runs fn(ctx, i, worker) for every i in [0, n) and returns when
 * all are done; which worker runs which i varies, so results must depend on
 * i only (that is what makes output identical whatever the thread count). */
#ifndef XM_POOL_H
#define XM_POOL_H

#include <stdint.h>

#include "xm_err.h"

typedef struct xm_pool xm_pool;
typedef void (*xm_pool_fn)(void *ctx, int64_t i, int worker);

/* threads <= 0: one per online core. */
xm_pool *xm_pool_new(int threads, xm_err *err);
void xm_pool_free(xm_pool *p); /* waits for queued tasks; NULL ok */
int xm_pool_threads(const xm_pool *p);
/* Number of online cores (>= 1). */
int xm_ncores(void);

/* Queue fn(ctx, i, worker) for i = 0 (one task). Returns 0, or XM_EFAIL
 * (out of memory). */
int xm_pool_submit(xm_pool *p, xm_pool_fn fn, void *ctx, int64_t i, xm_err *err);
/* Wait until every submitted task has finished. */
void xm_pool_wait(xm_pool *p);
/* Parallel for over [0, n), dynamically scheduled in chunks of `chunk`
 * indices (0: automatic). Blocks until done. */
void xm_pool_for(xm_pool *p, int64_t n, int64_t chunk, xm_pool_fn fn, void *ctx);

#endif
