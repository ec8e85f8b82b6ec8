/*
 * fd_avx512.h -- AVX-512 (F + BW) path.
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

#define FD_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx2,f16c,fma")))

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

/* R rounds on 8 blocks held one per 64-bit lane (word k in the low half of a[k]). */
FD_AVX512_TARGET static inline void fd_avx512_rounds(__m512i a[4], const __m512i *rk, int rounds)
{
    const __m512i m0 = _mm512_set1_epi64(FD_PHILOX_M4x32_0);
    const __m512i m1 = _mm512_set1_epi64(FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
        __m512i p0 = _mm512_mul_epu32(a[0], m0);
        __m512i p1 = _mm512_mul_epu32(a[2], m1);
        a[0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), a[1], rk[2 * r], 0x96);
        a[1] = p1;
        a[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), a[3], rk[2 * r + 1], 0x96);
        a[3] = p0;
    }
}

/* Blocks block0 .. block0+7 of stream 0: the low 32 bits of 64-bit lane j
 * of a[k] are word k of block block0+j. */
FD_AVX512_TARGET static inline void fd_avx512_philox8(__m512i a[4], uint64_t block0, const __m512i *rk, int rounds)
{
    __m512i counter = _mm512_add_epi64(_mm512_set1_epi64((long long)block0),
                                       _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    a[0] = counter;                            /* low word; the high half is ignored */
    a[1] = _mm512_srli_epi64(counter, 32);
    a[2] = _mm512_setzero_si512();
    a[3] = _mm512_setzero_si512();
    fd_avx512_rounds(a, rk, rounds);
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

/* Stream-1 bytes of 8 queued blocks against the threshold's byte 1 (see fd_ties.h). */
FD_AVX512_TARGET static inline void fd_avx512_level1(const uint64_t blocks[FD_TIE_BATCH], const fd_mask_params *mp,
                                                     const __m512i *rk, uint32_t below[FD_TIE_BATCH],
                                                     uint32_t equal[FD_TIE_BATCH])
{
    __m512i a[4], even, odd;
    a[0] = _mm512_loadu_si512((const void *)blocks);
    a[1] = _mm512_srli_epi64(a[0], 32);
    a[2] = _mm512_set1_epi64(1);
    a[3] = _mm512_setzero_si512();
    fd_avx512_rounds(a, rk, mp->rounds);
    fd_avx512_bytes(a, &even, &odd);
    const __m512i t1 = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));
    uint64_t lt[2] = {_mm512_cmplt_epu8_mask(even, t1), _mm512_cmplt_epu8_mask(odd, t1)};
    uint64_t eq[2] = {_mm512_cmpeq_epu8_mask(even, t1), _mm512_cmpeq_epu8_mask(odd, t1)};
    for (int b = 0; b < FD_TIE_BATCH; b++) {
        below[b] = fd_avx512_block_bits(lt, b);
        equal[b] = fd_avx512_block_bits(eq, b);
    }
}

/* Tied elements settled: masked stores of x * (keep ? scale : 0). */
FD_AVX512_TARGET static inline void fd_avx512_fix_f32(const float *xb, float *yb, uint32_t ties, uint32_t keep,
                                                      float scale)
{
    __m512 m = _mm512_maskz_mov_ps((__mmask16)keep, _mm512_set1_ps(scale));
    _mm512_mask_storeu_ps(yb, (__mmask16)ties, _mm512_mul_ps(_mm512_loadu_ps(xb), m));
}

FD_AVX512_TARGET static inline void fd_avx512_fix_f64(const double *xb, double *yb, uint32_t ties, uint32_t keep,
                                                      double scale)
{
    for (int h = 0; h < 2; h++) {
        __m512d m = _mm512_maskz_mov_pd((__mmask8)(keep >> 8 * h), _mm512_set1_pd(scale));
        _mm512_mask_storeu_pd(yb + 8 * h, (__mmask8)(ties >> 8 * h), _mm512_mul_pd(_mm512_loadu_pd(xb + 8 * h), m));
    }
}

FD_AVX512_TARGET static inline void fd_avx512_fix_f16(const uint16_t *xb, uint16_t *yb, uint32_t ties, uint32_t keep,
                                                      float scale)
{
    __m512 m = _mm512_maskz_mov_ps((__mmask16)keep, _mm512_set1_ps(scale));
    __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)xb)), m);
    _mm512_mask_storeu_epi16(yb, (__mmask32)ties,
                             _mm512_castsi256_si512(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)));
}

/* Block of the tie-bit group g: groups 0..3 are even blocks, 4..7 odd. */
#define FD_AVX512_BLOCK_OF_GROUP(g) (2 * ((g) & 3) + ((g) >> 2))

#define FD_AVX512_FLUSH(NAME, T, S, FIX) \
    FD_TIES_FLUSH(FD_AVX512_TARGET, NAME, FD_AVX512_BLOCK_OF_GROUP, fd_avx512_level1, __m512i, T, S, FIX)
FD_AVX512_FLUSH(fd_avx512_flush_f32, float, float, fd_avx512_fix_f32)
FD_AVX512_FLUSH(fd_avx512_flush_f64, double, double, fd_avx512_fix_f64)
FD_AVX512_FLUSH(fd_avx512_flush_f16, uint16_t, float, fd_avx512_fix_f16)

/*
 * Level-0 decisions of one chunk: keep[h] bit 16q+j is set when byte j of
 * block 2q+h is below the threshold's top byte; ties[h] likewise for bytes
 * equal to it.  (h = 0: even blocks, h = 1: odd blocks.)
 */
FD_AVX512_TARGET static inline void fd_avx512_chunk(uint64_t keep[2], uint64_t ties[2], uint64_t block0,
                                                    const fd_mask_params *mp, const __m512i *rk, __m512i top)
{
    __m512i a[4];
    __m512i even, odd;
    fd_avx512_philox8(a, block0, rk, mp->rounds);
    fd_avx512_bytes(a, &even, &odd);
    keep[0] = _mm512_cmplt_epu8_mask(even, top);
    keep[1] = _mm512_cmplt_epu8_mask(odd, top);
    ties[0] = _mm512_cmpeq_epu8_mask(even, top);
    ties[1] = _mm512_cmpeq_epu8_mask(odd, top);
}

FD_AVX512_TARGET static void fd_avx512_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                                  const fd_mask_params *mp)
{
    __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];
    fd_avx512_round_keys(rk, mp);
    uint64_t k[2], t[2];
    fd_avx512_chunk(k, t, block0, mp, rk, _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)));
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    for (int b = 0; b < 8; b++) {
        uint32_t kb = fd_avx512_block_bits(k, b);
        for (int j = 0; j < 16; j++)
            keep[16 * b + j] = (unsigned char)((kb >> j) & 1u);
        for (uint32_t tb = want_ties ? fd_avx512_block_bits(t, b) : 0; tb; tb &= tb - 1) {
            int j = __builtin_ctz(tb);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/*
 * The loop shared by the three dtypes: y = x * (kept ? scale : 0) over
 * nchunks whole chunks.  TIES (a constant) is whether p needs ties settled:
 * then a tied element is left out of the chunk's stores (so it still holds
 * its input when in place) and settled later (fd_ties.h).  APPLY_BLOCK sees
 * xb, yb, kb (keep bits) and sb (store bits: all but the tied elements).
 */
#define FD_AVX512_APPLY_LOOP(T, TIES, FLUSH, APPLY_BLOCK)                                         \
    {                                                                                             \
        __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                     \
        fd_avx512_round_keys(rk, mp);                                                             \
        const __m512i top = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));          \
        fd_tie_queue queue;                                                                       \
        fd_ties_init(&queue);                                                                     \
        for (int64_t c = 0; c < nchunks; c++) {                                                   \
            __m512i a[4], even, odd;                                                              \
            int64_t base = c * FD_CHUNK_ELEMS;                                                    \
            fd_avx512_philox8(a, block0 + 8 * (uint64_t)c, rk, mp->rounds);                       \
            fd_avx512_bytes(a, &even, &odd);                                                      \
            __mmask64 keep[2] = {_mm512_cmplt_epu8_mask(even, top), _mm512_cmplt_epu8_mask(odd, top)}; \
            __mmask64 store[2] = {~(__mmask64)0, ~(__mmask64)0};                                  \
            if (TIES) {                                                                           \
                store[0] = _mm512_cmpneq_epu8_mask(even, top);                                    \
                store[1] = _mm512_cmpneq_epu8_mask(odd, top);                                     \
                fd_ties_note(&queue, c, ~(uint64_t)store[0], ~(uint64_t)store[1]);                \
            }                                                                                     \
            for (int b = 0; b < 8; b++) {                                                         \
                __mmask16 kb = (__mmask16)(keep[b & 1] >> (16 * (b >> 1)));                       \
                __mmask16 sb = (__mmask16)(store[b & 1] >> (16 * (b >> 1)));                      \
                const T *xb = x + base + 16 * b;                                                  \
                T *yb = y + base + 16 * b;                                                        \
                (void)sb;                                                                         \
                APPLY_BLOCK                                                                       \
            }                                                                                     \
            if (TIES && queue.count == FD_TIE_CHUNKS)                                             \
                FLUSH(&queue, mp, rk, x, y, scale, block0, 0);                                    \
        }                                                                                         \
        if (TIES)                                                                                 \
            FLUSH(&queue, mp, rk, x, y, scale, block0, 1);                                        \
    }

/* One dtype's apply function: the loop without ties (dyadic p) and with. */
#define FD_AVX512_APPLY(T, FLUSH, STORE_ALL, STORE_MASKED)                                        \
    if (fd_threshold_last_level(mp->threshold) > 0)                                               \
        FD_AVX512_APPLY_LOOP(T, 1, FLUSH, STORE_MASKED)                                           \
    else                                                                                          \
        FD_AVX512_APPLY_LOOP(T, 0, FLUSH, STORE_ALL)

FD_AVX512_TARGET static void fd_avx512_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
#define FD_V_F32 _mm512_mul_ps(_mm512_loadu_ps(xb), _mm512_maskz_mov_ps(kb, s))
    FD_AVX512_APPLY(float, fd_avx512_flush_f32,
                    { _mm512_storeu_ps(yb, FD_V_F32); },
                    { _mm512_mask_storeu_ps(yb, sb, FD_V_F32); })
#undef FD_V_F32
}

FD_AVX512_TARGET static void fd_avx512_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, double scale)
{
    const __m512d s = _mm512_set1_pd(scale);
#define FD_V_F64(h) _mm512_mul_pd(_mm512_loadu_pd(xb + 8 * (h)), _mm512_maskz_mov_pd((__mmask8)(kb >> 8 * (h)), s))
    FD_AVX512_APPLY(double, fd_avx512_flush_f64,
                    {
                        _mm512_storeu_pd(yb, FD_V_F64(0));
                        _mm512_storeu_pd(yb + 8, FD_V_F64(1));
                    },
                    {
                        _mm512_mask_storeu_pd(yb, (__mmask8)sb, FD_V_F64(0));
                        _mm512_mask_storeu_pd(yb + 8, (__mmask8)(sb >> 8), FD_V_F64(1));
                    })
#undef FD_V_F64
}

FD_AVX512_TARGET static void fd_avx512_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
#define FD_V_F16 _mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)xb)), \
                                               _mm512_maskz_mov_ps(kb, s)), _MM_FROUND_TO_NEAREST_INT)
    FD_AVX512_APPLY(uint16_t, fd_avx512_flush_f16,
                    { _mm256_storeu_si256((__m256i *)yb, FD_V_F16); },
                    { _mm512_mask_storeu_epi16(yb, (__mmask32)sb, _mm512_castsi256_si512(FD_V_F16)); })
#undef FD_V_F16
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX512_H */
