/*
 * fd_ties.h -- settling ties in batches.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte and needs stream 1 (and, one time in 256 of those, streams 2 and 3).
 * The SIMD paths write such an element provisionally, remember its index
 * and its input value here, and settle eight at a time with one
 * lane-parallel Philox call: the tie costs about 1/8 of a block instead of
 * a scalar block, and the main loop stays branch-light.
 */
#ifndef FD_TIES_H
#define FD_TIES_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"
#include "fd_half.h"

#define FD_TIE_CAPACITY (FD_CHUNK_ELEMS + FD_LANES)

typedef struct {
    int64_t offset[FD_TIE_CAPACITY];  /* element offset from the start of x / y */
    uint64_t block[FD_TIE_CAPACITY];  /* Philox block of the element */
    int byte[FD_TIE_CAPACITY];        /* byte within the block */
    double value[FD_TIE_CAPACITY];    /* the input element (float16/32 widen exactly) */
    int count;
} fd_tie_queue;

/* Philox of FD_LANES blocks given their counter words in w (structure of
 * arrays, as fd_philox4x32_lanes); each SIMD path passes its own. */
typedef void (*fd_lanes_fn)(uint32_t w[4][FD_LANES], const fd_mask_params *mp, const void *round_keys);

/* keep decisions of up to FD_LANES queued elements from `at`, one
 * stream-1 Philox call for all of them */
static inline void fd_ties_decide(const fd_tie_queue *q, int at, const fd_mask_params *mp, int keep[FD_LANES],
                                  fd_lanes_fn lanes, const void *round_keys)
{
    int n = q->count - at < FD_LANES ? q->count - at : FD_LANES;
    uint32_t w[4][FD_LANES];
    for (int j = 0; j < FD_LANES; j++) {
        uint64_t b = j < n ? q->block[at + j] : 0;
        w[0][j] = (uint32_t)b;
        w[1][j] = (uint32_t)(b >> 32);
        w[2][j] = 1;
        w[3][j] = 0;
    }
    lanes(w, mp, round_keys);
    uint32_t t1 = fd_threshold_byte(mp->threshold, 1);
    int last = fd_threshold_last_level(mp->threshold);
    for (int j = 0; j < n; j++) {
        int byte = q->byte[at + j];
        uint32_t b = (w[byte >> 2][j] >> (8 * (byte & 3))) & 0xFF;
        if (b != t1)
            keep[j] = b < t1;
        else
            keep[j] = last > 1 && fd_refine_keep(mp, q->block[at + j], byte);
    }
}

/* Settle every queued element: y = value * (keep ? scale : 0) in the
 * dtype's arithmetic.  Called only after the provisional stores. */
#define FD_TIES_FLUSH(NAME, T, S, STORE)                                                   \
    static inline void NAME(fd_tie_queue *q, const fd_mask_params *mp, T *y, S scale,      \
                            fd_lanes_fn lanes, const void *round_keys)                     \
    {                                                                                      \
        for (int at = 0; at < q->count; at += FD_LANES) {                                  \
            int keep[FD_LANES];                                                            \
            fd_ties_decide(q, at, mp, keep, lanes, round_keys);                            \
            for (int j = 0; j < FD_LANES && at + j < q->count; j++)                        \
                y[q->offset[at + j]] = STORE((S)q->value[at + j] * (keep[j] ? scale : (S)0)); \
        }                                                                                  \
        q->count = 0;                                                                      \
    }
#define FD_IDENTITY(v) (v)
FD_TIES_FLUSH(fd_ties_flush_f32, float, float, FD_IDENTITY)
FD_TIES_FLUSH(fd_ties_flush_f64, double, double, FD_IDENTITY)
FD_TIES_FLUSH(fd_ties_flush_f16, uint16_t, float, fd_float_to_half)

/* Queue the ties of one block: bit j of `bits` set = byte j tied. */
static inline void fd_ties_push(fd_tie_queue *q, uint32_t bits, uint64_t block, int64_t offset0,
                                const void *x, int dtype_size)
{
    while (bits) {
        int j = __builtin_ctz(bits);
        bits &= bits - 1;
        int64_t off = offset0 + j;
        q->offset[q->count] = off;
        q->block[q->count] = block;
        q->byte[q->count] = j;
        if (dtype_size == 4)
            q->value[q->count] = ((const float *)x)[off];
        else if (dtype_size == 8)
            q->value[q->count] = ((const double *)x)[off];
        else
            q->value[q->count] = fd_half_to_float(((const uint16_t *)x)[off]);
        q->count++;
    }
}

#endif /* FD_TIES_H */
