/* xm_xms_impl.h: byte-level helpers shared by the .xms reader and writer. */
#ifndef XM_XMS_IMPL_H
#define XM_XMS_IMPL_H

#include <stdint.h>

static const uint8_t XMS_MAGIC[8] = {0x89, 'X', 'M', 'S', '\r', '\n', 0x1a, '\n'};

#define XMS_BLOCK_ENTRY 32
#define XMS_RECORD_ENTRY 24

/* Header field offsets (formats/xms.md). */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_HSIZE = 12, H_NREC = 16, H_NCLASS = 24, H_NBLOCK = 28,
    H_H = 32, H_W = 34, H_C = 36, H_FILTER = 37, H_FLAGS = 38, H_INDEX_OFF = 40,
    H_INDEX_SIZE = 48, H_INDEX_HASH = 56, H_META_OFF = 64, H_META_CSIZE = 72,
    H_META_RSIZE = 76, H_META_HASH = 80, H_FILE_SIZE = 88, H_MAX_BLOCK = 96,
    H_CODEC = 100, H_INDEX_RSIZE = 104, H_HASH = 120
};

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

#endif
