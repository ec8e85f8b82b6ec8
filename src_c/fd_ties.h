/*
 * fd_ties.h -- settling ties group by group, off the main loop's critical path.
 *
 * About one element in 256 has a level-0 byte equal to the threshold's top
 * byte; its decision needs byte 1 (stream 1) and, one time in 256 of those,
 * bytes 2 and 3.  Roughly 4 chunks in 10 hold such a tie, so a branch on
 * "this chunk has a tie" is unpredictable, and a mispredicted branch that
 * depends on a Philox result is resolved only when that result arrives:
 * everything fetched behind it (most of the next group's Philox work) is
 * thrown away.  The main loop (fd_simd_loop.h, the same for every path)
 * therefore never branches on a tie.  Chunks are decided FD_GROUP at a
 * time (a group: 32 blocks), and in loop step g:
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
 *     chains free of consumers;
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
 * (its slots are compared before the apply step), and one more so that the
 * apply's loads never wait for the correction's narrow stores. */
#define FD_APPLY_LAG 3
#define FD_RING_GROUPS 4    /* groups of decisions kept (a power of two above FD_APPLY_LAG) */
#define FD_TIE_GROUPS 4     /* groups of tie bits kept (a power of two above FD_SETTLE_LAG + 1) */
/* Entries of a gathered group's list of block numbers: one per block of the
 * group, and room for the blocks that a path's spare words stand for (up to
 * 38 on AVX-512), so that the empty slots read defined numbers. */
#define FD_GATHER_LEN (FD_TIE_WORDS + 8)

/* One group's tie bits, bit 16 (w % 4) + j of bits[w / 8][(w / 4) % 2]
 * for element j of word w (a path's word w stands for one block of chunk
 * w / 8, in the path's order of blocks), and spare words 32..35, always
 * zero, for the empty slots.  The x86 paths use this layout; NEON, with no
 * byte-to-bit instruction, keeps byte masks instead. */
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

#if defined(__GNUC__)
#define FD_ALWAYS_INLINE __attribute__((always_inline))
#else
#define FD_ALWAYS_INLINE
#endif

/* Bytes between the element being applied and the one prefetched, for
 * elements of `item` bytes. */
static inline FD_ALWAYS_INLINE uintptr_t fd_prefetch_distance(size_t item)
{
    return (uintptr_t)FD_PREFETCH_AHEAD * FD_CHUNK_ELEMS * item;
}

/* Prefetch the lines of the `bytes` bytes from address `at`.  Called by the
 * apply step for each block, so the prefetches are spread among the stores
 * (a burst of a group's worth leaves the memory bus idle in between).  A
 * prefetch never faults; the address is an integer because it may lie past
 * the end of the buffer.  Always inlined: GCC deems a function made of
 * prefetches free of effects and drops calls to it. */
static inline FD_ALWAYS_INLINE void fd_prefetch_lines(uintptr_t at, size_t bytes)
{
    for (size_t line = 0; line < bytes; line += 64)
        __builtin_prefetch((const void *)(at + line), 0, 3);
}

/* Tie bits of word w of a group (fd_group_ties layout): 16 bits, zero for
 * the spare words. */
static inline uint32_t fd_group_ties_word(const fd_group_ties *t, int w)
{
    if (w >= FD_TIE_WORDS)
        return 0;
    return (uint32_t)(t->bits[w >> 3][(w >> 2) & 1] >> (16 * (w & 3))) & 0xFFFFu;
}

/* The block number of block b of a group (0..31, or a spare word's block
 * past them): the group's b-th listed block when the group was gathered
 * from a list, else block b counted from the group's first, gblock0.
 * Inlined with a constant NULL list, the plain loop keeps its addition. */
static inline FD_ALWAYS_INLINE uint64_t fd_group_block(const uint64_t *list, uint64_t gblock0, uint64_t b)
{
    return list ? list[b] : gblock0 + b;
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

#endif /* FD_TIES_H */
