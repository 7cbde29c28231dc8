/* xm_pack.h: ingest for xm-pack. Collect records from inputs (ImageFolder
 * directories, `path<TAB>label` list files, IDX image/label pairs), then
 * decode them on a thread pool and append them, in input order, to an .xms
 * output. The output is identical whatever the thread count: work is split
 * by record index and results are appended in order.
 *
 * Nothing here prints: skipped records and progress are reported through
 * callbacks that the tool turns into lines on stderr. */
#ifndef XM_PACK_H
#define XM_PACK_H

#include <stdint.h>

#include "xm_err.h"
#include "xm_xms_out.h"

typedef struct xm_pack_item {
    char *path;      /* image file, or the IDX images file */
    int32_t label;   /* class index (resolved by xm_pack_src_finish) */
    char *label_str; /* list files: the label text until resolved */
    int idx;         /* -1, or the IDX pair this record comes from */
    int64_t idx_i;   /* record index inside the IDX pair */
} xm_pack_item;

typedef struct xm_pack_idx {
    char *images_path;
    int n, h, w;
    uint8_t *px;     /* n x h x w */
    uint8_t *labels; /* n */
} xm_pack_idx;

typedef struct xm_pack_src {
    xm_pack_item *items;
    int64_t n, cap;
    char **classes;
    int nclasses;
    int kind;        /* 0 none yet, 1 folder, 2 list, 3 idx */
    xm_pack_idx *idx;
    int nidx;
    char **warnings; /* e.g. empty classes, reported by the tool */
    int nwarnings;
    uint64_t idx_bytes_in; /* size of the IDX files read */
} xm_pack_src;

/* ImageFolder extensions, as torchvision (case-insensitive). */
int xm_pack_is_image_name(const char *name);

void xm_pack_src_init(xm_pack_src *s);
void xm_pack_src_release(xm_pack_src *s);
/* Add an input by looking at it: a directory (ImageFolder), an IDX images
 * file (labels from `idx_labels`, or found by replacing "images-idx3" with
 * "labels-idx1" in the name), or a list file ("-" = stdin). Inputs of
 * different kinds cannot be mixed (XM_EUSAGE). Missing input: XM_ENOINPUT. */
int xm_pack_src_add(xm_pack_src *s, const char *input, const char *idx_labels, xm_err *err);
int xm_pack_src_add_folder(xm_pack_src *s, const char *dir, xm_err *err);
int xm_pack_src_add_list(xm_pack_src *s, const char *path, xm_err *err);
int xm_pack_src_add_idx(xm_pack_src *s, const char *images, const char *labels, xm_err *err);
/* Resolve the class table and labels. classes_file (NULL = none): one class
 * name per line; list labels are then a name from it or an index into it,
 * and IDX labels index into it. Without it: folders use their sorted class
 * directories, IDX and integer list labels use "0".."max", name labels
 * their sorted distinct names. */
int xm_pack_src_finish(xm_pack_src *s, const char *classes_file, xm_err *err);

typedef struct xm_pack_opts {
    int size;           /* 0 native, else shorter side to size + center crop */
    int channels;       /* 0 keep, 1 or 3 */
    int strict;         /* first bad image is fatal */
    int threads;        /* 0 all cores */
    int64_t max_pixels; /* 0 default (64 Mpx) */
    int64_t max_file_bytes; /* 0 default (1 GiB) */
} xm_pack_opts;

typedef struct xm_pack_stats {
    int64_t records, skipped;
    uint64_t bytes_in;  /* input file bytes read */
    uint64_t raw_bytes; /* decoded pixel bytes packed */
    double seconds;
} xm_pack_stats;

typedef struct xm_pack_cb {
    void *ctx;
    /* A record that was skipped (not called with strict: that is the error). */
    void (*skip)(void *ctx, const char *name, const xm_err *why);
    /* Called from the calling thread after each chunk. */
    void (*progress)(void *ctx, int64_t done, int64_t total);
} xm_pack_cb;

/* Decode everything and append to `out` (classes must already be set on
 * it). Returns 0, or the first fatal error. */
int xm_pack_run(const xm_pack_src *s, const xm_pack_opts *o, xm_xms_out *out, const xm_pack_cb *cb,
                xm_pack_stats *st, xm_err *err);

#endif
