/*
 * fd_avx2.h -- AVX2 path: 8 Philox blocks per iteration in the lanes of
 * 256-bit registers, the level-0 bytes compared 32 at a time, the keep mask
 * widened to float lanes and applied in the same pass (one read and one
 * write of the buffer).  Bit-identical with the portable path by
 * construction: the same blocks, the same bytes, the same tie rule.
 *
 * Compiled with a target attribute, never with -mavx2: the caller checks
 * __builtin_cpu_supports("avx2") and "f16c" before calling anything here.
 */
#ifndef FD_AVX2_H
#define FD_AVX2_H

#include "fd_mask.h"
#include "fd_half.h"
#include "fd_ties.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define FD_HAVE_AVX2 1
#include <immintrin.h>

#define FD_AVX2_TARGET __attribute__((target("avx2,f16c,fma")))

/* hi and lo halves of a*m for the 8 lanes of a. */
FD_AVX2_TARGET static inline __m256i fd_avx2_mulhilo(__m256i a, __m256i m, __m256i *hi)
{
    __m256i even = _mm256_mul_epu32(a, m);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* Round keys, broadcast once per call: rk[2r], rk[2r+1] for round r. */
FD_AVX2_TARGET static inline void fd_avx2_round_keys(__m256i rk[2 * FD_PHILOX_MAX_ROUNDS], const fd_mask_params *mp)
{
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        rk[2 * r] = _mm256_set1_epi32((int)key.v[0]);
        rk[2 * r + 1] = _mm256_set1_epi32((int)key.v[1]);
    }
}

/* R rounds on 8 blocks, x[k] = word k of each (one block per 32-bit lane). */
FD_AVX2_TARGET static inline void fd_avx2_rounds(__m256i x[4], const __m256i *rk, int rounds)
{
    const __m256i m0 = _mm256_set1_epi32((int)FD_PHILOX_M4x32_0);
    const __m256i m1 = _mm256_set1_epi32((int)FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
        __m256i hi0, hi1;
        __m256i lo0 = fd_avx2_mulhilo(x[0], m0, &hi0);
        __m256i lo1 = fd_avx2_mulhilo(x[2], m1, &hi1);
        x[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, x[1]), rk[2 * r]);
        x[1] = lo1;
        x[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, x[3]), rk[2 * r + 1]);
        x[3] = lo0;
    }
}

/* Lane-parallel Philox for the tie queue: counters from w, results to w. */
FD_AVX2_TARGET static void fd_avx2_lanes(uint32_t w[4][FD_LANES], const fd_mask_params *mp,
                                              const void *round_keys)
{
    const __m256i *rk = (__m256i const *)round_keys;
    __m256i x[4];
    for (int k = 0; k < 4; k++)
        x[k] = _mm256_loadu_si256((const __m256i *)w[k]);
    fd_avx2_rounds(x, rk, mp->rounds);
    for (int k = 0; k < 4; k++)
        _mm256_storeu_si256((__m256i *)w[k], x[k]);
}

/* Philox4x32-R on blocks block0 .. block0+7 of stream 0; x[k] = word k of each. */
FD_AVX2_TARGET static inline void fd_avx2_philox8(__m256i x[4], uint64_t block0, const __m256i *rk, int rounds)
{
    if ((uint32_t)block0 <= UINT32_MAX - 7u) {
        x[0] = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)block0),
                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x[1] = _mm256_set1_epi32((int)(uint32_t)(block0 >> 32));
    } else {                                /* the low word wraps inside this chunk */
        uint32_t lo[8], hi[8];
        for (int j = 0; j < 8; j++) {
            lo[j] = (uint32_t)(block0 + (uint64_t)j);
            hi[j] = (uint32_t)((block0 + (uint64_t)j) >> 32);
        }
        x[0] = _mm256_loadu_si256((const __m256i *)lo);
        x[1] = _mm256_loadu_si256((const __m256i *)hi);
    }
    x[2] = _mm256_setzero_si256();
    x[3] = _mm256_setzero_si256();
    fd_avx2_rounds(x, rk, rounds);
}

/*
 * Level-0 decisions of one chunk (8 blocks, 128 elements): drop[b] holds
 * 0xFF for each element of block b whose byte is >= the threshold's top
 * byte, 0 otherwise, in element order; ties[b] has bit j set when byte j of
 * block b equals that top byte (filled only when want_ties).
 */
FD_AVX2_TARGET static inline void fd_avx2_chunk_drop(__m128i drop[8], uint32_t ties[8], uint64_t block0,
                                                      const fd_mask_params *mp, const __m256i *rk, int want_ties)
{
    __m256i x[4];
    fd_avx2_philox8(x, block0, rk, mp->rounds);
    /* 4x4 transpose of 32-bit words inside each 128-bit half:
     * u[k] = [block k | block k+4], each block's 16 bytes in element order. */
    __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
    __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
    __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                    _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
    const __m256i top = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));
    for (int k = 0; k < 4; k++) {
        __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(u[k], top), u[k]);   /* byte >= top */
        drop[k] = _mm256_castsi256_si128(ge);
        drop[k + 4] = _mm256_extracti128_si256(ge, 1);
        if (want_ties) {
            uint32_t bits = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[k], top));
            ties[k] = bits & 0xFFFFu;
            ties[k + 4] = bits >> 16;
        }
    }
}

FD_AVX2_TARGET static void fd_avx2_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                              const fd_mask_params *mp)
{
    __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];
    fd_avx2_round_keys(rk, mp);
    __m128i drop[8];
    uint32_t ties[8];
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    fd_avx2_chunk_drop(drop, ties, block0, mp, rk, want_ties);
    const __m128i one = _mm_set1_epi8(1);
    for (int b = 0; b < 8; b++) {
        _mm_storeu_si128((__m128i *)(keep + 16 * b), _mm_andnot_si128(drop[b], one));
        for (uint32_t bits = want_ties ? ties[b] : 0; bits; bits &= bits - 1) {
            int j = __builtin_ctz(bits);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/*
 * The loop shared by the three dtypes: y[e] = x[e] * (kept ? scale : 0) over
 * nchunks whole chunks.  Ties are written provisionally, queued with their
 * input value (read before the chunk's stores, so in place works) and
 * settled after the stores.
 */
#define FD_AVX2_APPLY_LOOP(T, SIZE, FLUSH, APPLY_BLOCK)                                          \
    __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                        \
    fd_avx2_round_keys(rk, mp);                                                                  \
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;                                  \
    fd_tie_queue queue;                                                                          \
    queue.count = 0;                                                                             \
    for (int64_t c = 0; c < nchunks; c++) {                                                      \
        __m128i drop[8];                                                                         \
        uint32_t ties[8];                                                                        \
        uint64_t blk = block0 + 8 * (uint64_t)c;                                                 \
        int64_t base = c * FD_CHUNK_ELEMS;                                                       \
        fd_avx2_chunk_drop(drop, ties, blk, mp, rk, want_ties);                                  \
        if (want_ties)                                                                           \
            for (int b = 0; b < 8; b++)                                                          \
                if (ties[b])                                                                     \
                    fd_ties_push(&queue, ties[b], blk + (uint64_t)b, base + 16 * b, x, SIZE);    \
        for (int b = 0; b < 8; b++) {                                                            \
            const T *xb = x + base + 16 * b;                                                     \
            T *yb = y + base + 16 * b;                                                           \
            APPLY_BLOCK                                                                          \
        }                                                                                        \
        if (queue.count >= FD_LANES)                                                             \
            FLUSH(&queue, mp, y, scale, fd_avx2_lanes, rk);                                                         \
    }                                                                                            \
    if (queue.count)                                                                             \
        FLUSH(&queue, mp, y, scale, fd_avx2_lanes, rk);

FD_AVX2_TARGET static void fd_avx2_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    FD_AVX2_APPLY_LOOP(float, 4, fd_ties_flush_f32, {
        __m256 m0 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(drop[b]));
        __m256 m1 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(drop[b], 8)));
        __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(xb), _mm256_andnot_ps(m0, s));
        __m256 v1 = _mm256_mul_ps(_mm256_loadu_ps(xb + 8), _mm256_andnot_ps(m1, s));
        _mm256_storeu_ps(yb, v0);
        _mm256_storeu_ps(yb + 8, v1);
    })
}

FD_AVX2_TARGET static void fd_avx2_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, double scale)
{
    const __m256d s = _mm256_set1_pd(scale);
    FD_AVX2_APPLY_LOOP(double, 8, fd_ties_flush_f64, {
        __m128i d = drop[b];
        for (int q = 0; q < 4; q++) {
            __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(d));
            _mm256_storeu_pd(yb + 4 * q, _mm256_mul_pd(_mm256_loadu_pd(xb + 4 * q), _mm256_andnot_pd(m, s)));
            d = _mm_srli_si128(d, 4);
        }
    })
}

FD_AVX2_TARGET static void fd_avx2_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    FD_AVX2_APPLY_LOOP(uint16_t, 2, fd_ties_flush_f16, {
        __m256 m0 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(drop[b]));
        __m256 m1 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(drop[b], 8)));
        __m256 v0 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xb)), _mm256_andnot_ps(m0, s));
        __m256 v1 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(xb + 8))), _mm256_andnot_ps(m1, s));
        _mm_storeu_si128((__m128i *)yb, _mm256_cvtps_ph(v0, _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(yb + 8), _mm256_cvtps_ph(v1, _MM_FROUND_TO_NEAREST_INT));
    })
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX2_H */
