/* graph.c: CUDA graphs of the backend's stream (xm_backend.h, graph_begin).
 *
 * graph_begin starts a thread-local capture of cu->stream: the ops enqueue
 * into the capture instead of running; graph_end instantiates what was
 * captured (and uploads it); graph_launch replays it on cu->stream. Paths that allocate,
 * free or wait ask xm_cuda_no_capture first and refuse with a clear line,
 * so a capture is never broken by an opaque CUDA error.
 *
 * Converted weights (conv.cu): a plan converts the slab's float32 OIHW
 * weights into its cached copy when cu->param_gen differs from the
 * generation of its copy. graph_begin bumps param_gen, so every conv plan's
 * first use in the capture records its conversion kernel and a replay
 * converts the slab as it is then (after the previous replay's SGD, or an
 * upload between replays); within the step backward-data reuses the copy
 * the recorded forward made. During capture the host bookkeeping runs but
 * the kernels do not (the plans believe they hold fresh copies), and a
 * replay changes the slab behind the host's back (its SGD); so graph_end
 * and every graph_launch bump param_gen again, and the next eager op after
 * them converts afresh. A captured sgd_update bumps it too, harmlessly.
 *
 * Buffers: a graph keeps the device pointers it was captured with,
 * including the backend's own (cuDNN workspace, scratch, batch-norm
 * scratch, loss rows, the cuBLAS workspace). While a graph lives,
 * xm_cuda_grow retires an outgrown buffer here instead of freeing it; the
 * retired buffers are freed with the last graph. */
#include "xm_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XM_CUDA_GRAPH 0x47524150 /* "GRAP": a graph handle */

typedef struct cuda_graph {
    int kind;
    const xm_cuda *owner;
    cudaGraphExec_t exec;
    struct cuda_graph *prev, *next; /* cu->graphs: the live ones */
} cuda_graph;

int xm_cuda_capturing(const xm_cuda *cu)
{
    enum cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    if (!cu->stream) return 0;
    if (cudaStreamIsCapturing(cu->stream, &st) != cudaSuccess) {
        (void)cudaGetLastError(); /* the caller's own CUDA call will report it */
        return 0;
    }
    return st != cudaStreamCaptureStatusNone; /* active, or broken by a failed call */
}

void xm_cuda_capture_mark(xm_cuda *cu, const char *what)
{
    if (!cu->capture_misuse[0])
        snprintf(cu->capture_misuse, sizeof cu->capture_misuse, "%s", what);
}

int xm_cuda_no_capture(xm_cuda *cu, const char *what, xm_err *err)
{
    enum cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    XM_CU(cudaStreamIsCapturing(cu->stream, &st));
    if (st == cudaStreamCaptureStatusNone) return 0;
    /* sticky: the refused op left the recording short, so graph_end must
     * not make a graph of it (the refusal itself calls nothing on CUDA,
     * so the capture would otherwise end cleanly) */
    xm_cuda_capture_mark(cu, what);
    return xm_err_set(err, XM_EUSAGE,
                      "CUDA graph capture: %s would allocate or wait for the GPU, which a "
                      "capture cannot record (run one eager step before graph_begin)",
                      what);
}

int xm_cuda_retire(xm_cuda *cu, void *buf, xm_err *err)
{
    if (cu->n_retired == cu->cap_retired) {
        int cap = cu->cap_retired ? 2 * cu->cap_retired : 8;
        void **r = realloc(cu->retired, (size_t)cap * sizeof *r);
        if (!r) return xm_err_set(err, XM_EFAIL, "CUDA: out of host memory");
        cu->retired = r;
        cu->cap_retired = cap;
    }
    cu->retired[cu->n_retired++] = buf;
    return 0;
}

void xm_cuda_retired_free(xm_cuda *cu)
{
    if (!cu->n_retired) return;
    (void)cudaStreamSynchronize(cu->stream); /* a replay may still use them */
    for (int i = 0; i < cu->n_retired; i++) cudaFree(cu->retired[i]);
    cu->n_retired = 0;
}

int xm_cuda_graph_begin(xm_cuda *cu, xm_err *err)
{
    if (cu->debug_sync)
        return xm_err_set(err, XM_EUSAGE,
                          "CUDA graph: not in debug-sync mode (debug_sync or XM_CUDA_SYNC=1 "
                          "synchronises after every op, which a capture cannot record)");
    if (cu->prof)
        return xm_err_set(err, XM_EUSAGE,
                          "CUDA graph: not with XM_CUDA_PROFILE=1 (per-op timing reads its "
                          "events between ops, which a capture cannot record)");
    if (xm_cuda_capturing(cu))
        return xm_err_set(err, XM_EUSAGE, "CUDA graph: graph_begin while capturing "
                                          "(graph_end first)");
    cu->capture_misuse[0] = 0;
    cu->param_gen++; /* every conv plan records its weight conversion (top comment) */
    XM_CU(cudaStreamBeginCapture(cu->stream, cudaStreamCaptureModeThreadLocal));
    return 0;
}

static int end_capture(xm_cuda *cu, cudaGraph_t *g, xm_err *err)
{
    XM_CU(cudaStreamEndCapture(cu->stream, g));
    return 0;
}

/* Instantiate, and upload now so that the first replay is not slower. */
static int instantiate(xm_cuda *cu, cudaGraphExec_t *exec, cudaGraph_t g, xm_err *err)
{
    XM_CU(cudaGraphInstantiate(exec, g, 0));
    cudaError_t e = cudaGraphUpload(*exec, cu->stream);
    if (e != cudaSuccess) (void)cudaGraphExecDestroy(*exec);
    XM_CU(e);
    return 0;
}

static int destroy_template(cudaGraph_t g, xm_err *err)
{
    XM_CU(cudaGraphDestroy(g)); /* the executable graph does not need it */
    return 0;
}

int xm_cuda_graph_end(xm_cuda *cu, void **graph, xm_err *err)
{
    if (!graph) return xm_err_set(err, XM_EUSAGE, "CUDA graph: graph_end without a result");
    *graph = NULL;
    if (!xm_cuda_capturing(cu))
        return xm_err_set(err, XM_EUSAGE, "CUDA graph: graph_end without graph_begin");
    cu->param_gen++; /* the recorded conversions did not run (top comment) */
    char misuse[sizeof cu->capture_misuse];
    memcpy(misuse, cu->capture_misuse, sizeof misuse);
    cu->capture_misuse[0] = 0;
    cudaGraph_t g = NULL;
    int rc = end_capture(cu, &g, err);
    if (rc) return rc;
    if (misuse[0]) {
        (void)cudaGraphDestroy(g);
        return xm_err_set(err, XM_EUSAGE,
                          "CUDA graph capture: %s was called while capturing, which a "
                          "capture cannot record; no graph was made",
                          misuse);
    }
    cuda_graph *h = calloc(1, sizeof *h);
    if (!h) {
        (void)cudaGraphDestroy(g);
        return xm_err_set(err, XM_EFAIL, "CUDA graph: out of host memory");
    }
    if ((rc = instantiate(cu, &h->exec, g, err))) {
        (void)cudaGraphDestroy(g);
        free(h);
        return rc;
    }
    if ((rc = destroy_template(g, err))) {
        (void)cudaGraphExecDestroy(h->exec);
        free(h);
        return rc;
    }
    h->kind = XM_CUDA_GRAPH;
    h->owner = cu;
    h->next = (cuda_graph *)cu->graphs;
    if (h->next) h->next->prev = h;
    cu->graphs = h;
    *graph = h;
    return 0;
}

int xm_cuda_graph_launch(xm_cuda *cu, void *graph, xm_err *err)
{
    const cuda_graph *h = (const cuda_graph *)graph;
    if (!h || h->kind != XM_CUDA_GRAPH || h->owner != cu)
        return xm_err_set(err, XM_EUSAGE, "CUDA graph: graph_launch: not a graph of this backend");
    if (xm_cuda_capturing(cu))
        return xm_err_set(err, XM_EUSAGE, "CUDA graph: graph_launch while capturing (not "
                                          "supported; graph_end first)");
    cu->param_gen++; /* the replay may update the slab (top comment) */
    XM_CU(cudaGraphLaunch(h->exec, cu->stream));
    return 0;
}

void xm_cuda_graph_free(xm_cuda *cu, void *graph)
{
    cuda_graph *h = (cuda_graph *)graph;
    if (!h) return;
    XM_ASSERT(h->kind == XM_CUDA_GRAPH && h->owner == cu);
    if (xm_cuda_capturing(cu)) {
        xm_cuda_capture_mark(cu, "graph_free");
        return;
    }
    /* a replay still in flight completes first: CUDA frees it afterwards */
    (void)cudaGraphExecDestroy(h->exec);
    if (h->prev) h->prev->next = h->next;
    else cu->graphs = h->next;
    if (h->next) h->next->prev = h->prev;
    h->kind = 0;
    free(h);
    if (!cu->graphs) xm_cuda_retired_free(cu);
}

void xm_cuda_graphs_free_all(xm_cuda *cu)
{
    while (cu->graphs) xm_cuda_graph_free(cu, cu->graphs);
}
