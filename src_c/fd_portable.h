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

/* Four taken words and the stream-1 state of their blocks in lanes 0..3. */
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

/* Counter words of blocks block0 .. block0 + FD_LANES - 1 of `stream`. */
static inline void fd_portable_counters(uint32_t w[4][FD_LANES], uint64_t block0, uint32_t stream)
{
    for (int j = 0; j < FD_LANES; j++) {
        uint64_t b = block0 + (uint64_t)j;
        w[0][j] = (uint32_t)b;
        w[1][j] = (uint32_t)(b >> 32);
        w[2][j] = stream;
        w[3][j] = 0;
    }
}

static inline void fd_portable_slot_rounds(fd_portable_tie_slots *s, const fd_portable_ctx *ctx)
{
    fd_philox4x32_lanes(s->a, ctx->key, ctx->rounds);
}

static inline void fd_portable_decide_group(fd_portable_group_rows *rows, fd_portable_group_ties *ties, int chunks,
                                            uint64_t block0, const fd_mask_params *mp, const fd_portable_ctx *ctx,
                                            int want_ties, fd_portable_tie_slots *slots)
{
    (void)mp;
    if (slots)
        fd_portable_slot_rounds(slots, ctx);
    for (int c = 0; c < chunks; c++) {
        uint32_t w[4][FD_LANES];
        unsigned char bytes[FD_CHUNK_ELEMS];
        fd_portable_counters(w, block0 + FD_CHUNK_BLOCKS * (uint64_t)c, 0);
        fd_philox4x32_lanes(w, ctx->key, ctx->rounds);
        fd_portable_lanes_bytes(bytes, w);
        unsigned char *keep = rows->row[c].keep;
        for (int e = 0; e < FD_CHUNK_ELEMS; e++)
            keep[e] = bytes[e] < ctx->top;
        if (want_ties) {
            uint64_t bits[2] = {0, 0};
            for (int e = 0; e < FD_CHUNK_ELEMS; e++)
                bits[e >> 6] |= (uint64_t)(bytes[e] == ctx->top) << (e & 63);
            ties->bits[c][0] = bits[0];
            ties->bits[c][1] = bits[1];
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
    for (int w = 0; w < FD_TIE_WORDS; w++)
        words |= (uint64_t)(fd_group_ties_word(ties, w) != 0) << w;
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
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        k[j] |= (unsigned char)((bits >> j) & 1u);
}

static inline void fd_portable_slot_counters(fd_portable_tie_slots *s, uint64_t gblock0)
{
    fd_portable_counters(s->a, 0, 1);
    for (int i = 0; i < 4; i++) {
        uint64_t b = gblock0 + fd_portable_word_block(s->w[i]);
        s->a[0][i] = (uint32_t)b;
        s->a[1][i] = (uint32_t)(b >> 32);
    }
}

static inline void fd_portable_slot_compare(const fd_portable_tie_slots *s, const fd_portable_ctx *ctx,
                                            uint32_t lt[4], uint32_t eq[4])
{
    for (int i = 0; i < 4; i++) {
        lt[i] = eq[i] = 0;
        for (int j = 0; j < FD_BLOCK_ELEMS; j++) {
            uint32_t byte = (s->a[j >> 2][i] >> (8 * (j & 3))) & 0xFFu;
            lt[i] |= (uint32_t)(byte < ctx->t1) << j;
            eq[i] |= (uint32_t)(byte == ctx->t1) << j;
        }
    }
}

/*
 * Apply one block: the values go through a local copy, so the compiler
 * needs no overlap check between x and y (x == y is the common call), and
 * kept * scale is scale or +0 (scale is finite and >= 0), exactly the
 * multiplier the other paths select, without a select to vectorize.
 */
static inline void fd_portable_apply_block_f32(const float *x, float *y, const fd_portable_ring_row *row, int b,
                                               float scale)
{
    const unsigned char *k = row->keep + FD_BLOCK_ELEMS * b;
    float v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] *= (float)k[j] * scale;
    memcpy(y, v, sizeof v);
}

static inline void fd_portable_apply_block_f64(const double *x, double *y, const fd_portable_ring_row *row, int b,
                                               double scale)
{
    const unsigned char *k = row->keep + FD_BLOCK_ELEMS * b;
    double v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] *= (double)k[j] * scale;
    memcpy(y, v, sizeof v);
}

static inline void fd_portable_apply_block_f16(const uint16_t *x, uint16_t *y, const fd_portable_ring_row *row, int b,
                                               float scale)
{
    const unsigned char *k = row->keep + FD_BLOCK_ELEMS * b;
    uint16_t v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] = fd_float_to_half(fd_half_to_float(v[j]) * ((float)k[j] * scale));
    memcpy(y, v, sizeof v);
}

static inline void fd_portable_apply_block_bf16(const uint16_t *x, uint16_t *y, const fd_portable_ring_row *row,
                                                int b, float scale)
{
    const unsigned char *k = row->keep + FD_BLOCK_ELEMS * b;
    uint16_t v[FD_BLOCK_ELEMS];
    memcpy(v, x, sizeof v);
    for (int j = 0; j < FD_BLOCK_ELEMS; j++)
        v[j] = fd_float_to_bfloat16(fd_bfloat16_to_float(v[j]) * ((float)k[j] * scale));
    memcpy(y, v, sizeof v);
}

#define FD_FN(name) fd_portable_##name
#include "fd_simd_loop.h"
#undef FD_FN

#endif /* FD_PORTABLE_H */
