/* xm_probe_acc.c: top-1/top-5, per-class accuracy and confusion from logits,
 * and the data-class -> head-class mapping by name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xm_probe.h"

int xm_probe_acc_init(xm_probe_acc *a, int k, xm_err *err)
{
    memset(a, 0, sizeof *a);
    if (k <= 0) return xm_err_set(err, XM_EUSAGE, "a head with %d classes", k);
    a->k = k;
    a->confusion = calloc((size_t)k * k, sizeof *a->confusion);
    return a->confusion ? 0 : xm_err_set(err, XM_EFAIL, "out of memory");
}

void xm_probe_acc_release(xm_probe_acc *a)
{
    free(a->confusion);
    memset(a, 0, sizeof *a);
}

void xm_probe_acc_add(xm_probe_acc *a, const float *logits, const int32_t *labels, int n,
                      int32_t *pred, float *score)
{
    int k = a->k, top = k < 5 ? k : 5;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        if (pred) pred[i] = best;
        if (score) {
            double s = 0;
            for (int j = 0; j < k; j++) s += exp((double)z[j] - z[best]);
            score[i] = (float)(1.0 / s);
        }
        int32_t y = labels[i];
        if (y < 0 || y >= k) continue;
        a->n++;
        a->confusion[(size_t)y * k + best]++;
        a->top1 += best == y;
        /* rank of the true class: classes scoring higher, ties to the lower index */
        int rank = 0;
        for (int j = 0; j < k; j++) rank += z[j] > z[y] || (z[j] == z[y] && j < y);
        a->top5 += rank < top;
    }
}

double xm_probe_acc_top1(const xm_probe_acc *a)
{
    return a->n ? (double)a->top1 / (double)a->n : 0.0;
}

double xm_probe_acc_top5(const xm_probe_acc *a)
{
    return a->n ? (double)a->top5 / (double)a->n : 0.0;
}

int64_t xm_probe_acc_class_n(const xm_probe_acc *a, int c)
{
    int64_t s = 0;
    for (int j = 0; j < a->k; j++) s += a->confusion[(size_t)c * a->k + j];
    return s;
}

double xm_probe_acc_mean_class(const xm_probe_acc *a)
{
    double s = 0;
    int m = 0;
    for (int c = 0; c < a->k; c++) {
        int64_t nc = xm_probe_acc_class_n(a, c);
        if (!nc) continue;
        s += (double)a->confusion[(size_t)c * a->k + c] / (double)nc;
        m++;
    }
    return m ? s / m : 0.0;
}

int xm_probe_map_classes(const char *const *head_names, int head_k, const xm_xms_set *set,
                         int32_t *map)
{
    int nc = xm_xms_set_nclasses(set), mapped = 0;
    for (int j = 0; j < nc; j++) {
        map[j] = -1;
        if (!head_names) map[j] = j < head_k ? j : -1;
        else
            for (int h = 0; h < head_k; h++)
                if (head_names[h] && !strcmp(head_names[h], xm_xms_set_class(set, j))) {
                    map[j] = h;
                    break;
                }
        mapped += map[j] >= 0;
    }
    return mapped;
}
