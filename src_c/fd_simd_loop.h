/*
 * fd_simd_loop.h -- the algorithm every path shares, written once and
 * compiled once per path.
 *
 * A path's header (fd_portable.h, fd_avx2.h, fd_avx512.h, fd_neon.h)
 * defines its primitives, each name carrying the path's prefix, sets
 * FD_FN(name) to paste that prefix, and includes this file (which
 * therefore has no include guard).  The x86 headers do so under their
 * #pragma target, so this code is compiled for their instruction sets.
 * Nothing here names an intrinsic.
 *
 * The primitives of a path (after the prefix), with the same signatures on
 * every path:
 *
 *   ctx                  per-call constants: round keys, threshold bytes 0
 *                        and 1 broadcast, the number of rounds;
 *   ring_row             one chunk's decisions, in the path's order;
 *   group_rows           row[FD_GROUP] and room for the spare words;
 *   group_ties           a group's tie marks and zero spare words;
 *   tie_slots            four taken words w[4] and their stream-1 state;
 *   ctx_init(ctx, mp)
 *   decide_group(rows, ties, chunks, block0, mp, ctx, want_ties, slots, list)
 *                        level-0 decisions of `chunks` chunks from block0,
 *                        or, unless list is NULL, of the blocks numbered
 *                        list[0 .. 8 chunks - 1] (and with want_ties their
 *                        tie marks); unless slots is NULL the slots' rounds
 *                        run alongside;
 *   word_block(w)        block (0..31 in the group, spare words past it)
 *                        that word w stands for;
 *   tied_words(ties)     bits 0..31: the words holding a tie;
 *   word_ties(ties, w)   16 tie bits of word w (zero for spare words);
 *   word_keep(rows, w)   16 keep bits of word w;
 *   mark_kept(rows, w, bits)   mark the elements of word w in bits kept;
 *   slot_counters(slots, gblock0, list)   stream-1 counters of the four
 *                        words (fd_group_block);
 *   slot_rounds(slots, ctx)
 *   slot_compare(slots, ctx, lt, eq)   per slot, 16 bits: byte 1 below /
 *                        equal to the threshold's byte 1;
 *   bits                 the decisions of 16 consecutive elements, as the
 *                        applies take them (a pointer to bytes, or bits);
 *   block_bits(row, b)   those of block b of a chunk;
 *   apply16_f32, _f64, _f16, _bf16 (x, y, bits, scale)
 *                        y = x * (kept ? scale : 0) for 16 elements; x == y
 *                        allowed;
 *   apply_part(dtype, x, y, bits, lo, hi, scale)   only where the path
 *                        defines FD_PATH_APPLY_PART: elements lo .. hi - 1
 *                        of the 16, x and y at element lo, nothing else
 *                        read or written; 0 for a dtype it leaves to the
 *                        shared copy;
 *   line, line_fill(line, rows), line_bits(line, e)
 *                        a gathered group's decisions in the order of its
 *                        list of blocks, and those of its elements e ..
 *                        e + 15; where the path defines FD_PATH_LINE_BYTES
 *                        (bits point at bytes, one per element) the shared
 *                        ones below.
 */

#include "fd_runs.h"

#ifdef FD_PATH_LINE_BYTES
/* A gathered group's decision bytes in the order of its list, and one
 * block's worth after them, which a partial apply may read for lanes it
 * masks off. */
typedef struct {
    unsigned char d[FD_BLOCK_ELEMS * (FD_TIE_WORDS + 1)];
} FD_FN(line);

static inline FD_ALWAYS_INLINE void FD_FN(line_fill)(FD_FN(line) *line, const FD_FN(group_rows) *rows)
{
    for (int c = 0; c < FD_GROUP; c++)
        for (int b = 0; b < FD_CHUNK_BLOCKS; b++)
            memcpy(line->d + FD_BLOCK_ELEMS * (FD_CHUNK_BLOCKS * c + b), FD_FN(block_bits)(&rows->row[c], b),
                   FD_BLOCK_ELEMS);
}

static inline FD_ALWAYS_INLINE FD_FN(bits) FD_FN(line_bits)(const FD_FN(line) *line, uint32_t e)
{
    return line->d + e;
}
#endif

/* Apply 16 elements of `dtype` (a constant after inlining). */
static inline FD_ALWAYS_INLINE void FD_FN(apply_bits)(int dtype, const char *x, char *y, FD_FN(bits) bits,
                                                      double scale)
{
    if (dtype == FD_FLOAT32)
        FD_FN(apply16_f32)((const float *)(const void *)x, (float *)(void *)y, bits, (float)scale);
    else if (dtype == FD_FLOAT64)
        FD_FN(apply16_f64)((const double *)(const void *)x, (double *)(void *)y, bits, scale);
    else if (dtype == FD_FLOAT16)
        FD_FN(apply16_f16)((const uint16_t *)(const void *)x, (uint16_t *)(void *)y, bits, (float)scale);
    else
        FD_FN(apply16_bf16)((const uint16_t *)(const void *)x, (uint16_t *)(void *)y, bits, (float)scale);
}

/* Apply block b of a chunk. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_block)(int dtype, const char *x, char *y,
                                                       const FD_FN(ring_row) *row, int b, double scale)
{
    FD_FN(apply_bits)(dtype, x, y, FD_FN(block_bits)(row, b), scale);
}

/* Apply chunk c (one read and one write of its bytes), prefetching for
 * each block the lines `ahead` bytes after it. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_chunk_ahead)(int dtype, const char *x, char *y, int64_t c,
                                                             const FD_FN(ring_row) *row, double scale,
                                                             uintptr_t ahead)
{
    size_t item = (size_t)fd_itemsize(dtype);
    size_t at = (size_t)c * FD_CHUNK_ELEMS * item;
    for (int b = 0; b < FD_CHUNK_BLOCKS; b++, at += FD_BLOCK_ELEMS * item) {
        fd_prefetch_lines((uintptr_t)(x + at) + ahead, FD_BLOCK_ELEMS * item);
        FD_FN(apply_block)(dtype, x + at, y + at, row, b, scale);
    }
}

/* Apply chunk c of a contiguous buffer, prefetching straight ahead. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_chunk)(int dtype, const char *x, char *y, int64_t c,
                                                       const FD_FN(ring_row) *row, double scale)
{
    FD_FN(apply_chunk_ahead)(dtype, x, y, c, row, scale, fd_prefetch_distance((size_t)fd_itemsize(dtype)));
}

/* Apply chunk c of a run (rows of a view), prefetching ahead along the
 * runs: as far ahead in the run, or, where that passes the run's end
 * (`end`), as far into the next run (at `next`).  A straight prefetch
 * would fetch the memory between the rows, which a view does not read: a
 * block of a wider array ran 50% slower with it.  Decided once per chunk:
 * a chunk whose target straddles the run's end fetches the rest of the run
 * and the start of the next one late. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_run_chunk)(int dtype, const char *x, char *y, int64_t c,
                                                           const FD_FN(ring_row) *row, double scale,
                                                           const char *end, const char *next)
{
    size_t item = (size_t)fd_itemsize(dtype);
    uintptr_t ahead = fd_prefetch_distance(item);
    if ((uintptr_t)(x + (size_t)c * FD_CHUNK_ELEMS * item) + ahead >= (uintptr_t)end)
        ahead += (uintptr_t)next - (uintptr_t)end;
    FD_FN(apply_chunk_ahead)(dtype, x, y, c, row, scale, ahead);
}

/* Take the next four tied words of a group (spare words when none are
 * left) and set their stream-1 counters. */
static inline FD_ALWAYS_INLINE void FD_FN(take_ties)(FD_FN(tie_slots) *s, uint64_t *left, uint64_t gblock0,
                                                     const uint64_t *list)
{
    fd_ties_take(left, s->w);
    FD_FN(slot_counters)(s, gblock0, list);
}

/* Compare the slots' stream-1 bytes with the threshold's byte 1 and mark
 * the kept elements in the group's decisions; a second tie goes on to
 * streams 2 and 3 (rare, scalar). */
static inline FD_ALWAYS_INLINE void FD_FN(settle_slots)(const FD_FN(tie_slots) *s, FD_FN(group_rows) *rows,
                                                        const FD_FN(group_ties) *ties, uint64_t gblock0,
                                                        const uint64_t *list, const fd_mask_params *mp,
                                                        const FD_FN(ctx) *ctx)
{
    uint32_t lt[4], eq[4], deeper = 0;
    FD_FN(slot_compare)(s, ctx, lt, eq);
    for (int i = 0; i < 4; i++) {
        uint32_t t = FD_FN(word_ties)(ties, s->w[i]);
        FD_FN(mark_kept)(rows, s->w[i], t & lt[i]);
        deeper |= t & eq[i];
    }
    if (__builtin_expect(deeper != 0, 0)) {
        for (int i = 0; i < 4; i++) {
            uint32_t more = FD_FN(word_ties)(ties, s->w[i]) & eq[i];
            uint64_t block = fd_group_block(list, gblock0, FD_FN(word_block)(s->w[i]));
            FD_FN(mark_kept)(rows, s->w[i], fd_ties_keep(mp, block, more, 0, more));
        }
    }
}

/* The ties of a group left after its first four, four at a time. */
static void FD_FN(settle_rest)(uint64_t left, FD_FN(group_rows) *rows, const FD_FN(group_ties) *ties,
                               uint64_t gblock0, const uint64_t *list, const fd_mask_params *mp,
                               const FD_FN(ctx) *ctx)
{
    while (left) {
        FD_FN(tie_slots) s;
        FD_FN(take_ties)(&s, &left, gblock0, list);
        FD_FN(slot_rounds)(&s, ctx);
        FD_FN(settle_slots)(&s, rows, ties, gblock0, list, mp, ctx);
    }
}

/* Without ties (dyadic p): each group is applied as soon as it is decided. */
static inline FD_ALWAYS_INLINE void FD_FN(loop_no_ties)(int dtype, const char *x, char *y, int64_t nchunks,
                                                        uint64_t block0, const fd_mask_params *mp,
                                                        const FD_FN(ctx) *ctx, double scale)
{
    FD_FN(group_rows) rows;
    FD_FN(group_ties) unused;
    for (int64_t c = 0; c < nchunks; c += FD_GROUP) {
        FD_FN(decide_group)(&rows, &unused, FD_GROUP, block0 + FD_CHUNK_BLOCKS * (uint64_t)c, mp, ctx, 0, NULL,
                            NULL);
        int live = nchunks - c < FD_GROUP ? (int)(nchunks - c) : FD_GROUP;
        for (int k = 0; k < live; k++)
            FD_FN(apply_chunk)(dtype, x, y, c + k, &rows.row[k], scale);
    }
}

/* With ties: decide group g, run the slots of group g - FD_SETTLE_LAG
 * alongside, settle the slots taken one step earlier, apply group
 * g - FD_APPLY_LAG (fd_ties.h).  The last group may run past nchunks;
 * those decisions are never applied. */
static inline FD_ALWAYS_INLINE void FD_FN(loop_ties)(int dtype, const char *x, char *y, int64_t nchunks,
                                                     uint64_t block0, const fd_mask_params *mp,
                                                     const FD_FN(ctx) *ctx, double scale)
{
    FD_FN(group_rows) ring[FD_RING_GROUPS];
    FD_FN(group_ties) ties[FD_TIE_GROUPS];
    memset(ties, 0, sizeof ties);
    FD_FN(tie_slots) slots, taken;
    uint64_t taken_block = block0, none = 0;
    FD_FN(take_ties)(&taken, &none, taken_block, NULL);   /* spare words only: settles nothing */
    const int64_t lag = FD_APPLY_LAG * FD_GROUP;
    for (int64_t c = 0; c < nchunks + lag; c += FD_GROUP) {
        int64_t g = c / FD_GROUP, s0 = c - FD_SETTLE_LAG * FD_GROUP;
        FD_FN(group_rows) *rows = &ring[(g - FD_SETTLE_LAG) & (FD_RING_GROUPS - 1)];
        const FD_FN(group_ties) *tied = &ties[(g - FD_SETTLE_LAG) & (FD_TIE_GROUPS - 1)];
        uint64_t sb = block0 + FD_CHUNK_BLOCKS * (uint64_t)s0;
        uint64_t left = s0 >= 0 && s0 < nchunks ? FD_FN(tied_words)(tied) : 0;
        FD_FN(take_ties)(&slots, &left, sb, NULL);
        if (c < nchunks)
            FD_FN(decide_group)(&ring[g & (FD_RING_GROUPS - 1)], &ties[g & (FD_TIE_GROUPS - 1)], FD_GROUP,
                                block0 + FD_CHUNK_BLOCKS * (uint64_t)c, mp, ctx, 1, &slots, NULL);
        else if (s0 < nchunks)
            FD_FN(slot_rounds)(&slots, ctx);
        FD_FN(settle_slots)(&taken, &ring[(g - 1 - FD_SETTLE_LAG) & (FD_RING_GROUPS - 1)],
                            &ties[(g - 1 - FD_SETTLE_LAG) & (FD_TIE_GROUPS - 1)], taken_block, NULL, mp, ctx);
        taken = slots;
        taken_block = sb;
        if (__builtin_expect(left != 0, 0))
            FD_FN(settle_rest)(left, rows, tied, sb, NULL, mp, ctx);
        int64_t a0 = c - lag;
        if (a0 >= 0)
            for (int k = 0; k < FD_GROUP && a0 + k < nchunks; k++)
                FD_FN(apply_chunk)(dtype, x, y, a0 + k, &ring[(g - FD_APPLY_LAG) & (FD_RING_GROUPS - 1)].row[k],
                                   scale);
    }
}

static inline FD_ALWAYS_INLINE void FD_FN(apply_dtype)(int dtype, const char *x, char *y, int64_t nchunks,
                                                       uint64_t block0, const fd_mask_params *mp, double scale)
{
    FD_FN(ctx) ctx;
    FD_FN(ctx_init)(&ctx, mp);
    if (fd_threshold_last_level(mp->threshold) == 0)
        FD_FN(loop_no_ties)(dtype, x, y, nchunks, block0, mp, &ctx, scale);
    else
        FD_FN(loop_ties)(dtype, x, y, nchunks, block0, mp, &ctx, scale);
}

/* One function per dtype, each with its apply inlined: GCC allocates the
 * registers of a function as a whole, and a function holding four copies of
 * the loop allocates each worse than a function holding one. */
static FD_NOINLINE void FD_FN(apply_f32)(const char *x, char *y, int64_t nchunks, uint64_t block0,
                                         const fd_mask_params *mp, double scale)
{
    FD_FN(apply_dtype)(FD_FLOAT32, x, y, nchunks, block0, mp, scale);
}
static FD_NOINLINE void FD_FN(apply_f64)(const char *x, char *y, int64_t nchunks, uint64_t block0,
                                         const fd_mask_params *mp, double scale)
{
    FD_FN(apply_dtype)(FD_FLOAT64, x, y, nchunks, block0, mp, scale);
}
static FD_NOINLINE void FD_FN(apply_f16)(const char *x, char *y, int64_t nchunks, uint64_t block0,
                                         const fd_mask_params *mp, double scale)
{
    FD_FN(apply_dtype)(FD_FLOAT16, x, y, nchunks, block0, mp, scale);
}
static FD_NOINLINE void FD_FN(apply_bf16)(const char *x, char *y, int64_t nchunks, uint64_t block0,
                                          const fd_mask_params *mp, double scale)
{
    FD_FN(apply_dtype)(FD_BFLOAT16, x, y, nchunks, block0, mp, scale);
}

/*
 * y = x * (kept ? scale : 0) over nchunks whole chunks from block block0,
 * in place (x == y) or without overlap; threshold strictly inside
 * (0, 2^32).
 */
static void FD_FN(apply_chunks)(int dtype, const char *x, char *y, int64_t nchunks, uint64_t block0,
                                const fd_mask_params *mp, double scale)
{
    if (dtype == FD_FLOAT32)
        FD_FN(apply_f32)(x, y, nchunks, block0, mp, scale);
    else if (dtype == FD_FLOAT64)
        FD_FN(apply_f64)(x, y, nchunks, block0, mp, scale);
    else if (dtype == FD_FLOAT16)
        FD_FN(apply_f16)(x, y, nchunks, block0, mp, scale);
    else
        FD_FN(apply_bf16)(x, y, nchunks, block0, mp, scale);
}

/*
 * Elements lo .. hi - 1 (0 <= lo < hi <= FD_BLOCK_ELEMS) of 16 elements
 * decided by `bits`, x and y pointing at element lo, reading and writing
 * nothing else: the path's apply_part where it defines FD_PATH_APPLY_PART
 * and handles the dtype (masked loads and stores), else the vector apply
 * on a copy of the 16.
 */
static inline FD_ALWAYS_INLINE void FD_FN(apply_bits_part)(int dtype, const char *x, char *y, FD_FN(bits) bits,
                                                           int lo, int hi, double scale)
{
#ifdef FD_PATH_APPLY_PART
    if (FD_FN(apply_part)(dtype, x, y, bits, lo, hi, scale))
        return;
#endif
    union {
        float f32[FD_BLOCK_ELEMS];
        double f64[FD_BLOCK_ELEMS];
        uint16_t f16[FD_BLOCK_ELEMS];
    } __attribute__((aligned(64))) v;
    if (lo < 0 || hi > FD_BLOCK_ELEMS || lo >= hi)
        __builtin_unreachable();
    size_t item = (size_t)fd_itemsize(dtype), at = (size_t)lo * item, bytes = (size_t)(hi - lo) * item;
    memset(&v, 0, FD_BLOCK_ELEMS * item);   /* zeros, not stale values that may be slow denormals */
    fd_copy_short((char *)&v + at, x, bytes);
    FD_FN(apply_bits)(dtype, (const char *)&v, (char *)&v, bits, scale);
    fd_copy_short(y, (const char *)&v + at, bytes);
}

/* Elements lo .. hi - 1 of block b of a chunk, as apply_bits_part. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_block_part)(int dtype, const char *x, char *y,
                                                            const FD_FN(ring_row) *row, int b, int lo, int hi,
                                                            double scale)
{
    FD_FN(apply_bits_part)(dtype, x, y, FD_FN(block_bits)(row, b), lo, hi, scale);
}

/*
 * Elements lo .. hi - 1 (0 <= lo < hi <= FD_CHUNK_ELEMS) of a decided
 * chunk, x and y pointing at element lo: whole blocks with the vector
 * apply, the partial block at either end through a copy.
 */
static void FD_FN(apply_chunk_part)(int dtype, const char *x, char *y, const FD_FN(ring_row) *row, int lo, int hi,
                                    double scale)
{
    size_t item = (size_t)fd_itemsize(dtype);
    int b = lo / FD_BLOCK_ELEMS, head = lo % FD_BLOCK_ELEMS;
    if (head != 0 || hi - lo < FD_BLOCK_ELEMS) {   /* the piece starts inside block b or ends in it */
        int stop = hi - (lo - head) < FD_BLOCK_ELEMS ? hi % FD_BLOCK_ELEMS : FD_BLOCK_ELEMS;
        FD_FN(apply_block_part)(dtype, x, y, row, b, head, stop, scale);
        x += (size_t)(stop - head) * item;
        y += (size_t)(stop - head) * item;
        lo += stop - head;
        b++;
    }
    for (; hi - lo >= FD_BLOCK_ELEMS; b++, lo += FD_BLOCK_ELEMS) {
        FD_FN(apply_block)(dtype, x, y, row, b, scale);
        x += FD_BLOCK_ELEMS * item;
        y += FD_BLOCK_ELEMS * item;
    }
    if (lo < hi)
        FD_FN(apply_block_part)(dtype, x, y, row, b, 0, hi - lo, scale);
}

/*
 * Apply a decided group (chunks chunk0 .. chunk0 + live - 1 of the logical
 * array) to every run it covers, from the runs cursor on; the cursor ends
 * at the first run that goes on past the group.  Earlier groups have
 * applied every element of the runs before the group's first.
 */
static inline FD_ALWAYS_INLINE void FD_FN(apply_group_runs)(int dtype, fd_runs *r, FD_FN(group_rows) *rows,
                                                            uint64_t chunk0, int live, double scale)
{
    uint64_t lo = chunk0 * FD_CHUNK_ELEMS, hi = lo + (uint64_t)live * FD_CHUNK_ELEMS;
    int64_t item = fd_itemsize(dtype);
    while (!r->done && r->first < hi) {
        uint64_t run_end = r->first + (uint64_t)r->n;
        uint64_t from = r->first > lo ? r->first : lo, to = run_end < hi ? run_end : hi;
        int64_t at = (int64_t)(from - r->first) * item;
        const char *x = r->x0 + r->xoff + at;
        char *y = r->y0 + r->yoff + at;
        int k = (int)(from / FD_CHUNK_ELEMS - chunk0);
        int head = (int)(from % FD_CHUNK_ELEMS);
        if (head != 0 || to - from < FD_CHUNK_ELEMS) {   /* the run starts inside chunk k or ends in it */
            int stop = to - (from - (uint64_t)head) < FD_CHUNK_ELEMS ? (int)(to % FD_CHUNK_ELEMS) : FD_CHUNK_ELEMS;
            FD_FN(apply_chunk_part)(dtype, x, y, &rows->row[k], head, stop, scale);
            x += (stop - head) * item;
            y += (stop - head) * item;
            from += (uint64_t)(stop - head);
            k++;
        }
        int whole = (int)((to - from) / FD_CHUNK_ELEMS);
        if (whole > 0) {
            const char *end = r->x0 + r->xoff + r->n * item;
            const char *next = fd_runs_next_x(r, end);
            for (int j = 0; j < whole; j++)
                FD_FN(apply_run_chunk)(dtype, x, y, j, &rows->row[k + j], scale, end, next);
        }
        int tail = (int)((to - from) % FD_CHUNK_ELEMS);
        if (tail != 0) {
            int64_t skip = (int64_t)whole * FD_CHUNK_ELEMS * item;
            FD_FN(apply_chunk_part)(dtype, x + skip, y + skip, &rows->row[k + whole], 0, tail, scale);
        }
        if (to < run_end)
            return;
        fd_runs_next(r);
    }
}

/* Decide a span of fewer than FD_GROUP chunks, its tie marks cleared
 * first so that no earlier group's marks are settled in its unused
 * chunks.  Kept out of line: inlined, the compiler would merge it with the
 * full groups' decide, which then loses its constant chunk count. */
static FD_NOINLINE void FD_FN(decide_short)(FD_FN(group_rows) *rows, FD_FN(group_ties) *ties, int chunks,
                                            uint64_t block0, const fd_mask_params *mp, const FD_FN(ctx) *ctx,
                                            int want_ties, FD_FN(tie_slots) *slots)
{
    if (chunks < 1 || chunks >= FD_GROUP)
        __builtin_unreachable();
    if (want_ties)
        memset(ties, 0, sizeof *ties);
    if (chunks == 1)   /* each length its own copy, its rounds unrolled for that many sets */
        FD_FN(decide_group)(rows, ties, 1, block0, mp, ctx, want_ties, slots, NULL);
    else if (chunks == 2)
        FD_FN(decide_group)(rows, ties, 2, block0, mp, ctx, want_ties, slots, NULL);
    else
        FD_FN(decide_group)(rows, ties, chunks, block0, mp, ctx, want_ties, slots, NULL);
}

/* Without ties: each span is applied as soon as it is decided. */
static inline FD_ALWAYS_INLINE void FD_FN(runs_no_ties)(int dtype, fd_runs *decide, fd_runs *apply,
                                                        const fd_mask_params *mp, const FD_FN(ctx) *ctx,
                                                        double scale)
{
    FD_FN(group_rows) rows;
    FD_FN(group_ties) unused;
    uint64_t pos = 0, chunk0;
    for (int live; (live = fd_runs_span(decide, &pos, FD_GROUP, &chunk0)) > 0;) {
        uint64_t block0 = mp->counter + FD_CHUNK_BLOCKS * chunk0;
        if (live == FD_GROUP)
            FD_FN(decide_group)(&rows, &unused, FD_GROUP, block0, mp, ctx, 0, NULL, NULL);
        else
            FD_FN(decide_short)(&rows, &unused, live, block0, mp, ctx, 0, NULL);
        FD_FN(apply_group_runs)(dtype, apply, &rows, chunk0, live, scale);
    }
}

/*
 * With ties: the pipeline of loop_ties over the spans of the runs (each a
 * group of up to FD_GROUP consecutive chunks), so that the settling lag
 * is paid once per view, not once per row.
 */
static inline FD_ALWAYS_INLINE void FD_FN(runs_ties)(int dtype, fd_runs *decide, fd_runs *apply,
                                                     const fd_mask_params *mp, const FD_FN(ctx) *ctx, double scale)
{
    FD_FN(group_rows) ring[FD_RING_GROUPS];
    FD_FN(group_ties) ties[FD_TIE_GROUPS];
    uint64_t chunk0[FD_RING_GROUPS];
    int live[FD_RING_GROUPS];
    memset(ties, 0, sizeof ties);
    FD_FN(tie_slots) slots, taken;
    uint64_t taken_block = mp->counter, none = 0, pos = 0;
    FD_FN(take_ties)(&taken, &none, taken_block, NULL);   /* spare words only: settles nothing */
    int64_t groups = INT64_MAX;                     /* known once the runs are exhausted */
    for (int64_t g = 0; g - FD_APPLY_LAG < groups; g++) {
        int64_t s = g - FD_SETTLE_LAG, a = g - FD_APPLY_LAG;
        int gr = (int)(g & (FD_RING_GROUPS - 1)), sr = (int)(s & (FD_RING_GROUPS - 1));
        if (g < groups) {
            live[gr] = fd_runs_span(decide, &pos, FD_GROUP, &chunk0[gr]);
            if (live[gr] == 0)
                groups = g;
        }
        FD_FN(group_rows) *rows = &ring[sr];
        const FD_FN(group_ties) *tied = &ties[s & (FD_TIE_GROUPS - 1)];
        int settling = s >= 0 && s < groups;
        uint64_t sb = settling ? mp->counter + FD_CHUNK_BLOCKS * chunk0[sr] : mp->counter;
        uint64_t left = settling ? FD_FN(tied_words)(tied) : 0;
        FD_FN(take_ties)(&slots, &left, sb, NULL);
        if (g < groups) {
            FD_FN(group_ties) *gt = &ties[g & (FD_TIE_GROUPS - 1)];
            uint64_t block0 = mp->counter + FD_CHUNK_BLOCKS * chunk0[gr];
            if (live[gr] == FD_GROUP)
                FD_FN(decide_group)(&ring[gr], gt, FD_GROUP, block0, mp, ctx, 1, &slots, NULL);
            else
                FD_FN(decide_short)(&ring[gr], gt, live[gr], block0, mp, ctx, 1, &slots);
        } else if (settling) {
            FD_FN(slot_rounds)(&slots, ctx);
        }
        FD_FN(settle_slots)(&taken, &ring[(s - 1) & (FD_RING_GROUPS - 1)], &ties[(s - 1) & (FD_TIE_GROUPS - 1)],
                            taken_block, NULL, mp, ctx);
        taken = slots;
        taken_block = sb;
        if (__builtin_expect(left != 0, 0))
            FD_FN(settle_rest)(left, rows, tied, sb, NULL, mp, ctx);
        if (a >= 0 && a < groups) {
            int ar = (int)(a & (FD_RING_GROUPS - 1));
            FD_FN(apply_group_runs)(dtype, apply, &ring[ar], chunk0[ar], live[ar], scale);
        }
    }
}

/* Apply a gathered group's pieces, its decisions laid out in list order
 * first. */
static inline FD_ALWAYS_INLINE void FD_FN(apply_pieces)(int dtype, FD_FN(line) *line, const FD_FN(group_rows) *rows,
                                                        const fd_piece *pieces, int np, double scale)
{
    int64_t item = fd_itemsize(dtype);
    FD_FN(line_fill)(line, rows);
    for (int i = 0; i < np; i++) {
        const char *x = pieces[i].x;
        char *y = pieces[i].y;
        uint32_t e = pieces[i].e, len = pieces[i].len;
        for (; len >= FD_CHUNK_ELEMS; len -= FD_CHUNK_ELEMS, e += FD_CHUNK_ELEMS) {   /* unrolled: constant offsets */
            for (int b = 0; b < FD_CHUNK_BLOCKS; b++)
                FD_FN(apply_bits)(dtype, x + FD_BLOCK_ELEMS * item * b, y + FD_BLOCK_ELEMS * item * b,
                                  FD_FN(line_bits)(line, e + FD_BLOCK_ELEMS * (uint32_t)b), scale);
            x += FD_CHUNK_ELEMS * item;
            y += FD_CHUNK_ELEMS * item;
        }
        for (; len >= FD_BLOCK_ELEMS; len -= FD_BLOCK_ELEMS, e += FD_BLOCK_ELEMS) {
            FD_FN(apply_bits)(dtype, x, y, FD_FN(line_bits)(line, e), scale);
            x += FD_BLOCK_ELEMS * item;
            y += FD_BLOCK_ELEMS * item;
        }
        if (len > 0)
            FD_FN(apply_bits_part)(dtype, x, y, FD_FN(line_bits)(line, e), 0, (int)len, scale);
    }
}

/* Gathered groups without ties: each applied as soon as it is decided. */
static inline FD_ALWAYS_INLINE void FD_FN(gather_no_ties)(int dtype, fd_runs *runs, const fd_mask_params *mp,
                                                          const FD_FN(ctx) *ctx, double scale)
{
    FD_FN(group_rows) rows;
    FD_FN(group_ties) unused;
    FD_FN(line) line;
    memset(&line, 0, sizeof line);   /* the padding a partial apply reads */
    uint64_t list[FD_GATHER_LEN], pos = 0;
    fd_piece pieces[FD_GATHER_PIECES];
    int np;
    while (fd_runs_gather(runs, &pos, mp->counter, fd_itemsize(dtype), list, pieces, &np) > 0) {
        FD_FN(decide_group)(&rows, &unused, FD_GROUP, 0, mp, ctx, 0, NULL, list);
        FD_FN(apply_pieces)(dtype, &line, &rows, pieces, np, scale);
    }
}

/* Gathered groups with ties: the pipeline of runs_ties, each group's block
 * numbers and pieces kept in a ring beside its decisions until it is
 * applied. */
static inline FD_ALWAYS_INLINE void FD_FN(gather_ties)(int dtype, fd_runs *runs, const fd_mask_params *mp,
                                                       const FD_FN(ctx) *ctx, double scale)
{
    FD_FN(group_rows) ring[FD_RING_GROUPS];
    FD_FN(group_ties) ties[FD_TIE_GROUPS];
    FD_FN(line) line;
    memset(&line, 0, sizeof line);   /* the padding a partial apply reads */
    uint64_t list[FD_RING_GROUPS][FD_GATHER_LEN], pos = 0, none = 0;
    fd_piece pieces[FD_RING_GROUPS][FD_GATHER_PIECES];
    int np[FD_RING_GROUPS];
    memset(ties, 0, sizeof ties);
    memset(list, 0, sizeof list);   /* the empty slots of the first steps read these */
    FD_FN(tie_slots) slots, taken;
    FD_FN(take_ties)(&taken, &none, 0, list[0]);   /* spare words only: settles nothing */
    int64_t groups = INT64_MAX;                    /* known once the runs are exhausted */
    for (int64_t g = 0; g - FD_APPLY_LAG < groups; g++) {
        int64_t s = g - FD_SETTLE_LAG, a = g - FD_APPLY_LAG;
        int gr = (int)(g & (FD_RING_GROUPS - 1)), sr = (int)(s & (FD_RING_GROUPS - 1));
        int pr = (int)((s - 1) & (FD_RING_GROUPS - 1));
        if (g < groups && fd_runs_gather(runs, &pos, mp->counter, fd_itemsize(dtype), list[gr], pieces[gr],
                                         &np[gr]) == 0)
            groups = g;
        const FD_FN(group_ties) *tied = &ties[s & (FD_TIE_GROUPS - 1)];
        int settling = s >= 0 && s < groups;
        uint64_t left = settling ? FD_FN(tied_words)(tied) : 0;
        FD_FN(take_ties)(&slots, &left, 0, list[sr]);
        if (g < groups)
            FD_FN(decide_group)(&ring[gr], &ties[g & (FD_TIE_GROUPS - 1)], FD_GROUP, 0, mp, ctx, 1, &slots,
                                list[gr]);
        else if (settling)
            FD_FN(slot_rounds)(&slots, ctx);
        FD_FN(settle_slots)(&taken, &ring[pr], &ties[(s - 1) & (FD_TIE_GROUPS - 1)], 0, list[pr], mp, ctx);
        taken = slots;
        if (__builtin_expect(left != 0, 0))
            FD_FN(settle_rest)(left, &ring[sr], tied, 0, list[sr], mp, ctx);
        if (a >= 0 && a < groups) {
            int ar = (int)(a & (FD_RING_GROUPS - 1));
            FD_FN(apply_pieces)(dtype, &line, &ring[ar], pieces[ar], np[ar], scale);
        }
    }
}

/* The runs of a view through the pipeline that fits them: gathered groups
 * of 16-element blocks, or spans of whole chunks (`gathered` is a constant
 * after inlining), each with or without ties. */
static inline FD_ALWAYS_INLINE void FD_FN(runs_dtype)(int dtype, int gathered, const fd_runs *runs,
                                                      const fd_mask_params *mp, double scale)
{
    FD_FN(ctx) ctx;
    FD_FN(ctx_init)(&ctx, mp);
    fd_runs decide = *runs;
    int ties = fd_threshold_last_level(mp->threshold) != 0;
    if (gathered) {   /* one cursor: each group records where its pieces lie */
        if (ties)
            FD_FN(gather_ties)(dtype, &decide, mp, &ctx, scale);
        else
            FD_FN(gather_no_ties)(dtype, &decide, mp, &ctx, scale);
        return;
    }
    fd_runs apply = *runs;   /* the spans' apply walks the runs behind their decisions */
    if (ties)
        FD_FN(runs_ties)(dtype, &decide, &apply, mp, &ctx, scale);
    else
        FD_FN(runs_no_ties)(dtype, &decide, &apply, mp, &ctx, scale);
}

/* Runs in gathered groups (fd_runs_gathered).  A function of its own:
 * sharing one with the chunk spans' loops, each would get worse
 * registers. */
static FD_NOINLINE void FD_FN(apply_gathered_runs)(int dtype, const fd_runs *runs, const fd_mask_params *mp,
                                                   double scale)
{
    if (dtype == FD_FLOAT32)
        FD_FN(runs_dtype)(FD_FLOAT32, 1, runs, mp, scale);
    else if (dtype == FD_FLOAT64)
        FD_FN(runs_dtype)(FD_FLOAT64, 1, runs, mp, scale);
    else if (dtype == FD_FLOAT16)
        FD_FN(runs_dtype)(FD_FLOAT16, 1, runs, mp, scale);
    else
        FD_FN(runs_dtype)(FD_BFLOAT16, 1, runs, mp, scale);
}

/* Runs in spans of whole chunks, one function per dtype: GCC allocates the
 * registers of a function as a whole, and the AVX-512 float32 spans with
 * ties ran 10% slower sharing one with the other dtypes. */
static FD_NOINLINE void FD_FN(span_runs_f32)(const fd_runs *runs, const fd_mask_params *mp, double scale)
{
    FD_FN(runs_dtype)(FD_FLOAT32, 0, runs, mp, scale);
}
static FD_NOINLINE void FD_FN(span_runs_f64)(const fd_runs *runs, const fd_mask_params *mp, double scale)
{
    FD_FN(runs_dtype)(FD_FLOAT64, 0, runs, mp, scale);
}
static FD_NOINLINE void FD_FN(span_runs_f16)(const fd_runs *runs, const fd_mask_params *mp, double scale)
{
    FD_FN(runs_dtype)(FD_FLOAT16, 0, runs, mp, scale);
}
static FD_NOINLINE void FD_FN(span_runs_bf16)(const fd_runs *runs, const fd_mask_params *mp, double scale)
{
    FD_FN(runs_dtype)(FD_BFLOAT16, 0, runs, mp, scale);
}

/*
 * y = x * (kept ? scale : 0) over every run of `runs` (contiguous rows of
 * aligned elements, in increasing logical order without overlap, as
 * fd_runs_increasing checks), as one stream: each chunk the runs cover is
 * decided once, whole chunks are applied as in apply_chunks and the
 * partial chunks at the ends of the rows from the same decisions.  Rows
 * whose chunks hold many elements besides them (fd_runs_gathered) instead
 * gather the 16-element blocks they cover, from several rows, into each
 * group, so that no more is decided than the rows use, to the block.  In
 * place (x == y) or without overlap; threshold strictly inside (0, 2^32).
 */
static void FD_FN(apply_runs)(int dtype, const fd_runs *runs, const fd_mask_params *mp, double scale)
{
    if (fd_runs_gathered(runs))
        FD_FN(apply_gathered_runs)(dtype, runs, mp, scale);
    else if (dtype == FD_FLOAT32)
        FD_FN(span_runs_f32)(runs, mp, scale);
    else if (dtype == FD_FLOAT64)
        FD_FN(span_runs_f64)(runs, mp, scale);
    else if (dtype == FD_FLOAT16)
        FD_FN(span_runs_f16)(runs, mp, scale);
    else
        FD_FN(span_runs_bf16)(runs, mp, scale);
}

/* keep[e] in {0, 1} for the elements of the chunk whose first block is
 * block0; threshold strictly inside (0, 2^32). */
static void FD_FN(chunk_keep)(unsigned char keep[FD_CHUNK_ELEMS], uint64_t block0, const fd_mask_params *mp)
{
    FD_FN(ctx) ctx;
    FD_FN(ctx_init)(&ctx, mp);
    FD_FN(group_rows) rows;
    FD_FN(group_ties) ties;
    memset(&ties, 0, sizeof ties);
    int want_ties = fd_threshold_last_level(mp->threshold) > 0;
    FD_FN(decide_group)(&rows, &ties, 1, block0, mp, &ctx, want_ties, NULL, NULL);
    for (int w = 0; w < FD_CHUNK_BLOCKS; w++) {
        int b = (int)FD_FN(word_block)(w);
        uint32_t kw = FD_FN(word_keep)(&rows, w);
        for (int j = 0; j < FD_BLOCK_ELEMS; j++)
            keep[FD_BLOCK_ELEMS * b + j] = (unsigned char)((kw >> j) & 1u);
        for (uint32_t tb = want_ties ? FD_FN(word_ties)(&ties, w) : 0; tb; tb &= tb - 1) {
            int j = __builtin_ctz(tb);
            keep[FD_BLOCK_ELEMS * b + j] = (unsigned char)fd_refine_keep(mp, block0 + (uint64_t)b, j);
        }
    }
}
