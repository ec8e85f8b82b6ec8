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

/* R rounds on `sets` independent sets of 8 blocks, one block per 64-bit
 * lane (word k in the low half of a[s][k]).  Several sets side by side give
 * the core independent multiply chains to overlap: one set's 10 rounds are
 * a chain of about 50 cycles of latency, and with one set per call the
 * out-of-order window cannot reach the next chunk's chain in time. */
FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_rounds(__m512i a[][4], int sets, const __m512i *rk, int rounds)
{
    const __m512i m0 = _mm512_set1_epi64(FD_PHILOX_M4x32_0);
    const __m512i m1 = _mm512_set1_epi64(FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
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

/* Stream-1 bytes of FD_TIE_BATCH queued blocks against the threshold's
 * byte 1 (see fd_ties.h), in sets of 8 blocks side by side. */
FD_AVX512_TARGET static inline void fd_avx512_level1(const uint64_t blocks[FD_TIE_BATCH], const fd_mask_params *mp,
                                                     const __m512i *rk, uint32_t below[FD_TIE_BATCH],
                                                     uint32_t equal[FD_TIE_BATCH])
{
    enum { SETS = FD_TIE_BATCH / 8 };
    __m512i a[SETS][4];
    for (int s = 0; s < SETS; s++)
        fd_avx512_counters(a[s], _mm512_loadu_si512((const void *)(blocks + 8 * s)), 1);
    fd_avx512_rounds(a, SETS, rk, mp->rounds);
    const __m512i t1 = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));
    for (int s = 0; s < SETS; s++) {
        __m512i even, odd;
        fd_avx512_bytes(a[s], &even, &odd);
        uint64_t lt[2] = {_mm512_cmplt_epu8_mask(even, t1), _mm512_cmplt_epu8_mask(odd, t1)};
        uint64_t eq[2] = {_mm512_cmpeq_epu8_mask(even, t1), _mm512_cmpeq_epu8_mask(odd, t1)};
        for (int b = 0; b < 8; b++) {
            below[8 * s + b] = fd_avx512_block_bits(lt, b);
            equal[8 * s + b] = fd_avx512_block_bits(eq, b);
        }
    }
}

/* Mark the elements of `keep` (bits of tie group g) kept in a chunk's keep
 * bits: group g is bits 16 * (g % 4) .. of word g / 4, as for the ties. */
typedef uint64_t fd_avx512_ring_row[2];

static inline void fd_avx512_update(fd_avx512_ring_row *ring, int64_t chunk, int g, uint32_t keep)
{
    ring[chunk % FD_AHEAD][g >> 2] |= (uint64_t)keep << (16 * (g & 3));
}

/* Block (0..7) of tie-bit group g: groups 0..3 are the even blocks, 4..7 the odd ones. */
#define FD_AVX512_SLOT(g) ((((g) & 3) << 1) | ((g) >> 2))

/* The tied blocks of queued chunk e appended at index n of `pending` (see
 * fd_ties_expand): the 8 groups of 16 tie bits widened to 64-bit lanes,
 * packed into entries, and the tied ones compressed to the front. */
FD_AVX512_TARGET static inline int fd_avx512_expand(const fd_tie_queue *q, int e, uint64_t *pending, int n)
{
    __m512i bits = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)(const void *)q->bits[e]));
    __mmask8 tied = _mm512_test_epi64_mask(bits, bits);
    __m512i entries = _mm512_ternarylogic_epi64(bits, _mm512_set1_epi64((long long)FD_TIE_ENTRY(q->chunk[e], 0, 0)),
                                                _mm512_setr_epi64(0, 1 << 16, 2 << 16, 3 << 16, 4 << 16, 5 << 16,
                                                                  6 << 16, 7 << 16),
                                                0xFE);  /* a | b | c */
    _mm512_storeu_si512((void *)(pending + n), _mm512_maskz_compress_epi64(tied, entries));
    return n + __builtin_popcount((unsigned)tied);
}

FD_TIES_SETTLE(FD_AVX512_TARGET, fd_avx512_settle, fd_avx512_expand, FD_AVX512_SLOT, fd_avx512_level1, __m512i,
               fd_avx512_ring_row *, fd_avx512_update)

/*
 * Level-0 decisions of `chunks` chunks (at most FD_GROUP) from block0 on:
 * for chunk k, keep[k][h] bit 16q+j is set when byte j of block 8k+2q+h is
 * below the threshold's top byte; with want_ties, ties[k][h] likewise for
 * bytes equal to it.  (h = 0: even blocks, h = 1: odd blocks.)
 */
FD_AVX512_TARGET static inline __attribute__((always_inline)) void
fd_avx512_group(fd_avx512_ring_row keep[], uint64_t ties[][2], int chunks, uint64_t block0,
                const fd_mask_params *mp, const __m512i *rk, __m512i top, int want_ties)
{
    __m512i a[FD_GROUP][4];
    const __m512i lanes = _mm512_add_epi64(_mm512_set1_epi64((long long)block0), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    for (int k = 0; k < chunks; k++)
        fd_avx512_counters(a[k], _mm512_add_epi64(lanes, _mm512_set1_epi64(8 * k)), 0);
    fd_avx512_rounds(a, chunks, rk, mp->rounds);
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
    fd_avx512_group(k, t, 1, block0, mp, rk, _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)), want_ties);
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
 * nchunks whole chunks (FD_TIES_MAIN_LOOP).  APPLY_BLOCK sees xb, yb and
 * kb, the block's keep bits.
 */
#define FD_AVX512_APPLY_BLOCKS(T, c, keep, APPLY_BLOCK)                                              \
    for (int b = 0; b < 8; b++) {                                                                 \
        __mmask16 kb = (__mmask16)((keep)[b & 1] >> (16 * (b >> 1)));                             \
        const T *xb = x + (c) * FD_CHUNK_ELEMS + 16 * b;                                          \
        T *yb = y + (c) * FD_CHUNK_ELEMS + 16 * b;                                                \
        FD_PREFETCH_BLOCK(T, xb);                                                                 \
        APPLY_BLOCK                                                                               \
    }
#define FD_AVX512_DECIDE(rows, ties, c, want_ties) \
    fd_avx512_group(rows, ties, FD_GROUP, block0 + 8 * (uint64_t)(c), mp, rk, top, want_ties)
#define FD_AVX512_SETTLE(queue, ring) fd_avx512_settle(queue, mp, rk, block0, ring)

#define FD_AVX512_APPLY_LOOP(T, APPLY_BLOCK)                                                      \
    {                                                                                             \
        __m512i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                     \
        fd_avx512_round_keys(rk, mp);                                                             \
        const __m512i top = _mm512_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));          \
        FD_TIES_MAIN_LOOP(T, fd_avx512_ring_row, FD_AVX512_DECIDE, FD_AVX512_APPLY_BLOCKS, APPLY_BLOCK, \
                          FD_AVX512_SETTLE)                                                       \
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
