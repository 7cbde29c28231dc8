/* xm_atomic.c: see xm_atomic.h. */
#include "xm_atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The registry: the only process-wide state in the library. Written under
 * reg_mu; the signal handler reads it without the lock (a slot is published
 * by setting reg_used after its path is complete). */
static char reg_path[XM_ATOMIC_MAX_OPEN][XM_ATOMIC_PATH_MAX];
static volatile sig_atomic_t reg_used[XM_ATOMIC_MAX_OPEN];
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static int reg_add(const char *p)
{
    int slot = -1;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < XM_ATOMIC_MAX_OPEN; i++)
        if (!reg_used[i]) {
            memcpy(reg_path[i], p, strlen(p) + 1);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            reg_used[i] = 1;
            slot = i;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    return slot;
}

static void reg_del(int slot)
{
    if (slot < 0) return;
    pthread_mutex_lock(&reg_mu);
    reg_used[slot] = 0;
    pthread_mutex_unlock(&reg_mu);
}

int xm_atomic_registered(void)
{
    int n = 0;
    for (int i = 0; i < XM_ATOMIC_MAX_OPEN; i++) n += reg_used[i] != 0;
    return n;
}

static void on_signal(int sig)
{
    /* Async-signal-safe only: unlink and _exit. */
    for (int i = 0; i < XM_ATOMIC_MAX_OPEN; i++)
        if (reg_used[i]) unlink(reg_path[i]);
    _exit(sig == SIGINT ? 130 : 143);
}

void xm_atomic_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Split path into directory ("." if none) and base name. */
static int split(const char *path, char *dir, char *base, xm_err *err)
{
    size_t n = strlen(path);
    if (n == 0 || n >= XM_ATOMIC_PATH_MAX - 64)
        return xm_err_set(err, XM_ECANTCREAT, "%s: bad output path", path);
    if (path[n - 1] == '/') return xm_err_set(err, XM_ECANTCREAT, "%s: is a directory", path);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
        strcpy(base, path);
    } else {
        size_t dl = (size_t)(slash - path);
        if (dl == 0) dl = 1; /* "/name" */
        memcpy(dir, path, dl);
        dir[dl] = '\0';
        strcpy(base, slash + 1);
    }
    return 0;
}

void xm_atomic_display_name(const char *path, char *buf, size_t size)
{
    if (size == 0) return;
    snprintf(buf, size, "%s", path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *t = NULL; /* the last ".tmp." of the base name */
    for (const char *p = strstr(base, ".tmp."); p; p = strstr(p + 1, ".tmp.")) t = p;
    if (base[0] != '.' || !t || t == base + 1 || !t[5]) return;
    for (const char *d = t + 5; *d; d++)
        if (*d < '0' || *d > '9') return; /* not ".NAME.tmp.PID" */
    size_t dl = (size_t)(base - path), nl = (size_t)(t - base - 1);
    if (dl + nl < size) {
        memmove(buf + dl, base + 1, nl); /* buf already holds the directory part */
        buf[dl + nl] = '\0';
    }
}

int xm_atomic_open(xm_atomic *a, const char *path, int flags, xm_err *err)
{
    a->fd = -1;
    a->f = NULL;
    a->slot = -1;
    a->tmp[0] = '\0';
    char dir[XM_ATOMIC_PATH_MAX], base[XM_ATOMIC_PATH_MAX];
    int rc = split(path, dir, base, err);
    if (rc) return rc;
    strcpy(a->path, path);
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return xm_err_set(err, XM_ECANTCREAT, "%s: is a directory", path);
        if (!(flags & XM_ATOMIC_FORCE))
            return xm_err_set(err, XM_ECANTCREAT, "%s: exists (use --force to overwrite)", path);
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return xm_err_set(err, XM_ECANTCREAT, "%s: directory %s does not exist", path, dir);
    int len = snprintf(a->tmp, sizeof a->tmp, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
    if (len < 0 || len >= (int)sizeof a->tmp)
        return xm_err_set(err, XM_ECANTCREAT, "%s: output path too long", path);
    /* Register before creating, so a signal between the two still cleans up. */
    a->slot = reg_add(a->tmp);
    if (a->slot < 0)
        return xm_err_set(err, XM_ECANTCREAT, "%s: too many outputs open at once (max %d)", path,
                          XM_ATOMIC_MAX_OPEN);
    a->fd = open(a->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (a->fd < 0) {
        int e = errno;
        reg_del(a->slot);
        a->slot = -1;
        a->tmp[0] = '\0';
        return xm_err_errno(err, XM_ECANTCREAT, e, "%s", path);
    }
    return 0;
}

FILE *xm_atomic_file(xm_atomic *a)
{
    if (!a->f && a->fd >= 0) a->f = fdopen(a->fd, "w+b");
    return a->f;
}

void xm_atomic_close_fd(xm_atomic *a)
{
    if (a->f) fclose(a->f);
    else if (a->fd >= 0) close(a->fd);
    a->f = NULL;
    a->fd = -1;
}

void xm_atomic_abort(xm_atomic *a)
{
    xm_atomic_close_fd(a);
    if (a->tmp[0]) unlink(a->tmp);
    a->tmp[0] = '\0';
    reg_del(a->slot);
    a->slot = -1;
}

int xm_atomic_commit(xm_atomic *a, xm_err *err)
{
    if (!a->tmp[0]) return xm_err_set(err, XM_EFAIL, "%s: output not open", a->path);
    int e = 0;
    if (a->f) {
        if (fflush(a->f) != 0) e = errno;
    } else if (a->fd < 0) {
        a->fd = open(a->tmp, O_RDONLY | O_CLOEXEC); /* written through its path */
        if (a->fd < 0) e = errno;
    }
    int fd = a->f ? fileno(a->f) : a->fd;
    if (!e && fsync(fd) != 0) e = errno;
    if (a->f) {
        if (fclose(a->f) != 0 && !e) e = errno;
    } else if (a->fd >= 0 && close(a->fd) != 0 && !e) {
        e = errno;
    }
    a->f = NULL;
    a->fd = -1;
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        xm_atomic_abort(a);
        return xm_err_errno(err, XM_EIO, e, "%s", a->path);
    }
    a->tmp[0] = '\0';
    reg_del(a->slot);
    a->slot = -1;
    /* Make the rename itself durable. */
    char dir[XM_ATOMIC_PATH_MAX], base[XM_ATOMIC_PATH_MAX];
    if (split(a->path, dir, base, NULL) == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}
