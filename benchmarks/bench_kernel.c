/*
 * bench_kernel.c -- nanoseconds per element of one kernel call, in place,
 * on one thread, without Python: the figure to compare two builds of the
 * kernels with, and the program to run under callgrind.
 *
 * Build and run (from the repository root):
 *   cc -O3 -I src_c benchmarks/bench_kernel.c -o /tmp/bench_kernel -lm
 *   /tmp/bench_kernel ISA DTYPE ELEMENTS P [REPEATS]
 *     ISA: 0 portable, 1 AVX2, 2 AVX-512, 3 NEON; DTYPE: 0 float16,
 *     1 float32, 2 float64, 3 bfloat16.
 * Prints the median over REPEATS (default 21) of the time per element of
 * enough calls to take about 20 ms, and the same for one in-place float32
 * multiply pass over the same bytes (interleaved with the kernel).
 * REPEATS = 0 makes exactly one call and prints nothing: for
 *   valgrind --tool=callgrind --toggle-collect=kernel_call \
 *       /tmp/bench_kernel 1 1 1048576 0.5 0
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fd_kernels.h"
#include "bench_timing.h"

static volatile float one = 1.0f;

static void multiply_pass(float *x, int64_t n)
{
    float f = one;
    for (int64_t i = 0; i < n; i++)
        x[i] *= f;
}

/* One call, not inlined, so that callgrind can count it alone
 * (--toggle-collect=kernel_call). */
static FD_NOINLINE void kernel_call(int dtype, char *x, int64_t n, const fd_mask_params *mp, double scale, int isa)
{
    fd_apply_contiguous(dtype, x, x, n, 0, mp, scale, isa);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ISA DTYPE ELEMENTS P [REPEATS]\n", argv[0]);
        return 2;
    }
    int isa = atoi(argv[1]), dtype = atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    double p = atof(argv[4]);
    int repeats = argc > 5 ? atoi(argv[5]) : 21;
    if (!fd_isa_supported(isa)) {
        fprintf(stderr, "isa %d is not supported by this CPU\n", isa);
        return 2;
    }
    if (repeats > 0 && repeats % 2 == 0)
        repeats++;
    int64_t bytes = n * fd_itemsize(dtype);
    char *x = aligned_alloc(64, (size_t)(bytes + 64));
    float *m = aligned_alloc(64, (size_t)(bytes + 64));
    if (!x || !m)
        return 1;
    memset(x, 0, (size_t)bytes);   /* zeros stay zeros at any scale: no inf, no NaN */
    memset(m, 0, (size_t)bytes);
    fd_mask_params mp = {{{0x1234u, 0x5678u}}, 0, FD_PHILOX_DEFAULT_ROUNDS, 0};
    mp.threshold = (uint64_t)((1.0 - p) * 4294967296.0 + 0.5);
    double scale = 1.0 / (1.0 - p);
    if (repeats == 0) {
        kernel_call(dtype, x, n, &mp, scale, isa);
        return 0;
    }
    int calls = (int)(INT64_C(20000000) / (n + 1000)) + 1;   /* about 20 ms at 1 ns per element */
    double *tk = malloc(sizeof(double) * (size_t)repeats), *tm = malloc(sizeof(double) * (size_t)repeats);
    kernel_call(dtype, x, n, &mp, scale, isa);   /* warm up */
    multiply_pass(m, bytes / 4);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int k = 0; k < calls; k++)
            kernel_call(dtype, x, n, &mp, scale, isa);
        double t1 = now();
        for (int k = 0; k < calls; k++)
            multiply_pass(m, bytes / 4);
        double t2 = now();
        tk[r] = (t1 - t0) / calls / (double)n * 1e9;
        tm[r] = (t2 - t1) / calls / (double)n * 1e9;
    }
    double k = median(tk, repeats), mul = median(tm, repeats);
    printf("isa %d dtype %d n %lld p %.3f: %.4f ns/element, multiply pass %.4f ns/element, ratio %.2f\n", isa, dtype,
           (long long)n, p, k, mul, k / mul);
    free(tk);
    free(tm);
    free(x);
    free(m);
    return 0;
}
