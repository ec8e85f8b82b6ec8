/*
 * fd_dump.c -- print what fastdrop's C core computes for fixed inputs, so
 * that two builds (x86-64 and aarch64, portable and SIMD paths) can be
 * compared line by line, and tests/test_c_core.py can compare one build
 * with the Python API.
 *
 * Every ISA path the running CPU supports is computed, and every way of
 * splitting a call (pieces at odd offsets, the strided entry point with a
 * negative stride, the blocks of a larger array through fd_apply_view over
 * several tilings and memory layouts); any disagreement is reported on
 * stderr and makes the exit status 1.  Stdout holds the results of one path, the portable one
 * unless the first argument names another (0 portable, 1 AVX2, 2 AVX-512,
 * 3 NEON), so that the text of every path on every architecture can be
 * compared with every other.
 *
 * Output lines (all integers in hex unless noted):
 *   philox ROUNDS C0 C1 C2 C3 K0 K1 O0 O1 O2 O3
 *   keep K0 K1 COUNTER THRESHOLD FIRST(dec) N(dec) BITS        (BITS: '0'/'1' per element)
 *   apply DTYPE(f16|f32|f64|bf16) K0 K1 COUNTER THRESHOLD SCALE_BITS N(dec) INPUT_BYTES OUTPUT_BYTES
 *         (OUTPUT_BYTES with every NaN written as the positive quiet NaN, see canonical_nans)
 *   block DTYPE K0 K1 COUNTER THRESHOLD SCALE_BITS SHAPE(dec, as 16x200) INPUT_BYTES OUTPUT_BYTES
 *         (OUTPUT_BYTES: the blocks of one tiling, assembled; the same bytes
 *         as every other tiling and layout and one plain call, which the program checks)
 *   blockhash DTYPE K0 K1 COUNTER THRESHOLD SHAPE TILING(dec) H0 H1 H2 H3
 *         (FNV-1a 64 of the assembled OUTPUT_BYTES of one tiling in each memory
 *         layout: in the array, in place, compact, outer axes reversed)
 *   normal K0 K1 COUNTER N(dec) V0 V1 ...                       (%.12e: libm may differ in the last bits)
 *   isa-paths-checked N(dec)                                    (on stderr)
 *
 * Build: cc -O3 -std=c99 -I src_c tests/c/fd_dump.c -o fd_dump -lm
 * Run:   ./fd_dump [ISA]   (exit status 2: ISA not supported here)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd_kernels.h"

#define MAX_ISA 16
#define MAX_N 1200

static int failures = 0;
static int shown = FD_ISA_PORTABLE;   /* the path whose results go to stdout */

static void fail(const char *what, const char *detail, int isa)
{
    fprintf(stderr, "MISMATCH %s (%s, isa %d)\n", what, detail, isa);
    failures++;
}

static fd_mask_params params(uint32_t k0, uint32_t k1, uint64_t counter, uint64_t threshold)
{
    fd_mask_params mp;
    mp.key.v[0] = k0;
    mp.key.v[1] = k1;
    mp.counter = counter;
    mp.rounds = FD_PHILOX_DEFAULT_ROUNDS;
    mp.threshold = threshold;
    return mp;
}

static void print_hex_bytes(const unsigned char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", bytes[i]);
}

/* NaNs as one canonical quiet NaN.  The sign and payload of a NaN that an
 * operation creates (inf * 0) belong to the hardware: x86-64's default NaN
 * is negative, aarch64's positive, so only "is NaN" is comparable across
 * architectures (on one machine every path gives the same NaN bits, which
 * the comparisons before this rewriting check). */
static void canonical_nans(int dtype, char *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (dtype == FD_FLOAT64) {
            uint64_t b;
            memcpy(&b, y + 8 * i, 8);
            if ((b & UINT64_C(0x7fffffffffffffff)) > UINT64_C(0x7ff0000000000000))
                b = UINT64_C(0x7ff8000000000000);
            memcpy(y + 8 * i, &b, 8);
        } else if (dtype == FD_FLOAT32) {
            uint32_t b;
            memcpy(&b, y + 4 * i, 4);
            if ((b & 0x7fffffffu) > 0x7f800000u)
                b = 0x7fc00000u;
            memcpy(y + 4 * i, &b, 4);
        } else {
            uint16_t b, inf = dtype == FD_FLOAT16 ? 0x7c00u : 0x7f80u;
            memcpy(&b, y + 2 * i, 2);
            if ((b & 0x7fffu) > inf)
                b = dtype == FD_FLOAT16 ? 0x7e00u : 0x7fc0u;
            memcpy(y + 2 * i, &b, 2);
        }
    }
}

/* Whether this build has path `isa`, and counts it among the paths checked. */
static int paths_seen[MAX_ISA];

static int have_path(int isa)
{
    if (!fd_isa_supported(isa))
        return 0;
    paths_seen[isa] = 1;
    return 1;
}

static int paths_checked(void)
{
    int n = 0;
    for (int isa = 0; isa < MAX_ISA; isa++)
        n += paths_seen[isa];
    return n;
}

/* ---------------------------------------------------------------- Philox */

static void dump_philox(void)
{
    /* Random123 kat_vectors inputs, plus counters with carries and tags. */
    static const uint32_t inputs[][6] = {
        {0, 0, 0, 0, 0, 0},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u},
        {0xffffffffu, 0, 3, 0, 1, 2},
        {0, 1, 0x100, 0, 0xdeadbeefu, 0x01234567u},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (int rounds = FD_PHILOX_MIN_ROUNDS; rounds <= FD_PHILOX_MAX_ROUNDS; rounds++) {
            fd_ctr4 c = {{inputs[i][0], inputs[i][1], inputs[i][2], inputs[i][3]}};
            fd_key2 k = {{inputs[i][4], inputs[i][5]}};
            fd_ctr4 o = fd_philox4x32(c, k, rounds);
            printf("philox %d %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x\n", rounds, c.v[0], c.v[1],
                   c.v[2], c.v[3], k.v[0], k.v[1], o.v[0], o.v[1], o.v[2], o.v[3]);
        }
    }
}

/* ---------------------------------------------------------------- inputs */

static const uint64_t COUNTERS[] = {0, 5, UINT64_C(0xfffffffd), UINT64_C(0x7fffffff8), UINT64_C(0xfffffffffffffff0)};
static const uint64_t THRESHOLDS[] = {
    UINT64_C(0x80000000),   /* p = 0.5: dyadic, ties settle as drop */
    UINT64_C(0xb3333333),   /* p ~ 0.3: ties refined through streams 1..3 */
    UINT64_C(0x80800000),   /* many ties, settled by stream 1 */
    UINT64_C(0x00000001),   /* keeps only u == 0 */
    UINT64_C(0xffffffff),   /* drops only u == 2^32 - 1 */
    0,                      /* p = 1 */
    UINT64_C(0x100000000),  /* p = 0 */
};
static const uint32_t KEYS[][2] = {{0, 0}, {0x9e3779b9u, 0x01234567u}};
static const int64_t LENGTHS[] = {1, 15, 16, 17, 127, 128, 129, 300, 1031};
static const int64_t FIRSTS[] = {0, 1, 7, 16, 100, 128, 131};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A generator never hands out blocks past 2^64: skip calls that would need them. */
static int fits(uint64_t counter, uint64_t elements)
{
    uint64_t blocks = (elements + FD_BLOCK_ELEMS - 1) / FD_BLOCK_ELEMS;
    return blocks == 0 || blocks - 1 <= UINT64_MAX - counter;
}

/* Deterministic test values: a 32-bit LCG, some of them special values. */
static double test_value(uint32_t *state, uint32_t *raw)
{
    static const double special[] = {0.0, -0.0, 1.0, -2.5, 1e300 * 1e300, -1e300 * 1e300, 65504.0, 6.0e-8, 1e-40,
                                     3.3895313892515355e38, 1e-39};
    *state = *state * 1664525u + 1013904223u;
    uint32_t r = *state >> 8;
    *raw = r;
    if (r % 11 == 0)
        return special[(r / 11) % COUNT(special)];
    return ((double)r / (double)(1u << 24) - 0.5) * 200.0;
}

static void fill_values(int dtype, char *x, int64_t n, uint32_t seed)
{
    uint32_t state = seed;
    for (int64_t i = 0; i < n; i++) {
        uint32_t r;
        double v = test_value(&state, &r);
        if (dtype == FD_FLOAT64) {
            memcpy(x + 8 * i, &v, 8);
        } else if (dtype == FD_FLOAT32) {
            float f = (float)v;
            memcpy(x + 4 * i, &f, 4);
        } else if (dtype == FD_FLOAT16) {
            uint16_t h = fd_float_to_half((float)v);
            memcpy(x + 2 * i, &h, 2);
        } else {
            /* every bit pattern of bfloat16 is reachable: some NaNs with payloads too */
            uint16_t h = r % 13 == 0 ? (uint16_t)((0x7f81u + (r >> 8) % 0x7f) | (r & 1u) << 15)
                                     : fd_float_to_bfloat16((float)v);
            memcpy(x + 2 * i, &h, 2);
        }
    }
}

/* ---------------------------------------------------------------- masks */

static void dump_keep(void)
{
    static unsigned char keep[MAX_N], other[MAX_N], single[MAX_N];
    char line[MAX_N + 1];
    for (size_t ki = 0; ki < COUNT(KEYS); ki++)
        for (size_t ci = 0; ci < COUNT(COUNTERS); ci++)
            for (size_t ti = 0; ti < COUNT(THRESHOLDS); ti++)
                for (size_t fi = 0; fi < COUNT(FIRSTS); fi++)
                    for (size_t li = 0; li < COUNT(LENGTHS); li++) {
                        if ((fi + li + ti) % 3 != 0 && LENGTHS[li] > 17)
                            continue;   /* a thinned grid keeps the output small */
                        if (!fits(COUNTERS[ci], (uint64_t)(FIRSTS[fi] + LENGTHS[li])))
                            continue;
                        fd_mask_params mp = params(KEYS[ki][0], KEYS[ki][1], COUNTERS[ci], THRESHOLDS[ti]);
                        uint64_t first = (uint64_t)FIRSTS[fi];
                        int64_t n = LENGTHS[li];
                        fd_keep_range(keep, n, first, &mp, shown);
                        for (int64_t k = 0; k < n; k++) {
                            single[k] = (unsigned char)fd_keep_element(&mp, first + (uint64_t)k);
                            line[k] = keep[k] ? '1' : '0';
                        }
                        line[n] = '\0';
                        if (memcmp(keep, single, (size_t)n) != 0)
                            fail("keep range vs scalar", "shown path", shown);
                        for (int isa = 0; isa < MAX_ISA; isa++) {
                            if (!have_path(isa))
                                continue;
                            fd_keep_range(other, n, first, &mp, isa);
                            if (memcmp(keep, other, (size_t)n) != 0)
                                fail("keep range", "path vs shown path", isa);
                        }
                        printf("keep %08x %08x %016llx %09llx %lld %lld %s\n", KEYS[ki][0], KEYS[ki][1],
                               (unsigned long long)COUNTERS[ci], (unsigned long long)THRESHOLDS[ti],
                               (long long)first, (long long)n, line);
                    }
}

/* ---------------------------------------------------------------- values */

/* One call computed three ways on path `isa`: whole, in pieces split at odd
 * offsets, and through the strided entry point reading x backwards. */
static int apply_three_ways(int dtype, const char *x, char *y, int64_t n, const fd_mask_params *mp,
                            double scale, int isa)
{
    static char pieces[MAX_N * 8], reversed_x[MAX_N * 8], strided[MAX_N * 8];
    int64_t size = fd_itemsize(dtype);
    fd_apply_contiguous(dtype, x, y, n, 0, mp, scale, isa);

    int64_t cuts[] = {0, n / 3 + 1, n / 3 + 1 + 129, n};
    for (int c = 0; c < 3; c++) {
        int64_t a = cuts[c] < n ? cuts[c] : n, b = cuts[c + 1] < n ? cuts[c + 1] : n;
        if (b > a)
            fd_apply_contiguous(dtype, x + a * size, pieces + a * size, b - a, (uint64_t)a, mp, scale, isa);
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(reversed_x + (n - 1 - i) * size, x + i * size, (size_t)size);
    int64_t shape[1] = {n}, xstride[1] = {-size}, ystride[1] = {size};
    fd_apply_strided(dtype, reversed_x + (n - 1) * size, strided, 1, shape, xstride, ystride, mp, scale, isa);

    int ok = memcmp(y, pieces, (size_t)(n * size)) == 0;
    ok &= memcmp(y, strided, (size_t)(n * size)) == 0;
    return ok;
}

static void dump_apply(void)
{
    static char x[MAX_N * 8], y[MAX_N * 8], other[MAX_N * 8];
    static const int dtypes[] = {FD_FLOAT16, FD_FLOAT32, FD_FLOAT64, FD_BFLOAT16};
    static const char *names[] = {"f16", "f32", "f64", "bf16"};
    static const int64_t lengths[] = {1, 17, 128, 300, 1031};
    for (size_t di = 0; di < COUNT(dtypes); di++)
        for (size_t ci = 0; ci < COUNT(COUNTERS); ci++)
            for (size_t ti = 0; ti < COUNT(THRESHOLDS); ti++)
                for (size_t li = 0; li < COUNT(lengths); li++) {
                    int dtype = dtypes[di];
                    int64_t n = lengths[li], size = fd_itemsize(dtype);
                    uint64_t t = THRESHOLDS[ti];
                    if (!fits(COUNTERS[ci], (uint64_t)n))
                        continue;
                    double scale = t == 0 ? 0.0 : 4294967296.0 / (double)t;   /* 1 / (1 - p) */
                    fd_mask_params mp = params(KEYS[1][0], KEYS[1][1], COUNTERS[ci], t);
                    fill_values(dtype, x, n, (uint32_t)(ci * 131 + ti * 17 + li));
                    if (!apply_three_ways(dtype, x, y, n, &mp, scale, shown))
                        fail("apply split/strided", names[di], shown);
                    for (int isa = 0; isa < MAX_ISA; isa++) {
                        if (!have_path(isa))
                            continue;
                        if (!apply_three_ways(dtype, x, other, n, &mp, scale, isa))
                            fail("apply split/strided", names[di], isa);
                        if (memcmp(y, other, (size_t)(n * size)) != 0)
                            fail("apply path vs shown path", names[di], isa);
                    }
                    uint64_t scale_bits;
                    memcpy(&scale_bits, &scale, 8);
                    canonical_nans(dtype, y, n);
                    printf("apply %s %08x %08x %016llx %09llx %016llx %lld ", names[di], KEYS[1][0], KEYS[1][1],
                           (unsigned long long)COUNTERS[ci], (unsigned long long)t,
                           (unsigned long long)scale_bits, (long long)n);
                    print_hex_bytes((const unsigned char *)x, (size_t)(n * size));
                    printf(" ");
                    print_hex_bytes((const unsigned char *)y, (size_t)(n * size));
                    printf("\n");
                }
}

/* ---------------------------------------------------------------- blocks */

/*
 * Blocks of a larger logical array through fd_apply_view: each block gets
 * the logical strides of the whole array and the logical index of its first
 * element, so the blocks of any tiling, assembled, must give the bytes of
 * one plain contiguous call over the whole array.
 */
#define BLOCK_MAX_N 3200
#define MAX_CUTS 208

typedef struct {
    int ndim;
    int64_t shape[3];
    int64_t cuts[3][MAX_CUTS];   /* per axis: 0, ..., shape[d] */
    int ncuts[3];
} tiling;

/* Cuts listed in increasing order from 0 (the axis length implied), or every
 * `step` when the list is {-step}. */
static tiling make_tiling(int ndim, const int64_t *shape, const int64_t (*cuts)[8])
{
    tiling t;
    memset(&t, 0, sizeof t);
    t.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        t.shape[d] = shape[d];
        int k = 0;
        if (cuts[d][0] < 0) {
            for (int64_t c = 0; c < shape[d]; c -= cuts[d][0])
                t.cuts[d][k++] = c;
        } else {
            for (int j = 0; j < 8 && cuts[d][j] < shape[d] && (j == 0 || cuts[d][j] > cuts[d][j - 1]); j++)
                t.cuts[d][k++] = cuts[d][j];
        }
        t.cuts[d][k++] = shape[d];
        t.ncuts[d] = k;
    }
    return t;
}

/* Copy the elements of a box of `shape` between two layouts (byte strides). */
static void copy_box(int64_t size, int ndim, const int64_t *shape, const char *src, const int64_t *sstrides, char *dst,
                     const int64_t *dstrides)
{
    int64_t index[3] = {0, 0, 0};
    for (;;) {
        int64_t so = 0, dof = 0;
        for (int d = 0; d < ndim; d++) {
            so += index[d] * sstrides[d];
            dof += index[d] * dstrides[d];
        }
        memcpy(dst + dof, src + so, (size_t)size);
        int d = ndim - 1;
        while (d >= 0 && ++index[d] == shape[d])
            index[d--] = 0;
        if (d < 0)
            return;
    }
}

enum { IN_ARRAY, IN_PLACE, COMPACT, REVERSED, LAYOUTS };
static const char *LAYOUT_NAMES[] = {"in-array", "in-place", "compact", "reversed"};

/* Every block of tiling `t` on path `isa`, laid out as `layout` says:
 *   IN_ARRAY  a view of x written into a view of out, both with the array's strides;
 *   IN_PLACE  x copied to out first, each block applied in place there;
 *   COMPACT   each block copied to a C-contiguous buffer of its own shape;
 *   REVERSED  like COMPACT with the order of every outer axis reversed in
 *             memory (negative outer strides, logical order still increasing). */
static void apply_tiling(int dtype, const tiling *t, int layout, const char *x, char *out, const fd_mask_params *mp,
                         double scale, int isa)
{
    static char bx[BLOCK_MAX_N * 8], by[BLOCK_MAX_N * 8];
    int64_t size = fd_itemsize(dtype), total = 1;
    int nd = t->ndim;
    int64_t lstrides[3], astrides[3];
    for (int d = nd - 1; d >= 0; d--) {
        lstrides[d] = total;
        astrides[d] = total * size;
        total *= t->shape[d];
    }
    memset(out, 0xa5, (size_t)(total * size));
    if (layout == IN_PLACE)
        memcpy(out, x, (size_t)(total * size));
    int64_t bi[3] = {0, 0, 0};   /* the block's index along each axis */
    for (;;) {
        int64_t bshape[3], offset = 0;
        uint64_t first = 0;
        for (int d = 0; d < nd; d++) {
            int64_t lo = t->cuts[d][bi[d]];
            bshape[d] = t->cuts[d][bi[d] + 1] - lo;
            offset += lo * astrides[d];
            first += (uint64_t)(lo * lstrides[d]);
        }
        if (layout == IN_ARRAY || layout == IN_PLACE) {
            const char *bxp = layout == IN_ARRAY ? x + offset : out + offset;
            fd_apply_view(dtype, bxp, out + offset, nd, bshape, astrides, astrides, lstrides, first, mp, scale, isa);
        } else {
            int64_t bstrides[3], step = size, base = 0;
            for (int d = nd - 1; d >= 0; d--) {
                int reverse = layout == REVERSED && d < nd - 1;
                bstrides[d] = reverse ? -step : step;
                base += reverse ? (bshape[d] - 1) * step : 0;
                step *= bshape[d];
            }
            copy_box(size, nd, bshape, x + offset, astrides, bx + base, bstrides);
            fd_apply_view(dtype, bx + base, by + base, nd, bshape, bstrides, bstrides, lstrides, first, mp, scale, isa);
            copy_box(size, nd, bshape, by + base, bstrides, out + offset, astrides);
        }
        int d = nd - 1;
        while (d >= 0 && ++bi[d] == t->ncuts[d] - 1)
            bi[d--] = 0;
        if (d < 0)
            return;
    }
}

/* FNV-1a, 64 bits: a tiling's output on one line. */
static uint64_t fnv1a(const char *bytes, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)bytes[i]) * UINT64_C(0x100000001b3);
    return h;
}

static void dump_blocks(void)
{
    static char x[BLOCK_MAX_N * 8], plain[BLOCK_MAX_N * 8], out[BLOCK_MAX_N * 8];
    static const int dtypes[] = {FD_FLOAT16, FD_FLOAT32, FD_FLOAT64, FD_BFLOAT16};
    static const char *names[] = {"f16", "f32", "f64", "bf16"};
    static const uint64_t thresholds[] = {
        UINT64_C(0x80000000),   /* p = 0.5: no ties */
        UINT64_C(0xb3333333),   /* p = 0.3: ties */
        UINT64_C(0x4cccbccd),   /* p = 0.7 + 2^-20: ties */
    };
    static const uint64_t counters[] = {5, UINT64_C(0xfffffff0)};   /* the second crosses 2^32 blocks */
    /* A 16 x 200 array (rows 200 apart: blocks of 100 or 150 columns share
     * chunks between rows) and a 3 x 20 x 40 one (narrow rows sharing chunks,
     * blocks over two outer axes). */
    static const int64_t flat[] = {16, 200}, cube[] = {3, 20, 40};
    static const int64_t flat_cuts[][2][8] = {
        {{0}, {0, 37, 128}},                  /* column blocks */
        {{0, 5, 13}, {0, 61, 133}},           /* tiles off chunk edges */
        {{0, 7}, {0, 1, 6, 26, 126}},         /* widths 1, 5, 20, 100, 74 */
        {{0, 3}, {0, 150}},                   /* widths 150, 50 */
        {{0, 9}, {0, 50}},                    /* widths 50, 150 */
        {{0, 1}, {0, 100}},                   /* a one-row block, width 100 */
        {{0, 11}, {-5}},                      /* width 5 */
        {{0, 4}, {-20}},                      /* width 20 */
        {{0}, {-1}},                          /* width 1 */
        {{-1}, {0}},                          /* one row per block */
        {{0, 8}, {0, 15, 31, 48}},            /* widths 15, 16, 17, 152 */
    };
    static const int64_t cube_cuts[][3][8] = {
        {{0, 1}, {0, 7}, {0, 1, 6, 26}},      /* widths 1, 5, 20, 14 */
        {{0}, {0}, {-5}},                     /* width 5 across all planes */
        {{0, 2}, {0, 11}, {0, 20}},
        {{-1}, {0, 3}, {0}},                  /* whole rows, several per chunk */
        {{0}, {0, 9}, {0, 2, 39}},            /* widths 2, 37, 1: rows of 37 share blocks */
    };
    tiling tilings[COUNT(flat_cuts) + COUNT(cube_cuts)];
    uint64_t hashes[COUNT(flat_cuts) + COUNT(cube_cuts)][LAYOUTS];
    size_t ntilings = 0;
    for (size_t i = 0; i < COUNT(flat_cuts); i++)
        tilings[ntilings++] = make_tiling(2, flat, flat_cuts[i]);
    for (size_t i = 0; i < COUNT(cube_cuts); i++)
        tilings[ntilings++] = make_tiling(3, cube, cube_cuts[i]);

    for (size_t di = 0; di < COUNT(dtypes); di++)
        for (int shape_kind = 0; shape_kind < 2; shape_kind++)
            for (size_t ci = 0; ci < COUNT(counters); ci++)
                for (size_t ti = 0; ti < COUNT(thresholds); ti++) {
                    int dtype = dtypes[di];
                    int64_t size = fd_itemsize(dtype);
                    const int64_t *shape = shape_kind ? cube : flat;
                    int nd = shape_kind ? 3 : 2;
                    int64_t n = 1;
                    char shape_text[64] = "";
                    for (int d = 0; d < nd; d++) {
                        n *= shape[d];
                        snprintf(shape_text + strlen(shape_text), sizeof shape_text - strlen(shape_text),
                                 d ? "x%lld" : "%lld", (long long)shape[d]);
                    }
                    uint64_t t = thresholds[ti];
                    double scale = 4294967296.0 / (double)t;
                    fd_mask_params mp = params(KEYS[1][0] + (uint32_t)ci, KEYS[1][1], counters[ci], t);
                    fill_values(dtype, x, n, (uint32_t)(1000 + di * 31 + ci * 7 + ti));
                    fd_apply_contiguous(dtype, x, plain, n, 0, &mp, scale, shown);
                    for (int isa = 0; isa < MAX_ISA; isa++) {
                        if (!have_path(isa))
                            continue;
                        for (size_t k = 0; k < ntilings; k++) {
                            if ((tilings[k].ndim == 3) != shape_kind)
                                continue;
                            for (int layout = 0; layout < LAYOUTS; layout++) {
                                apply_tiling(dtype, &tilings[k], layout, x, out, &mp, scale, isa);
                                if (memcmp(out, plain, (size_t)(n * size)) != 0) {
                                    char detail[64];
                                    snprintf(detail, sizeof detail, "%s tiling %d %s", names[di], (int)k,
                                             LAYOUT_NAMES[layout]);
                                    fail("blocks vs plain call on shown path", detail, isa);
                                }
                                if (isa == shown) {
                                    canonical_nans(dtype, out, n);
                                    hashes[k][layout] = fnv1a(out, (size_t)(n * size));
                                }
                            }
                        }
                    }
                    /* the bytes of the block line: the mixed widths of either array, rows reversed */
                    apply_tiling(dtype, &tilings[shape_kind ? COUNT(flat_cuts) : 2], REVERSED, x, out, &mp,
                                 scale, shown);
                    uint64_t scale_bits;
                    memcpy(&scale_bits, &scale, 8);
                    canonical_nans(dtype, out, n);
                    printf("block %s %08x %08x %016llx %09llx %016llx ", names[di], mp.key.v[0], mp.key.v[1],
                           (unsigned long long)mp.counter, (unsigned long long)t, (unsigned long long)scale_bits);
                    printf("%s ", shape_text);
                    print_hex_bytes((const unsigned char *)x, (size_t)(n * size));
                    printf(" ");
                    print_hex_bytes((const unsigned char *)out, (size_t)(n * size));
                    printf("\n");
                    for (size_t k = 0; k < ntilings; k++) {
                        if ((tilings[k].ndim == 3) != shape_kind)
                            continue;
                        printf("blockhash %s %08x %08x %016llx %09llx %s %d", names[di], mp.key.v[0], mp.key.v[1],
                               (unsigned long long)mp.counter, (unsigned long long)t, shape_text, (int)k);
                        for (int layout = 0; layout < LAYOUTS; layout++)
                            printf(" %016llx", (unsigned long long)hashes[k][layout]);
                        printf("\n");
                    }
                }
}

/* ---------------------------------------------------------------- normals */

static void dump_normal(void)
{
    static double z[64];
    static const uint64_t counters[] = {0, UINT64_C(0xfffffffe), UINT64_C(0xffffffffffffff00)};
    for (size_t ci = 0; ci < COUNT(counters); ci++) {
        fd_key2 key = {{KEYS[1][0], KEYS[1][1]}};
        fd_normal_range(z, 64, 0, key, counters[ci], FD_PHILOX_DEFAULT_ROUNDS);
        printf("normal %08x %08x %016llx 64", key.v[0], key.v[1], (unsigned long long)counters[ci]);
        for (int i = 0; i < 64; i++)
            printf(" %.12e", z[i]);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        shown = atoi(argv[1]);
        if (!fd_isa_supported(shown)) {
            fprintf(stderr, "isa %d is not supported here\n", shown);
            return 2;
        }
    }
    dump_philox();
    dump_keep();
    dump_apply();
    dump_blocks();
    dump_normal();
    fprintf(stderr, "isa-paths-checked %d\n", paths_checked());
    if (failures) {
        fprintf(stderr, "%d mismatches between ISA paths or call splits\n", failures);
        return 1;
    }
    return 0;
}
