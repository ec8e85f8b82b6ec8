/*
 * fd_mask.h -- which random bits decide which element, and how.
 *
 * The normative specification is docs/determinism.rst; in short: element i
 * (C order over the mask shape) of a call whose first block is `counter`
 * uses byte j = i % 16 of block b = counter + i / 16 (byte j being bits
 * 8*(j%4) .. 8*(j%4)+7 of output word j/4) in streams s = 0..3, each
 * Philox4x32-R of the counter words (b mod 2^32, b / 2^32, s, 0); the four
 * bytes, stream 0 on top, form u(i), and the element is kept iff
 * u(i) < t = round((1 - p) * 2^32).  Streams 1..3 are evaluated only for
 * elements whose byte_0 ties with the top byte of t.
 */
#ifndef FD_MASK_H
#define FD_MASK_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fd_philox.h"

#define FD_BLOCK_ELEMS 16                      /* one byte per element */
#define FD_CHUNK_BLOCKS FD_LANES
#define FD_CHUNK_ELEMS (FD_BLOCK_ELEMS * FD_CHUNK_BLOCKS)  /* 128 */
#define FD_THRESHOLD_ONE (UINT64_C(1) << 32)

/* Stream tags (counter word 2).  0..3: the bytes of the mask uniform. */
#define FD_STREAM_NORMAL UINT32_C(0x100)

typedef struct {
    fd_key2 key;
    uint64_t counter;   /* first block of the call */
    int rounds;
    uint64_t threshold; /* keep iff u < threshold; 0 drops all, 2^32 keeps all */
} fd_mask_params;

/* The keep threshold of drop probability p in [0, 1]: t = round((1 - p) * 2^32),
 * ties to even, so the keep probability t / 2^32 is within 2^-33 of 1 - p and
 * p = 0 and p = 1 are exact. */
static inline uint64_t fd_threshold_for(double p)
{
    return (uint64_t)nearbyint((1.0 - p) * 4294967296.0);
}

/* The factor of kept elements in inverted dropout: 1 / (1 - p), or 0 when
 * every element is dropped. */
static inline double fd_inverted_scale(double p)
{
    return p >= 1.0 ? 0.0 : 1.0 / (1.0 - p);
}

static inline fd_ctr4 fd_block_counter(uint64_t block, uint32_t stream)
{
    fd_ctr4 c = {{(uint32_t)block, (uint32_t)(block >> 32), stream, 0}};
    return c;
}

/* Byte `level` of the threshold, counted from the top (level 0 = bits 31..24). */
static inline uint32_t fd_threshold_byte(uint64_t t, int level)
{
    return (uint32_t)(t >> (8 * (3 - level))) & 0xFF;
}

/* The last level whose threshold byte, or any byte below it, is non-zero:
 * a tie at this level means u >= t. */
static inline int fd_threshold_last_level(uint64_t t)
{
    int last = 0;
    for (int level = 1; level < 4; level++)
        if (t & ((UINT64_C(1) << (8 * (4 - level))) - 1))
            last = level;
    return last;
}

static inline uint32_t fd_block_byte(fd_ctr4 out, int j)
{
    return (out.v[j >> 2] >> (8 * (j & 3))) & 0xFF;
}

/* Settle an element whose bytes tied with the threshold's on every level
 * below `from`: compare bytes from level `from` on. */
static inline int fd_refine_keep_from(const fd_mask_params *mp, uint64_t block, int j, int from)
{
    int last = fd_threshold_last_level(mp->threshold);
    for (int level = from; level <= last; level++) {
        fd_ctr4 out = fd_philox4x32(fd_block_counter(block, (uint32_t)level), mp->key, mp->rounds);
        uint32_t b = fd_block_byte(out, j), tb = fd_threshold_byte(mp->threshold, level);
        if (b != tb)
            return b < tb;
    }
    return 0; /* u == t, or equal on every byte that t has: not below t */
}

/* Settle an element whose level-0 byte tied with the threshold's top byte. */
static inline int fd_refine_keep(const fd_mask_params *mp, uint64_t block, int j)
{
    return fd_refine_keep_from(mp, block, j, 1);
}

/* Scalar reference: keep decision of logical element i. */
static inline int fd_keep_element(const fd_mask_params *mp, uint64_t i)
{
    if (mp->threshold >= FD_THRESHOLD_ONE)
        return 1;
    if (mp->threshold == 0)
        return 0;
    uint64_t block = mp->counter + i / FD_BLOCK_ELEMS;
    int j = (int)(i % FD_BLOCK_ELEMS);
    uint32_t b = fd_block_byte(fd_philox4x32(fd_block_counter(block, 0), mp->key, mp->rounds), j);
    uint32_t tb = fd_threshold_byte(mp->threshold, 0);
    if (b != tb)
        return b < tb;
    return fd_threshold_last_level(mp->threshold) > 0 && fd_refine_keep(mp, block, j);
}

#endif /* FD_MASK_H */
