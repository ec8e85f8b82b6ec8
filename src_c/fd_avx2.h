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

/* Philox4x32-R on blocks block0 .. block0+7 of stream 0; x[k] = word k of each. */
FD_AVX2_TARGET static inline void fd_avx2_philox8(__m256i x[4], uint64_t block0, const fd_mask_params *mp)
{
    const __m256i m0 = _mm256_set1_epi32((int)FD_PHILOX_M4x32_0);
    const __m256i m1 = _mm256_set1_epi32((int)FD_PHILOX_M4x32_1);
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
    fd_key2 key = mp->key;
    for (int r = 0; r < mp->rounds; r++) {
        if (r > 0)
            key = fd_philox4x32_bumpkey(key);
        __m256i hi0, hi1;
        __m256i lo0 = fd_avx2_mulhilo(x[0], m0, &hi0);
        __m256i lo1 = fd_avx2_mulhilo(x[2], m1, &hi1);
        x[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, x[1]), _mm256_set1_epi32((int)key.v[0]));
        x[1] = lo1;
        x[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, x[3]), _mm256_set1_epi32((int)key.v[1]));
        x[3] = lo0;
    }
}

/*
 * Drop flags of one chunk (8 blocks, 128 elements): drop[b] holds 0xFF for
 * each dropped element of block b, 0 for each kept one, in element order.
 */
FD_AVX2_TARGET static inline void fd_avx2_chunk_drop(__m128i drop[8], uint64_t block0,
                                                      const fd_mask_params *mp, int last_level)
{
    __m256i x[4];
    fd_avx2_philox8(x, block0, mp);
    /* 4x4 transpose of 32-bit words inside each 128-bit half:
     * u[k] = [block k | block k+4], each block's 16 bytes in element order. */
    __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
    __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
    __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                    _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
    uint32_t t0byte = fd_threshold_byte(mp->threshold, 0);
    const __m256i top = _mm256_set1_epi8((char)t0byte);
    __m256i ge[4], ties = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        ge[k] = _mm256_cmpeq_epi8(_mm256_max_epu8(u[k], top), u[k]);   /* byte >= top */
        ties = _mm256_or_si256(ties, _mm256_cmpeq_epi8(u[k], top));
    }
    for (int k = 0; k < 4; k++) {
        drop[k] = _mm256_castsi256_si128(ge[k]);
        drop[k + 4] = _mm256_extracti128_si256(ge[k], 1);
    }
    if (last_level > 0 && !_mm256_testz_si256(ties, ties)) {
        unsigned char level0[FD_CHUNK_ELEMS], flags[FD_CHUNK_ELEMS];
        for (int k = 0; k < 4; k++) {
            _mm_storeu_si128((__m128i *)(level0 + 16 * k), _mm256_castsi256_si128(u[k]));
            _mm_storeu_si128((__m128i *)(level0 + 16 * (k + 4)), _mm256_extracti128_si256(u[k], 1));
        }
        for (int b = 0; b < 8; b++)
            _mm_storeu_si128((__m128i *)(flags + 16 * b), drop[b]);
        fd_fix_ties(flags, level0, block0, mp, 0x00, 0xFF);
        for (int b = 0; b < 8; b++)
            drop[b] = _mm_loadu_si128((const __m128i *)(flags + 16 * b));
    }
}

FD_AVX2_TARGET static void fd_avx2_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                              const fd_mask_params *mp)
{
    __m128i drop[8];
    fd_avx2_chunk_drop(drop, block0, mp, fd_threshold_last_level(mp->threshold));
    const __m128i one = _mm_set1_epi8(1);
    for (int b = 0; b < 8; b++)
        _mm_storeu_si128((__m128i *)(keep + 16 * b), _mm_andnot_si128(drop[b], one));
}

/* y[e] = x[e] * (kept ? scale : 0) over nchunks whole chunks. */
FD_AVX2_TARGET static void fd_avx2_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    int last_level = fd_threshold_last_level(mp->threshold);
    for (int64_t c = 0; c < nchunks; c++, x += FD_CHUNK_ELEMS, y += FD_CHUNK_ELEMS) {
        __m128i drop[8];
        fd_avx2_chunk_drop(drop, block0 + 8 * (uint64_t)c, mp, last_level);
        for (int b = 0; b < 8; b++) {
            __m256 m0 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(drop[b]));
            __m256 m1 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(drop[b], 8)));
            const float *xb = x + 16 * b;
            float *yb = y + 16 * b;
            __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(xb), _mm256_andnot_ps(m0, s));
            __m256 v1 = _mm256_mul_ps(_mm256_loadu_ps(xb + 8), _mm256_andnot_ps(m1, s));
            _mm256_storeu_ps(yb, v0);
            _mm256_storeu_ps(yb + 8, v1);
        }
    }
}

FD_AVX2_TARGET static void fd_avx2_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, double scale)
{
    const __m256d s = _mm256_set1_pd(scale);
    int last_level = fd_threshold_last_level(mp->threshold);
    for (int64_t c = 0; c < nchunks; c++, x += FD_CHUNK_ELEMS, y += FD_CHUNK_ELEMS) {
        __m128i drop[8];
        fd_avx2_chunk_drop(drop, block0 + 8 * (uint64_t)c, mp, last_level);
        for (int b = 0; b < 8; b++) {
            __m128i d = drop[b];
            for (int q = 0; q < 4; q++) {
                __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(d));
                __m256d v = _mm256_mul_pd(_mm256_loadu_pd(x + 16 * b + 4 * q), _mm256_andnot_pd(m, s));
                _mm256_storeu_pd(y + 16 * b + 4 * q, v);
                d = _mm_srli_si128(d, 4);
            }
        }
    }
}

FD_AVX2_TARGET static void fd_avx2_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    int last_level = fd_threshold_last_level(mp->threshold);
    for (int64_t c = 0; c < nchunks; c++, x += FD_CHUNK_ELEMS, y += FD_CHUNK_ELEMS) {
        __m128i drop[8];
        fd_avx2_chunk_drop(drop, block0 + 8 * (uint64_t)c, mp, last_level);
        for (int b = 0; b < 8; b++) {
            __m256 m0 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(drop[b]));
            __m256 m1 = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(drop[b], 8)));
            const uint16_t *xb = x + 16 * b;
            uint16_t *yb = y + 16 * b;
            __m256 v0 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xb)), _mm256_andnot_ps(m0, s));
            __m256 v1 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(xb + 8))), _mm256_andnot_ps(m1, s));
            _mm_storeu_si128((__m128i *)yb, _mm256_cvtps_ph(v0, _MM_FROUND_TO_NEAREST_INT));
            _mm_storeu_si128((__m128i *)(yb + 8), _mm256_cvtps_ph(v1, _MM_FROUND_TO_NEAREST_INT));
        }
    }
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX2_H */
