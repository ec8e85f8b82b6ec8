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

/* Lane-parallel Philox for the tie queue: counters from w, results to w. */
FD_AVX512_TARGET static void fd_avx512_lanes(uint32_t w[4][FD_LANES], const fd_mask_params *mp,
                                              const void *round_keys)
{
    const __m512i *rk = (__m512i const *)round_keys;
    __m512i a[4];
    for (int k = 0; k < 4; k++)
        a[k] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)w[k]));
    fd_avx512_rounds(a, rk, mp->rounds);
    for (int k = 0; k < 4; k++)
        _mm256_storeu_si256((__m256i *)w[k], _mm512_cvtepi64_epi32(a[k]));
}

/*
 * Level-0 decisions of one chunk: keep[h] bit 16q+j is set when byte j of
 * block 2q+h is below the threshold's top byte; ties[h] likewise for bytes
 * equal to it.  (h = 0: even blocks, h = 1: odd blocks.)
 */
FD_AVX512_TARGET static inline void fd_avx512_chunk(__mmask64 keep[2], __mmask64 ties[2], uint64_t block0,
                                                    const fd_mask_params *mp, const __m512i *rk, __m512i top)
{
    __m512i a[4];
    fd_avx512_philox8(a, block0, rk, mp->rounds);
    __m512i w01 = _mm512_mask_blend_epi32(0xAAAA, a[0], _mm512_slli_epi64(a[1], 32));
    __m512i w23 = _mm512_mask_blend_epi32(0xAAAA, a[2], _mm512_slli_epi64(a[3], 32));
    __m512i even = _mm512_unpacklo_epi64(w01, w23);   /* [block 0 | 2 | 4 | 6] */
    __m512i odd = _mm512_unpackhi_epi64(w01, w23);    /* [block 1 | 3 | 5 | 7] */
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
    __mmask64 k[2], t[2];
    fd_avx512_chunk(k, t, block0, mp, rk, _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)));
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    for (int b = 0; b < 8; b++) {
        int h = b & 1, q = b >> 1;
        uint32_t kb = (uint32_t)(k[h] >> (16 * q)) & 0xFFFFu;
        uint32_t tb = want_ties ? (uint32_t)(t[h] >> (16 * q)) & 0xFFFFu : 0;
        for (int j = 0; j < 16; j++)
            keep[16 * b + j] = (unsigned char)((kb >> j) & 1u);
        for (; tb; tb &= tb - 1) {
            int j = __builtin_ctz(tb);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/* The loop shared by the three dtypes (see FD_AVX2_APPLY_LOOP). */
#define FD_AVX512_APPLY_LOOP(T, SIZE, FLUSH, APPLY_BLOCK)                                         \
    __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                         \
    fd_avx512_round_keys(rk, mp);                                                                 \
    const __m512i top = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));              \
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;                                   \
    fd_tie_queue queue;                                                                           \
    queue.count = 0;                                                                              \
    for (int64_t c = 0; c < nchunks; c++) {                                                       \
        __mmask64 keep[2], ties[2];                                                               \
        uint64_t blk = block0 + 8 * (uint64_t)c;                                                  \
        int64_t base = c * FD_CHUNK_ELEMS;                                                        \
        fd_avx512_chunk(keep, ties, blk, mp, rk, top);                                            \
        if (want_ties && (ties[0] | ties[1]))                                                     \
            for (int b = 0; b < 8; b++) {                                                         \
                uint32_t tb = (uint32_t)(ties[b & 1] >> (16 * (b >> 1))) & 0xFFFFu;               \
                if (tb)                                                                           \
                    fd_ties_push(&queue, tb, blk + (uint64_t)b, base + 16 * b, x, SIZE);          \
            }                                                                                     \
        for (int b = 0; b < 8; b++) {                                                             \
            __mmask16 kb = (__mmask16)(keep[b & 1] >> (16 * (b >> 1)));                           \
            const T *xb = x + base + 16 * b;                                                      \
            T *yb = y + base + 16 * b;                                                            \
            APPLY_BLOCK                                                                           \
        }                                                                                         \
        if (queue.count >= FD_LANES)                                                              \
            FLUSH(&queue, mp, y, scale, fd_avx512_lanes, rk);                                                          \
    }                                                                                             \
    if (queue.count)                                                                              \
        FLUSH(&queue, mp, y, scale, fd_avx512_lanes, rk);

FD_AVX512_TARGET static void fd_avx512_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    FD_AVX512_APPLY_LOOP(float, 4, fd_ties_flush_f32, {
        _mm512_storeu_ps(yb, _mm512_mul_ps(_mm512_loadu_ps(xb), _mm512_maskz_mov_ps(kb, s)));
    })
}

FD_AVX512_TARGET static void fd_avx512_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, double scale)
{
    const __m512d s = _mm512_set1_pd(scale);
    FD_AVX512_APPLY_LOOP(double, 8, fd_ties_flush_f64, {
        _mm512_storeu_pd(yb, _mm512_mul_pd(_mm512_loadu_pd(xb), _mm512_maskz_mov_pd((__mmask8)kb, s)));
        _mm512_storeu_pd(yb + 8, _mm512_mul_pd(_mm512_loadu_pd(xb + 8), _mm512_maskz_mov_pd((__mmask8)(kb >> 8), s)));
    })
}

FD_AVX512_TARGET static void fd_avx512_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                                 const fd_mask_params *mp, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    FD_AVX512_APPLY_LOOP(uint16_t, 2, fd_ties_flush_f16, {
        __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)xb)), _mm512_maskz_mov_ps(kb, s));
        _mm256_storeu_si256((__m256i *)yb, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    })
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX512_H */
