/*
 * fd_avx2.h -- AVX2 path.
 *
 * Philox runs on 8 blocks at once, one block per 64-bit lane of two sets of
 * four registers: _mm256_mul_epu32 reads the low 32 bits of each lane and
 * returns the whole 64-bit product, so the hi word is one shift away and
 * the lo word needs no work (the upper halves carry garbage that no
 * multiply reads and no output uses).  The level-0 bytes are compared 32 at
 * a time, the drop bytes widened to float lanes and applied in the same
 * pass (one read and one write of the buffer).  Same blocks, same bytes,
 * same tie rule as every other path: bit-identical output.
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

/* R rounds on 8 blocks: a[0..3] hold blocks 0..3 and a[4..7] blocks 4..7,
 * word k of block j in the low half of 64-bit lane j%4 of a[4*(j/4) + k]. */
FD_AVX2_TARGET static inline void fd_avx2_rounds(__m256i a[8], const __m256i *rk, int rounds)
{
    const __m256i m0 = _mm256_set1_epi64x(FD_PHILOX_M4x32_0);
    const __m256i m1 = _mm256_set1_epi64x(FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < 8; s += 4) {
            __m256i p0 = _mm256_mul_epu32(a[s], m0);
            __m256i p1 = _mm256_mul_epu32(a[s + 2], m1);
            a[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), a[s + 1]), rk[2 * r]);
            a[s + 1] = p1;
            a[s + 2] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), a[s + 3]), rk[2 * r + 1]);
            a[s + 3] = p0;
        }
    }
}

/* Counter words of 8 blocks of one stream, the 64-bit block numbers given
 * as two vectors of four (lanes of `lo4` blocks 0..3, of `hi4` 4..7). */
FD_AVX2_TARGET static inline void fd_avx2_counters(__m256i a[8], __m256i lo4, __m256i hi4, uint32_t stream)
{
    a[0] = lo4;
    a[1] = _mm256_srli_epi64(lo4, 32);
    a[4] = hi4;
    a[5] = _mm256_srli_epi64(hi4, 32);
    a[2] = a[6] = _mm256_set1_epi64x(stream);
    a[3] = a[7] = _mm256_setzero_si256();
}

/* The 16 output bytes of each block, in element order:
 * u[0] = [block 0 | 2], u[1] = [1 | 3], u[2] = [4 | 6], u[3] = [5 | 7]. */
FD_AVX2_TARGET static inline void fd_avx2_bytes(const __m256i a[8], __m256i u[4])
{
    for (int s = 0; s < 2; s++) {
        const __m256i *w = a + 4 * s;
        __m256i w01 = _mm256_blend_epi32(w[0], _mm256_slli_epi64(w[1], 32), 0xAA);
        __m256i w23 = _mm256_blend_epi32(w[2], _mm256_slli_epi64(w[3], 32), 0xAA);
        u[2 * s] = _mm256_unpacklo_epi64(w01, w23);
        u[2 * s + 1] = _mm256_unpackhi_epi64(w01, w23);
    }
}

/* Where block b's 16 bytes sit in the u[] of fd_avx2_bytes, in units of 16 bytes. */
#define FD_AVX2_SLOT(b) (((b) & 4) | (((b) & 1) << 1) | (((b) >> 1) & 1))

/* Stream-1 bytes of 8 queued blocks against the threshold's byte 1 (see fd_ties.h). */
FD_AVX2_TARGET static inline void fd_avx2_level1(const uint64_t blocks[FD_TIE_BATCH], const fd_mask_params *mp,
                                                 const __m256i *rk, uint32_t below[FD_TIE_BATCH],
                                                 uint32_t equal[FD_TIE_BATCH])
{
    __m256i a[8], u[4];
    fd_avx2_counters(a, _mm256_loadu_si256((const __m256i *)blocks),
                     _mm256_loadu_si256((const __m256i *)(blocks + 4)), 1);
    fd_avx2_rounds(a, rk, mp->rounds);
    fd_avx2_bytes(a, u);
    const __m256i t1 = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));
    uint32_t lt[4], eq[4];
    for (int k = 0; k < 4; k++) {
        __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(u[k], t1), u[k]);
        lt[k] = ~(uint32_t)_mm256_movemask_epi8(ge);
        eq[k] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[k], t1));
    }
    for (int b = 0; b < FD_TIE_BATCH; b++) {
        int slot = FD_AVX2_SLOT(b);
        below[b] = (lt[slot >> 1] >> (16 * (slot & 1))) & 0xFFFFu;
        equal[b] = (eq[slot >> 1] >> (16 * (slot & 1))) & 0xFFFFu;
    }
}


/* Tie bits of block b (0..7) from the two words fd_avx2_chunk_code returns
 * (bit 16 * slot + j for byte j of the block in FD_AVX2_SLOT(b)). */
static inline uint32_t fd_avx2_block_bits(const uint64_t ties[2], int b)
{
    int slot = FD_AVX2_SLOT(b);
    return (uint32_t)(ties[slot >> 2] >> (16 * (slot & 3))) & 0xFFFFu;
}

/* Lanes of 8 elements from 8 bits: all ones where the bit is set. */
FD_AVX2_TARGET static inline __m256i fd_avx2_lanes8(uint32_t bits)
{
    const __m256i select = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i b = _mm256_and_si256(_mm256_set1_epi32((int)bits), select);
    return _mm256_cmpeq_epi32(b, select);
}

/* Tied elements settled: y = blend(y, x * (keep ? scale : 0), ties). */
FD_AVX2_TARGET static inline void fd_avx2_fix_f32(const float *xb, float *yb, uint32_t ties, uint32_t keep,
                                                  float scale)
{
    for (int h = 0; h < 2; h++) {
        __m256 m = _mm256_and_ps(_mm256_castsi256_ps(fd_avx2_lanes8(keep >> 8 * h)), _mm256_set1_ps(scale));
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + 8 * h), m);
        __m256 t = _mm256_castsi256_ps(fd_avx2_lanes8(ties >> 8 * h));
        _mm256_storeu_ps(yb + 8 * h, _mm256_blendv_ps(_mm256_loadu_ps(yb + 8 * h), v, t));
    }
}

FD_AVX2_TARGET static inline void fd_avx2_fix_f64(const double *xb, double *yb, uint32_t ties, uint32_t keep,
                                                  double scale)
{
    for (; ties; ties &= ties - 1) {
        int j = __builtin_ctz(ties);
        yb[j] = xb[j] * ((keep >> j) & 1u ? scale : 0.0);
    }
}

FD_AVX2_TARGET static inline void fd_avx2_fix_f16(const uint16_t *xb, uint16_t *yb, uint32_t ties, uint32_t keep,
                                                  float scale)
{
    for (; ties; ties &= ties - 1) {
        int j = __builtin_ctz(ties);
        yb[j] = fd_float_to_half(fd_half_to_float(xb[j]) * ((keep >> j) & 1u ? scale : 0.0f));
    }
}

#define FD_AVX2_FLUSH(NAME, T, S, FIX) \
    FD_TIES_FLUSH(FD_AVX2_TARGET, NAME, FD_AVX2_SLOT, fd_avx2_level1, __m256i, T, S, FIX)
FD_AVX2_FLUSH(fd_avx2_flush_f32, float, float, fd_avx2_fix_f32)
FD_AVX2_FLUSH(fd_avx2_flush_f64, double, double, fd_avx2_fix_f64)
FD_AVX2_FLUSH(fd_avx2_flush_f16, uint16_t, float, fd_avx2_fix_f16)

/* Element codes: what the apply loop multiplies an element by. */
#define FD_AVX2_KEEP 0x00   /* byte below the threshold's top byte: scale */
#define FD_AVX2_TIE 0xFE    /* equal, and p needs further bytes: 1 for now (fd_ties.h) */
#define FD_AVX2_DROP 0xFF   /* above it, or equal with nothing below: 0 */

/*
 * Level-0 decisions of one chunk (8 blocks, 128 elements): code[16 * slot +
 * j] is the code of byte j of the block in `slot` (FD_AVX2_SLOT); the tie
 * bits go to ties[2] in the same slot order (see fd_avx2_block_bits).
 * tie_bytes is all 0x01 when p needs ties, else 0.
 */
FD_AVX2_TARGET static inline void fd_avx2_chunk_code(unsigned char code[FD_CHUNK_ELEMS], uint64_t ties[2],
                                                     uint64_t block0, const fd_mask_params *mp,
                                                     const __m256i *rk, __m256i top, __m256i tie_bytes)
{
    __m256i a[8], u[4];
    __m256i lo4 = _mm256_add_epi64(_mm256_set1_epi64x((long long)block0), _mm256_setr_epi64x(0, 1, 2, 3));
    fd_avx2_counters(a, lo4, _mm256_add_epi64(lo4, _mm256_set1_epi64x(4)), 0);
    fd_avx2_rounds(a, rk, mp->rounds);
    fd_avx2_bytes(a, u);
    uint32_t bits[4];
    for (int k = 0; k < 4; k++) {
        __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(u[k], top), u[k]);   /* byte >= top: 0xFF */
        __m256i tie = _mm256_and_si256(_mm256_cmpeq_epi8(u[k], top), tie_bytes);   /* 0x01 */
        _mm256_store_si256((__m256i *)(code + 32 * k), _mm256_xor_si256(ge, tie));
        bits[k] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(tie, 7));
    }
    ties[0] = bits[0] | (uint64_t)bits[1] << 32;
    ties[1] = bits[2] | (uint64_t)bits[3] << 32;
}

FD_AVX2_TARGET static void fd_avx2_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                              const fd_mask_params *mp)
{
    __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];
    fd_avx2_round_keys(rk, mp);
    unsigned char code[FD_CHUNK_ELEMS] __attribute__((aligned(32)));
    uint64_t ties[2];
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    fd_avx2_chunk_code(code, ties, block0, mp, rk, _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)),
                       _mm256_set1_epi8(want_ties ? 1 : 0));
    for (int b = 0; b < 8; b++) {
        const unsigned char *d = code + 16 * FD_AVX2_SLOT(b);
        for (int j = 0; j < 16; j++)
            keep[16 * b + j] = (unsigned char)(d[j] == FD_AVX2_KEEP);
        for (uint32_t tb = fd_avx2_block_bits(ties, b); tb; tb &= tb - 1) {
            int j = __builtin_ctz(tb);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/*
 * The loop shared by the three dtypes: y = x * (kept ? scale : 0) over
 * nchunks whole chunks.  TIES (a constant) is whether p needs ties settled:
 * then a tied element is stored as x * 1 and settled later (fd_ties.h).
 * APPLY_BLOCK sees xb, yb and d, the block's 16 codes.
 */
#define FD_AVX2_APPLY_LOOP(T, TIES, FLUSH, APPLY_BLOCK)                                          \
    {                                                                                            \
        __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                    \
        fd_avx2_round_keys(rk, mp);                                                              \
        const __m256i top = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));         \
        fd_tie_queue queue;                                                                      \
        fd_ties_init(&queue);                                                                    \
        unsigned char code[FD_CHUNK_ELEMS] __attribute__((aligned(32)));                         \
        for (int64_t c = 0; c < nchunks; c++) {                                                  \
            uint64_t ties[2];                                                                    \
            int64_t base = c * FD_CHUNK_ELEMS;                                                   \
            fd_avx2_chunk_code(code, ties, block0 + 8 * (uint64_t)c, mp, rk, top,                \
                               _mm256_set1_epi8(TIES));                                          \
            if (TIES)                                                                            \
                fd_ties_note(&queue, c, ties[0], ties[1]);                                       \
            for (int b = 0; b < 8; b++) {                                                        \
                const T *xb = x + base + 16 * b;                                                 \
                T *yb = y + base + 16 * b;                                                       \
                const unsigned char *d = code + 16 * FD_AVX2_SLOT(b);                            \
                APPLY_BLOCK                                                                      \
            }                                                                                    \
            if (TIES && queue.count == FD_TIE_CHUNKS)                                            \
                FLUSH(&queue, mp, rk, x, y, scale, block0, 0);                                   \
        }                                                                                        \
        if (TIES)                                                                                \
            FLUSH(&queue, mp, rk, x, y, scale, block0, 1);                                       \
    }

/* One dtype's apply function: the loop without ties (dyadic p: codes are
 * keep or drop only) and with. */
#define FD_AVX2_APPLY(T, FLUSH, APPLY_NO_TIES, APPLY_TIES)                                       \
    if (fd_threshold_last_level(mp->threshold) > 0)                                              \
        FD_AVX2_APPLY_LOOP(T, 1, FLUSH, APPLY_TIES)                                              \
    else                                                                                         \
        FD_AVX2_APPLY_LOOP(T, 0, FLUSH, APPLY_NO_TIES)

/* 8 codes d[0..7] widened to 32-bit lanes: sign-extended (keep 0, drop -1,
 * tie -2) or zero-extended (for a table lookup by their low two bits). */
#define FD_AVX2_SX8(d) _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(d)))
#define FD_AVX2_ZX8(d) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(d)))
/* Multipliers without ties: scale where the code is 0, else 0. */
#define FD_AVX2_MULT8_NT(s, d) _mm256_andnot_ps(_mm256_castsi256_ps(FD_AVX2_SX8(d)), s)
/* With ties: within each 128-bit lane, index 0 (keep) -> scale, 2 (tie) -> 1, 3 (drop) -> 0. */
#define FD_AVX2_MULT8_T(table, d) _mm256_permutevar_ps(table, FD_AVX2_ZX8(d))
#define FD_AVX2_TABLE_PS(s) _mm256_setr_ps(s, 0.0f, 1.0f, 0.0f, s, 0.0f, 1.0f, 0.0f)

FD_AVX2_TARGET static void fd_avx2_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale), table = FD_AVX2_TABLE_PS(scale);
    FD_AVX2_APPLY(float, fd_avx2_flush_f32,
                  {
                      _mm256_storeu_ps(yb, _mm256_mul_ps(_mm256_loadu_ps(xb), FD_AVX2_MULT8_NT(s, d)));
                      _mm256_storeu_ps(yb + 8, _mm256_mul_ps(_mm256_loadu_ps(xb + 8), FD_AVX2_MULT8_NT(s, d + 8)));
                  },
                  {
                      _mm256_storeu_ps(yb, _mm256_mul_ps(_mm256_loadu_ps(xb), FD_AVX2_MULT8_T(table, d)));
                      _mm256_storeu_ps(yb + 8, _mm256_mul_ps(_mm256_loadu_ps(xb + 8), FD_AVX2_MULT8_T(table, d + 8)));
                  })
}

/* float64: four codes widened to 64-bit lanes (keep 0, drop -1, tie -2):
 * keep -> s, tie -> 1, drop -> 0. */
FD_AVX2_TARGET static inline __m256d fd_avx2_mult4_pd(const unsigned char *d, __m256d s, __m256d one)
{
    int32_t four;
    memcpy(&four, d, 4);
    __m256i c64 = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four));
    __m256d drop = _mm256_castsi256_pd(_mm256_cmpeq_epi64(c64, _mm256_set1_epi64x(-1)));
    return _mm256_andnot_pd(drop, _mm256_blendv_pd(s, one, _mm256_castsi256_pd(c64)));
}

FD_AVX2_TARGET static void fd_avx2_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, double scale)
{
    const __m256d s = _mm256_set1_pd(scale), one = _mm256_set1_pd(1.0);
    FD_AVX2_APPLY(double, fd_avx2_flush_f64,
                  {
                      for (int q = 0; q < 4; q++) {
                          int32_t four;
                          memcpy(&four, d + 4 * q, 4);
                          __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four)));
                          _mm256_storeu_pd(yb + 4 * q, _mm256_mul_pd(_mm256_loadu_pd(xb + 4 * q), _mm256_andnot_pd(m, s)));
                      }
                  },
                  {
                      for (int q = 0; q < 4; q++)
                          _mm256_storeu_pd(yb + 4 * q, _mm256_mul_pd(_mm256_loadu_pd(xb + 4 * q),
                                                                     fd_avx2_mult4_pd(d + 4 * q, s, one)));
                  })
}

#define FD_AVX2_HALF8(v) _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)
#define FD_AVX2_LOAD_HALF8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

FD_AVX2_TARGET static void fd_avx2_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale), table = FD_AVX2_TABLE_PS(scale);
    FD_AVX2_APPLY(uint16_t, fd_avx2_flush_f16,
                  {
                      _mm_storeu_si128((__m128i *)yb, FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb), FD_AVX2_MULT8_NT(s, d))));
                      _mm_storeu_si128((__m128i *)(yb + 8),
                                       FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb + 8), FD_AVX2_MULT8_NT(s, d + 8))));
                  },
                  {
                      _mm_storeu_si128((__m128i *)yb, FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb), FD_AVX2_MULT8_T(table, d))));
                      _mm_storeu_si128((__m128i *)(yb + 8),
                                       FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb + 8), FD_AVX2_MULT8_T(table, d + 8))));
                  })
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX2_H */
