/* xm_embed.h: backbone features of .xms records (xm-embed; formats/features.md).
 *
 * Evaluation transform, as torchvision's CenterCrop(S) + ToTensor +
 * Normalize(mean, std) with S the model's input_size: crop top-left
 * y = round_half_even((h - S) / 2) when h >= S, else -floor((S - h) / 2)
 * (zero padding, as CenterCrop pads), the same for x; then (v/255 - mean)
 * / std per channel. Stored gray records are replicated to 3 channels
 * when the model takes RGB (torchvision's Grayscale(3)); RGB records for
 * a 1-channel model are refused.
 *
 * A loader thread reads and decodes the next batch from the .xms set into
 * one of two host buffers (on `readers` threads, xm_xms_readers.h) while
 * the backend computes the current one.
 * Shards: --shard K/N embeds the records with index % N == K - 1. */
#ifndef XM_EMBED_H
#define XM_EMBED_H

#include <stdint.h>

#include "xm_err.h"

typedef struct xm_embed_cfg {
    const char *model;           /* model file */
    const char *const *inputs;   /* .xms files of one data set */
    int ninputs;
    const char *output;          /* features file */
    int64_t shard_k, shard_n;    /* 1-based K of N; 0/0 = everything */
    int batch;                   /* 0 = 64 */
    const char *device;          /* "cpu", "cuda", "auto"; NULL = auto */
    int threads;                 /* CPU threads; 0 = all */
    int readers;                 /* threads reading records; 0 = half the cores, 1-8 */
    int precision;               /* xm_precision: XM_PREC_F32 (0) unless the backend has more */
    int flags;                   /* XM_ATOMIC_FORCE */
} xm_embed_cfg;

typedef struct xm_embed_stats {
    int64_t images;
    int64_t dim;
    double seconds;              /* from the first batch's load to the file's commit */
    const char *device;          /* backend name (static string) */
} xm_embed_stats;

/* Called from the computing thread after every batch. */
typedef void (*xm_embed_progress)(void *ctx, int64_t done, int64_t total);

/* The crop offset of one side (stored extent `len`, crop `size`). */
int xm_embed_center_offset(int len, int size);

int xm_embed_run(const xm_embed_cfg *cfg, xm_embed_progress progress, void *ctx,
                 xm_embed_stats *stats, xm_err *err);

#endif
