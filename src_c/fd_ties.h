/*
 * fd_ties.h -- settling ties in batches, off the main loop's critical path.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte; its decision needs byte 1 (stream 1) and, one time in 256 of those,
 * bytes 2 and 3.  Roughly 4 chunks in 10 hold such a tie, so a branch on
 * "this chunk has a tie" is unpredictable, and a mispredicted branch that
 * depends on a Philox result is resolved only when that result arrives:
 * everything fetched behind it (most of the next group's Philox work) is
 * thrown away.  The SIMD paths therefore never branch on a tie, nor on
 * anything computed from recent decisions.  Chunks are decided FD_GROUP at
 * a time, `ahead` chunks before they are applied:
 *
 *   - each chunk's level-0 decisions go to a ring, and its tie bits, one
 *     group later, to a queue whose length grows by (any tie ? 1 : 0),
 *     without a branch;
 *   - every FD_SETTLE_EVERY chunks, and before the first chunk is applied
 *     (a branch on the loop counter only), the queued chunks' tied blocks
 *     are settled FD_TIE_BATCH at a time: one SIMD Philox call gives the
 *     stream-1 bytes of all of them, and the decisions in the ring are
 *     corrected;
 *   - `ahead` leaves room for a chunk's ties to be queued and settled
 *     before it is applied, so the apply step reads final decisions: one
 *     read and one write of the buffer, exactly as for a p that never ties.
 *
 * A tie costs about 1/16 of a block's Philox plus a few scalar operations.
 */
#ifndef FD_TIES_H
#define FD_TIES_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"

#define FD_GROUP 4          /* chunks decided together (independent Philox chains) */
#define FD_TIE_BATCH 16     /* blocks settled by one SIMD Philox call */
#define FD_SETTLE_EVERY 32  /* chunks between settlings (a multiple of FD_GROUP) */
#define FD_TIE_LAG FD_GROUP /* chunks between deciding a chunk and queuing its ties */
/* Chunks decided before they are applied, for long calls: room to queue a
 * chunk's ties and reach the next settling before the chunk is due. */
#define FD_AHEAD_MAX (FD_SETTLE_EVERY + FD_TIE_LAG)
#define FD_AHEAD 64         /* ring rows (a power of two, at least FD_AHEAD_MAX) */
/* Queued chunks between two settlings, at most. */
#define FD_TIE_ROOM (FD_SETTLE_EVERY + 2 * FD_GROUP)
#define FD_TIE_PENDING (8 * FD_TIE_ROOM + FD_TIE_BATCH)

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

/* How many chunks ahead of the stores a call of nchunks decides: all of a
 * short call (plus the lag), else FD_AHEAD_MAX.  A whole number of groups. */
static inline int64_t fd_ties_ahead(int64_t nchunks)
{
    int64_t whole = (nchunks + FD_GROUP - 1) / FD_GROUP * FD_GROUP + FD_TIE_LAG;
    return whole < FD_AHEAD_MAX ? whole : FD_AHEAD_MAX;
}

/* Chunks between the chunk being applied and the chunk prefetched.  A
 * group's loads come in one burst after its Philox work, too late for the
 * hardware prefetcher alone to keep the memory bus busy on large buffers. */
#define FD_PREFETCH_AHEAD (8 * FD_GROUP)

/* Prefetch the lines of the block of 16 items of type T that lies
 * FD_PREFETCH_AHEAD chunks after xb; called by the apply step for each
 * block, so the prefetches are spread among the stores (a burst of a
 * group's worth of prefetches leaves the memory bus idle in between).  A
 * prefetch never faults; the address is formed as an integer because it
 * may lie past the end of the buffer.  A macro: GCC deems a function made
 * of prefetches free of effects and drops calls to it. */
#define FD_PREFETCH_BLOCK(T, xb)                                                                    \
    for (size_t pf_at_ = 0; pf_at_ < 16 * sizeof(T); pf_at_ += 64)                                  \
        __builtin_prefetch((const void *)((uintptr_t)(xb) + FD_PREFETCH_AHEAD * FD_CHUNK_ELEMS * sizeof(T) + pf_at_), 0, 3)

/* Whether to settle the queue at the start of the loop step for group c
 * (after queuing, before applying): every FD_SETTLE_EVERY chunks, and just
 * before the first chunk is applied.  Depends on the loop counter only. */
static inline int fd_ties_settle_now(int64_t c, int64_t ahead)
{
    return c % FD_SETTLE_EVERY == 0 || c == ahead;
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
 * The main loop of a SIMD path, over nchunks whole chunks (uses mp, nchunks
 * and sizeof(T) items of x from the enclosing scope).  ROW_T holds one
 * chunk's decisions; DECIDE(rows, ties, c, want_ties) decides the FD_GROUP
 * chunks from chunk c into rows[] and their tie bits into ties[];
 * APPLY(T, c, row, APPLY_BLOCK) applies chunk c with the dtype's
 * APPLY_BLOCK; SETTLE(queue, ring) is the path's FD_TIES_SETTLE.  The
 * last group may run past nchunks; those decisions are never applied.
 * Without ties (dyadic p) a group is applied as soon as it is decided; with
 * ties, decisions run `ahead` chunks ahead through a ring, and ties are
 * settled in the ring before their chunk is applied.
 */
#define FD_TIES_MAIN_LOOP(T, ROW_T, DECIDE, APPLY, APPLY_BLOCK, SETTLE)                                    \
    {                                                                                               \
        uint64_t ties[FD_GROUP][2] = {{0}};                                                         \
        if (fd_threshold_last_level(mp->threshold) == 0) {                                          \
            ROW_T rows[FD_GROUP] __attribute__((aligned(64)));                                      \
            for (int64_t c = 0; c < nchunks; c += FD_GROUP) {                                       \
                DECIDE(rows, ties, c, 0);                                                             \
                int live = nchunks - c < FD_GROUP ? (int)(nchunks - c) : FD_GROUP;                  \
                for (int k = 0; k < live; k++)                                                      \
                    APPLY(T, c + k, rows[k], APPLY_BLOCK)                                             \
            }                                                                                       \
        } else {                                                                                    \
            ROW_T ring[FD_AHEAD] __attribute__((aligned(64)));                                      \
            fd_tie_queue queue;                                                                     \
            fd_ties_init(&queue);                                                                   \
            const int64_t ahead = fd_ties_ahead(nchunks);                                           \
            for (int64_t c = 0; c < nchunks + ahead; c += FD_GROUP) {                               \
                if (c >= FD_TIE_LAG && c - FD_TIE_LAG < nchunks)                                    \
                    fd_ties_note_group(&queue, c - FD_TIE_LAG, nchunks, ties);                      \
                if (fd_ties_settle_now(c, ahead))                                                   \
                    SETTLE(&queue, ring);                                                           \
                for (int64_t due = c - ahead; due < c - ahead + FD_GROUP; due++)                    \
                    if (due >= 0 && due < nchunks)                                                  \
                        APPLY(T, due, ring[due % FD_AHEAD], APPLY_BLOCK)                              \
                if (c < nchunks)                                                                    \
                    DECIDE(ring + c % FD_AHEAD, ties, c, 1);                                      \
            }                                                                                       \
        }                                                                                           \
    }

/* A pending tied block, packed in 64 bits: its 16 tie bits, its tie-bit
 * group g (0..7) within the chunk, and the chunk's index within the call. */
#define FD_TIE_ENTRY(chunk, g, bits) (((uint64_t)(chunk) << 24) | ((uint64_t)(g) << 16) | (uint64_t)(bits))
#define FD_TIE_ENTRY_CHUNK(e) ((int64_t)((e) >> 24))
#define FD_TIE_ENTRY_GROUP(e) ((int)((e) >> 16) & 7)
#define FD_TIE_ENTRY_BITS(e) ((uint32_t)(e) & 0xFFFFu)

/* The tied blocks of queued chunk e appended at index n of `pending`,
 * without a branch per block; returns the new length.  (The AVX-512 path
 * has its own, with compress instructions.) */
static inline int fd_ties_expand(const fd_tie_queue *q, int e, uint64_t *pending, int n)
{
    for (int g = 0; g < 8; g++) {
        uint32_t t = (uint32_t)(q->bits[e][g >> 2] >> (16 * (g & 3))) & 0xFFFFu;
        pending[n] = FD_TIE_ENTRY(q->chunk[e], g, t);
        n += t != 0;
    }
    return n;
}

/*
 * NAME(q, mp, rk, block0, ring) settles every queued chunk (ATTR: the
 * path's target attribute).  EXPAND is fd_ties_expand or the path's own;
 * SLOT(g) the block (0..7) of tie-bit group g; LEVEL1(blocks, mp, rk,
 * below, equal) the path's SIMD stream-1 comparison over FD_TIE_BATCH
 * blocks; UPDATE(ring, chunk, g, keep) marks the elements of `keep` (bits
 * of group g of chunk `chunk`) kept in the ring of level-0 decisions.
 */
#define FD_TIES_SETTLE(ATTR, NAME, EXPAND, SLOT, LEVEL1, RK_T, RING_T, UPDATE)                     \
    ATTR static void NAME(fd_tie_queue *q, const fd_mask_params *mp, const RK_T *rk, uint64_t block0, \
                          RING_T ring)                                                              \
    {                                                                                               \
        uint64_t pending[FD_TIE_PENDING];                                                           \
        int n = 0;                                                                                  \
        for (int e = 0; e < q->count; e++)                                                          \
            n = EXPAND(q, e, pending, n);                                                           \
        q->count = 0;                                                                               \
        for (int e = n; e % FD_TIE_BATCH; e++)   /* pad the last batch: no ties */                 \
            pending[e] = pending[0] & ~(uint64_t)0xFFFF;                                            \
        for (int at = 0; at < n; at += FD_TIE_BATCH) {                                              \
            uint64_t block[FD_TIE_BATCH];                                                           \
            uint32_t below[FD_TIE_BATCH], equal[FD_TIE_BATCH];                                      \
            for (int e = 0; e < FD_TIE_BATCH; e++)                                                  \
                block[e] = block0 + 8 * (uint64_t)FD_TIE_ENTRY_CHUNK(pending[at + e])               \
                           + (uint64_t)SLOT(FD_TIE_ENTRY_GROUP(pending[at + e]));                   \
            LEVEL1(block, mp, rk, below, equal);                                                    \
            for (int e = 0; e < FD_TIE_BATCH; e++) {                                                \
                uint64_t entry = pending[at + e];                                                   \
                uint32_t keep = fd_ties_keep(mp, block[e], FD_TIE_ENTRY_BITS(entry), below[e], equal[e]); \
                UPDATE(ring, FD_TIE_ENTRY_CHUNK(entry), FD_TIE_ENTRY_GROUP(entry), keep);           \
            }                                                                                       \
        }                                                                                           \
    }

#endif /* FD_TIES_H */
