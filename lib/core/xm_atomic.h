/* xm_atomic.h: atomic output files.
 *
 * An output is written under a temporary name in its own directory,
 * "DIR/.NAME.tmp.PID", and renamed to its final name only on commit
 * (fflush, fsync, rename, fsync of the directory). So an interrupted or
 * failed run never leaves a plausible-looking broken file under the final
 * name (make treats any existing file as finished).
 *
 * Temporary paths are kept in a small process-wide registry (the one piece of
 * global state; fixed size, no allocation) so that the handler installed by
 * xm_atomic_install_signals() can unlink them on SIGINT/SIGTERM before the
 * process exits with 130/143. */
#ifndef XM_ATOMIC_H
#define XM_ATOMIC_H

#include <stdio.h>

#include "xm_err.h"

#define XM_ATOMIC_PATH_MAX 4096
#define XM_ATOMIC_MAX_OPEN 1024 /* temporary files registered at once (shards) */

enum { XM_ATOMIC_FORCE = 1 }; /* flags: overwrite an existing output */

typedef struct xm_atomic {
    char path[XM_ATOMIC_PATH_MAX]; /* final name */
    char tmp[XM_ATOMIC_PATH_MAX];  /* temporary name, exists while open */
    int fd;                        /* -1 once closed */
    FILE *f;                       /* from xm_atomic_file(), or NULL */
    int slot;                      /* registry slot, -1 if none */
} xm_atomic;

/* Refuse an existing `path` unless XM_ATOMIC_FORCE (XM_ECANTCREAT
 * "PATH: exists (use --force to overwrite)"), then create the temporary
 * file (mode 0666 & ~umask) and open it read-write as a->fd. */
int xm_atomic_open(xm_atomic *a, const char *path, int flags, xm_err *err);
/* A stdio stream over a->fd (created once; NULL on out of memory). */
FILE *xm_atomic_file(xm_atomic *a);
/* For writers that need a path (HDF5): close our descriptor; the caller then
 * creates/truncates a->tmp itself and closes it before commit. */
void xm_atomic_close_fd(xm_atomic *a);
/* Flush, fsync, rename to the final name, fsync the directory. On failure
 * the temporary file is removed. */
int xm_atomic_commit(xm_atomic *a, xm_err *err);
/* Close and unlink the temporary file (no-op if already committed). */
void xm_atomic_abort(xm_atomic *a);

/* The name to show in messages for `path`: a temporary name made by
 * xm_atomic_open ("DIR/.NAME.tmp.PID") becomes its final name "DIR/NAME";
 * any other path is copied unchanged (cut to size). */
void xm_atomic_display_name(const char *path, char *buf, size_t size);

/* Install SIGINT/SIGTERM handlers that unlink every registered temporary
 * file and _exit(130 / 143). Idempotent. */
void xm_atomic_install_signals(void);
/* Number of currently registered temporary files (for tests). */
int xm_atomic_registered(void);

#endif
