/*
 * fd_avx2.h -- AVX2 (+F16C) primitives for the shared loop (fd_simd_loop.h).
 *
 * Philox runs on 4 blocks per set of four registers, one block per 64-bit
 * lane: _mm256_mul_epu32 reads the low 32 bits of each lane and returns the
 * whole 64-bit product, so the hi word is one shift away and the lo word
 * needs no work (the upper halves carry garbage that no multiply reads and
 * no output uses).  A set's state is four registers and AVX2 has sixteen,
 * so the sets of a group run their rounds a few at a time (FD_AVX2_BATCH):
 * all of a group at once would keep most of its state on the stack.  The
 * level-0 bytes are compared 32 at a time into drop bytes (0xFF =
 * dropped), widened to float lanes and applied in the same pass.  Same
 * blocks, same bytes, same tie rule as every other path: bit-identical
 * output.
 *
 * Compiled under a target pragma, never with -mavx2: the caller checks
 * __builtin_cpu_supports("avx2") and "f16c" before calling anything here.
 */
#ifndef FD_AVX2_H
#define FD_AVX2_H

#include "fd_dtype.h"
#include "fd_mask.h"
#include "fd_ties.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define FD_HAVE_AVX2 1
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,f16c,fma")
#endif

/* Sets (of 4 blocks) whose rounds run together: 3 sets are 12 registers of
 * state, which leaves room for the products and the multipliers. */
#define FD_AVX2_BATCH 3

typedef struct {
    __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];   /* round r: rk[2r], rk[2r+1] */
    __m256i top, t1;                        /* threshold bytes 0 and 1 in every byte */
    int rounds;
} fd_avx2_ctx;

/* A chunk's drop bytes: block b at byte 16 * fd_avx2_slot(b). */
typedef struct {
    unsigned char drop[FD_CHUNK_ELEMS];
} __attribute__((aligned(32))) fd_avx2_ring_row;

/* Word w of a group stands for block fd_avx2_slot(w % 8) of chunk w / 8,
 * whose drop bytes are bytes 16 (w % 8) .. 16 (w % 8) + 15 of its row. */
typedef struct {
    fd_avx2_ring_row row[FD_GROUP];
    unsigned char spare[4][FD_BLOCK_ELEMS];   /* the spare words' slots write here (no change) */
} __attribute__((aligned(64))) fd_avx2_group_rows;

typedef fd_group_ties fd_avx2_group_ties;

/* Four taken words and the stream-1 Philox state of their blocks (one set). */
typedef struct {
    int w[4];
    __m256i a[4];
} fd_avx2_tie_slots;

static inline void fd_avx2_ctx_init(fd_avx2_ctx *ctx, const fd_mask_params *mp)
{
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        ctx->rk[2 * r] = _mm256_set1_epi32((int)key.v[0]);
        ctx->rk[2 * r + 1] = _mm256_set1_epi32((int)key.v[1]);
    }
    ctx->top = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));
    ctx->t1 = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));
    ctx->rounds = mp->rounds;
}

/* Where block b's 16 bytes sit in the u[] of fd_avx2_bytes, in units of 16
 * bytes (an involution: also the block of slot b). */
static inline int fd_avx2_slot(int b)
{
    return (0x75643120 >> (4 * b)) & 7;   /* bits 0 and 1 of b swapped */
}

/* An empty statement the compiler must assume reads and changes x1 and x3:
 * it keeps the XORs in the order written (GCC's reassociation would
 * otherwise put the key last, back on the multiply chain). */
static inline FD_ALWAYS_INLINE void fd_avx2_keep_order(__m256i *x1, __m256i *x3)
{
    __asm__("" : "+x"(*x1), "+x"(*x3));
}

/* All rounds on `sets` sets of four blocks: word k of block j of set s in
 * the low half of 64-bit lane j of a[4s + k]. */
static inline FD_ALWAYS_INLINE void fd_avx2_rounds(__m256i *a, int sets, const fd_avx2_ctx *ctx)
{
    const __m256i m0 = _mm256_set1_epi64x(FD_PHILOX_M4x32_0);
    const __m256i m1 = _mm256_set1_epi64x(FD_PHILOX_M4x32_1);
    for (int r = 0; r < ctx->rounds; r++) {
        for (int s = 0; s < 4 * sets; s += 4) {
            /* the key goes into the words that are not multiplied first:
             * they are then dead before the products arrive, which take
             * their registers (no moves), and one XOR is off the chain */
            __m256i x1 = _mm256_xor_si256(a[s + 1], ctx->rk[2 * r]);
            __m256i x3 = _mm256_xor_si256(a[s + 3], ctx->rk[2 * r + 1]);
            fd_avx2_keep_order(&x1, &x3);
            __m256i p0 = _mm256_mul_epu32(a[s], m0);
            __m256i p1 = _mm256_mul_epu32(a[s + 2], m1);
            a[s] = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1);
            a[s + 1] = p1;
            a[s + 2] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3);
            a[s + 3] = p0;
        }
    }
}

/* Counter words of 4 blocks of one stream, the 64-bit block numbers in
 * the lanes of `blocks`. */
static inline void fd_avx2_counters(__m256i a[4], __m256i blocks, uint32_t stream)
{
    a[0] = blocks;
    a[1] = _mm256_srli_epi64(blocks, 32);
    a[2] = _mm256_set1_epi64x(stream);
    a[3] = _mm256_setzero_si256();
}

/* The 16 output bytes of each block of a set pair, in element order:
 * u[0] = [block 0 | 2], u[1] = [1 | 3], u[2] = [4 | 6], u[3] = [5 | 7]. */
static inline void fd_avx2_bytes(const __m256i a[8], __m256i u[4])
{
    for (int s = 0; s < 2; s++) {
        const __m256i *w = a + 4 * s;
        __m256i w01 = _mm256_blend_epi32(w[0], _mm256_slli_epi64(w[1], 32), 0xAA);
        __m256i w23 = _mm256_blend_epi32(w[2], _mm256_slli_epi64(w[3], 32), 0xAA);
        u[2 * s] = _mm256_unpacklo_epi64(w01, w23);
        u[2 * s + 1] = _mm256_unpackhi_epi64(w01, w23);
    }
}

/* 0xFF in the bytes of u that are >= t, else 0. */
static inline __m256i fd_avx2_at_least(__m256i u, __m256i t)
{
    return _mm256_cmpeq_epi8(_mm256_max_epu8(u, t), u);
}

static inline FD_ALWAYS_INLINE void fd_avx2_decide_group(fd_avx2_group_rows *rows, fd_avx2_group_ties *ties,
                                                         int chunks, uint64_t block0, const fd_mask_params *mp,
                                                         const fd_avx2_ctx *ctx, int want_ties,
                                                         fd_avx2_tie_slots *slots, const uint64_t *list)
{
    (void)mp;
    __m256i a[8 * FD_GROUP + 4];
    const __m256i lo4 = _mm256_add_epi64(_mm256_set1_epi64x((long long)block0), _mm256_setr_epi64x(0, 1, 2, 3));
    int sets = 2 * chunks;
    for (int s = 0; s < sets; s++)   /* set s: blocks 4s .. 4s + 3 of the group, one per lane */
        fd_avx2_counters(a + 4 * s,
                         list ? _mm256_loadu_si256((const __m256i *)(const void *)(list + 4 * s))
                              : _mm256_add_epi64(lo4, _mm256_set1_epi64x(4 * s)),
                         0);
    if (slots)   /* a tie group's slots: one more set */
        memcpy(a + 4 * sets++, slots->a, sizeof slots->a);
    int s0 = 0;
    for (; s0 + FD_AVX2_BATCH <= sets; s0 += FD_AVX2_BATCH)
        fd_avx2_rounds(a + 4 * s0, FD_AVX2_BATCH, ctx);
    if (s0 < sets)
        fd_avx2_rounds(a + 4 * s0, sets - s0, ctx);
    if (slots)
        memcpy(slots->a, a + 8 * chunks, sizeof slots->a);
    for (int c = 0; c < chunks; c++) {
        __m256i u[4];
        uint32_t bits[4];
        fd_avx2_bytes(a + 8 * c, u);
        for (int k = 0; k < 4; k++) {
            _mm256_store_si256((__m256i *)(void *)(rows->row[c].drop + 32 * k), fd_avx2_at_least(u[k], ctx->top));
            if (want_ties)
                bits[k] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[k], ctx->top));
        }
        if (want_ties)   /* x86 is little-endian: the 32-bit halves in order */
            memcpy(ties->bits[c], bits, sizeof bits);
    }
}

static inline uint64_t fd_avx2_word_block(int w)
{
    return (uint64_t)((w & ~7) | fd_avx2_slot(w & 7));
}

static inline uint64_t fd_avx2_tied_words(const fd_avx2_group_ties *ties)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i lo = _mm256_cmpeq_epi16(_mm256_load_si256((const __m256i *)(const void *)ties), zero);
    __m256i hi = _mm256_cmpeq_epi16(_mm256_load_si256((const __m256i *)(const void *)ties + 1), zero);
    /* one byte per word, back in word order after the in-lane pack */
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(lo, hi), 0xD8);
    return (uint32_t)~_mm256_movemask_epi8(packed);
}

/* Words are read as the 16-bit units they are in memory (x86 is
 * little-endian); spare words follow the group's. */
typedef uint16_t fd_avx2_word __attribute__((may_alias));

static inline uint32_t fd_avx2_word_ties(const fd_avx2_group_ties *ties, int w)
{
    return ((const fd_avx2_word *)(const void *)ties)[w];
}

/* The 16 drop bytes of word w: the rows and the spare slots are contiguous. */
static inline unsigned char *fd_avx2_word_drop(fd_avx2_group_rows *rows, int w)
{
    return (unsigned char *)(void *)rows + FD_BLOCK_ELEMS * w;
}

static inline uint32_t fd_avx2_word_keep(fd_avx2_group_rows *rows, int w)
{
    __m128i d = _mm_loadu_si128((const __m128i *)(const void *)fd_avx2_word_drop(rows, w));
    return ~(uint32_t)_mm_movemask_epi8(d) & 0xFFFFu;
}

/* Clear the drop bytes of word w whose bit j is set in bits (16 bits). */
static inline void fd_avx2_mark_kept(fd_avx2_group_rows *rows, int w, uint32_t bits)
{
    const __m128i spread = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128i select = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    __m128i *d = (__m128i *)(void *)fd_avx2_word_drop(rows, w);
    __m128i picked = _mm_and_si128(_mm_shuffle_epi8(_mm_cvtsi32_si128((int)bits), spread), select);
    _mm_store_si128(d, _mm_andnot_si128(_mm_cmpeq_epi8(picked, select), _mm_load_si128(d)));
}

static inline void fd_avx2_slot_counters(fd_avx2_tie_slots *s, uint64_t gblock0, const uint64_t *list)
{
    __m256i blocks;
    if (list)
        blocks = _mm256_setr_epi64x((long long)list[fd_avx2_word_block(s->w[0])],
                                    (long long)list[fd_avx2_word_block(s->w[1])],
                                    (long long)list[fd_avx2_word_block(s->w[2])],
                                    (long long)list[fd_avx2_word_block(s->w[3])]);
    else
        blocks = _mm256_add_epi64(_mm256_set1_epi64x((long long)gblock0),
                                  _mm256_setr_epi64x((long long)fd_avx2_word_block(s->w[0]),
                                                     (long long)fd_avx2_word_block(s->w[1]),
                                                     (long long)fd_avx2_word_block(s->w[2]),
                                                     (long long)fd_avx2_word_block(s->w[3])));
    fd_avx2_counters(s->a, blocks, 1);
}

static inline void fd_avx2_slot_rounds(fd_avx2_tie_slots *s, const fd_avx2_ctx *ctx)
{
    fd_avx2_rounds(s->a, 1, ctx);
}

static inline void fd_avx2_slot_compare(const fd_avx2_tie_slots *s, const fd_avx2_ctx *ctx, uint32_t lt[4],
                                        uint32_t eq[4])
{
    /* bytes of slots 0 and 2 in u[0], of 1 and 3 in u[1] */
    __m256i w01 = _mm256_blend_epi32(s->a[0], _mm256_slli_epi64(s->a[1], 32), 0xAA);
    __m256i w23 = _mm256_blend_epi32(s->a[2], _mm256_slli_epi64(s->a[3], 32), 0xAA);
    __m256i u[2] = {_mm256_unpacklo_epi64(w01, w23), _mm256_unpackhi_epi64(w01, w23)};
    for (int h = 0; h < 2; h++) {
        uint32_t below = ~(uint32_t)_mm256_movemask_epi8(fd_avx2_at_least(u[h], ctx->t1));
        uint32_t equal = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[h], ctx->t1));
        lt[h] = below & 0xFFFFu;
        eq[h] = equal & 0xFFFFu;
        lt[h + 2] = below >> 16;
        eq[h + 2] = equal >> 16;
    }
}

/* The multipliers of 8 elements from their drop bytes d[0..7]: scale where
 * the byte is 0, +0 where it is 0xFF. */
static inline __m256 fd_avx2_multipliers8(const unsigned char *d, __m256 s)
{
    __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)d));
    return _mm256_andnot_ps(_mm256_castsi256_ps(wide), s);
}

/* The decisions of 16 consecutive elements: a pointer to their drop bytes. */
typedef const unsigned char *fd_avx2_bits;

static inline fd_avx2_bits fd_avx2_block_bits(const fd_avx2_ring_row *row, int b)
{
    return row->drop + FD_BLOCK_ELEMS * fd_avx2_slot(b);
}

static inline void fd_avx2_apply16_f32(const float *x, float *y, fd_avx2_bits d, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    for (int h = 0; h < 16; h += 8)
        _mm256_storeu_ps(y + h, _mm256_mul_ps(_mm256_loadu_ps(x + h), fd_avx2_multipliers8(d + h, s)));
}

static inline void fd_avx2_apply16_f64(const double *x, double *y, fd_avx2_bits d, double scale)
{
    const __m256d s = _mm256_set1_pd(scale);
    for (int q = 0; q < 16; q += 4) {
        int32_t four;
        memcpy(&four, d + q, 4);
        __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four)));
        _mm256_storeu_pd(y + q, _mm256_mul_pd(_mm256_loadu_pd(x + q), _mm256_andnot_pd(m, s)));
    }
}

static inline void fd_avx2_apply16_f16(const uint16_t *x, uint16_t *y, fd_avx2_bits d, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    for (int h = 0; h < 16; h += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + h)));
        v = _mm256_mul_ps(v, fd_avx2_multipliers8(d + h, s));
        _mm_storeu_si128((__m128i *)(void *)(y + h), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
}

/* 8 bfloat16 -> float32 lanes: a 16-bit shift. */
static inline __m256 fd_avx2_load_bf16x8(const uint16_t *p)
{
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

/* 8 float32 lanes -> bfloat16 in the low 16 bits of each 32-bit lane, as
 * fd_float_to_bfloat16. */
static inline __m256i fd_avx2_to_bf16x8(__m256 v)
{
    __m256i x = _mm256_castps_si256(v);
    __m256i high = _mm256_srli_epi32(x, 16);
    __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), _mm256_and_si256(high, _mm256_set1_epi32(1)));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, bias), 16);
    __m256i quiet = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

static inline void fd_avx2_apply16_bf16(const uint16_t *x, uint16_t *y, fd_avx2_bits d, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    __m256i lo = fd_avx2_to_bf16x8(_mm256_mul_ps(fd_avx2_load_bf16x8(x), fd_avx2_multipliers8(d, s)));
    __m256i hi = fd_avx2_to_bf16x8(_mm256_mul_ps(fd_avx2_load_bf16x8(x + 8), fd_avx2_multipliers8(d + 8, s)));
    /* the pack works within 128-bit lanes: the permute puts the 16 results in order */
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256((__m256i *)(void *)y, packed);
}

/* Elements lo .. hi - 1 (0 <= lo < hi <= 16) of 16 elements decided by d,
 * x and y pointing at element lo, for float32 and float64: the 16-element
 * apply under masked loads and stores of those lanes, so that nothing else
 * is read or written (a masked-off lane does not fault).  0 for the 16-bit formats,
 * which have no masked loads here and go through a copy (fd_simd_loop.h). */
static inline FD_ALWAYS_INLINE int fd_avx2_apply_part(int dtype, const char *x, char *y, fd_avx2_bits d, int lo,
                                                      int hi, double scale)
{
    if (dtype != FD_FLOAT32 && dtype != FD_FLOAT64)
        return 0;
    uintptr_t back = (uintptr_t)lo * (uintptr_t)fd_itemsize(dtype);   /* to the block's first element */
    const char *xb = (const char *)(uintptr_t)((uintptr_t)x - back);
    char *yb = (char *)(uintptr_t)((uintptr_t)y - back);
    const __m256i from = _mm256_set1_epi32(lo - 1), to = _mm256_set1_epi32(hi);
    if (dtype == FD_FLOAT32) {
        const __m256 s = _mm256_set1_ps((float)scale);
        for (int h = 0; h < 16; h += 8) {
            __m256i at = _mm256_add_epi32(_mm256_set1_epi32(h), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256i live = _mm256_and_si256(_mm256_cmpgt_epi32(at, from), _mm256_cmpgt_epi32(to, at));
            __m256 v = _mm256_maskload_ps((const float *)(const void *)(xb + 4 * h), live);
            _mm256_maskstore_ps((float *)(void *)(yb + 4 * h), live, _mm256_mul_ps(v, fd_avx2_multipliers8(d + h, s)));
        }
    } else {
        const __m256d s = _mm256_set1_pd(scale);
        for (int q = 0; q < 16; q += 4) {
            __m256i at = _mm256_add_epi64(_mm256_set1_epi64x(q), _mm256_setr_epi64x(0, 1, 2, 3));
            __m256i live = _mm256_and_si256(_mm256_cmpgt_epi64(at, _mm256_set1_epi64x(lo - 1)),
                                            _mm256_cmpgt_epi64(_mm256_set1_epi64x(hi), at));
            int32_t four;
            memcpy(&four, d + q, 4);
            __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four)));
            __m256d v = _mm256_maskload_pd((const double *)(const void *)(xb + 8 * q), live);
            _mm256_maskstore_pd((double *)(void *)(yb + 8 * q), live, _mm256_mul_pd(v, _mm256_andnot_pd(m, s)));
        }
    }
    return 1;
}

#define FD_PATH_APPLY_PART 1   /* the shared loop uses apply_part for partial blocks */
#define FD_PATH_LINE_BYTES 1   /* a gathered group's line: the drop bytes in element order */
#define FD_FN(name) fd_avx2_##name
#include "fd_simd_loop.h"
#undef FD_FN
#undef FD_PATH_APPLY_PART
#undef FD_PATH_LINE_BYTES

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX2_H */
