/*
 * fd_neon.h -- aarch64 Advanced SIMD (NEON) primitives for the shared loop
 * (fd_simd_loop.h).
 *
 * Philox runs on 4 blocks per set of four registers, one block per 32-bit
 * lane (word k of the four blocks in a[k]): vmull_u32 and vmull_high_u32
 * give the 64-bit products of the low and high lane pairs, and vuzp1q_u32
 * / vuzp2q_u32 gather their lo and hi words back into one register each.
 * The sets of a group run their rounds FD_NEON_BATCH at a time: more at
 * once spill to the stack.  The bytes are compared with vcltq_u8 /
 * vceqq_u8 in that word-major layout, and vst4q_u32 stores the masks in
 * element order.  Applying widens a block's 16 mask bytes to 32-bit lanes
 * with one table lookup per four lanes.  float16 goes through the hardware
 * conversions (fcvtl, fcvtn: round to nearest even, the rounding mode
 * Linux starts a process with), bfloat16 through integer operations.  Same
 * blocks, same bytes, same tie rule as every other path: bit-identical
 * output.  Words are blocks in order: word w is block w of the group.
 */
#ifndef FD_NEON_H
#define FD_NEON_H

#include "fd_dtype.h"
#include "fd_mask.h"
#include "fd_ties.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FD_HAVE_NEON 1
#include <arm_neon.h>

/* Sets (of 4 blocks) whose rounds run together: 12 registers of state,
 * and each multiply needs four more for its two products and two halves. */
#define FD_NEON_BATCH 3

typedef struct {
    uint32x4_t rk[2 * FD_PHILOX_MAX_ROUNDS];   /* round r: rk[2r], rk[2r+1] */
    uint8x16_t top, t1;                        /* threshold bytes 0 and 1 in every byte */
    int rounds;
} fd_neon_ctx;

/* A chunk's decisions: 0xFF where kept, in element order. */
typedef struct {
    unsigned char keep[FD_CHUNK_ELEMS];
} __attribute__((aligned(16))) fd_neon_ring_row;

typedef struct {
    fd_neon_ring_row row[FD_GROUP];
    unsigned char spare[4][FD_BLOCK_ELEMS];   /* the spare words' slots write here (no change) */
} __attribute__((aligned(16))) fd_neon_group_rows;

/* A group's ties: 0xFF where an element's byte equals the threshold's top
 * byte, in element order; the spare words' bytes stay zero. */
typedef struct {
    unsigned char eq[FD_GROUP][FD_CHUNK_ELEMS];
    unsigned char spare[4][FD_BLOCK_ELEMS];
} __attribute__((aligned(16))) fd_neon_group_ties;

/* Four taken words and the stream-1 Philox state of their blocks (one set). */
typedef struct {
    int w[4];
    uint32x4_t a[4];
} fd_neon_tie_slots;

static inline void fd_neon_ctx_init(fd_neon_ctx *ctx, const fd_mask_params *mp)
{
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        ctx->rk[2 * r] = vdupq_n_u32(key.v[0]);
        ctx->rk[2 * r + 1] = vdupq_n_u32(key.v[1]);
    }
    ctx->top = vdupq_n_u8((uint8_t)fd_threshold_byte(mp->threshold, 0));
    ctx->t1 = vdupq_n_u8((uint8_t)fd_threshold_byte(mp->threshold, 1));
    ctx->rounds = mp->rounds;
}

/* lo and hi words of the products of the four lanes of a with m. */
static inline FD_ALWAYS_INLINE void fd_neon_mulhilo(uint32x4_t a, uint32x4_t m, uint32x4_t *lo, uint32x4_t *hi)
{
    uint32x4_t low = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(a), vget_low_u32(m)));
    uint32x4_t high = vreinterpretq_u32_u64(vmull_high_u32(a, m));
    *lo = vuzp1q_u32(low, high);
    *hi = vuzp2q_u32(low, high);
}

/* An empty statement the compiler must assume reads and changes x1 and x3:
 * it keeps the XORs in the order written. */
static inline FD_ALWAYS_INLINE void fd_neon_keep_order(uint32x4_t *x1, uint32x4_t *x3)
{
    __asm__("" : "+w"(*x1), "+w"(*x3));
}

/* All rounds on `sets` sets of four blocks: word k of block j of set s in
 * lane j of a[4s + k]. */
static inline FD_ALWAYS_INLINE void fd_neon_rounds(uint32x4_t *a, int sets, const fd_neon_ctx *ctx)
{
    const uint32x4_t m0 = vdupq_n_u32(FD_PHILOX_M4x32_0);
    const uint32x4_t m1 = vdupq_n_u32(FD_PHILOX_M4x32_1);
    for (int r = 0; r < ctx->rounds; r++) {
        for (int s = 0; s < 4 * sets; s += 4) {
            /* the key goes into the words that are not multiplied first
             * (see fd_avx2_rounds) */
            uint32x4_t x1 = veorq_u32(a[s + 1], ctx->rk[2 * r]);
            uint32x4_t x3 = veorq_u32(a[s + 3], ctx->rk[2 * r + 1]);
            fd_neon_keep_order(&x1, &x3);
            uint32x4_t lo0, hi0, lo1, hi1;
            fd_neon_mulhilo(a[s], m0, &lo0, &hi0);
            fd_neon_mulhilo(a[s + 2], m1, &lo1, &hi1);
            a[s] = veorq_u32(hi1, x1);
            a[s + 1] = lo1;
            a[s + 2] = veorq_u32(hi0, x3);
            a[s + 3] = lo0;
        }
    }
}

/* Counter words of blocks block0 .. block0 + 3 of one stream, or of blocks
 * list[0 .. 3] unless list is NULL. */
static inline FD_ALWAYS_INLINE void fd_neon_counters(uint32x4_t a[4], uint64_t block0, uint32_t stream,
                                                     const uint64_t *list)
{
    const uint64_t lanes[4] = {0, 1, 2, 3};
    uint64x2_t b01 = list ? vld1q_u64(list) : vaddq_u64(vdupq_n_u64(block0), vld1q_u64(lanes));
    uint64x2_t b23 = list ? vld1q_u64(list + 2) : vaddq_u64(vdupq_n_u64(block0), vld1q_u64(lanes + 2));
    a[0] = vuzp1q_u32(vreinterpretq_u32_u64(b01), vreinterpretq_u32_u64(b23));
    a[1] = vuzp2q_u32(vreinterpretq_u32_u64(b01), vreinterpretq_u32_u64(b23));
    a[2] = vdupq_n_u32(stream);
    a[3] = vdupq_n_u32(0);
}

/* Store the byte masks of one set (word-major) in element order. */
static inline void fd_neon_store_elements(unsigned char *dst, uint8x16_t m0, uint8x16_t m1, uint8x16_t m2,
                                          uint8x16_t m3)
{
    uint32x4x4_t words = {{vreinterpretq_u32_u8(m0), vreinterpretq_u32_u8(m1), vreinterpretq_u32_u8(m2),
                           vreinterpretq_u32_u8(m3)}};
    vst4q_u32((uint32_t *)(void *)dst, words);
}

static inline FD_ALWAYS_INLINE void fd_neon_decide_group(fd_neon_group_rows *rows, fd_neon_group_ties *ties,
                                                         int chunks, uint64_t block0, const fd_mask_params *mp,
                                                         const fd_neon_ctx *ctx, int want_ties,
                                                         fd_neon_tie_slots *slots, const uint64_t *list)
{
    (void)mp;
    uint32x4_t a[4 * (2 * FD_GROUP + 1)];
    int sets = 2 * chunks;
    for (int s = 0; s < sets; s++)   /* set s: blocks 4s .. 4s + 3 of the group */
        fd_neon_counters(a + 4 * s, block0 + 4 * (uint64_t)s, 0, list ? list + 4 * s : NULL);
    if (slots)   /* a tie group's slots: one more set */
        memcpy(a + 4 * sets++, slots->a, sizeof slots->a);
    int s0 = 0;
    for (; s0 + FD_NEON_BATCH <= sets; s0 += FD_NEON_BATCH)
        fd_neon_rounds(a + 4 * s0, FD_NEON_BATCH, ctx);
    if (s0 < sets)
        fd_neon_rounds(a + 4 * s0, sets - s0, ctx);
    if (slots)
        memcpy(slots->a, a + 8 * chunks, sizeof slots->a);
    for (int s = 0; s < 2 * chunks; s++) {
        uint8x16_t u[4];
        for (int k = 0; k < 4; k++)
            u[k] = vreinterpretq_u8_u32(a[4 * s + k]);
        unsigned char *keep = rows->row[s >> 1].keep + 64 * (s & 1);
        fd_neon_store_elements(keep, vcltq_u8(u[0], ctx->top), vcltq_u8(u[1], ctx->top), vcltq_u8(u[2], ctx->top),
                               vcltq_u8(u[3], ctx->top));
        if (want_ties)
            fd_neon_store_elements(ties->eq[s >> 1] + 64 * (s & 1), vceqq_u8(u[0], ctx->top),
                                   vceqq_u8(u[1], ctx->top), vceqq_u8(u[2], ctx->top), vceqq_u8(u[3], ctx->top));
    }
}

static inline uint64_t fd_neon_word_block(int w)
{
    return (uint64_t)w;
}

/* Bit j set where byte j of m (0 or 0xFF) is 0xFF. */
static inline uint32_t fd_neon_movemask(uint8x16_t m)
{
    const uint8_t weights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t picked = vandq_u8(m, vld1q_u8(weights));
    return vaddv_u8(vget_low_u8(picked)) | (uint32_t)vaddv_u8(vget_high_u8(picked)) << 8;
}

static inline uint64_t fd_neon_tied_words(const fd_neon_group_ties *ties)
{
    /* pairwise maxima, four times, leave one byte per block */
    uint8x16_t v[FD_TIE_WORDS];
    for (int w = 0; w < FD_TIE_WORDS; w++)
        v[w] = vld1q_u8(ties->eq[w >> 3] + FD_BLOCK_ELEMS * (w & 7));
    for (int n = FD_TIE_WORDS; n > 2; n /= 2)
        for (int i = 0; i < n / 2; i++)
            v[i] = vpmaxq_u8(v[2 * i], v[2 * i + 1]);
    return fd_neon_movemask(v[0]) | (uint64_t)fd_neon_movemask(v[1]) << 16;
}

static inline uint32_t fd_neon_word_ties(const fd_neon_group_ties *ties, int w)
{
    if (w >= FD_TIE_WORDS)
        return 0;
    return fd_neon_movemask(vld1q_u8(ties->eq[w >> 3] + FD_BLOCK_ELEMS * (w & 7)));
}

static inline unsigned char *fd_neon_word_bytes(fd_neon_group_rows *rows, int w)
{
    return w < FD_TIE_WORDS ? rows->row[w >> 3].keep + FD_BLOCK_ELEMS * (w & 7) : rows->spare[w - FD_TIE_WORDS];
}

static inline uint32_t fd_neon_word_keep(fd_neon_group_rows *rows, int w)
{
    return fd_neon_movemask(vld1q_u8(fd_neon_word_bytes(rows, w)));
}

static inline void fd_neon_mark_kept(fd_neon_group_rows *rows, int w, uint32_t bits)
{
    const uint8_t weights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    unsigned char *k = fd_neon_word_bytes(rows, w);
    uint8x16_t spread = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    vst1q_u8(k, vorrq_u8(vld1q_u8(k), vtstq_u8(spread, vld1q_u8(weights))));
}

static inline void fd_neon_slot_counters(fd_neon_tie_slots *s, uint64_t gblock0, const uint64_t *list)
{
    uint32_t lo[4], hi[4];
    for (int i = 0; i < 4; i++) {
        uint64_t b = fd_group_block(list, gblock0, fd_neon_word_block(s->w[i]));
        lo[i] = (uint32_t)b;
        hi[i] = (uint32_t)(b >> 32);
    }
    s->a[0] = vld1q_u32(lo);
    s->a[1] = vld1q_u32(hi);
    s->a[2] = vdupq_n_u32(1);   /* stream 1 */
    s->a[3] = vdupq_n_u32(0);
}

static inline void fd_neon_slot_rounds(fd_neon_tie_slots *s, const fd_neon_ctx *ctx)
{
    fd_neon_rounds(s->a, 1, ctx);
}

static inline void fd_neon_slot_compare(const fd_neon_tie_slots *s, const fd_neon_ctx *ctx, uint32_t lt[4],
                                        uint32_t eq[4])
{
    unsigned char below[64] __attribute__((aligned(16))), equal[64] __attribute__((aligned(16)));
    uint8x16_t u[4];
    for (int k = 0; k < 4; k++)
        u[k] = vreinterpretq_u8_u32(s->a[k]);
    fd_neon_store_elements(below, vcltq_u8(u[0], ctx->t1), vcltq_u8(u[1], ctx->t1), vcltq_u8(u[2], ctx->t1),
                           vcltq_u8(u[3], ctx->t1));
    fd_neon_store_elements(equal, vceqq_u8(u[0], ctx->t1), vceqq_u8(u[1], ctx->t1), vceqq_u8(u[2], ctx->t1),
                           vceqq_u8(u[3], ctx->t1));
    for (int i = 0; i < 4; i++) {
        lt[i] = fd_neon_movemask(vld1q_u8(below + 16 * i));
        eq[i] = fd_neon_movemask(vld1q_u8(equal + 16 * i));
    }
}

/* The multipliers of elements 4q .. 4q + 3 of a block from its 16 keep
 * bytes: each byte copied to a 32-bit lane (one table lookup), then
 * scale where it is 0xFF and +0 where it is 0. */
static inline float32x4_t fd_neon_multipliers4(uint8x16_t keep, int q, uint32x4_t scale_bits)
{
    static const uint8_t spread[4][16] = {{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
                                          {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
                                          {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
                                          {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};
    uint32x4_t mask = vreinterpretq_u32_u8(vqtbl1q_u8(keep, vld1q_u8(spread[q])));
    return vreinterpretq_f32_u32(vandq_u32(mask, scale_bits));
}

/* The decisions of 16 consecutive elements: a pointer to their keep bytes. */
typedef const unsigned char *fd_neon_bits;

static inline fd_neon_bits fd_neon_block_bits(const fd_neon_ring_row *row, int b)
{
    return row->keep + FD_BLOCK_ELEMS * b;
}

static inline void fd_neon_apply16_f32(const float *x, float *y, fd_neon_bits k, float scale)
{
    uint8x16_t keep = vld1q_u8(k);
    uint32x4_t s = vreinterpretq_u32_f32(vdupq_n_f32(scale));
    for (int q = 0; q < 4; q++)
        vst1q_f32(y + 4 * q, vmulq_f32(vld1q_f32(x + 4 * q), fd_neon_multipliers4(keep, q, s)));
}

static inline void fd_neon_apply16_f64(const double *x, double *y, fd_neon_bits k, double scale)
{
    static const uint8_t spread[8][16] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},         {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
        {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},         {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
        {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},         {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
        {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13},
        {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15}};
    uint8x16_t keep = vld1q_u8(k);
    uint64x2_t s = vreinterpretq_u64_f64(vdupq_n_f64(scale));
    for (int q = 0; q < 8; q++) {
        uint64x2_t mask = vreinterpretq_u64_u8(vqtbl1q_u8(keep, vld1q_u8(spread[q])));
        float64x2_t m = vreinterpretq_f64_u64(vandq_u64(mask, s));
        vst1q_f64(y + 2 * q, vmulq_f64(vld1q_f64(x + 2 * q), m));
    }
}

static inline void fd_neon_apply16_f16(const uint16_t *x, uint16_t *y, fd_neon_bits k, float scale)
{
    uint8x16_t keep = vld1q_u8(k);
    uint32x4_t s = vreinterpretq_u32_f32(vdupq_n_f32(scale));
    for (int h = 0; h < 2; h++) {
        float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(x + 8 * h));
        float32x4_t lo = vmulq_f32(vcvt_f32_f16(vget_low_f16(v)), fd_neon_multipliers4(keep, 2 * h, s));
        float32x4_t hi = vmulq_f32(vcvt_high_f32_f16(v), fd_neon_multipliers4(keep, 2 * h + 1, s));
        vst1q_u16(y + 8 * h, vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi)));
    }
}

/* 4 float32 lanes -> bfloat16, as fd_float_to_bfloat16. */
static inline uint16x4_t fd_neon_to_bf16x4(float32x4_t v)
{
    uint32x4_t x = vreinterpretq_u32_f32(v);
    uint32x4_t high = vshrq_n_u32(x, 16);
    uint32x4_t bias = vaddq_u32(vdupq_n_u32(0x7FFF), vandq_u32(high, vdupq_n_u32(1)));
    uint16x4_t rounded = vshrn_n_u32(vaddq_u32(x, bias), 16);
    uint16x4_t quiet = vmovn_u32(vorrq_u32(high, vdupq_n_u32(0x40)));
    uint16x4_t nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
    return vbsl_u16(nan, quiet, rounded);
}

static inline void fd_neon_apply16_bf16(const uint16_t *x, uint16_t *y, fd_neon_bits k, float scale)
{
    uint8x16_t keep = vld1q_u8(k);
    uint32x4_t s = vreinterpretq_u32_f32(vdupq_n_f32(scale));
    for (int h = 0; h < 2; h++) {
        uint16x8_t v = vld1q_u16(x + 8 * h);
        float32x4_t lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16));
        float32x4_t hi = vreinterpretq_f32_u32(vshll_high_n_u16(v, 16));
        lo = vmulq_f32(lo, fd_neon_multipliers4(keep, 2 * h, s));
        hi = vmulq_f32(hi, fd_neon_multipliers4(keep, 2 * h + 1, s));
        vst1q_u16(y + 8 * h, vcombine_u16(fd_neon_to_bf16x4(lo), fd_neon_to_bf16x4(hi)));
    }
}

#define FD_PATH_LINE_BYTES 1   /* a gathered group's line: the keep bytes in element order */
#define FD_FN(name) fd_neon_##name
#include "fd_simd_loop.h"
#undef FD_FN
#undef FD_PATH_LINE_BYTES

#endif /* aarch64 little-endian with GCC-compatible compiler */
#endif /* FD_NEON_H */
