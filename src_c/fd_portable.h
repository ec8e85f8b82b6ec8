/*
 * fd_portable.h -- the portable path: plain C99 primitives for the shared
 * loop (fd_simd_loop.h), built for any target.
 *
 * Philox runs on FD_LANES blocks through fd_philox4x32_lanes, whose lane
 * loops the compiler vectorizes; a chunk's decisions are one byte per
 * element (1 = kept) in element order, which the apply loops read with no
 * branch.  Words are blocks in order: word w is block w of the group.
 */
#ifndef FD_PORTABLE_H
#define FD_PORTABLE_H

#include <stdint.h>
#include <string.h>
#include "fd_dtype.h"
#include "fd_mask.h"
#include "fd_ties.h"

typedef struct {
    fd_key2 key;
    int rounds;
    uint32_t top, t1;   /* bytes 0 and 1 of the threshold */
} fd_portable_ctx;

typedef struct {
    unsigned char keep[FD_CHUNK_ELEMS];
} fd_portable_ring_row;

typedef struct {
    fd_portable_ring_row row[FD_GROUP];
    unsigned char spare[4][FD_BLOCK_ELEMS];   /* the spare words' slots write here (no change) */
} fd_portable_group_rows;

typedef fd_group_ties fd_portable_group_ties;

/* Four taken words and the stream-1 state of their blocks in lanes 0..3
 * (rounds run in scalar code, only for words that hold a tie). */
typedef struct {
    int w[4];
    uint32_t a[4][FD_LANES];
} fd_portable_tie_slots;

static inline void fd_portable_ctx_init(fd_portable_ctx *ctx, const fd_mask_params *mp)
{
    ctx->key = mp->key;
    ctx->rounds = mp->rounds;
    ctx->top = fd_threshold_byte(mp->threshold, 0);
    ctx->t1 = fd_threshold_byte(mp->threshold, 1);
}

/* The bytes of FD_LANES blocks (w[k][j]: word k of lane j) in element order. */
static inline void fd_portable_lanes_bytes(unsigned char bytes[FD_CHUNK_ELEMS], uint32_t w[4][FD_LANES])
{
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

/* Counter words of blocks block0 .. block0 + FD_LANES - 1 of `stream`, or
 * of blocks list[0 .. FD_LANES - 1] unless list is NULL. */
static inline void fd_portable_counters(uint32_t w[4][FD_LANES], uint64_t block0, uint32_t stream,
                                        const uint64_t *list)
{
    for (int j = 0; j < FD_LANES; j++) {
        uint64_t b = fd_group_block(list, block0, (uint64_t)j);
        w[0][j] = (uint32_t)b;
        w[1][j] = (uint32_t)(b >> 32);
        w[2][j] = stream;
        w[3][j] = 0;
    }
}

/* Stream-1 blocks of the taken words; spare words (no tie) are skipped. */
static inline void fd_portable_slot_rounds(fd_portable_tie_slots *s, const fd_portable_ctx *ctx)
{
    for (int i = 0; i < 4; i++) {
        if (s->w[i] >= FD_TIE_WORDS)
            continue;
        fd_ctr4 c = {{s->a[0][i], s->a[1][i], s->a[2][i], s->a[3][i]}};
        c = fd_philox4x32(c, ctx->key, ctx->rounds);
        for (int k = 0; k < 4; k++)
            s->a[k][i] = c.v[k];
    }
}

/* Tie bits (bit j: element j) of the 16 bytes at `bytes` equal to `top`. */
static inline uint32_t fd_portable_tie_bits(const unsigned char *bytes, uint32_t top)
{
    uint32_t bits = 0;
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        bits |= (uint32_t)(bytes[j] == top) << j;
    return bits;
}

static inline void fd_portable_decide_group(fd_portable_group_rows *rows, fd_portable_group_ties *ties, int chunks,
                                            uint64_t block0, const fd_mask_params *mp, const fd_portable_ctx *ctx,
                                            int want_ties, fd_portable_tie_slots *slots, const uint64_t *list)
{
    (void)mp;
    const unsigned char top = (unsigned char)ctx->top;
    if (slots)
        fd_portable_slot_rounds(slots, ctx);
    for (int c = 0; c < chunks; c++) {
        uint32_t w[4][FD_LANES];
        unsigned char bytes[FD_CHUNK_ELEMS], tied[FD_CHUNK_ELEMS];
        fd_portable_counters(w, block0 + FD_CHUNK_BLOCKS * (uint64_t)c, 0, list ? list + FD_CHUNK_BLOCKS * c : NULL);
        fd_philox4x32_lanes(w, ctx->key, ctx->rounds);
        fd_portable_lanes_bytes(bytes, w);
        unsigned char *keep = rows->row[c].keep;
        for (int e = 0; e < FD_CHUNK_ELEMS; e++) {   /* top is a local: a byte store could change ctx->top */
            keep[e] = bytes[e] < top;
            tied[e] = bytes[e] == top;
        }
        if (!want_ties)
            continue;
        /* one block in 16 holds a tie: test eight bytes at a time */
        ties->bits[c][0] = ties->bits[c][1] = 0;
        for (int b = 0; b < FD_CHUNK_BLOCKS; b++) {
            uint64_t any[2];
            memcpy(any, tied + FD_BLOCK_ELEMS * b, sizeof any);
            if (any[0] | any[1])
                ties->bits[c][b >> 2] |= (uint64_t)fd_portable_tie_bits(bytes + FD_BLOCK_ELEMS * b, top)
                                         << (16 * (b & 3));
        }
    }
}

static inline uint64_t fd_portable_word_block(int w)
{
    return (uint64_t)w;
}

static inline uint64_t fd_portable_tied_words(const fd_portable_group_ties *ties)
{
    uint64_t words = 0;
    for (int q = 0; q < FD_TIE_WORDS / 4; q++) {
        uint64_t four = ties->bits[q >> 1][q & 1];   /* words 4q .. 4q + 3 */
        for (int i = 0; four != 0; i++, four >>= 16)
            words |= (uint64_t)((four & 0xFFFFu) != 0) << (4 * q + i);
    }
    return words;
}

static inline uint32_t fd_portable_word_ties(const fd_portable_group_ties *ties, int w)
{
    return fd_group_ties_word(ties, w);
}

static inline unsigned char *fd_portable_word_bytes(fd_portable_group_rows *rows, int w)
{
    return w < FD_TIE_WORDS ? rows->row[w >> 3].keep + FD_BLOCK_ELEMS * (w & 7) : rows->spare[w - FD_TIE_WORDS];
}

static inline uint32_t fd_portable_word_keep(fd_portable_group_rows *rows, int w)
{
    const unsigned char *k = fd_portable_word_bytes(rows, w);
    uint32_t bits = 0;
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        bits |= (uint32_t)k[j] << j;
    return bits;
}

static inline void fd_portable_mark_kept(fd_portable_group_rows *rows, int w, uint32_t bits)
{
    unsigned char *k = fd_portable_word_bytes(rows, w);
    for (; bits; bits &= bits - 1)
        k[__builtin_ctz(bits)] = 1;
}

static inline void fd_portable_slot_counters(fd_portable_tie_slots *s, uint64_t gblock0, const uint64_t *list)
{
    fd_portable_counters(s->a, 0, 1, NULL);
    for (int i = 0; i < 4; i++) {
        uint64_t b = fd_group_block(list, gblock0, fd_portable_word_block(s->w[i]));
        s->a[0][i] = (uint32_t)b;
        s->a[1][i] = (uint32_t)(b >> 32);
    }
}

static inline void fd_portable_slot_compare(const fd_portable_tie_slots *s, const fd_portable_ctx *ctx,
                                            uint32_t lt[4], uint32_t eq[4])
{
    for (int i = 0; i < 4; i++) {
        lt[i] = eq[i] = 0;
        for (int j = 0; j < FD_BLOCK_ELEMS && s->w[i] < FD_TIE_WORDS; j++) {
            uint32_t byte = (s->a[j >> 2][i] >> (8 * (j & 3))) & 0xFFu;
            lt[i] |= (uint32_t)(byte < ctx->t1) << j;
            eq[i] |= (uint32_t)(byte == ctx->t1) << j;
        }
    }
}

/* The decisions of 16 consecutive elements: a pointer to their keep bytes. */
typedef const unsigned char *fd_portable_bits;

static inline fd_portable_bits fd_portable_block_bits(const fd_portable_ring_row *row, int b)
{
    return row->keep + FD_BLOCK_ELEMS * b;
}

/*
 * Apply 16 elements: the values go through a local copy, so the compiler
 * needs no overlap check between x and y (x == y is the common call), and
 * kept * scale is scale or +0 (scale is finite and >= 0), exactly the
 * multiplier the other paths select, without a select to vectorize.
 */
static inline FD_ALWAYS_INLINE void fd_portable_apply16_f32(const float *x, float *y, fd_portable_bits k, float scale)
{
    float v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] *= (float)k[j] * scale;
    memcpy(y, v, sizeof v);
}

static inline FD_ALWAYS_INLINE void fd_portable_apply16_f64(const double *x, double *y, fd_portable_bits k,
                                                             double scale)
{
    double v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] *= (double)k[j] * scale;
    memcpy(y, v, sizeof v);
}

/* The 16-bit formats, computed in float32: bfloat16 when `bfloat`, else float16. */
static inline FD_ALWAYS_INLINE void fd_portable_apply16_16(const uint16_t *x, uint16_t *y, fd_portable_bits k,
                                                            float scale, int bfloat)
{
    uint16_t v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++) {
        float m = (float)k[j] * scale;
        v[j] = bfloat ? fd_float_to_bfloat16(fd_bfloat16_to_float(v[j]) * m) : fd_float_to_half(fd_half_to_float(v[j]) * m);
    }
    memcpy(y, v, sizeof v);
}

static inline FD_ALWAYS_INLINE void fd_portable_apply16_f16(const uint16_t *x, uint16_t *y, fd_portable_bits k,
                                                             float scale)
{
    fd_portable_apply16_16(x, y, k, scale, 0);
}

static inline FD_ALWAYS_INLINE void fd_portable_apply16_bf16(const uint16_t *x, uint16_t *y, fd_portable_bits k,
                                                              float scale)
{
    fd_portable_apply16_16(x, y, k, scale, 1);
}

#define FD_PATH_LINE_BYTES 1   /* a gathered group's line: the keep bytes in element order */
#define FD_FN(name) fd_portable_##name
#include "fd_simd_loop.h"
#undef FD_FN
#undef FD_PATH_LINE_BYTES

#endif /* FD_PORTABLE_H */
