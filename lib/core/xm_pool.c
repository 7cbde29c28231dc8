/* xm_pool.c: see xm_pool.h. A mutex-protected FIFO of tasks; xm_pool_for
 * submits one runner per worker which claim chunks from an atomic counter. */
#include "xm_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct task {
    xm_pool_fn fn;
    void *ctx;
    int64_t i;
    struct task *next;
} task;

typedef struct worker_arg {
    xm_pool *pool;
    int id;
} worker_arg;

struct xm_pool {
    pthread_mutex_t mu;
    pthread_cond_t have_work, idle;
    task *head, *tail;
    int64_t pending; /* queued + running */
    int stop;
    int nthreads;
    pthread_t *threads;
    worker_arg *args;
};

int xm_ncores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    xm_pool *p = wa->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->have_work, &p->mu);
        if (!p->head && p->stop) break;
        task *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->ctx, t->i, wa->id);
        free(t);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

xm_pool *xm_pool_new(int threads, xm_err *err)
{
    if (threads <= 0) threads = xm_ncores();
    xm_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    p->args = calloc((size_t)threads, sizeof *p->args);
    if (!p->threads || !p->args) goto oom;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->have_work, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < threads; i++) {
        p->args[i].pool = p;
        p->args[i].id = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            p->nthreads = i;
            xm_pool_free(p);
            xm_err_set(err, XM_EFAIL, "cannot start thread %d of %d", i + 1, threads);
            return NULL;
        }
        p->nthreads = i + 1;
    }
    return p;
oom:
    if (p) {
        free(p->threads);
        free(p->args);
        free(p);
    }
    xm_err_set(err, XM_EFAIL, "out of memory (thread pool)");
    return NULL;
}

void xm_pool_free(xm_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->have_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->have_work);
    pthread_cond_destroy(&p->idle);
    free(p->threads);
    free(p->args);
    free(p);
}

int xm_pool_threads(const xm_pool *p) { return p->nthreads; }

int xm_pool_submit(xm_pool *p, xm_pool_fn fn, void *ctx, int64_t i, xm_err *err)
{
    task *t = malloc(sizeof *t);
    if (!t) return xm_err_set(err, XM_EFAIL, "out of memory (thread pool task)");
    t->fn = fn;
    t->ctx = ctx;
    t->i = i;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = t; else p->head = t;
    p->tail = t;
    p->pending++;
    pthread_cond_signal(&p->have_work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void xm_pool_wait(xm_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

typedef struct for_job {
    atomic_llong next;
    int64_t n, chunk;
    xm_pool_fn fn;
    void *ctx;
} for_job;

static void for_runner(void *ctx, int64_t unused, int worker)
{
    (void)unused;
    for_job *j = ctx;
    for (;;) {
        int64_t lo = atomic_fetch_add(&j->next, j->chunk);
        if (lo >= j->n) return;
        int64_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        for (int64_t i = lo; i < hi; i++) j->fn(j->ctx, i, worker);
    }
}

void xm_pool_for(xm_pool *p, int64_t n, int64_t chunk, xm_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (chunk <= 0) {
        chunk = n / ((int64_t)p->nthreads * 8);
        if (chunk < 1) chunk = 1;
    }
    for_job j;
    atomic_init(&j.next, 0);
    j.n = n;
    j.chunk = chunk;
    j.fn = fn;
    j.ctx = ctx;
    int runners = p->nthreads;
    for (int r = 0; r < runners; r++)
        if (xm_pool_submit(p, for_runner, &j, 0, NULL) != 0) {
            /* Out of memory for a task: run the rest on this thread as worker 0
             * only if nothing else was queued (avoid two users of worker 0). */
            if (r == 0) for_runner(&j, 0, 0);
            break;
        }
    xm_pool_wait(p);
}
