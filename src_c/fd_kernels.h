/*
 * fd_kernels.h -- the entry points: masked scaling of contiguous and strided
 * buffers, keep masks for a range of logical indices, and normal noise.
 *
 * Every function takes the logical index `first` of its first element, so a
 * caller may split a buffer at any point (threads, Dask blocks, repeated
 * calls) and still get exactly the values of one call over the whole buffer.
 * The ISA path is an argument (no global state); each path gives the same
 * bits.
 */
#ifndef FD_KERNELS_H
#define FD_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fd_philox.h"
#include "fd_mask.h"
#include "fd_dtype.h"
#include "fd_runs.h"
#include "fd_portable.h"
#include "fd_avx2.h"
#include "fd_avx512.h"
#include "fd_neon.h"

enum { FD_ISA_PORTABLE = 0, FD_ISA_AVX2 = 1, FD_ISA_AVX512 = 2, FD_ISA_NEON = 3 };

#ifdef FD_HAVE_AVX2
#include <cpuid.h>

/* F16C (CPUID leaf 1, ECX bit 29), asked directly: some compilers'
 * __builtin_cpu_supports does not know the name. */
static inline int fd_cpu_has_f16c(void)
{
    unsigned int eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}
#endif

/* Best path the running CPU supports. */
static inline int fd_isa_best(void)
{
#ifdef FD_HAVE_AVX2
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !fd_cpu_has_f16c())
        return FD_ISA_PORTABLE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return FD_ISA_AVX512;
    return FD_ISA_AVX2;
#endif
#ifdef FD_HAVE_NEON
    return FD_ISA_NEON;   /* Advanced SIMD is part of every aarch64 core */
#endif
    return FD_ISA_PORTABLE;
}

static inline int fd_isa_supported(int isa)
{
    if (isa == FD_ISA_PORTABLE)
        return 1;
#ifdef FD_HAVE_AVX2
    /* each x86 path needs a superset of the previous one's features */
    return (isa == FD_ISA_AVX2 || isa == FD_ISA_AVX512) && isa <= fd_isa_best();
#else
    return isa == fd_isa_best();
#endif
}

static inline void fd_chunk_keep(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0,
                                 const fd_mask_params *mp, int isa)
{
#ifdef FD_HAVE_AVX512
    if (isa == FD_ISA_AVX512) {
        fd_avx512_chunk_keep(keep, block0, mp);
        return;
    }
#endif
#ifdef FD_HAVE_AVX2
    if (isa == FD_ISA_AVX2) {
        fd_avx2_chunk_keep(keep, block0, mp);
        return;
    }
#endif
#ifdef FD_HAVE_NEON
    if (isa == FD_ISA_NEON) {
        fd_neon_chunk_keep(keep, block0, mp);
        return;
    }
#endif
    (void)isa;
    fd_portable_chunk_keep(keep, block0, mp);
}

/* keep[k] = 1 if logical element first+k is kept, else 0. */
static inline void fd_keep_range(unsigned char *keep, int64_t n, uint64_t first,
                                 const fd_mask_params *mp, int isa)
{
    if (mp->threshold >= FD_THRESHOLD_ONE || mp->threshold == 0) {
        memset(keep, mp->threshold != 0, (size_t)n);
        return;
    }
    unsigned char chunk[FD_CHUNK_ELEMS];
    uint64_t end = first + (uint64_t)n;
    for (uint64_t e = first; e < end;) {
        uint64_t c0 = e - e % FD_CHUNK_ELEMS;
        uint64_t stop = c0 + FD_CHUNK_ELEMS < end ? c0 + FD_CHUNK_ELEMS : end;
        fd_chunk_keep(chunk, mp->counter + c0 / FD_BLOCK_ELEMS, mp, isa);
        memcpy(keep + (e - first), chunk + (e - c0), (size_t)(stop - e));
        e = stop;
    }
}

/* Element by element, any strides: y = x * (kept ? scale : 0), keep NULL
 * meaning every element kept. */
static inline void fd_scale_elements(int dtype, const char *x, char *y, const unsigned char *keep,
                                     int64_t n, int64_t xstride, int64_t ystride, double scale)
{
    for (int64_t k = 0; k < n; k++, x += xstride, y += ystride)
        fd_scale_element(dtype, x, y, keep ? keep[k] : 1, scale);
}

static inline void fd_apply_chunks(int dtype, const char *x, char *y, int64_t nchunks, uint64_t block0,
                                   const fd_mask_params *mp, double scale, int isa)
{
#ifdef FD_HAVE_AVX512
    if (isa == FD_ISA_AVX512) {
        fd_avx512_apply_chunks(dtype, x, y, nchunks, block0, mp, scale);
        return;
    }
#endif
#ifdef FD_HAVE_AVX2
    if (isa == FD_ISA_AVX2) {
        fd_avx2_apply_chunks(dtype, x, y, nchunks, block0, mp, scale);
        return;
    }
#endif
#ifdef FD_HAVE_NEON
    if (isa == FD_ISA_NEON) {
        fd_neon_apply_chunks(dtype, x, y, nchunks, block0, mp, scale);
        return;
    }
#endif
    (void)isa;
    fd_portable_apply_chunks(dtype, x, y, nchunks, block0, mp, scale);
}

static inline void fd_apply_runs(int dtype, const fd_runs *runs, const fd_mask_params *mp, double scale, int isa)
{
#ifdef FD_HAVE_AVX512
    if (isa == FD_ISA_AVX512) {
        fd_avx512_apply_runs(dtype, runs, mp, scale);
        return;
    }
#endif
#ifdef FD_HAVE_AVX2
    if (isa == FD_ISA_AVX2) {
        fd_avx2_apply_runs(dtype, runs, mp, scale);
        return;
    }
#endif
#ifdef FD_HAVE_NEON
    if (isa == FD_ISA_NEON) {
        fd_neon_apply_runs(dtype, runs, mp, scale);
        return;
    }
#endif
    (void)isa;
    fd_portable_apply_runs(dtype, runs, mp, scale);
}

/*
 * n <= FD_CHUNK_ELEMS contiguous elements: y = x * (keep ? scale : 0), the
 * values of fd_scale_element (kept * scale is scale or +0, scale being
 * finite and >= 0), in loops the compiler vectorizes.  The values go
 * through a local copy, so x == y needs no overlap check.
 */
static inline void fd_scale_piece(int dtype, const char *x, char *y, const unsigned char *keep, int n,
                                  double scale)
{
    union {
        float f32[FD_CHUNK_ELEMS];
        double f64[FD_CHUNK_ELEMS];
        uint16_t f16[FD_CHUNK_ELEMS];
    } v;
    size_t bytes = (size_t)n * (size_t)fd_itemsize(dtype);
    float s32 = (float)scale;
    memcpy(&v, x, bytes);
    if (dtype == FD_FLOAT32) {
        for (int k = 0; k < n; k++)
            v.f32[k] *= (float)keep[k] * s32;
    } else if (dtype == FD_FLOAT64) {
        for (int k = 0; k < n; k++)
            v.f64[k] *= (double)keep[k] * scale;
    } else if (dtype == FD_FLOAT16) {
        for (int k = 0; k < n; k++)
            v.f16[k] = fd_float_to_half(fd_half_to_float(v.f16[k]) * ((float)keep[k] * s32));
    } else {
        for (int k = 0; k < n; k++)
            v.f16[k] = fd_float_to_bfloat16(fd_bfloat16_to_float(v.f16[k]) * ((float)keep[k] * s32));
    }
    memcpy(y, &v, bytes);
}

/*
 * Part of one chunk, contiguous: elements first .. first+n-1, all inside the
 * chunk that starts at c0.  The head and tail of a run that does not start
 * and end on chunk boundaries (a one-axis block, a thread's last piece)
 * come here, so they are scaled by vectorized loops rather than element by
 * element.
 */
static inline void fd_apply_piece(int dtype, const char *x, char *y, int64_t n, uint64_t first,
                                  const fd_mask_params *mp, double scale, int isa)
{
    unsigned char keep[FD_CHUNK_ELEMS];
    uint64_t c0 = first - first % FD_CHUNK_ELEMS;
    fd_chunk_keep(keep, mp->counter + c0 / FD_BLOCK_ELEMS, mp, isa);
    fd_scale_piece(dtype, x, y, keep + (first - c0), (int)n, scale);
}

/*
 * Contiguous buffers: y[k] = x[k] * (element first+k kept ? scale : 0) for
 * k < n.  x == y is allowed (in place); partial overlap is not.  scale is
 * finite and >= 0 also in float32 (1 / (1 - p) with a non-zero threshold
 * is at most 2^33): the portable path relies on it.  dtype is one of
 * FD_FLOAT16, FD_FLOAT32, FD_FLOAT64, FD_BFLOAT16.
 */
static inline void fd_apply_contiguous(int dtype, const char *x, char *y, int64_t n, uint64_t first,
                                       const fd_mask_params *mp, double scale, int isa)
{
    int64_t size = fd_itemsize(dtype);
    if (mp->threshold >= FD_THRESHOLD_ONE || mp->threshold == 0) {
        /* every element kept (scale) or every one dropped (0): no mask needed */
        fd_scale_elements(dtype, x, y, NULL, n, size, size, mp->threshold != 0 ? scale : 0.0);
        return;
    }
    uint64_t end = first + (uint64_t)n;
    /* head: up to the first chunk boundary */
    uint64_t head_end = first % FD_CHUNK_ELEMS ? first - first % FD_CHUNK_ELEMS + FD_CHUNK_ELEMS : first;
    if (head_end > end)
        head_end = end;
    if (head_end > first)
        fd_apply_piece(dtype, x, y, (int64_t)(head_end - first), first, mp, scale, isa);
    int64_t offset = (int64_t)(head_end - first);
    int64_t nchunks = (int64_t)((end - head_end) / FD_CHUNK_ELEMS);
    if (nchunks > 0)
        fd_apply_chunks(dtype, x + offset * size, y + offset * size, nchunks,
                        mp->counter + head_end / FD_BLOCK_ELEMS, mp, scale, isa);
    offset += nchunks * FD_CHUNK_ELEMS;
    if (offset < n)
        fd_apply_piece(dtype, x + offset * size, y + offset * size, n - offset, first + (uint64_t)offset, mp, scale,
                       isa);
}

#define FD_STRIDED_PIECE 2048

/*
 * One run of n elements with consecutive logical indices first .. first+n-1
 * at byte strides xs and ys (negative allowed).  Unit strides on aligned
 * elements take the SIMD path; anything else goes through a small keep
 * buffer, element by element with memcpy.
 */
static inline void fd_apply_run(int dtype, const char *x, char *y, int64_t n, int64_t xs, int64_t ys,
                                uint64_t first, const fd_mask_params *mp, double scale, int isa)
{
    int64_t size = fd_itemsize(dtype);
    if (xs == size && ys == size && (uintptr_t)x % (uintptr_t)size == 0 && (uintptr_t)y % (uintptr_t)size == 0) {
        fd_apply_contiguous(dtype, x, y, n, first, mp, scale, isa);
        return;
    }
    unsigned char keep[FD_STRIDED_PIECE];
    for (int64_t k = 0; k < n; k += FD_STRIDED_PIECE) {
        int64_t len = n - k < FD_STRIDED_PIECE ? n - k : FD_STRIDED_PIECE;
        fd_keep_range(keep, len, first + (uint64_t)k, mp, isa);
        fd_scale_elements(dtype, x + k * xs, y + k * ys, keep, len, xs, ys, scale);
    }
}

/* Whether the rows of a view can go through the main loop as one stream:
 * a mask to draw, and every row contiguous and aligned (unit last stride,
 * aligned base, outer strides whole elements). */
static inline int fd_view_streams(int dtype, const char *x, const char *y, int ndim, const int64_t *xstrides,
                                  const int64_t *ystrides, const fd_mask_params *mp)
{
    int64_t size = fd_itemsize(dtype);
    if (mp->threshold >= FD_THRESHOLD_ONE || mp->threshold == 0)
        return 0;
    if (xstrides[ndim - 1] != size || ystrides[ndim - 1] != size || (uintptr_t)x % (uintptr_t)size != 0 ||
        (uintptr_t)y % (uintptr_t)size != 0)
        return 0;
    for (int d = 0; d < ndim - 1; d++)
        if (xstrides[d] % size != 0 || ystrides[d] % size != 0)
            return 0;
    return 1;
}

/*
 * A view of ndim >= 1 axes: element (i_0, ..., i_{ndim-1}) lies at byte
 * offset sum_d i_d * xstrides[d] of x (ystrides of y) and has the logical
 * index first + sum_d i_d * lstrides[d].  The last axis has logical stride 1,
 * so every row is one run of consecutive logical indices.  A plain call
 * passes the C strides of its own shape and first = 0; a block of a larger
 * logical array passes that array's strides and the logical index of the
 * block's first element, and gets exactly the part of the larger array's
 * mask that covers it.  Contiguous rows in increasing logical order (every
 * block, whatever the signs of its outer strides) go through the main loop
 * as one stream of runs; other views row by row.
 */
static inline void fd_apply_view(int dtype, const char *x, char *y, int ndim, const int64_t *shape,
                                 const int64_t *xstrides, const int64_t *ystrides, const int64_t *lstrides,
                                 uint64_t first, const fd_mask_params *mp, double scale, int isa)
{
    if (ndim < 1)
        return;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0)
            return;
    int last = ndim - 1;
    if (ndim > 1 && fd_view_streams(dtype, x, y, ndim, xstrides, ystrides, mp) &&
        fd_runs_increasing(ndim, shape, lstrides)) {
        fd_runs runs;
        fd_runs_init(&runs, x, y, ndim, shape, xstrides, ystrides, lstrides, first);
        fd_apply_runs(dtype, &runs, mp, scale, isa);
        return;
    }
    int64_t index[FD_MAX_NDIM] = {0};
    for (;;) {
        const char *xr = x;
        char *yr = y;
        uint64_t row_first = first;
        for (int d = 0; d < last; d++) {
            xr += index[d] * xstrides[d];
            yr += index[d] * ystrides[d];
            row_first += (uint64_t)(index[d] * lstrides[d]);
        }
        fd_apply_run(dtype, xr, yr, shape[last], xstrides[last], ystrides[last], row_first, mp, scale, isa);
        int d = last - 1;
        while (d >= 0 && ++index[d] == shape[d])   /* odometer over the outer axes */
            index[d--] = 0;
        if (d < 0)
            return;
    }
}

/* Any strides, the logical index running over `shape` in C order from 0. */
static inline void fd_apply_strided(int dtype, const char *x, char *y, int ndim, const int64_t *shape,
                                    const int64_t *xstrides, const int64_t *ystrides,
                                    const fd_mask_params *mp, double scale, int isa)
{
    if (ndim < 1)
        return;
    int64_t lstrides[FD_MAX_NDIM];
    int64_t step = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        lstrides[d] = step;
        step *= shape[d];
    }
    fd_apply_view(dtype, x, y, ndim, shape, xstrides, ystrides, lstrides, 0, mp, scale, isa);
}

/* Normal deviates per counter block: two Box-Muller pairs of 32-bit words. */
#define FD_NORMALS_PER_BLOCK 4

/*
 * Standard normal noise, element i of a call: Box-Muller on block
 * counter + i/4 of stream FD_STREAM_NORMAL; words (2q, 2q+1), q = (i%4)/2,
 * give u1 = (w[2q] + 1) / 2^32 in (0, 1] and u2 = w[2q+1] / 2^32; even i
 * takes r cos(2 pi u2), odd i takes r sin(2 pi u2), r = sqrt(-2 ln u1).
 */
static inline void fd_normal_range(double *z, int64_t n, uint64_t first, fd_key2 key, uint64_t counter,
                                   int rounds)
{
    const double two_pi = 6.283185307179586476925286766559;
    const double two_m32 = 2.3283064365386962890625e-10;
    for (int64_t k = 0; k < n; k++) {
        uint64_t i = first + (uint64_t)k;
        fd_ctr4 out = fd_philox4x32(fd_block_counter(counter + i / FD_NORMALS_PER_BLOCK, FD_STREAM_NORMAL), key, rounds);
        int q = (int)((i % FD_NORMALS_PER_BLOCK) / 2);
        double u1 = ((double)out.v[2 * q] + 1.0) * two_m32;
        double u2 = (double)out.v[2 * q + 1] * two_m32;
        double r = sqrt(-2.0 * log(u1));
        z[k] = (i % 2 == 0) ? r * cos(two_pi * u2) : r * sin(two_pi * u2);
    }
}

#endif /* FD_KERNELS_H */
