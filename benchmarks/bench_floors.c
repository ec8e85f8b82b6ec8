/*
 * bench_floors.c -- what one core's dropout time is made of, measured with
 * the C kernels alone (no Python), to show which parts of the speed targets
 * the hardware bounds.
 *
 * Each figure is a ratio of medians of interleaved repeats against one
 * in-place float32 multiply pass over the same bytes (the baseline of
 * `fastdrop bench`; 1.00 = one read and one write of the buffer):
 *
 *   f32 p=.5, f32 p=.1    float32 dropout, 10 Philox rounds
 *   f32 p=.5 r1           the same with 1 round: the difference from the
 *                         10-round figure is what nine Philox rounds cost
 *                         (the Python API offers 7 to 16 rounds; this is a
 *                         measurement, not a setting)
 *   f16 p=.5, f16 p=.1    float16 dropout on the same bytes (twice the
 *                         elements, so twice the random bits per byte)
 *   f16 pass              no random bits at all: load float16, convert to
 *                         float32, multiply by a fixed pattern of scale and
 *                         zero, convert back, store (the float16 work every
 *                         kernel path does per element)
 *   f16/f32 .5, .1        float16's ratio over float32's, per byte
 *
 * Build and run (from the repository root; x86-64 with GCC or Clang):
 *   cc -O3 -I src_c benchmarks/bench_floors.c -o /tmp/bench_floors -lm
 *   /tmp/bench_floors [isa: 0 portable, 1 AVX2, 2 AVX-512]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fd_kernels.h"
#include "bench_timing.h"

#define REPEATS 15
#define VARIANTS 7

static volatile float one = 1.0f;

/* The baseline: NumPy's loop for this multiply uses the widest vectors the
 * CPU has, unrolled, so this one does too (a plain C loop built without
 * CPU flags would be SSE2 and flatter the kernels in cache). */
#ifdef FD_HAVE_AVX512
FD_AVX512_TARGET static void multiply_avx512(float *x, int64_t n, float f)
{
    const __m512 s = _mm512_set1_ps(f);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(x + i + 16 * k, _mm512_mul_ps(_mm512_loadu_ps(x + i + 16 * k), s));
    for (; i < n; i++)
        x[i] *= f;
}
#endif
#ifdef FD_HAVE_AVX2
FD_AVX2_TARGET static void multiply_avx2(float *x, int64_t n, float f)
{
    const __m256 s = _mm256_set1_ps(f);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(x + i + 8 * k, _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), s));
    for (; i < n; i++)
        x[i] *= f;
}
#endif

static void multiply_pass(float *x, int64_t n)
{
    float f = one;
#ifdef FD_HAVE_AVX512
    if (fd_isa_best() == FD_ISA_AVX512) {
        multiply_avx512(x, n, f);
        return;
    }
#endif
#ifdef FD_HAVE_AVX2
    if (fd_isa_best() >= FD_ISA_AVX2) {
        multiply_avx2(x, n, f);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        x[i] *= f;
}

#ifdef FD_HAVE_AVX512
/* Every fourth element is dropped; the pattern is in registers, so the pass
 * is only loads, conversions, multiplies and stores. */
FD_AVX512_TARGET static void f16_pass_avx512(uint16_t *x, int64_t n, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    __mmask16 keep = 0x7777;
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        v = _mm512_mul_ps(v, _mm512_maskz_mov_ps(keep, s));
        _mm256_storeu_si256((__m256i *)(x + i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        keep = (__mmask16)((keep << 1) | (keep >> 15));
    }
}
#endif

#ifdef FD_HAVE_AVX2
FD_AVX2_TARGET static void f16_pass_avx2(uint16_t *x, int64_t n, float scale)
{
    const __m256 s0 = _mm256_setr_ps(scale, scale, scale, 0, scale, scale, scale, 0);
    const __m256 s1 = _mm256_setr_ps(scale, scale, 0, scale, scale, scale, 0, scale);
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        _mm_storeu_si128((__m128i *)(x + i), _mm256_cvtps_ph(_mm256_mul_ps(a, s0), _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(x + i + 8), _mm256_cvtps_ph(_mm256_mul_ps(b, s1), _MM_FROUND_TO_NEAREST_INT));
    }
}
#endif

static void f16_pass(uint16_t *x, int64_t n, float scale, int isa)
{
#ifdef FD_HAVE_AVX512
    if (isa == FD_ISA_AVX512) {
        f16_pass_avx512(x, n, scale);
        return;
    }
#endif
#ifdef FD_HAVE_AVX2
    if (isa == FD_ISA_AVX2) {
        f16_pass_avx2(x, n, scale);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        x[i] = fd_float_to_half(fd_half_to_float(x[i]) * ((i & 3) != 3 ? scale : 0.0f));
}

static fd_mask_params params(double p, int rounds)
{
    fd_mask_params mp = {{{0x1234u, 0x5678u}}, 0, rounds, 0};
    mp.threshold = (uint64_t)((1.0 - p) * 4294967296.0 + 0.5);
    return mp;
}

/* Variant v once over the buffer (x as float32, h as float16, same bytes). */
static void run_variant(int v, float *x, uint16_t *h, int64_t bytes, int isa)
{
    static const double p[VARIANTS] = {0, 0.5, 0.1, 0.5, 0.5, 0.1, 0};
    static const int rounds[VARIANTS] = {0, 10, 10, 1, 10, 10, 0};
    int64_t n32 = bytes / 4, n16 = bytes / 2;
    fd_mask_params mp = params(p[v], rounds[v]);
    if (v == 0)
        multiply_pass(x, n32);
    else if (v <= 3)
        fd_apply_contiguous(FD_FLOAT32, (const char *)x, (char *)x, n32, 0, &mp, 1.0, isa);
    else if (v <= 5)
        fd_apply_contiguous(FD_FLOAT16, (const char *)h, (char *)h, n16, 0, &mp, 1.0, isa);
    else
        f16_pass(h, n16, 1.0f, isa);
}

int main(int argc, char **argv)
{
    int isa = argc > 1 ? atoi(argv[1]) : fd_isa_best();
    if (!fd_isa_supported(isa)) {
        fprintf(stderr, "isa %d is not supported by this CPU\n", isa);
        return 2;
    }
    const int64_t sizes[] = {INT64_C(1) << 18, INT64_C(1) << 22, INT64_C(1) << 26};   /* bytes */
    static const char *names[VARIANTS] = {"mul", "f32 p=.5", "f32 p=.1", "f32 p=.5 r1", "f16 p=.5", "f16 p=.1",
                                          "f16 pass"};
    printf("isa %d, one thread; ratio = time / time of one float32 multiply pass over the same bytes\n", isa);
    printf("%8s |", "bytes");
    for (int v = 1; v < VARIANTS; v++)
        printf(" %11s", names[v]);
    printf(" | %11s %11s\n", "f16/f32 .5", "f16/f32 .1");
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t bytes = sizes[si];
        float *x = aligned_alloc(64, (size_t)bytes);
        uint16_t *h = aligned_alloc(64, (size_t)bytes);
        if (!x || !h)
            return 1;
        for (int64_t i = 0; i < bytes / 4; i++)
            x[i] = 1.0f;
        for (int64_t i = 0; i < bytes / 2; i++)
            h[i] = 0x3C00;   /* 1.0 */
        int calls = (int)((INT64_C(1) << 26) / bytes) + 1;
        double t[VARIANTS][REPEATS];
        for (int v = 0; v < VARIANTS; v++)   /* warm up: page faults, caches */
            run_variant(v, x, h, bytes, isa);
        for (int r = 0; r < REPEATS; r++)
            for (int v = 0; v < VARIANTS; v++) {
                double t0 = now();
                for (int k = 0; k < calls; k++)
                    run_variant(v, x, h, bytes, isa);
                t[v][r] = (now() - t0) / calls;
            }
        double med[VARIANTS];
        for (int v = 0; v < VARIANTS; v++)
            med[v] = median(t[v], REPEATS);
        printf("%7lldK |", (long long)(bytes >> 10));
        for (int v = 1; v < VARIANTS; v++)
            printf(" %11.2f", med[v] / med[0]);
        printf(" | %11.2f %11.2f\n", med[4] / med[1], med[5] / med[2]);
        fflush(stdout);
        free(x);
        free(h);
    }
    return 0;
}
