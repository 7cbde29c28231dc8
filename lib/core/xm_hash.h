/* xm_hash.h: XXH64 (Yann Collet's xxHash, 64-bit), written from its
 * specification, for checksums in .xms files and file provenance in plans.
 * Same values as the reference xxHash and as zstd's content checksum (whose
 * 4 bytes are the low 32 bits of XXH64(content, seed 0)). */
#ifndef XM_HASH_H
#define XM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "xm_err.h"

uint64_t xm_xxh64(const void *data, size_t len, uint64_t seed);

/* Streaming state: any split of the input gives the same digest. */
typedef struct xm_xxh64_state {
    uint64_t v[4], total;
    uint8_t buf[32];
    size_t nbuf;
    uint64_t seed;
} xm_xxh64_state;

void xm_xxh64_init(xm_xxh64_state *s, uint64_t seed);
void xm_xxh64_update(xm_xxh64_state *s, const void *data, size_t len);
uint64_t xm_xxh64_digest(const xm_xxh64_state *s);

/* XXH64 (seed 0) of a whole file, read in chunks. Missing: XM_ENOINPUT;
 * read error: XM_EIO. */
int xm_hash_file(const char *path, uint64_t *h, xm_err *err);

#endif
