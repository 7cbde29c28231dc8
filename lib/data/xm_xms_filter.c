/* xm_xms_filter.c: PNG-style prediction filters over one HWC image. The
 * predictor for byte x uses a = left (same channel, previous pixel),
 * b = up, c = up-left, 0 outside the image; residual = x - pred mod 256. */
#include <stdlib.h>

#include "xm_xms.h"

static inline uint8_t paeth(int a, int b, int c)
{
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

static inline uint8_t predict(int f, const uint8_t *row, const uint8_t *up, int i, int c)
{
    int a = i >= c ? row[i - c] : 0;
    int b = up ? up[i] : 0;
    int cc = (up && i >= c) ? up[i - c] : 0;
    switch (f) {
    case XM_XMS_FILTER_SUB: return (uint8_t)a;
    case XM_XMS_FILTER_UP: return (uint8_t)b;
    case XM_XMS_FILTER_AVG: return (uint8_t)((a + b) >> 1);
    case XM_XMS_FILTER_PAETH: return paeth(a, b, cc);
    default: return 0;
    }
}

/* The up filter's rows: row and up never overlap (up is the previous row),
 * which restrict says, and fixed 32-byte chunks, which -O2's cheap
 * vectorizer turns into vector adds. Spelt as one byte loop over the image
 * it stayed scalar: 39% of xm-train's loader time at 224 px (perf over
 * bench/bench_loader.c). */
#define XM_UP_CHUNK 32
static void add_up(uint8_t *restrict row, const uint8_t *restrict up, size_t n)
{
    size_t i = 0;
    for (; i + XM_UP_CHUNK <= n; i += XM_UP_CHUNK)
        for (int k = 0; k < XM_UP_CHUNK; k++) row[i + k] = (uint8_t)(row[i + k] + up[i + k]);
    for (; i < n; i++) row[i] = (uint8_t)(row[i] + up[i]);
}

static void sub_up(uint8_t *restrict out, const uint8_t *restrict row,
                   const uint8_t *restrict up, size_t n)
{
    size_t i = 0;
    for (; i + XM_UP_CHUNK <= n; i += XM_UP_CHUNK)
        for (int k = 0; k < XM_UP_CHUNK; k++) out[i + k] = (uint8_t)(row[i + k] - up[i + k]);
    for (; i < n; i++) out[i] = (uint8_t)(row[i] - up[i]);
}

void xm_xms_filter(int f, const uint8_t *src, uint8_t *dst, int h, int w, int c)
{
    size_t stride = (size_t)w * (size_t)c;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * stride;
        const uint8_t *up = y ? row - stride : NULL;
        uint8_t *out = dst + (size_t)y * stride;
        if (f == XM_XMS_FILTER_UP && up) {
            sub_up(out, row, up, stride);
            continue;
        }
        for (size_t i = 0; i < stride; i++) out[i] = (uint8_t)(row[i] - predict(f, row, up, (int)i, c));
    }
}

void xm_xms_unfilter(int f, uint8_t *px, int h, int w, int c)
{
    if (f == XM_XMS_FILTER_NONE) return;
    size_t stride = (size_t)w * (size_t)c;
    for (int y = 0; y < h; y++) {
        uint8_t *row = px + (size_t)y * stride;
        const uint8_t *up = y ? row - stride : NULL;
        if (f == XM_XMS_FILTER_UP) {
            if (up) add_up(row, up, stride);
            continue;
        }
        if (f == XM_XMS_FILTER_PAETH && up) {
            /* The hot case spelled out: first pixel predicts from up only. */
            size_t i = 0;
            for (; i < (size_t)c && i < stride; i++) row[i] = (uint8_t)(row[i] + up[i]);
            for (; i < stride; i++) row[i] = (uint8_t)(row[i] + paeth(row[i - c], up[i], up[i - c]));
            continue;
        }
        /* Left-to-right: row[i - c] is already reconstructed when used. */
        for (size_t i = 0; i < stride; i++) row[i] = (uint8_t)(row[i] + predict(f, row, up, (int)i, c));
    }
}
