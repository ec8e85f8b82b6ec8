/*
 * fd_ties.h -- settling ties group by group, off the main loop's critical path.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte; its decision needs byte 1 (stream 1) and, one time in 256 of those,
 * bytes 2 and 3.  Roughly 4 chunks in 10 hold such a tie, so a branch on
 * "this chunk has a tie" is unpredictable, and a mispredicted branch that
 * depends on a Philox result is resolved only when that result arrives:
 * everything fetched behind it (most of the next group's Philox work) is
 * thrown away.  The SIMD paths therefore never branch on a tie.  Chunks are
 * decided FD_GROUP at a time (a group: 32 blocks), and in loop step g:
 *
 *   - group g is decided: its level-0 decisions and tie bits go to small
 *     rings;
 *   - the tied blocks of group g - FD_SETTLE_LAG are taken four at a time
 *     (a group holds about two: each block ties with probability
 *     1 - (255/256)^16, about 6%), and their stream-1 Philox rounds run in
 *     the same loop as group g's, as a fifth, half-width set of four
 *     blocks.  Empty slots point at spare words that hold no tie, so the
 *     work is the same for every group;
 *   - the slots taken in step g - 1 are compared with the threshold's byte
 *     1 and the kept elements marked in their group's decisions.  Using a
 *     Philox result one step after it is computed keeps the step's own
 *     chains free of consumers: settling in the same step cost about 20%
 *     more;
 *   - group g - FD_APPLY_LAG, settled by now, is applied: one read and one
 *     write of the buffer, exactly as for a p that never ties.
 *
 * Only a group with more than four tied blocks (about 4% of groups) takes a
 * branch to settle the rest, and only a second tie (1/256 of ties) goes on
 * to streams 2 and 3 in scalar code.  A group's decisions and tie bits are
 * read as 32 words of 16 bits, word w standing for one block of chunk
 * w / 8 (each path has its own order of blocks within a chunk).  Settling
 * costs about 1/8 of the level-0 Philox work plus a few scalar operations
 * per group.
 */
#ifndef FD_TIES_H
#define FD_TIES_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"

#define FD_GROUP 4          /* chunks decided together (independent Philox chains) */
#define FD_TIE_WORDS (8 * FD_GROUP)  /* 16-bit words of a group's tie bits: one per block */
#define FD_SETTLE_LAG 1     /* loop steps from deciding a group to taking its ties */
/* Loop steps from deciding a group to applying it: at least FD_SETTLE_LAG + 1
 * (its slots are compared before the apply step), and one more step measured
 * 5% faster in cache: the apply's loads then never wait for the 16-bit stores
 * of the correction to reach the cache. */
#define FD_APPLY_LAG 3
#define FD_RING_GROUPS 4    /* groups of decisions kept (a power of two above FD_APPLY_LAG) */
#define FD_TIE_GROUPS 4     /* groups of tie bits kept (a power of two above FD_SETTLE_LAG + 1) */

typedef uint16_t fd_tie_word __attribute__((may_alias));

/* One group's tie bits (8 words per chunk, in the path's order of blocks),
 * and spare words 32..35, always zero, for the empty slots. */
typedef struct {
    uint64_t bits[FD_GROUP][2];
    uint64_t spare[2];
} __attribute__((aligned(64))) fd_group_ties;

/* The next four tied words from `left` (bits 0..31 of tied words; the taken
 * ones are cleared), in w[]; a slot with none left gets a spare word
 * (32..35), whose tie bits are zero. */
static inline void fd_ties_take(uint64_t *left, int w[4])
{
    uint64_t k = *left | (UINT64_C(0xF) << FD_TIE_WORDS);
    for (int i = 0; i < 4; i++) {
        w[i] = __builtin_ctzll(k);
        k &= k - 1;
    }
    *left = k & ((UINT64_C(1) << FD_TIE_WORDS) - 1);
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
 * The main loop of a SIMD path, over nchunks whole chunks (uses x, y,
 * nchunks, block0, mp and rk from the enclosing scope; t1, byte 1 of the
 * threshold in every byte of a 256-bit vector, is its own).  Without ties
 * (dyadic p) a group is applied as soon as it is decided; with ties, see
 * above.  P names the path's pieces (mp, rk and t1 are passed on where
 * needed):
 *
 *   P##_ring_row        one chunk's decisions;
 *   P##_group_rows      a group's decisions (field row[FD_GROUP]) and
 *                       room for the spare words' slots;
 *   P##_tie_slots       four taken slots: w[4] and their Philox state;
 *   P##_tied_words(t)   bits 0..31: which words of *t hold a tie;
 *   P##_take_ties(s, left, gblock0)   fd_ties_take and the slots' counters;
 *   P##_slot_rounds(s)  the slots' Philox rounds alone;
 *   P##_settle_slots(s, rows, ties, gblock0)  mark the slots' kept elements;
 *   P##_settle_rest(left, rows, ties, gblock0)  settle the rest (rare);
 *   DECIDE(rows, bits, c, s)  decide the group from chunk c (decisions to
 *                       rows); unless s is a null P##_tie_slots pointer,
 *                       also its tie bits (to bits), running its rounds
 *                       alongside the slots' rounds;
 *   APPLY(T, c, row, APPLY_BLOCK)     apply chunk c with its decisions.
 *
 * The last group may run past nchunks; those decisions are never applied.
 */
#define FD_TIES_APPLY_LOOP(T, P, DECIDE, APPLY, APPLY_BLOCK)                                        \
    if (fd_threshold_last_level(mp->threshold) == 0) {                                              \
        P##_ring_row rows[FD_GROUP] __attribute__((aligned(64)));                                   \
        uint64_t no_ties[FD_GROUP][2];                                                              \
        for (int64_t c = 0; c < nchunks; c += FD_GROUP) {                                           \
            DECIDE(rows, no_ties, c, (P##_tie_slots *)NULL);                                        \
            int live = nchunks - c < FD_GROUP ? (int)(nchunks - c) : FD_GROUP;                      \
            for (int k = 0; k < live; k++)                                                          \
                APPLY(T, c + k, rows[k], APPLY_BLOCK)                                               \
        }                                                                                           \
    } else {                                                                                        \
        const __m256i t1 = _mm256_set1_epi8((char)fd_threshold_byte(mp->threshold, 1));             \
        P##_group_rows ring[FD_RING_GROUPS];                                                        \
        fd_group_ties ties[FD_TIE_GROUPS];                                                          \
        memset(ties, 0, sizeof ties);                                                               \
        P##_tie_slots slots, taken;                                                                 \
        uint64_t taken_block = block0, none = 0;                                                    \
        P##_take_ties(&taken, &none, taken_block);   /* spare words only: settles nothing */        \
        const int64_t lag = FD_APPLY_LAG * FD_GROUP;                                                \
        for (int64_t c = 0; c < nchunks + lag; c += FD_GROUP) {                                     \
            int64_t g = c / FD_GROUP, s0 = c - FD_SETTLE_LAG * FD_GROUP;                            \
            P##_group_rows *rows = &ring[(g - FD_SETTLE_LAG) & (FD_RING_GROUPS - 1)];               \
            const fd_group_ties *tied = &ties[(g - FD_SETTLE_LAG) & (FD_TIE_GROUPS - 1)];           \
            uint64_t sb = block0 + 8 * (uint64_t)s0;                                                \
            uint64_t left = s0 >= 0 && s0 < nchunks ? P##_tied_words(tied) : 0;                     \
            P##_take_ties(&slots, &left, sb);                                                       \
            if (c < nchunks)                                                                        \
                DECIDE(ring[g & (FD_RING_GROUPS - 1)].row, ties[g & (FD_TIE_GROUPS - 1)].bits, c, &slots); \
            else if (s0 < nchunks)                                                                  \
                P##_slot_rounds(&slots, mp, rk);                                                    \
            P##_settle_slots(&taken, &ring[(g - 1 - FD_SETTLE_LAG) & (FD_RING_GROUPS - 1)],         \
                             &ties[(g - 1 - FD_SETTLE_LAG) & (FD_TIE_GROUPS - 1)], taken_block, mp, t1); \
            taken = slots;                                                                          \
            taken_block = sb;                                                                       \
            if (__builtin_expect(left != 0, 0))                                                     \
                P##_settle_rest(left, rows, tied, sb, mp, rk, t1);                                  \
            int64_t a0 = c - lag;                                                                   \
            if (a0 >= 0)                                                                            \
                for (int k = 0; k < FD_GROUP && a0 + k < nchunks; k++)                              \
                    APPLY(T, a0 + k, ring[(g - FD_APPLY_LAG) & (FD_RING_GROUPS - 1)].row[k], APPLY_BLOCK) \
        }                                                                                           \
    }

#endif /* FD_TIES_H */
