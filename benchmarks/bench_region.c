/*
 * bench_region.c -- a block of a larger logical array (fd_apply_view, as
 * DropoutHandle.apply calls it) against a plain call on the same buffer
 * (fd_apply_contiguous), in place, on one thread, without Python.
 *
 * Build and run (from the repository root):
 *   cc -O3 -I src_c benchmarks/bench_region.c -o /tmp/bench_region -lm
 *   /tmp/bench_region ISA DTYPE CASE P [REPEATS]
 *     ISA: 0 portable, 1 AVX2, 2 AVX-512, 3 NEON; DTYPE: 0 float16,
 *     1 float32, 2 float64, 3 bfloat16; CASE: an index into `cases`
 *     below, or -1 for all of them.
 * Prints, per case, the medians over REPEATS (default 21) of the time per
 * element of the block and of the plain call, interleaved, and their
 * ratio.  REPEATS = 0 makes exactly one call of each and prints nothing:
 * for exact instruction counts,
 *   valgrind --tool=callgrind --toggle-collect=view_call   /tmp/bench_region 1 1 2 0.3 0
 *   valgrind --tool=callgrind --toggle-collect=plain_call  /tmp/bench_region 1 1 2 0.3 0
 * (divide "Collected" by the block's element count, printed by REPEATS = -1).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fd_kernels.h"
#include "bench_timing.h"

typedef struct {
    const char *label;
    int64_t logical[2], block[2], offset[2];
    int in_array;   /* the block is a view into the whole logical array (a Dask block of from_array) */
} region_case;

static const region_case cases[] = {
    {"row block", {2048, 2048}, {512, 2048}, {512, 0}},
    {"column block", {2048, 2048}, {2048, 512}, {0, 512}},
    {"tile", {2048, 2048}, {1024, 1024}, {1024, 1024}},
    {"tile, rows off chunk edges", {3000, 3000}, {1000, 1000}, {1000, 1000}},
    {"100-wide column block", {10486, 1000}, {10486, 100}, {0, 300}},
    {"rows sharing chunks", {8192, 200}, {8192, 150}, {0, 25}},
    {"20-wide column block", {16384, 64}, {16384, 20}, {0, 7}},
    {"view into the array", {16384, 16384}, {5792, 5792}, {5792, 5792}, 1},
    {"300-wide column block", {4096, 4096}, {4096, 300}, {0, 1001}},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* One call each, not inlined, so that callgrind can count them alone. */
static FD_NOINLINE void view_call(int dtype, char *x, const region_case *rc, const fd_mask_params *mp, double scale,
                                  int isa)
{
    int64_t item = fd_itemsize(dtype);
    int64_t xs[2] = {(rc->in_array ? rc->logical[1] : rc->block[1]) * item, item};
    int64_t ls[2] = {rc->logical[1], 1};
    uint64_t first = (uint64_t)(rc->offset[0] * ls[0] + rc->offset[1]);
    if (rc->in_array)
        x += (rc->offset[0] * rc->logical[1] + rc->offset[1]) * item;
    fd_apply_view(dtype, x, x, 2, rc->block, xs, xs, ls, first, mp, scale, isa);
}

static FD_NOINLINE void plain_call(int dtype, char *x, int64_t n, const fd_mask_params *mp, double scale, int isa)
{
    fd_apply_contiguous(dtype, x, x, n, 0, mp, scale, isa);
}

static void run_case(int isa, int dtype, const region_case *rc, const fd_mask_params *mp, double scale,
                     int repeats)
{
    int64_t n = rc->block[0] * rc->block[1];
    /* a view into the array: the whole array is allocated, the plain call runs on its first n elements */
    int64_t held = rc->in_array ? rc->logical[0] * rc->logical[1] : n;
    char *x = aligned_alloc(64, (size_t)(held * fd_itemsize(dtype) + 64));
    if (!x)
        exit(1);
    memset(x, 0, (size_t)(held * fd_itemsize(dtype)));   /* zeros stay zeros at any scale */
    if (repeats == 0) {
        view_call(dtype, x, rc, mp, scale, isa);
        plain_call(dtype, x, n, mp, scale, isa);
        free(x);
        return;
    }
    if (repeats < 0) {
        printf("%s: %lld elements\n", rc->label, (long long)n);
        free(x);
        return;
    }
    int calls = (int)(INT64_C(20000000) / (n + 1000)) + 1;
    double *tv = malloc(sizeof(double) * (size_t)repeats), *tp = malloc(sizeof(double) * (size_t)repeats);
    view_call(dtype, x, rc, mp, scale, isa);   /* warm up */
    plain_call(dtype, x, n, mp, scale, isa);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int k = 0; k < calls; k++)
            view_call(dtype, x, rc, mp, scale, isa);
        double t1 = now();
        for (int k = 0; k < calls; k++)
            plain_call(dtype, x, n, mp, scale, isa);
        double t2 = now();
        tv[r] = (t1 - t0) / calls / (double)n * 1e9;
        tp[r] = (t2 - t1) / calls / (double)n * 1e9;
    }
    double v = median(tv, repeats), pl = median(tp, repeats);
    printf("%-28s (%5lld, %4lld): block %.4f ns/element, plain %.4f ns/element, ratio %.2f\n", rc->label,
           (long long)rc->block[0], (long long)rc->block[1], v, pl, v / pl);
    free(tv);
    free(tp);
    free(x);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ISA DTYPE CASE P [REPEATS]\n", argv[0]);
        return 2;
    }
    int isa = atoi(argv[1]), dtype = atoi(argv[2]), which = atoi(argv[3]);
    double p = atof(argv[4]);
    int repeats = argc > 5 ? atoi(argv[5]) : 21;
    if (!fd_isa_supported(isa)) {
        fprintf(stderr, "isa %d is not supported by this CPU\n", isa);
        return 2;
    }
    if (which >= NCASES) {
        fprintf(stderr, "CASE must be below %d\n", NCASES);
        return 2;
    }
    if (repeats > 0 && repeats % 2 == 0)
        repeats++;
    fd_mask_params mp = {{{0x1234u, 0x5678u}}, 0, FD_PHILOX_DEFAULT_ROUNDS, 0};
    mp.threshold = fd_threshold_for(p);
    double scale = fd_inverted_scale(p);
    for (int c = 0; c < NCASES; c++)
        if (which < 0 || which == c)
            run_case(isa, dtype, &cases[c], &mp, scale, repeats);
    return 0;
}
