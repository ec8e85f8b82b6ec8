/*
 * fd_ties.h -- settling ties in batches, off the main loop's critical path.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte; its decision needs byte 1 (stream 1) and, one time in 256 of those,
 * bytes 2 and 3.  Roughly 4 chunks in 10 hold such a tie, so a branch on
 * "this chunk has a tie" is unpredictable, and a mispredicted branch that
 * depends on a Philox result throws away the next chunk's Philox work
 * already in flight.  The SIMD paths therefore never branch on a tie.
 * They decide chunks FD_AHEAD chunks before applying them:
 *
 *   - each chunk's level-0 decisions go to a small ring, and its tie bits
 *     to a queue whose length grows by (any tie ? 1 : 0), without a branch;
 *   - before a chunk is applied, if the queue is full or its oldest chunk
 *     is the one due (a well-predicted branch, about one chunk in fifty),
 *     the queued chunks' tied blocks are settled FD_TIE_BATCH at a time:
 *     one SIMD Philox call gives the stream-1 bytes of all of them, and the
 *     decisions in the ring are corrected;
 *   - the apply step then reads final decisions: one read and one write of
 *     the buffer, exactly as for a p that never ties.
 *
 * A tie costs about 1/8 of a block's Philox plus a few scalar operations.
 */
#ifndef FD_TIES_H
#define FD_TIES_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"

#define FD_GROUP 4          /* chunks decided together (independent Philox chains) */
#define FD_TIE_BATCH 8      /* blocks settled by one SIMD Philox call */
#define FD_AHEAD 64         /* ring size: most chunks decided before they are applied */
#define FD_TIE_CHUNKS 32     /* queued chunks that trigger settling */
/* room for a full queue plus one group noted after the last check */
#define FD_TIE_ROOM (FD_TIE_CHUNKS + FD_GROUP)
#define FD_TIE_PENDING (FD_TIE_BATCH * (FD_TIE_ROOM + 1))

typedef struct {
    /* chunks with a tie, oldest first: index of the chunk within the call,
     * and its tie bits in the path's own layout (8 groups of 16 bits) */
    int64_t chunk[FD_TIE_ROOM];
    uint64_t bits[FD_TIE_ROOM][2];
    int count;
} fd_tie_queue;

static inline void fd_ties_init(fd_tie_queue *q)
{
    q->count = 0;
}

/* How many chunks ahead of the stores a call of nchunks decides: the whole
 * call if it is short, else the ring; a whole number of groups, at least one. */
static inline int64_t fd_ties_ahead(int64_t nchunks)
{
    int64_t ahead = nchunks < FD_AHEAD ? nchunks : FD_AHEAD;
    return (ahead + FD_GROUP - 1) / FD_GROUP * FD_GROUP;
}

/* Record a chunk's tie bits; the length grows only if there is a tie. */
static inline void fd_ties_note(fd_tie_queue *q, int64_t chunk, uint64_t bits0, uint64_t bits1)
{
    q->chunk[q->count] = chunk;
    q->bits[q->count][0] = bits0;
    q->bits[q->count][1] = bits1;
    q->count += (bits0 | bits1) != 0;
}

/* Record the tie bits of the FD_GROUP chunks from `chunk` on; those at or
 * past nchunks (decided, never applied) are recorded as tie-free. */
static inline void fd_ties_note_group(fd_tie_queue *q, int64_t chunk, int64_t nchunks,
                                      const uint64_t ties[FD_GROUP][2])
{
    for (int k = 0; k < FD_GROUP; k++) {
        uint64_t live = chunk + k < nchunks ? ~(uint64_t)0 : 0;
        fd_ties_note(q, chunk + k, ties[k][0] & live, ties[k][1] & live);
    }
}

/* Whether the queued chunks must be settled before chunk `due` is applied. */
static inline int fd_ties_due(const fd_tie_queue *q, int64_t due)
{
    return q->count >= FD_TIE_CHUNKS || (q->count > 0 && q->chunk[0] == due);
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

/* The tied blocks of queued chunk e appended at index n of the pending
 * arrays, without a branch per block; returns the new length.  SLOT(g) is
 * the block (0..7) of tie-bit group g.  (The AVX-512 path has its own,
 * with compress instructions.) */
#define FD_TIES_EXPAND(ATTR, NAME, SLOT)                                                             \
    ATTR static inline int NAME(const fd_tie_queue *q, int e, uint64_t block0, uint64_t *block,     \
                                int64_t *chunk, int *group, uint32_t *ties, int n)                  \
    {                                                                                               \
        uint64_t first = block0 + 8 * (uint64_t)q->chunk[e];                                        \
        for (int g = 0; g < 8; g++) {                                                               \
            uint32_t t = (uint32_t)(q->bits[e][g >> 2] >> (16 * (g & 3))) & 0xFFFFu;                \
            block[n] = first + (uint64_t)SLOT(g);                                                   \
            chunk[n] = q->chunk[e];                                                                 \
            group[n] = g;                                                                           \
            ties[n] = t;                                                                            \
            n += t != 0;                                                                            \
        }                                                                                           \
        return n;                                                                                   \
    }

/*
 * NAME(q, mp, rk, block0, ring) settles every queued chunk (ATTR: the
 * path's target attribute).  EXPAND is the path's FD_TIES_EXPAND;
 * LEVEL1(blocks, mp, rk, below, equal) its SIMD stream-1 comparison over
 * FD_TIE_BATCH blocks; UPDATE(ring, chunk, g, keep) marks the elements of
 * `keep` (bits of group g of chunk `chunk`) kept in the ring of level-0
 * decisions.
 */
#define FD_TIES_SETTLE(ATTR, NAME, EXPAND, LEVEL1, RK_T, RING_T, UPDATE)                           \
    ATTR static void NAME(fd_tie_queue *q, const fd_mask_params *mp, const RK_T *rk, uint64_t block0, \
                          RING_T ring)                                                              \
    {                                                                                               \
        uint64_t block[FD_TIE_PENDING];                                                             \
        int64_t chunk[FD_TIE_PENDING];                                                              \
        uint32_t ties[FD_TIE_PENDING];                                                              \
        int group[FD_TIE_PENDING];                                                                  \
        int n = 0;                                                                                  \
        for (int e = 0; e < q->count; e++)                                                          \
            n = EXPAND(q, e, block0, block, chunk, group, ties, n);                                 \
        q->count = 0;                                                                               \
        for (int e = n; e % FD_TIE_BATCH; e++) {   /* pad the last batch */                        \
            block[e] = block[0];                                                                    \
            chunk[e] = chunk[0];                                                                    \
            group[e] = group[0];                                                                    \
            ties[e] = 0;                                                                            \
        }                                                                                           \
        for (int at = 0; at < n; at += FD_TIE_BATCH) {                                              \
            uint32_t below[FD_TIE_BATCH], equal[FD_TIE_BATCH];                                      \
            LEVEL1(block + at, mp, rk, below, equal);                                               \
            for (int e = 0; e < FD_TIE_BATCH; e++) {                                                \
                uint32_t keep = fd_ties_keep(mp, block[at + e], ties[at + e], below[e], equal[e]);  \
                UPDATE(ring, chunk[at + e], group[at + e], keep);                                   \
            }                                                                                       \
        }                                                                                           \
    }

#endif /* FD_TIES_H */
