/*
 * fd_ties.h -- settling ties in batches, off the main loop's critical path.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte; its decision needs byte 1 (stream 1) and, one time in 256 of those,
 * bytes 2 and 3.  Roughly 4 chunks in 10 hold such a tie, so a branch on
 * "this chunk has a tie" is unpredictable, and a mispredicted branch that
 * depends on a Philox result throws away the next chunk's Philox work
 * already in flight.  The SIMD paths therefore never branch on a tie:
 *
 *   - a tied element is stored provisionally as x * 1 (its input, exactly:
 *     the fix-up below reads it back, so in-place calls work);
 *   - every chunk appends its tie bits to a small queue and advances the
 *     queue's length by (any tie ? 1 : 0), without a branch;
 *   - when the queue is full (a well-predicted branch, about one chunk in
 *     twenty), its tied blocks are settled FD_TIE_BATCH at a time: one SIMD
 *     Philox call gives the stream-1 bytes of all of them, and only the tied
 *     elements are stored again.
 *
 * A tie costs about 1/8 of a block's Philox plus a scalar store.
 */
#ifndef FD_TIES_H
#define FD_TIES_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"
#include "fd_half.h"

#define FD_TIE_BATCH 8      /* blocks settled by one SIMD Philox call */
#define FD_TIE_CHUNKS 32    /* queued chunks that trigger settling */
#define FD_TIE_PENDING (FD_TIE_BATCH + 8 * FD_TIE_CHUNKS)

typedef struct {
    /* chunks with a tie: index of the chunk within the call, and its tie bits
     * in the path's own layout (2 x 64 bits for 8 blocks of 16 elements) */
    int64_t chunk[FD_TIE_CHUNKS];
    uint64_t bits[FD_TIE_CHUNKS][2];
    int count;
    /* tied blocks waiting for a full batch: Philox block, element offset of
     * its first element, tie bits */
    uint64_t block[FD_TIE_PENDING];
    int64_t offset[FD_TIE_PENDING];
    uint32_t ties[FD_TIE_PENDING];
    int pending;
} fd_tie_queue;

static inline void fd_ties_init(fd_tie_queue *q)
{
    q->count = 0;
    q->pending = 0;
}

/* Record a chunk's tie bits; the length grows only if there is a tie. */
static inline void fd_ties_note(fd_tie_queue *q, int64_t chunk, uint64_t bits0, uint64_t bits1)
{
    q->chunk[q->count] = chunk;
    q->bits[q->count][0] = bits0;
    q->bits[q->count][1] = bits1;
    q->count += (bits0 | bits1) != 0;
}

/* Keep bits of one block's tied elements, given its stream-1 bytes compared
 * with the threshold's byte 1: `below` (byte < t1) and `equal` (byte == t1)
 * bits.  A second tie (1/256 of ties) goes on to streams 2 and 3. */
static inline uint32_t fd_ties_keep(const fd_mask_params *mp, uint64_t block, uint32_t ties, uint32_t below,
                                    uint32_t equal)
{
    uint32_t keep = ties & below;
    uint32_t deeper = ties & equal;
    while (__builtin_expect(deeper != 0, 0)) {
        int j = __builtin_ctz(deeper);
        deeper &= deeper - 1;
        if (fd_refine_keep_from(mp, block, j, 2))
            keep |= 1u << j;
    }
    return keep;
}

/*
 * NAME(q, mp, rk, x, y, scale, block0, all) settles the queued chunks (ATTR:
 * the path's target attribute).  SLOT(b) is where block b's 16 tie bits sit
 * among a chunk's 8 groups of 16; LEVEL1(blocks, mp, rk, below, equal) is
 * the path's SIMD stream-1 comparison over FD_TIE_BATCH blocks; FIX(xb, yb,
 * ties, keep, scale) stores xb[j] * (keep bit j ? scale : 0) into yb[j] for
 * the bits j of `ties`, in the dtype's arithmetic, and leaves the other
 * elements as they are (xb[j] still holds the input: the provisional store
 * was x * 1).  Tied blocks left over from an incomplete batch wait for the
 * next call, unless `all` is set (end of the buffer): then the last batch
 * is padded.
 */
#define FD_TIES_FLUSH(ATTR, NAME, SLOT, LEVEL1, RK_T, T, S, FIX)                                   \
    ATTR static inline void NAME##_batch(fd_tie_queue *q, int at, const fd_mask_params *mp,          \
                                         const RK_T *rk, const T *x, T *y, S scale)                 \
    {                                                                                               \
        uint32_t below[FD_TIE_BATCH], equal[FD_TIE_BATCH];                                          \
        LEVEL1(q->block + at, mp, rk, below, equal);                                                \
        for (int e = at; e < at + FD_TIE_BATCH; e++) {                                              \
            uint32_t keep = fd_ties_keep(mp, q->block[e], q->ties[e], below[e - at], equal[e - at]); \
            FIX(x + q->offset[e], y + q->offset[e], q->ties[e], keep, scale);                       \
        }                                                                                           \
    }                                                                                               \
    ATTR static void NAME(fd_tie_queue *q, const fd_mask_params *mp, const RK_T *rk, const T *x, T *y,  \
                          S scale, uint64_t block0, int all)                                        \
    {                                                                                               \
        int n = q->pending;                                                                         \
        for (int e = 0; e < q->count; e++) {   /* no branch per block: append, count if tied */    \
            uint64_t first = block0 + 8 * (uint64_t)q->chunk[e];                                    \
            int64_t offset = q->chunk[e] * FD_CHUNK_ELEMS;                                          \
            for (int g = 0; g < 8; g++) {                                                           \
                uint32_t ties = (uint32_t)(q->bits[e][g >> 2] >> (16 * (g & 3))) & 0xFFFFu;         \
                q->block[n] = first + (uint64_t)SLOT(g);                                            \
                q->offset[n] = offset + 16 * SLOT(g);                                               \
                q->ties[n] = ties;                                                                  \
                n += ties != 0;                                                                     \
            }                                                                                       \
        }                                                                                           \
        q->count = 0;                                                                               \
        if (all) {   /* pad the last batch with harmless copies of a queued block */                 \
            for (int e = n; e % FD_TIE_BATCH; e++) {                                                \
                q->block[e] = q->block[0];                                                          \
                q->offset[e] = q->offset[0];                                                        \
                q->ties[e] = 0;                                                                     \
            }                                                                                       \
            n = (n + FD_TIE_BATCH - 1) / FD_TIE_BATCH * FD_TIE_BATCH;                               \
        }                                                                                           \
        int at = 0;                                                                                 \
        for (; at + FD_TIE_BATCH <= n; at += FD_TIE_BATCH)                                          \
            NAME##_batch(q, at, mp, rk, x, y, scale);                                               \
        for (int e = at; e < n; e++) {   /* keep the remainder for the next settling */             \
            q->block[e - at] = q->block[e];                                                         \
            q->offset[e - at] = q->offset[e];                                                       \
            q->ties[e - at] = q->ties[e];                                                           \
        }                                                                                           \
        q->pending = n - at;                                                                        \
    }
#define FD_IDENTITY(v) (v)

#endif /* FD_TIES_H */
