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

/* R rounds on 4 * sets blocks, in sets of four: word k of block j of set s
 * in the low half of 64-bit lane j of a[4s + k].  Several sets side by side
 * give the core independent multiply chains to overlap (see fd_avx512.h). */
FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_rounds(__m256i *a, int sets, const __m256i *rk, int rounds)
{
    const __m256i m0 = _mm256_set1_epi64x(FD_PHILOX_M4x32_0);
    const __m256i m1 = _mm256_set1_epi64x(FD_PHILOX_M4x32_1);
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < 4 * sets; s += 4) {
            __m256i p0 = _mm256_mul_epu32(a[s], m0);
            __m256i p1 = _mm256_mul_epu32(a[s + 2], m1);
            a[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), a[s + 1]), rk[2 * r]);
            a[s + 1] = p1;
            a[s + 2] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), a[s + 3]), rk[2 * r + 1]);
            a[s + 3] = p0;
        }
    }
}

/* Counter words of 4 blocks of one stream, the 64-bit block numbers in
 * the lanes of `blocks`. */
FD_AVX2_TARGET static inline void fd_avx2_counters(__m256i a[4], __m256i blocks, uint32_t stream)
{
    a[0] = blocks;
    a[1] = _mm256_srli_epi64(blocks, 32);
    a[2] = _mm256_set1_epi64x(stream);
    a[3] = _mm256_setzero_si256();
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

/* A chunk's drop bytes: 0xFF where the element is dropped, block b at
 * byte 16 * FD_AVX2_SLOT(b). */
typedef unsigned char fd_avx2_ring_row[FD_CHUNK_ELEMS];

/*
 * Ties (fd_ties.h).  A group's tie bits, read as 32 words of 16 bits, have
 * word w for block FD_AVX2_SLOT(w & 7) of chunk w / 8, whose drop bytes
 * are bytes 16 w .. 16 w + 15 of the group's decisions.
 */
typedef struct {
    fd_avx2_ring_row row[FD_GROUP];
    unsigned char spare[4][16];   /* the spare words' slots write here (no change) */
} __attribute__((aligned(64))) fd_avx2_group_rows;

/* Block (0..31 within the group) of word w; spare words map past it. */
static inline uint64_t fd_avx2_word_block(int w)
{
    return (uint64_t)((w & ~7) | FD_AVX2_SLOT(w & 7));
}

/* Four taken words and the stream-1 Philox state of their blocks (one set). */
typedef struct {
    int w[4];
    __m256i a[4];
} fd_avx2_tie_slots;

FD_AVX2_TARGET static inline uint64_t fd_avx2_tied_words(const fd_group_ties *ties)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i lo = _mm256_cmpeq_epi16(_mm256_load_si256((const __m256i *)(const void *)ties), zero);
    __m256i hi = _mm256_cmpeq_epi16(_mm256_load_si256((const __m256i *)(const void *)ties + 1), zero);
    /* one byte per word, back in word order after the in-lane pack */
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(lo, hi), 0xD8);
    return (uint32_t)~_mm256_movemask_epi8(packed);
}

FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_take_ties(fd_avx2_tie_slots *s, uint64_t *left, uint64_t gblock0)
{
    fd_ties_take(left, s->w);
    __m256i blocks = _mm256_add_epi64(_mm256_set1_epi64x((long long)gblock0),
                                      _mm256_setr_epi64x((long long)fd_avx2_word_block(s->w[0]),
                                                         (long long)fd_avx2_word_block(s->w[1]),
                                                         (long long)fd_avx2_word_block(s->w[2]),
                                                         (long long)fd_avx2_word_block(s->w[3])));
    fd_avx2_counters(s->a, blocks, 1);
}

FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_slot_rounds(fd_avx2_tie_slots *s, const fd_mask_params *mp, const __m256i *rk)
{
    fd_avx2_rounds(s->a, 1, rk, mp->rounds);
}

/* Clear the drop bytes d[j] whose bit j is set in keep (16 bits). */
FD_AVX2_TARGET static inline void fd_avx2_mark_kept(unsigned char *d, uint32_t keep)
{
    const __m128i spread = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128i select = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    __m128i bits = _mm_and_si128(_mm_shuffle_epi8(_mm_cvtsi32_si128((int)keep), spread), select);
    __m128i kept = _mm_cmpeq_epi8(bits, select);
    _mm_store_si128((__m128i *)(void *)d, _mm_andnot_si128(kept, _mm_load_si128((const __m128i *)(void *)d)));
}

/* Compare the slots' stream-1 bytes with t1 (byte 1 of the threshold in
 * every byte) and mark the kept elements in the group's drop bytes. */
FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_settle_slots(const fd_avx2_tie_slots *s, fd_avx2_group_rows *rows, const fd_group_ties *ties,
                     uint64_t gblock0, const fd_mask_params *mp, __m256i t1)
{
    unsigned char *drop = (unsigned char *)(void *)rows;
    const fd_tie_word *tw = (const fd_tie_word *)(const void *)ties;
    /* bytes of slots 0 and 2 in u[0], of 1 and 3 in u[1] */
    __m256i w01 = _mm256_blend_epi32(s->a[0], _mm256_slli_epi64(s->a[1], 32), 0xAA);
    __m256i w23 = _mm256_blend_epi32(s->a[2], _mm256_slli_epi64(s->a[3], 32), 0xAA);
    __m256i u[2] = {_mm256_unpacklo_epi64(w01, w23), _mm256_unpackhi_epi64(w01, w23)};
    uint32_t lt[2], eq[2];
    for (int h = 0; h < 2; h++) {
        lt[h] = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(u[h], t1), u[h]));
        eq[h] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[h], t1));
    }
    uint32_t deeper = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t t = tw[s->w[i]];
        fd_avx2_mark_kept(drop + 16 * s->w[i], t & (lt[i & 1] >> (16 * (i >> 1))));
        deeper |= t & (eq[i & 1] >> (16 * (i >> 1)));
    }
    if (__builtin_expect(deeper != 0, 0)) {
        for (int i = 0; i < 4; i++) {
            uint32_t more = tw[s->w[i]] & (eq[i & 1] >> (16 * (i >> 1))) & 0xFFFFu;
            fd_avx2_mark_kept(drop + 16 * s->w[i],
                              fd_ties_keep(mp, gblock0 + fd_avx2_word_block(s->w[i]), more, 0, more));
        }
    }
}

/* The ties of a group left after its first four, four at a time. */
FD_AVX2_TARGET static void fd_avx2_settle_rest(uint64_t left, fd_avx2_group_rows *rows, const fd_group_ties *ties,
                                               uint64_t gblock0, const fd_mask_params *mp, const __m256i *rk,
                                               __m256i t1)
{
    while (left) {
        fd_avx2_tie_slots s;
        fd_avx2_take_ties(&s, &left, gblock0);
        fd_avx2_slot_rounds(&s, mp, rk);
        fd_avx2_settle_slots(&s, rows, ties, gblock0, mp, t1);
    }
}

/* Drop bytes of one chunk from its bytes u[4] (fd_avx2_bytes), and with
 * want_ties the bits of the bytes equal to the threshold's top byte. */
FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_drop_bytes(unsigned char drop[FD_CHUNK_ELEMS], uint64_t ties[2], const __m256i u[4], __m256i top,
                   int want_ties)
{
    uint32_t bits[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        _mm256_store_si256((__m256i *)(drop + 32 * k), _mm256_cmpeq_epi8(_mm256_max_epu8(u[k], top), u[k]));
        if (want_ties)
            bits[k] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(u[k], top));
    }
    ties[0] = bits[0] | (uint64_t)bits[1] << 32;
    ties[1] = bits[2] | (uint64_t)bits[3] << 32;
}

/*
 * Level-0 decisions of `chunks` chunks (8 blocks, 128 elements each) from
 * block0 on: drop[c][16 * slot + j] is 0xFF when byte j of the block in
 * `slot` (FD_AVX2_SLOT) of chunk c is >= the threshold's top byte, else 0.
 * With want_ties, the bits of the bytes equal to it go to ties[c] in the
 * same slot order (bit 16 * slot + j).
 */
FD_AVX2_TARGET static inline __attribute__((always_inline)) void
fd_avx2_group_drop(unsigned char drop[][FD_CHUNK_ELEMS], uint64_t ties[][2], int chunks, uint64_t block0,
                   const fd_mask_params *mp, const __m256i *rk, __m256i top, int want_ties, __m256i *slots)
{
    __m256i a[8 * FD_GROUP + 4], u[4];
    const __m256i lo4 = _mm256_add_epi64(_mm256_set1_epi64x((long long)block0), _mm256_setr_epi64x(0, 1, 2, 3));
    for (int c = 0; c < 2 * chunks; c++)
        fd_avx2_counters(a + 4 * c, _mm256_add_epi64(lo4, _mm256_set1_epi64x(4 * c)), 0);
    if (slots) {   /* a tie group's slots: one more set in the same rounds */
        memcpy(a + 8 * chunks, slots, 4 * sizeof(__m256i));
        fd_avx2_rounds(a, 2 * chunks + 1, rk, mp->rounds);
        memcpy(slots, a + 8 * chunks, 4 * sizeof(__m256i));
    } else {
        fd_avx2_rounds(a, 2 * chunks, rk, mp->rounds);
    }
    for (int c = 0; c < chunks; c++) {
        fd_avx2_bytes(a + 8 * c, u);
        fd_avx2_drop_bytes(drop[c], ties[c], u, top, want_ties);
    }
}

/* Tie bits of block b (0..7) from one chunk's ties[2] of fd_avx2_group_drop. */
static inline uint32_t fd_avx2_block_bits(const uint64_t ties[2], int b)
{
    int slot = FD_AVX2_SLOT(b);
    return (uint32_t)(ties[slot >> 2] >> (16 * (slot & 3))) & 0xFFFFu;
}

FD_AVX2_TARGET static void fd_avx2_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                              const fd_mask_params *mp)
{
    __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];
    fd_avx2_round_keys(rk, mp);
    unsigned char drop[FD_CHUNK_ELEMS] __attribute__((aligned(32)));
    uint64_t ties[2];
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    fd_avx2_group_drop(&drop, &ties, 1, block0, mp, rk, _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0)),
                       want_ties, NULL);
    for (int b = 0; b < 8; b++) {
        const unsigned char *d = drop + 16 * FD_AVX2_SLOT(b);
        for (int j = 0; j < 16; j++)
            keep[16 * b + j] = (unsigned char)(d[j] == 0);
        for (uint32_t tb = fd_avx2_block_bits(ties, b); tb; tb &= tb - 1) {
            int j = __builtin_ctz(tb);
            keep[16 * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}

/*
 * The loop shared by the three dtypes: y = x * (kept ? scale : 0) over
 * nchunks whole chunks.  APPLY_BLOCK sees xb, yb and d, the block's 16 drop
 * bytes.  Without ties (dyadic p) a group is applied as soon as it is
 * decided; with ties, see fd_ties.h (FD_TIES_APPLY_LOOP).
 */
#define FD_AVX2_APPLY_CHUNK(T, c, row, APPLY_BLOCK)                                                 \
    for (int b = 0; b < 8; b++) {                                                                   \
        const T *xb = x + (c) * FD_CHUNK_ELEMS + 16 * b;                                            \
        T *yb = y + (c) * FD_CHUNK_ELEMS + 16 * b;                                                  \
        const unsigned char *d = (row) + 16 * FD_AVX2_SLOT(b);                                      \
        FD_PREFETCH_BLOCK(T, xb);                                                                   \
        APPLY_BLOCK                                                                                 \
    }

#define FD_AVX2_DECIDE(rows, bits, c, slots) \
    fd_avx2_group_drop(rows, bits, FD_GROUP, block0 + 8 * (uint64_t)(c), mp, rk, top, (slots) != NULL, \
                       (slots) != NULL ? (slots)->a : NULL)

#define FD_AVX2_APPLY_LOOP(T, APPLY_BLOCK)                                                          \
    {                                                                                               \
        __m256i rk[2 * FD_PHILOX_MAX_ROUNDS];                                                       \
        fd_avx2_round_keys(rk, mp);                                                                 \
        const __m256i top = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 0));            \
        FD_TIES_APPLY_LOOP(T, fd_avx2, FD_AVX2_DECIDE, FD_AVX2_APPLY_CHUNK, APPLY_BLOCK)            \
    }

/* 8 drop bytes d[0..7] widened to 32-bit lanes, and the multipliers
 * they select: scale where the byte is 0, else 0. */
#define FD_AVX2_SX8(d) _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(d)))
#define FD_AVX2_MULT8(s, d) _mm256_andnot_ps(_mm256_castsi256_ps(FD_AVX2_SX8(d)), s)

FD_AVX2_TARGET static void fd_avx2_apply_f32(const float *x, float *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    FD_AVX2_APPLY_LOOP(float, {
        _mm256_storeu_ps(yb, _mm256_mul_ps(_mm256_loadu_ps(xb), FD_AVX2_MULT8(s, d)));
        _mm256_storeu_ps(yb + 8, _mm256_mul_ps(_mm256_loadu_ps(xb + 8), FD_AVX2_MULT8(s, d + 8)));
    })
}

FD_AVX2_TARGET static void fd_avx2_apply_f64(const double *x, double *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, double scale)
{
    const __m256d s = _mm256_set1_pd(scale);
    FD_AVX2_APPLY_LOOP(double, {
        for (int q = 0; q < 4; q++) {
            int32_t four;
            memcpy(&four, d + 4 * q, 4);
            __m256d m = _mm256_castsi256_pd(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four)));
            _mm256_storeu_pd(yb + 4 * q, _mm256_mul_pd(_mm256_loadu_pd(xb + 4 * q), _mm256_andnot_pd(m, s)));
        }
    })
}

#define FD_AVX2_HALF8(v) _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)
#define FD_AVX2_LOAD_HALF8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

FD_AVX2_TARGET static void fd_avx2_apply_f16(const uint16_t *x, uint16_t *y, int64_t nchunks, uint64_t block0,
                                             const fd_mask_params *mp, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    FD_AVX2_APPLY_LOOP(uint16_t, {
        _mm_storeu_si128((__m128i *)yb, FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb), FD_AVX2_MULT8(s, d))));
        _mm_storeu_si128((__m128i *)(yb + 8),
                         FD_AVX2_HALF8(_mm256_mul_ps(FD_AVX2_LOAD_HALF8(xb + 8), FD_AVX2_MULT8(s, d + 8))));
    })
}

#endif /* x86-64 with GCC-compatible compiler */
#endif /* FD_AVX2_H */
