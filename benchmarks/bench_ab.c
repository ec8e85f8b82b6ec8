/*
 * bench_ab.c -- two to four builds of the kernels side by side in one
 * process, timed in interleaved rounds: the comparison to make on a shared
 * machine, where the speed of a core moves from one second to the next.
 *
 * The same file is compiled once per build, each time with that build's
 * src_c and a kernel name (kA .. kD), and once more as the driver:
 *
 *   git show 71044d1:src_c/...   (or any tree) into /tmp/old/src_c
 *   cc -O3 -c -DFD_AB_KERNEL=kA -I /tmp/old/src_c benchmarks/bench_ab.c -o /tmp/kA.o
 *   cc -O3 -c -DFD_AB_KERNEL=kB -I src_c benchmarks/bench_ab.c -o /tmp/kB.o
 *   cc -O3 -I src_c benchmarks/bench_ab.c /tmp/kA.o /tmp/kB.o -o /tmp/bench_ab -lm
 *   chrt -f 50 taskset -c 1 /tmp/bench_ab ISA DTYPE ELEMENTS P ROUNDS [KERNELS]
 *
 * In each of ROUNDS rounds (made odd) every kernel (in an order rotated from round to
 * round) runs about 4 ms of in-place calls.  Printed per kernel: the median
 * and the minimum over the rounds of the time per element, and the median
 * of its per-round ratio to kernel kA (the figure to compare: both times of
 * a ratio come from the same few milliseconds).  ROUNDS = 0 makes one call
 * of each kernel and prints nothing (for instruction counts).  KERNELS
 * (default 2) is how many of kA .. kD were linked; the driver needs only
 * fd_mask.h, so it links with builds whose other headers differ.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef FD_AB_KERNEL

#include "fd_kernels.h"

void FD_AB_KERNEL(int dtype, char *x, int64_t n, const fd_mask_params *mp, double scale, int isa);

__attribute__((noinline)) void FD_AB_KERNEL(int dtype, char *x, int64_t n, const fd_mask_params *mp, double scale,
                                            int isa)
{
    fd_apply_contiguous(dtype, x, x, n, 0, mp, scale, isa);
}

#else

#include "fd_mask.h"
#include "bench_timing.h"

typedef void kernel_fn(int dtype, char *x, int64_t n, const fd_mask_params *mp, double scale, int isa);
/* Kernels not linked resolve to NULL and are never called. */
extern kernel_fn kA, kB __attribute__((weak)), kC __attribute__((weak)), kD __attribute__((weak));

#define MAX_ROUNDS 4095

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s ISA DTYPE ELEMENTS P ROUNDS [KERNELS]\n", argv[0]);
        return 2;
    }
    const int64_t n = atoll(argv[3]);
    const double p = atof(argv[4]), scale = 1.0 / (1.0 - p);
    const int isa = atoi(argv[1]), dtype = atoi(argv[2]), nk = argc > 6 ? atoi(argv[6]) : 2;
    int rounds = atoi(argv[5]);
    if (rounds > 0 && rounds % 2 == 0)
        rounds++;   /* an odd count: the median is one of the rounds */
    kernel_fn *k[4] = {kA, kB, kC, kD};
    if (rounds < 0 || rounds > MAX_ROUNDS || nk < 1 || nk > 4) {
        fprintf(stderr, "ROUNDS must be in 0..%d and KERNELS in 1..4\n", MAX_ROUNDS);
        return 2;
    }
    for (int j = 0; j < nk; j++)
        if (!k[j]) {
            fprintf(stderr, "kernel %c is not linked\n", 'A' + j);
            return 2;
        }
    fd_mask_params mp = {{{0x1234u, 0x5678u}}, 0, FD_PHILOX_DEFAULT_ROUNDS, 0};
    mp.threshold = (uint64_t)((1.0 - p) * 4294967296.0 + 0.5);
    size_t bytes = (size_t)n * (size_t)(dtype == 2 ? 8 : dtype == 1 ? 4 : 2);
    char *x = aligned_alloc(64, bytes + 64);
    if (!x)
        return 1;
    memset(x, 0, bytes);   /* zeros stay zeros at any scale */
    if (rounds == 0) {
        for (int j = 0; j < nk; j++)
            k[j](dtype, x, n, &mp, scale, isa);
        return 0;
    }
    int calls = (int)(INT64_C(4000000) / (n + 1000)) + 1;
    static double t[4][MAX_ROUNDS];
    for (int j = 0; j < nk; j++)   /* warm up */
        for (int c = 0; c < calls; c++)
            k[j](dtype, x, n, &mp, scale, isa);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < nk; i++) {
            int j = (r + i) % nk;
            double t0 = now();
            for (int c = 0; c < calls; c++)
                k[j](dtype, x, n, &mp, scale, isa);
            t[j][r] = (now() - t0) / calls / (double)n * 1e9;
        }
    for (int j = 0; j < nk; j++) {
        double ratio[MAX_ROUNDS], own[MAX_ROUNDS];   /* copies: median sorts in place */
        for (int r = 0; r < rounds; r++) {
            ratio[r] = t[j][r] / t[0][r];
            own[r] = t[j][r];
        }
        double mid = median(own, rounds);
        printf("%c isa %d dtype %d n %lld p %.3f: median %.4f min %.4f ns/element, ratio to A %.4f\n", 'A' + j, isa,
               dtype, (long long)n, p, mid, own[0], median(ratio, rounds));
    }
    free(x);
    return 0;
}

#endif
