/*
 * bench_scaling.c -- thread scaling of fastdrop's C kernels, without Python.
 *
 * The buffer is split into equal pieces on chunk boundaries, one per OpenMP
 * thread, exactly as fastdrop/_kernels.pyx does.  Each figure is a ratio of
 * medians of interleaved repeats: fastdrop in place on T threads / one
 * in-place multiply pass over the same buffer on one thread (the same
 * baseline as `fastdrop bench`), and the speed-up over one thread.
 *
 * Build and run (from the repository root):
 *   cc -O3 -fopenmp -I src_c benchmarks/bench_scaling.c -o /tmp/bench_scaling -lm
 *   /tmp/bench_scaling [max_threads] [isa: 0 portable, 1 AVX2, 2 AVX-512]
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fd_kernels.h"
#include "bench_timing.h"

#define REPEATS 11

static volatile float one = 1.0f;

static void multiply_pass(float *x, int64_t n)
{
    float f = one;
    for (int64_t i = 0; i < n; i++)
        x[i] *= f;
}

static void dropout_threads(float *x, int64_t n, fd_mask_params *mp, double scale, int isa, int threads)
{
    int64_t piece = (n + threads - 1) / threads;
    piece = (piece + FD_CHUNK_ELEMS - 1) / FD_CHUNK_ELEMS * FD_CHUNK_ELEMS;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        int64_t start = (int64_t)t * piece;
        if (start < n) {
            int64_t count = n - start < piece ? n - start : piece;
            fd_apply_contiguous(FD_FLOAT32, (const char *)(x + start), (char *)(x + start), count,
                                (uint64_t)start, mp, scale, isa);
        }
    }
}

int main(int argc, char **argv)
{
    int max_threads = argc > 1 ? atoi(argv[1]) : omp_get_max_threads();
    int isa = argc > 2 ? atoi(argv[2]) : fd_isa_best();
    if (!fd_isa_supported(isa)) {
        fprintf(stderr, "isa %d is not supported by this CPU\n", isa);
        return 2;
    }
    const int64_t sizes[] = {INT64_C(1) << 20, INT64_C(1) << 24, INT64_C(1) << 26};
    const double ps[] = {0.5, 0.1};
    printf("isa %d, up to %d threads; ratio = fastdrop(T threads) / one 1-thread multiply pass\n", isa, max_threads);
    printf("%10s %4s %3s | %8s %8s\n", "elements", "p", "T", "ratio", "speedup");
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t n = sizes[si];
        float *x = aligned_alloc(64, (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f;
        int calls = (int)((INT64_C(1) << 24) / n) + 1;
        for (size_t pi = 0; pi < 2; pi++) {
            fd_mask_params mp = {{{0x1234u, 0x5678u}}, 0, FD_PHILOX_DEFAULT_ROUNDS, 0};
            mp.threshold = (uint64_t)((1.0 - ps[pi]) * 4294967296.0 + 0.5);
            double single = 0;
            for (int threads = 1; threads <= max_threads; threads *= 2) {
                double fd_t[REPEATS], mul_t[REPEATS];
                dropout_threads(x, n, &mp, 1.0, isa, threads);
                for (int r = 0; r < REPEATS; r++) {
                    double t0 = now();
                    for (int k = 0; k < calls; k++)
                        dropout_threads(x, n, &mp, 1.0, isa, threads);
                    double t1 = now();
                    for (int k = 0; k < calls; k++)
                        multiply_pass(x, n);
                    double t2 = now();
                    fd_t[r] = (t1 - t0) / calls;
                    mul_t[r] = (t2 - t1) / calls;
                }
                double f = median(fd_t, REPEATS), m = median(mul_t, REPEATS);
                if (threads == 1)
                    single = f;
                printf("%10lld %4.2f %3d | %8.2f %8.2f\n", (long long)n, ps[pi], threads, f / m, single / f);
                fflush(stdout);
            }
        }
        free(x);
    }
    return 0;
}
