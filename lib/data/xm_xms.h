/* xm_xms.h: the .xms packed-shard format (byte layout: formats/xms.md).
 *
 * A file holds decoded uint8 images (HWC, C = 1 or 3), an int32 label and a
 * source name per record, and a class-name table. Pixels are zstd-compressed
 * in blocks that decode independently; an index gives O(1) access to any
 * record. Header, index, metadata and every block carry checksums.
 *
 * Reading: xm_xms_open validates the header, the whole index and the
 * metadata against limits (hostile files are refused, not trusted) and
 * keeps them in memory; records are then read with pread, so one xm_xms may
 * be shared by many threads, each with its own xm_xms_cursor (the
 * decompression context and buffers). A data set spanning several files is
 * an xm_xms_set. */
#ifndef XM_XMS_H
#define XM_XMS_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"

#define XM_XMS_VERSION 1
#define XM_XMS_HEADER_SIZE 128

/* Prediction filters applied per image before compression (PNG numbering). */
enum { XM_XMS_FILTER_NONE = 0, XM_XMS_FILTER_SUB = 1, XM_XMS_FILTER_UP = 2,
       XM_XMS_FILTER_AVG = 3, XM_XMS_FILTER_PAETH = 4 };

/* Record codecs: how a record's bytes sit in its (zstd-compressed) block. */
enum { XM_XMS_CODEC_RAW = 0,  /* pixels, lossless (after the prediction filter) */
       XM_XMS_CODEC_JPEG = 1  /* JPEG bytes re-encoded at the packed size: lossy, small */ };

/* ---- writing ---- */
typedef struct xm_xms_wopts {
    int level;          /* zstd level; 0 = default (3) */
    int filter;         /* XM_XMS_FILTER_*; see formats/xms.md for the default (raw codec only) */
    size_t block_bytes; /* target uncompressed block size; 0 = default */
    int codec;          /* XM_XMS_CODEC_*; default raw */
    int quality;        /* JPEG quality 1..100; 0 = default (90) */
} xm_xms_wopts;

#define XM_XMS_DEFAULT_LEVEL 3
#define XM_XMS_DEFAULT_BLOCK ((size_t)16 * 1024)
#define XM_XMS_DEFAULT_FILTER XM_XMS_FILTER_UP

typedef struct xm_xms_writer xm_xms_writer;

/* Write to `fd` (opened read-write, positioned anywhere; the writer uses
 * pwrite from offset 0). `name` is used in error messages. o may be NULL. */
xm_xms_writer *xm_xms_writer_new(int fd, const char *name, const xm_xms_wopts *o, xm_err *err);
/* Set the class-name table (copied). Names are non-empty, without NUL or
 * newline. Must be called before finish; labels must be < n. */
int xm_xms_writer_set_classes(xm_xms_writer *w, const char *const *names, int n, xm_err *err);
/* Append one record: h x w x c pixels (HWC), label (-1 = none), source
 * name (NULL = ""). */
int xm_xms_writer_add(xm_xms_writer *w, const uint8_t *px, int h, int wd, int c, int32_t label,
                      const char *src, xm_err *err);
int64_t xm_xms_writer_count(const xm_xms_writer *w);
/* Parallel compression: closed blocks are queued and compressed on `pool`
 * (one zstd context per worker) at the next xm_xms_writer_sync or finish.
 * The file is byte-identical to a serial write. The pool must outlive the
 * writer's last sync. */
struct xm_pool;
int xm_xms_writer_set_pool(xm_xms_writer *w, struct xm_pool *pool, xm_err *err);
int xm_xms_writer_sync(xm_xms_writer *w, xm_err *err);
/* Bytes written so far (compressed blocks). */
uint64_t xm_xms_writer_bytes(const xm_xms_writer *w);
/* Write metadata, index and header. The caller then fsyncs/renames. */
int xm_xms_writer_finish(xm_xms_writer *w, xm_err *err);
void xm_xms_writer_free(xm_xms_writer *w); /* NULL ok; does not close fd */

/* ---- reading ---- */
typedef struct xm_xms_limits {
    uint64_t max_records;      /* records in one file */
    uint32_t max_record_bytes; /* one record's h*w*c */
    uint32_t max_block_bytes;  /* one block, decompressed */
    uint32_t max_meta_bytes;   /* class table + names, decompressed */
    int window_log_max;        /* zstd window */
} xm_xms_limits;
/* Defaults: 2^32 records, 192 MiB record (64 Mpx RGB), 256 MiB block,
 * 1 GiB metadata, window log 27. */
void xm_xms_limits_default(xm_xms_limits *l);

typedef struct xm_xms_info {
    uint32_t version;
    uint64_t n_records;
    uint32_t n_classes, n_blocks;
    int h, w, c;          /* 0 when shapes differ per record */
    int filter;
    int codec;            /* XM_XMS_CODEC_* */
    uint64_t file_size;
    uint64_t raw_bytes;   /* sum of record sizes (decoded pixels) */
    uint64_t data_bytes;  /* compressed blocks */
    uint64_t meta_bytes;  /* compressed metadata */
    uint64_t index_bytes;
    uint32_t max_block_raw;
} xm_xms_info;

typedef struct xm_xms_rec {
    int h, w, c;
    int32_t label;        /* -1: none */
    const char *name;     /* source path or id; valid while the file is open */
    const uint8_t *px;    /* h*w*c bytes; valid until the cursor's next read */
} xm_xms_rec;

typedef struct xm_xms xm_xms;
typedef struct xm_xms_cursor xm_xms_cursor;

/* Missing: XM_ENOINPUT; malformed, corrupt or over a limit: XM_EDATA
 * ("PATH: reason"). lim may be NULL (defaults). */
int xm_xms_open(const char *path, const xm_xms_limits *lim, xm_xms **out, xm_err *err);
void xm_xms_close(xm_xms *x); /* NULL ok */
const char *xm_xms_path(const xm_xms *x);
void xm_xms_get_info(const xm_xms *x, xm_xms_info *info);
uint64_t xm_xms_count(const xm_xms *x);
int xm_xms_nclasses(const xm_xms *x);
const char *xm_xms_class(const xm_xms *x, int k);
/* Shape, label and name of record i without reading pixels (px = NULL). */
void xm_xms_peek(const xm_xms *x, uint64_t i, xm_xms_rec *r);
/* Block holding record i. */
uint32_t xm_xms_block_of(const xm_xms *x, uint64_t i);

xm_xms_cursor *xm_xms_cursor_new(xm_err *err);
void xm_xms_cursor_free(xm_xms_cursor *c); /* NULL ok */
/* Read record i (0 <= i < count). Corrupt block: XM_EDATA
 * "PATH: block B (offset O): reason"; read error: XM_EIO. */
int xm_xms_read(const xm_xms *x, xm_xms_cursor *cur, uint64_t i, xm_xms_rec *r, xm_err *err);
/* Check every block's checksum and decompression (header, index and metadata
 * were checked by open). *bad_block = first bad block or -1. */
int xm_xms_verify(const xm_xms *x, xm_xms_cursor *cur, int64_t *bad_block, xm_err *err);

/* ---- several files as one data set ---- */
typedef struct xm_xms_set xm_xms_set;
/* All files must have the same class table (XM_EDATA otherwise). */
int xm_xms_set_open(const char *const *paths, int n, const xm_xms_limits *lim, xm_xms_set **out,
                    xm_err *err);
void xm_xms_set_close(xm_xms_set *s); /* NULL ok */
uint64_t xm_xms_set_count(const xm_xms_set *s);
int xm_xms_set_nfiles(const xm_xms_set *s);
const xm_xms *xm_xms_set_file(const xm_xms_set *s, int k);
int xm_xms_set_nclasses(const xm_xms_set *s);
const char *xm_xms_set_class(const xm_xms_set *s, int k);
/* Map a global record index to (file, local index). */
void xm_xms_set_locate(const xm_xms_set *s, uint64_t i, int *file, uint64_t *local);
void xm_xms_set_peek(const xm_xms_set *s, uint64_t i, xm_xms_rec *r);
int xm_xms_set_read(const xm_xms_set *s, xm_xms_cursor *cur, uint64_t i, xm_xms_rec *r,
                    xm_err *err);

/* ---- prediction filters (exposed for tests and measurements) ---- */
/* dst = residuals of src (h x w x c); dst != src. */
void xm_xms_filter(int filter, const uint8_t *src, uint8_t *dst, int h, int w, int c);
/* In place inverse. */
void xm_xms_unfilter(int filter, uint8_t *px, int h, int w, int c);

#endif
