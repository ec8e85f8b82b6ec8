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

/* After level-0 decisions: fix the elements that tied.  flags[e] is keep_flag
 * or drop_flag for the FD_CHUNK_ELEMS elements of the chunk whose first block is block0;
 * level0[e] their level-0 bytes. */
static inline void fd_fix_ties(unsigned char *flags, const unsigned char *level0, uint64_t block0,
                               const fd_mask_params *mp, unsigned char keep_flag, unsigned char drop_flag)
{
    uint32_t t0 = fd_threshold_byte(mp->threshold, 0);
    for (int e = 0; e < FD_CHUNK_ELEMS; e++)
        if (level0[e] == t0)
            flags[e] = fd_refine_keep(mp, block0 + e / FD_BLOCK_ELEMS, e % FD_BLOCK_ELEMS) ? keep_flag : drop_flag;
}

/* Portable chunk: the level-0 bytes of 8 blocks in element order. */
static inline void fd_chunk_bytes_portable(unsigned char bytes[FD_CHUNK_ELEMS], uint64_t block0,
                                           const fd_mask_params *mp)
{
    uint32_t w[4][FD_LANES];
    for (int j = 0; j < FD_LANES; j++) {
        uint64_t b = block0 + (uint64_t)j;
        w[0][j] = (uint32_t)b;
        w[1][j] = (uint32_t)(b >> 32);
        w[2][j] = 0;
        w[3][j] = 0;
    }
    fd_philox4x32_lanes(w, mp->key, mp->rounds);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* byte m of a word is its m-th byte in memory: a 4 x 8 word transpose */
    for (int j = 0; j < FD_LANES; j++)
        for (int k = 0; k < 4; k++)
            memcpy(bytes + 16 * j + 4 * k, &w[k][j], 4);
#else
    for (int j = 0; j < FD_LANES; j++)
        for (int k = 0; k < 4; k++)
            for (int m = 0; m < 4; m++)
                bytes[16 * j + 4 * k + m] = (unsigned char)(w[k][j] >> (8 * m));
#endif
}

/* Portable chunk decisions: keep[e] in {0, 1}.  threshold strictly inside
 * (0, 2^32); the callers handle the two ends. */
static inline void fd_chunk_keep_portable(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                          const fd_mask_params *mp)
{
    unsigned char bytes[FD_CHUNK_ELEMS];
    fd_chunk_bytes_portable(bytes, block0, mp);
    uint32_t t0 = fd_threshold_byte(mp->threshold, 0);
    int ties = 0;
    for (int e = 0; e < FD_CHUNK_ELEMS; e++) {
        keep[e] = bytes[e] < t0;
        ties |= bytes[e] == t0;
    }
    if (ties && fd_threshold_last_level(mp->threshold) > 0)
        fd_fix_ties(keep, bytes, block0, mp, 1, 0);
}

#endif /* FD_MASK_H */
