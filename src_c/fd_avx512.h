/*
 * fd_avx512.h -- AVX-512 (F + BW + VL) primitives for the shared loop
 * (fd_simd_loop.h).
 *
 * Philox runs on 8 blocks with one block per 64-bit lane: _mm512_mul_epu32
 * reads only the low 32 bits of each lane and returns the full 64-bit
 * product, so the hi word is one shift away and the lo word needs no work
 * (the garbage left in the upper halves is never read by a multiply and
 * never reaches the output).  The three-way XOR of a round is one
 * vpternlogd.  A group's four sets and the tie slots fit in the 32
 * registers, so they run their rounds side by side: one set's rounds are a
 * single dependent chain.  Comparisons land in mask registers, and the
 * multiplier for each group of 16 floats is one masked move.  Same blocks,
 * same bytes, same tie rule as every other path: bit-identical output.
 */
#ifndef FD_AVX512_H
#define FD_AVX512_H

#include "fd_dtype.h"
#include "fd_mask.h"
#include "fd_ties.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define FD_HAVE_AVX512 1
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,f16c,fma")
#endif

typedef struct {
    /* round r: rk[3r], rk[3r+1] keys 0 and 1, rk[3r+2] the tie slots' keys
     * (key 1 | key 0 in each 128-bit lane); one stride, so the round loop
     * steps one pointer */
    __m512i rk[3 * FD_PHILOX_MAX_ROUNDS];
    __m512i lanes[FD_GROUP];                /* 8k + 0 .. 8k + 7: the blocks of chunk k of a group */
    __m512i top;                            /* threshold byte 0 in every byte */
    __m512i t1;                             /* threshold byte 1 in every byte */
    int rounds;
} fd_avx512_ctx;

/* A chunk's decisions: bit 16q + j of keep[h] is element j of block 2q + h. */
typedef struct {
    uint64_t keep[2];
} fd_avx512_ring_row;

/* Word w of a group stands for block 2 (w % 4) + (w / 4) % 2 of chunk
 * w / 8: bits 16 (w % 4) .. of keep[(w / 4) % 2] of its row. */
typedef struct {
    fd_avx512_ring_row row[FD_GROUP];
    uint64_t spare[2];   /* the spare words' slots write here (no change) */
} __attribute__((aligned(64))) fd_avx512_group_rows;

typedef fd_group_ties fd_avx512_group_ties;

/* Four taken words and the stream-1 Philox state of their blocks, slot i in
 * 128-bit lane i: words 0 and 2 in the 64-bit halves of a[0], words 3 and 1
 * in those of a[1] (the last round's products as they come).  Two
 * registers instead of four leave the group's sets room to stay in
 * registers. */
typedef struct {
    int w[4];
    __m512i a[2];
} fd_avx512_tie_slots;

static inline void fd_avx512_ctx_init(fd_avx512_ctx *ctx, const fd_mask_params *mp)
{
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        ctx->rk[3 * r] = _mm512_set1_epi32((int)key.v[0]);
        ctx->rk[3 * r + 1] = _mm512_set1_epi32((int)key.v[1]);
        ctx->rk[3 * r + 2] = _mm512_set4_epi32((int)key.v[0], (int)key.v[0], (int)key.v[1], (int)key.v[1]);
    }
    for (int k = 0; k < FD_GROUP; k++)
        ctx->lanes[k] = _mm512_add_epi64(_mm512_set1_epi64(8 * k), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    ctx->top = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));
    ctx->t1 = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));
    ctx->rounds = mp->rounds;
}

/* ctx, for reading its constants where they are used: an empty statement
 * that may change the pointer keeps GCC from hoisting them out of the main
 * loop into registers, which the round loop then lacks. */
static inline FD_ALWAYS_INLINE const fd_avx512_ctx *fd_avx512_reread(const fd_avx512_ctx *ctx)
{
    __asm__ volatile("" : "+r"(ctx));
    return ctx;
}

/* Round r on `sets` sets of 8 blocks, one block per 64-bit lane (word k in
 * the low half of a[s][k]), and, unless `slots` is NULL, on the 4 blocks of
 * the tie slots (fd_avx512_tie_slots layout).  A slot round multiplies
 * words 0 and 2 by M0 and M1 in one go: the products are words 3 and 1 of
 * the next round, and their high halves XOR words 3 and 1 and the keys give
 * words 2 and 0, put back in order by a one-cycle swap within each 128-bit
 * lane.  Inlined, so a constant NULL costs nothing. */
static inline FD_ALWAYS_INLINE void fd_avx512_round(__m512i a[][4], int sets, __m512i *slots,
                                                    const fd_avx512_ctx *ctx, int r)
{
    const __m512i m0 = _mm512_set1_epi64(FD_PHILOX_M4x32_0);
    const __m512i m1 = _mm512_set1_epi64(FD_PHILOX_M4x32_1);
    if (slots) {
        __m512i p = _mm512_mul_epu32(slots[0], _mm512_mask_blend_epi64(0xAA, m0, m1));
        __m512i t = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p, 32), slots[1], ctx->rk[3 * r + 2], 0x96);
        slots[0] = _mm512_shuffle_epi32(t, (_MM_PERM_ENUM)0x4E);
        slots[1] = p;
    }
    for (int s = 0; s < sets; s++) {
        __m512i p0 = _mm512_mul_epu32(a[s][0], m0);
        __m512i p1 = _mm512_mul_epu32(a[s][2], m1);
        a[s][0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), a[s][1], ctx->rk[3 * r], 0x96);
        a[s][1] = p1;
        a[s][2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), a[s][3], ctx->rk[3 * r + 1], 0x96);
        a[s][3] = p0;
    }
}

/* All rounds.  The default number is unrolled: a rolled loop copies the
 * state registers at every round (a product takes the place of a word still
 * in use); unrolled, the copies and the loop's own instructions vanish. */
static inline FD_ALWAYS_INLINE void fd_avx512_rounds(__m512i a[][4], int sets, __m512i *slots,
                                                     const fd_avx512_ctx *ctx)
{
    if (ctx->rounds == FD_PHILOX_DEFAULT_ROUNDS) {
#pragma GCC unroll 16
        for (int r = 0; r < FD_PHILOX_DEFAULT_ROUNDS; r++)
            fd_avx512_round(a, sets, slots, ctx, r);
    } else {
        for (int r = 0; r < ctx->rounds; r++)
            fd_avx512_round(a, sets, slots, ctx, r);
    }
}

/* Counter words of blocks block0 .. block0+7 of stream 0: the low 32 bits
 * of 64-bit lane j of a[k] are word k of block block0+j. */
static inline void fd_avx512_counters(__m512i a[4], __m512i blocks)
{
    a[0] = blocks;                             /* low word; the high half is ignored */
    a[1] = _mm512_srli_epi64(blocks, 32);
    a[2] = _mm512_setzero_si512();
    a[3] = _mm512_setzero_si512();
}

static inline FD_ALWAYS_INLINE void fd_avx512_decide_group(fd_avx512_group_rows *rows, fd_avx512_group_ties *ties,
                                                           int chunks, uint64_t block0, const fd_mask_params *mp,
                                                           const fd_avx512_ctx *ctx, int want_ties,
                                                           fd_avx512_tie_slots *slots, const uint64_t *list)
{
    (void)mp;
    __m512i a[FD_GROUP][4];
    const fd_avx512_ctx *c = fd_avx512_reread(ctx);
    for (int k = 0; k < chunks; k++)   /* chunk k: blocks 8k .. 8k + 7 of the group, one per lane */
        fd_avx512_counters(a[k], list ? _mm512_loadu_si512((const void *)(list + 8 * k))
                                      : _mm512_add_epi64(_mm512_set1_epi64((long long)block0), c->lanes[k]));
    fd_avx512_rounds(a, chunks, slots ? slots->a : NULL, ctx);
    for (int k = 0; k < chunks; k++) {
        /* bytes in element order: even = [block 0 | 2 | 4 | 6], odd = [1 | 3 | 5 | 7] */
        __m512i w01 = _mm512_mask_blend_epi32(0xAAAA, a[k][0], _mm512_slli_epi64(a[k][1], 32));
        __m512i w23 = _mm512_mask_blend_epi32(0xAAAA, a[k][2], _mm512_slli_epi64(a[k][3], 32));
        __m512i even = _mm512_unpacklo_epi64(w01, w23), odd = _mm512_unpackhi_epi64(w01, w23);
        rows->row[k].keep[0] = _mm512_cmplt_epu8_mask(even, c->top);
        rows->row[k].keep[1] = _mm512_cmplt_epu8_mask(odd, c->top);
        if (want_ties) {
            ties->bits[k][0] = _mm512_cmpeq_epu8_mask(even, c->top);
            ties->bits[k][1] = _mm512_cmpeq_epu8_mask(odd, c->top);
        }
    }
}

static inline uint64_t fd_avx512_word_block(int w)
{
    return (uint64_t)((w & ~7) | ((w & 3) << 1) | ((w >> 2) & 1));
}

static inline uint64_t fd_avx512_tied_words(const fd_avx512_group_ties *ties)
{
    __m512i bits = _mm512_load_si512((const void *)ties);
    return _mm512_test_epi16_mask(bits, bits);
}

/* Words are read and marked as the 16-bit units they are in memory (x86 is
 * little-endian): a narrower access than the 64-bit rows costs less. */
typedef uint16_t fd_avx512_word __attribute__((may_alias));

static inline uint32_t fd_avx512_word_ties(const fd_avx512_group_ties *ties, int w)
{
    return ((const fd_avx512_word *)(const void *)ties)[w];
}

static inline uint32_t fd_avx512_word_keep(fd_avx512_group_rows *rows, int w)
{
    return ((const fd_avx512_word *)(const void *)rows)[w];
}

static inline void fd_avx512_mark_kept(fd_avx512_group_rows *rows, int w, uint32_t bits)
{
    ((fd_avx512_word *)(void *)rows)[w] |= (uint16_t)bits;
}

static inline void fd_avx512_slot_counters(fd_avx512_tie_slots *s, uint64_t gblock0, const uint64_t *list)
{
    __m256i blocks;
    if (list)
        blocks = _mm256_setr_epi64x((long long)list[fd_avx512_word_block(s->w[0])],
                                    (long long)list[fd_avx512_word_block(s->w[1])],
                                    (long long)list[fd_avx512_word_block(s->w[2])],
                                    (long long)list[fd_avx512_word_block(s->w[3])]);
    else
        blocks = _mm256_add_epi64(_mm256_set1_epi64x((long long)gblock0),
                                  _mm256_setr_epi64x((long long)fd_avx512_word_block(s->w[0]),
                                                     (long long)fd_avx512_word_block(s->w[1]),
                                                     (long long)fd_avx512_word_block(s->w[2]),
                                                     (long long)fd_avx512_word_block(s->w[3])));
    __m512i both = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3), _mm512_castsi256_si512(blocks));
    s->a[0] = _mm512_mask_blend_epi64(0xAA, both, _mm512_set1_epi64(1));   /* word 2: stream 1 */
    s->a[1] = _mm512_maskz_srli_epi64(0xAA, both, 32);                     /* word 3: 0 */
}

static inline void fd_avx512_slot_rounds(fd_avx512_tie_slots *s, const fd_avx512_ctx *ctx)
{
    fd_avx512_rounds(NULL, 0, s->a, ctx);
}

static inline void fd_avx512_slot_compare(const fd_avx512_tie_slots *s, const fd_avx512_ctx *ctx, uint32_t lt[4],
                                          uint32_t eq[4])
{
    /* slot i's 16 bytes in lane i, in element order: 32-bit words 0, 1, 2, 3 */
    __m512i u = _mm512_mask_blend_epi32(0xAAAA, s->a[0], _mm512_shuffle_epi32(s->a[1], (_MM_PERM_ENUM)0x08));
    uint64_t below = _mm512_cmplt_epu8_mask(u, ctx->t1), equal = _mm512_cmpeq_epu8_mask(u, ctx->t1);
    for (int i = 0; i < 4; i++) {
        lt[i] = (uint32_t)(below >> (16 * i)) & 0xFFFFu;
        eq[i] = (uint32_t)(equal >> (16 * i)) & 0xFFFFu;
    }
}

/* The decisions of 16 consecutive elements: their keep bits. */
typedef __mmask16 fd_avx512_bits;

/* Keep bits of block b (0..7) of a row. */
static inline fd_avx512_bits fd_avx512_block_bits(const fd_avx512_ring_row *row, int b)
{
    return (__mmask16)(row->keep[b & 1] >> (16 * (b >> 1)));
}

/* A gathered group's decisions in element order: bit j of keep[k] for
 * element j of its block k, and two words after the last, which the
 * unaligned reads of fd_avx512_line_bits may reach (for lanes a partial
 * apply masks off). */
typedef struct {
    uint16_t keep[FD_TIE_WORDS + 2];
} fd_avx512_line;

static inline void fd_avx512_line_fill(fd_avx512_line *line, const fd_avx512_group_rows *rows)
{
    for (int c = 0; c < FD_GROUP; c++) {
        /* keep[0] holds blocks 0, 2, 4, 6 and keep[1] blocks 1, 3, 5, 7: interleave their 16-bit words */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)rows->row[c].keep);
        _mm_storeu_si128((__m128i *)(void *)(line->keep + 8 * c), _mm_unpacklo_epi16(v, _mm_srli_si128(v, 8)));
    }
}

/* Keep bits of elements e .. e + 15 of a line. */
static inline fd_avx512_bits fd_avx512_line_bits(const fd_avx512_line *line, uint32_t e)
{
    uint32_t w;
    memcpy(&w, (const char *)line->keep + e / 8, sizeof w);
    return (__mmask16)(w >> (e % 8));
}

static inline void fd_avx512_apply16_f32(const float *x, float *y, fd_avx512_bits keep, float scale)
{
    __m512 m = _mm512_maskz_mov_ps(keep, _mm512_set1_ps(scale));
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_loadu_ps(x), m));
}

static inline void fd_avx512_apply16_f64(const double *x, double *y, fd_avx512_bits keep, double scale)
{
    const __m512d s = _mm512_set1_pd(scale);
    _mm512_storeu_pd(y, _mm512_mul_pd(_mm512_loadu_pd(x), _mm512_maskz_mov_pd((__mmask8)keep, s)));
    _mm512_storeu_pd(y + 8, _mm512_mul_pd(_mm512_loadu_pd(x + 8), _mm512_maskz_mov_pd((__mmask8)(keep >> 8), s)));
}

static inline void fd_avx512_apply16_f16(const uint16_t *x, uint16_t *y, fd_avx512_bits keep, float scale)
{
    __m512 m = _mm512_maskz_mov_ps(keep, _mm512_set1_ps(scale));
    __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)x)), m);
    _mm256_storeu_si256((__m256i *)(void *)y, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

/* 16 float32 lanes -> bfloat16, as fd_float_to_bfloat16. */
static inline __m256i fd_avx512_to_bf16x16(__m512 v)
{
    __m512i x = _mm512_castps_si512(v);
    __m512i high = _mm512_srli_epi32(x, 16);
    __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), _mm512_and_si512(high, _mm512_set1_epi32(1)));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, bias), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, high, _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

static inline void fd_avx512_apply16_bf16(const uint16_t *x, uint16_t *y, fd_avx512_bits keep, float scale)
{
    __m512 m = _mm512_maskz_mov_ps(keep, _mm512_set1_ps(scale));
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)x));
    __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)), m);
    _mm256_storeu_si256((__m256i *)(void *)y, fd_avx512_to_bf16x16(v));
}

/* Elements lo .. hi - 1 (0 <= lo < hi <= 16) of 16 elements decided by
 * `bits`, x and y pointing at element lo: the 16-element apply under a
 * mask of those lanes, so that nothing else is read or written (a
 * masked-off lane does not fault).  The kept lanes get the same operations
 * as in the 16-element apply.  Returns 1: every format is handled. */
static inline FD_ALWAYS_INLINE int fd_avx512_apply_part(int dtype, const char *x, char *y, fd_avx512_bits bits,
                                                         int lo, int hi, double scale)
{
    __mmask16 live = (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
    __mmask16 keep = bits & live;
    uintptr_t back = (uintptr_t)lo * (uintptr_t)fd_itemsize(dtype);   /* to the block's first element */
    const void *xb = (const void *)((uintptr_t)x - back);
    void *yb = (void *)((uintptr_t)y - back);
    if (dtype == FD_FLOAT64) {
        const __m512d s = _mm512_set1_pd(scale);
        for (int h = 0; h < 2; h++) {
            __mmask8 l = (__mmask8)(live >> (8 * h)), k = (__mmask8)(keep >> (8 * h));
            __m512d v = _mm512_maskz_loadu_pd(l, (const char *)xb + 64 * h);
            _mm512_mask_storeu_pd((char *)yb + 64 * h, l, _mm512_mul_pd(v, _mm512_maskz_mov_pd(k, s)));
        }
        return 1;
    }
    __m512 m = _mm512_maskz_mov_ps(keep, _mm512_set1_ps((float)scale));
    if (dtype == FD_FLOAT32) {
        _mm512_mask_storeu_ps(yb, live, _mm512_mul_ps(_mm512_maskz_loadu_ps(live, xb), m));
    } else if (dtype == FD_FLOAT16) {
        __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(live, xb)), m);
        _mm256_mask_storeu_epi16(yb, live, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    } else {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, xb));
        __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)), m);
        _mm256_mask_storeu_epi16(yb, live, fd_avx512_to_bf16x16(v));
    }
    return 1;
}

#define FD_PATH_APPLY_PART 1   /* the shared loop uses apply_part for partial blocks */
#define FD_FN(name) fd_avx512_##name
#include "fd_simd_loop.h"
#undef FD_FN
#undef FD_PATH_APPLY_PART

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX512_H */
