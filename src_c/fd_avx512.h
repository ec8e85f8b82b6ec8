/*
 * fd_avx512.h -- AVX-512 (F + BW + VL) path.
 *
 * Philox runs on 8 blocks with one block per 64-bit lane: _mm512_mul_epu32
 * reads only the low 32 bits of each lane and returns the full 64-bit
 * product, so the hi word is one shift away and the lo word needs no work
 * (the garbage left in the upper halves is never read by a multiply and
 * never reaches the output).  The three-way XOR of a round is one
 * vpternlogd.  Comparisons land in mask registers, and the multiplier for
 * each group of 16 floats is one masked move.  Same blocks, same bytes,
 * same tie rule as every other path: bit-identical output.
 */
#ifndef FD_AVX512_H
#define FD_AVX512_H

#include "fd_mask.h"
#include "fd_half.h"
#include "fd_ties.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define FD_HAVE_AVX512 1
#include <immintrin.h>

#define FD_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c,fma")))

FD_AVX512_TARGET static inline void fd_avx512_round_keys(__m512i rk[2 * FD_PHILOX_MAX_ROUNDS],
                                                         const fd_mask_params *mp)
{
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        rk[2 * r] = _mm512_set1_epi32((int)key.v[0]);
        rk[2 * r + 1] = _mm512_set1_epi32((int)key.v[1]);
    }
}

/* R rounds on `sets` independent sets of 8 blocks, one block per 64-bit
 * lane (word k in the low half of a[s][k]), and, unless `slots` is NULL,
 * on the 4 blocks of a 256-bit set in the same layout (ties, fd_ties.h).
 * Several sets side by side give the core independent multiply chains to
 * overlap: one set's 10 rounds are a chain of about 50 cycles of latency,
 * and with one set per call the out-of-order window cannot reach the next
 * chunk's chain in time.  Inlined, so a constant NULL costs nothing. */
FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_rounds(__m512i a[][4], int sets, __m256i *slots, const __m512i *rk, int rounds)
{
    const __m512i m0 = _mm512_set1_epi64(FD_PHILOX_M4x32_0);
    const __m512i m1 = _mm512_set1_epi64(FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
        if (slots) {
            __m256i p0 = _mm256_mul_epu32(slots[0], _mm512_castsi512_si256(m0));
            __m256i p1 = _mm256_mul_epu32(slots[2], _mm512_castsi512_si256(m1));
            slots[0] = _mm256_ternarylogic_epi32(_mm256_srli_epi64(p1, 32), slots[1],
                                                 _mm512_castsi512_si256(rk[2 * r]), 0x96);
            slots[1] = p1;
            slots[2] = _mm256_ternarylogic_epi32(_mm256_srli_epi64(p0, 32), slots[3],
                                                 _mm512_castsi512_si256(rk[2 * r + 1]), 0x96);
            slots[3] = p0;
        }
        for (int s = 0; s < sets; s++) {
            __m512i p0 = _mm512_mul_epu32(a[s][0], m0);
            __m512i p1 = _mm512_mul_epu32(a[s][2], m1);
            a[s][0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), a[s][1], rk[2 * r], 0x96);
            a[s][1] = p1;
            a[s][2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), a[s][3], rk[2 * r + 1], 0x96);
            a[s][3] = p0;
        }
    }
}

/* Counter words of blocks block0 .. block0+7 of `stream`: the low 32 bits
 * of 64-bit lane j of a[k] are word k of block block0+j. */
FD_AVX512_TARGET static inline void fd_avx512_counters(__m512i a[4], __m512i blocks, uint32_t stream)
{
    a[0] = blocks;                             /* low word; the high half is ignored */
    a[1] = _mm512_srli_epi64(blocks, 32);
    a[2] = _mm512_set1_epi64((long long)stream);
    a[3] = _mm512_setzero_si512();
}

/* The 16 output bytes of each of the 8 blocks in a[] (fd_avx512_rounds
 * layout), in element order: even = [block 0 | 2 | 4 | 6], odd = [1 | 3 | 5 | 7]. */
FD_AVX512_TARGET static inline void fd_avx512_bytes(const __m512i a[4], __m512i *even, __m512i *odd)
{
    __m512i w01 = _mm512_mask_blend_epi32(0xAAAA, a[0], _mm512_slli_epi64(a[1], 32));
    __m512i w23 = _mm512_mask_blend_epi32(0xAAAA, a[2], _mm512_slli_epi64(a[3], 32));
    *even = _mm512_unpacklo_epi64(w01, w23);
    *odd = _mm512_unpackhi_epi64(w01, w23);
}

/* 16-bit group of block b (0..7) in a pair of even/odd byte masks. */
static inline uint32_t fd_avx512_block_bits(const uint64_t m[2], int b)
{
    return (uint32_t)(m[b & 1] >> (16 * (b >> 1))) & 0xFFFFu;
}

/* A chunk's decisions: bit 16q + j of word h is element j of block 2q + h. */
typedef uint64_t fd_avx512_ring_row[2];

/*
 * Ties (fd_ties.h).  A group's decisions and tie bits, read as 32 words of
 * 16 bits, have word w for block (w & 7 < 4 ? 2 (w & 3) : 2 (w & 3) + 1) of
 * chunk w / 8: the order of fd_avx512_group's rows.
 */
typedef struct {
    fd_avx512_ring_row row[FD_GROUP];
    uint64_t spare[2];   /* the spare words' slots write here (no change) */
} __attribute__((aligned(64))) fd_avx512_group_rows;

/* Block (0..31 within the group) of word w; spare words map past it. */
static inline uint64_t fd_avx512_word_block(int w)
{
    return (uint64_t)((w & ~7) | ((w & 3) << 1) | ((w >> 2) & 1));
}

/* Four taken words and the stream-1 Philox state of their blocks, one
 * block per 64-bit lane of a 256-bit vector. */
typedef struct {
    int w[4];
    __m256i a[4];
} fd_avx512_tie_slots;

FD_AVX512_TARGET static inline uint64_t fd_avx512_tied_words(const fd_group_ties *ties)
{
    __m512i bits = _mm512_load_si512((const void *)ties);
    return _mm512_test_epi16_mask(bits, bits);
}

FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_take_ties(fd_avx512_tie_slots *s, uint64_t *left, uint64_t gblock0)
{
    fd_ties_take(left, s->w);
    __m256i blocks = _mm256_add_epi64(_mm256_set1_epi64x((long long)gblock0),
                                      _mm256_setr_epi64x((long long)fd_avx512_word_block(s->w[0]),
                                                         (long long)fd_avx512_word_block(s->w[1]),
                                                         (long long)fd_avx512_word_block(s->w[2]),
                                                         (long long)fd_avx512_word_block(s->w[3])));
    s->a[0] = blocks;
    s->a[1] = _mm256_srli_epi64(blocks, 32);
    s->a[2] = _mm256_set1_epi64x(1);   /* stream 1 */
    s->a[3] = _mm256_setzero_si256();
}

FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_slot_rounds(fd_avx512_tie_slots *s, const fd_mask_params *mp, const __m512i *rk)
{
    fd_avx512_rounds(NULL, 0, s->a, rk, mp->rounds);
}

/* Compare the slots' stream-1 bytes with t1 (byte 1 of the threshold in
 * every byte) and mark the kept elements in the group's decisions. */
FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_settle_slots(const fd_avx512_tie_slots *s, fd_avx512_group_rows *rows, const fd_group_ties *ties,
                       uint64_t gblock0, const fd_mask_params *mp, __m256i t1)
{
    fd_tie_word *kw = (fd_tie_word *)(void *)rows;
    const fd_tie_word *tw = (const fd_tie_word *)(const void *)ties;
    /* bytes of slots 0 and 2 in `even`, of 1 and 3 in `odd` */
    __m256i w01 = _mm256_mask_blend_epi32(0xAA, s->a[0], _mm256_slli_epi64(s->a[1], 32));
    __m256i w23 = _mm256_mask_blend_epi32(0xAA, s->a[2], _mm256_slli_epi64(s->a[3], 32));
    __m256i even = _mm256_unpacklo_epi64(w01, w23), odd = _mm256_unpackhi_epi64(w01, w23);
    uint32_t lt[2] = {_mm256_cmplt_epu8_mask(even, t1), _mm256_cmplt_epu8_mask(odd, t1)};
    uint32_t eq[2] = {_mm256_cmpeq_epu8_mask(even, t1), _mm256_cmpeq_epu8_mask(odd, t1)};
    uint32_t deeper = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t t = tw[s->w[i]];
        kw[s->w[i]] |= (uint16_t)(t & (lt[i & 1] >> (16 * (i >> 1))));
        deeper |= t & (eq[i & 1] >> (16 * (i >> 1)));
    }
    if (__builtin_expect(deeper != 0, 0)) {
        for (int i = 0; i < 4; i++) {
            uint32_t more = tw[s->w[i]] & (eq[i & 1] >> (16 * (i >> 1))) & 0xFFFFu;
            kw[s->w[i]] |= (uint16_t)fd_ties_keep(mp, gblock0 + fd_avx512_word_block(s->w[i]), more, 0, more);
        }
    }
}

/* The ties of a group left after its first four, four at a time. */
FD_AVX512_TARGET static void fd_avx512_settle_rest(uint64_t left, fd_avx512_group_rows *rows,
                                                   const fd_group_ties *ties, uint64_t gblock0,
                                                   const fd_mask_params *mp, const __m512i *rk, __m256i t1)
{
    while (left) {
        fd_avx512_tie_slots s;
        fd_avx512_take_ties(&s, &left, gblock0);
        fd_avx512_slot_rounds(&s, mp, rk);
        fd_avx512_settle_slots(&s, rows, ties, gblock0, mp, t1);
    }
}

/*
 * Level-0 decisions of `chunks` chunks (at most FD_GROUP) from block0 on:
 * for chunk k, keep[k][h] bit 16q+j is set when byte j of block 8k+2q+h is
 * below the threshold's top byte; with want_ties, ties[k][h] likewise for
 * bytes equal to it.  (h = 0: even blocks, h = 1: odd blocks.)  Unless
 * `slots` is NULL, the rounds of a tie group's slots run alongside.
 */
FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_group(fd_avx512_ring_row keep[], uint64_t ties[][2], int chunks, uint64_t block0,
                const fd_mask_params *mp, const __m512i *rk, __m512i top, int want_ties, __m256i *slots)
{
    __m512i a[FD_GROUP][4];
    const __m512i lanes = _mm512_add_epi64(_mm512_set1_epi64((long long)block0), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    for (int k = 0; k < chunks; k++)
        fd_avx512_counters(a[k], _mm512_add_epi64(lanes, _mm512_set1_epi64(8 * k)), 0);
    fd_avx512_rounds(a, chunks, slots, rk, mp->rounds);
    for (int k = 0; k < chunks; k++) {
        __m512i even, odd;
        fd_avx512_bytes(a[k], &even, &odd);
        keep[k][0] = _mm512_cmplt_epu8_mask(even, top);
        keep[k][1] = _mm512_cmplt_epu8_mask(odd, top);
        if (want_ties) {
            ties[k][0] = _mm512_cmpeq_epu8_mask(even, top);
            ties[k][1] = _mm512_cmpeq_epu8_mask(odd, top);
        }
    }
}

FD_AVX512_TARGET static void fd_avx512_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                                  const fd_mask_params *mp)
{
    __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];
    fd_avx512_round_keys(rk, mp);
    fd_avx512_ring_row k[1];
    uint64_t t[1][2] = {{0, 0}};
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    fd_avx512_group(k, t, 1, block0, mp, rk, _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)), want_ties,
                    NULL);
    for (int b = 0; b < 8; b++) {
        uint32_t kb = fd_avx512_block_bits(k[0], b);
        for (int j = 0; j < 16; j++)
            keep[16 * b + j] = (unsigned char)((kb >> j) & 1u);
        for (uint32_t tb = fd_avx512_block_bits(t[0], b); tb; tb &= tb - 1) {   /* none without want_ties */
            int j = __builtin_ctz(tb);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/*
 * The loop shared by the three dtypes: y = x * (kept ? scale : 0) over
 * nchunks whole chunks.  APPLY_BLOCK sees xb, yb and kb, the block's keep
 * bits.  Without ties (dyadic p) a group is applied as soon as it is
 * decided; with ties, see fd_ties.h (FD_TIES_APPLY_LOOP).
 */
#define FD_AVX512_APPLY_BLOCKS(T, c, keep, APPLY_BLOCK)                                             \
    for (int b = 0; b < 8; b++) {                                                                   \
        __mmask16 kb = (__mmask16)((keep)[b & 1] >> (16 * (b >> 1)));                               \
        const T *xb = x + (c) * FD_CHUNK_ELEMS + 16 * b;                                            \
        T *yb = y + (c) * FD_CHUNK_ELEMS + 16 * b;                                                  \
        FD_PREFETCH_BLOCK(T, xb);                                                                   \
        APPLY_BLOCK                                                                                 \
    }
#define FD_AVX512_DECIDE(rows, bits, c, slots) \
    fd_avx512_group(rows, bits, FD_GROUP, block0 + 8 * (uint64_t)(c), mp, rk, top, (slots) != NULL, \
                    (slots) != NULL ? (slots)->a : NULL)

#define FD_AVX512_APPLY_LOOP(T, APPLY_BLOCK)                                                        \
    {                                                                                               \
        __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                       \
        fd_avx512_round_keys(rk, mp);                                                               \
        const __m512i top = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));            \
        FD_TIES_APPLY_LOOP(T, fd_avx512, FD_AVX512_DECIDE, FD_AVX512_APPLY_BLOCKS, APPLY_BLOCK)     \
    }

FD_AVX512_TARGET static void fd_avx512_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    FD_AVX512_APPLY_LOOP(float, {
        _mm512_storeu_ps(yb, _mm512_mul_ps(_mm512_loadu_ps(xb), _mm512_maskz_mov_ps(kb, s)));
    })
}

FD_AVX512_TARGET static void fd_avx512_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, double scale)
{
    const __m512d s = _mm512_set1_pd(scale);
    FD_AVX512_APPLY_LOOP(double, {
        _mm512_storeu_pd(yb, _mm512_mul_pd(_mm512_loadu_pd(xb), _mm512_maskz_mov_pd((__mmask8)kb, s)));
        _mm512_storeu_pd(yb + 8, _mm512_mul_pd(_mm512_loadu_pd(xb + 8), _mm512_maskz_mov_pd((__mmask8)(kb >> 8), s)));
    })
}

FD_AVX512_TARGET static void fd_avx512_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    FD_AVX512_APPLY_LOOP(uint16_t, {
        __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)xb)), _mm512_maskz_mov_ps(kb, s));
        _mm256_storeu_si256((__m256i *)yb, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    })
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX512_H */
