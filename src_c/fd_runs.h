/*
 * fd_runs.h -- the rows of a view as one stream of runs of consecutive
 * logical indices, and the chunks those runs cover.
 *
 * A block of a larger logical array (a Dask block, a tile, a band of a
 * thread) has rows whose logical indices are consecutive, one row after
 * another in increasing order, with gaps between them where the block is
 * narrower than the array.  The main loop (fd_simd_loop.h) decides the
 * chunks the rows cover as one stream, so a block costs one pipeline start
 * and drain rather than one per row, and a chunk two rows share is decided
 * once.  This header is the same for every path.
 */
#ifndef FD_RUNS_H
#define FD_RUNS_H

#include <stdint.h>
#include <string.h>
#include "fd_mask.h"
#include "fd_ties.h"

#define FD_MAX_NDIM 64

/*
 * The runs of a view, in order: the view's rows (its last axis), each of
 * `n` elements with logical indices first .. first + n - 1, at byte
 * offsets xoff and yoff from the view's x and y.  The outer axes advance
 * like an odometer.
 */
typedef struct {
    const char *x0;
    char *y0;
    int64_t xoff, yoff;
    uint64_t first;
    int64_t n;
    int outer;   /* axes before the last */
    int done;    /* no run left */
    const int64_t *shape, *xstrides, *ystrides, *lstrides;
    int64_t index[FD_MAX_NDIM];
} fd_runs;

static inline void fd_runs_init(fd_runs *r, const char *x, char *y, int ndim, const int64_t *shape,
                                const int64_t *xstrides, const int64_t *ystrides, const int64_t *lstrides,
                                uint64_t first)
{
    r->x0 = x;
    r->y0 = y;
    r->xoff = r->yoff = 0;
    r->first = first;
    r->n = shape[ndim - 1];
    r->outer = ndim - 1;
    r->done = 0;
    r->shape = shape;
    r->xstrides = xstrides;
    r->ystrides = ystrides;
    r->lstrides = lstrides;
    memset(r->index, 0, sizeof r->index);
}

/* Move to the next run past the end of the axis just outside the rows (an
 * odometer); 0 (and done set) past the last one. */
static FD_NOINLINE int fd_runs_carry(fd_runs *r)
{
    for (int d = r->outer - 1; d >= 0; d--) {
        r->xoff += r->xstrides[d];
        r->yoff += r->ystrides[d];
        r->first += (uint64_t)r->lstrides[d];
        if (++r->index[d] < r->shape[d])
            return 1;
        r->index[d] = 0;
        r->xoff -= r->xstrides[d] * r->shape[d];
        r->yoff -= r->ystrides[d] * r->shape[d];
        r->first -= (uint64_t)(r->lstrides[d] * r->shape[d]);
    }
    r->done = 1;
    return 0;
}

/* Move to the next run; 0 (and done set) past the last one. */
static inline FD_ALWAYS_INLINE int fd_runs_next(fd_runs *r)
{
    int in = r->outer - 1;   /* the axis just outside the rows steps most often: its step alone, inlined */
    if (in >= 0 && r->index[in] + 1 < r->shape[in]) {
        r->index[in]++;
        r->xoff += r->xstrides[in];
        r->yoff += r->ystrides[in];
        r->first += (uint64_t)r->lstrides[in];
        return 1;
    }
    return fd_runs_carry(r);
}

/* Where the next run starts in x (for prefetching; nothing is read):
 * one step of the axis just outside the rows, or `otherwise` where that
 * axis would carry. */
static inline FD_ALWAYS_INLINE const char *fd_runs_next_x(const fd_runs *r, const char *otherwise)
{
    int in = r->outer - 1;
    if (in >= 0 && r->index[in] + 1 < r->shape[in])
        return r->x0 + r->xoff + r->xstrides[in];
    return otherwise;
}

/* Whether the runs of a view (no axis of length 0) come in increasing
 * logical order without overlap: each outer axis steps past everything the
 * axes inside it span. */
static inline int fd_runs_increasing(int ndim, const int64_t *shape, const int64_t *lstrides)
{
    if (lstrides[ndim - 1] != 1)
        return 0;
    int64_t span = shape[ndim - 1];   /* logical extent of one step of the axis outside */
    for (int d = ndim - 2; d >= 0; d--) {
        if (shape[d] > 1 && lstrides[d] < span)
            return 0;
        span = lstrides[d] * (shape[d] - 1) + span;
    }
    return 1;
}

/*
 * The next span of at most `most` consecutive chunks that the runs cover
 * and that hold an element at or after logical index *pos: its first chunk
 * in *chunk0, its length returned (0 when no run is left).  *pos moves to
 * the end of the span.  A chunk whose end a run shares with the next run's
 * start is in one span only, so it is decided once.
 */
static inline FD_ALWAYS_INLINE int fd_runs_span(fd_runs *r, uint64_t *pos, int most, uint64_t *chunk0)
{
    while (!r->done && r->first + (uint64_t)r->n <= *pos)
        fd_runs_next(r);
    if (r->done)
        return 0;
    uint64_t start = r->first > *pos ? r->first : *pos;
    uint64_t c0 = start / FD_CHUNK_ELEMS, end = c0 + (uint64_t)most;
    for (;;) {
        uint64_t past = (r->first + (uint64_t)r->n - 1) / FD_CHUNK_ELEMS + 1;   /* after the run's last chunk */
        if (past >= end)
            break;
        if (!fd_runs_next(r) || r->first / FD_CHUNK_ELEMS > past) {
            end = past;
            break;
        }
    }
    *chunk0 = c0;
    *pos = end * FD_CHUNK_ELEMS;
    return (int)(end - c0);
}

/* Runs are gathered (fd_runs_gather) rather than decided in spans of
 * whole chunks when the chunks a run covers hold more than 1 / this of its
 * length besides it (rebuild with 0 to decide every view in chunks). */
#ifndef FD_GATHER_RATIO
#define FD_GATHER_RATIO 8
#endif

/*
 * Whether to gather the runs block by block: a gathered group decides at
 * most the 30 elements of a run's end blocks besides it, but walks the
 * runs more, so whole chunks win where they hold little besides the run:
 * exactly what they hold when every run starts at the same offset in its
 * chunk (the outer logical strides are multiples of a chunk), else 127 on
 * average over the 128 offsets a run can start at.
 */
static inline int fd_runs_gathered(const fd_runs *r)
{
    uint64_t n = (uint64_t)r->n, spare = FD_CHUNK_ELEMS - 1;
    int same = 1;
    for (int d = 0; d < r->outer; d++)
        same &= r->lstrides[d] % FD_CHUNK_ELEMS == 0;
    if (same) {
        uint64_t head = r->first % FD_CHUNK_ELEMS;
        spare = (head + n + FD_CHUNK_ELEMS - 1) / FD_CHUNK_ELEMS * FD_CHUNK_ELEMS - n;
    }
    return spare * FD_GATHER_RATIO > n;
}

/* Copy n <= 128 bytes, n even, inline (no library call, whose fixed cost
 * outweighs the copy of a row's head or tail): 16-byte pieces, then at most
 * one piece each of 8, 4 and 2 bytes. */
static inline FD_ALWAYS_INLINE void fd_copy_short(char *d, const char *s, size_t n)
{
    if (n > 128)
        __builtin_unreachable();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        memcpy(d + i, s + i, 16);
    if (n - i >= 8) {
        memcpy(d + i, s + i, 8);
        i += 8;
    }
    if (n - i >= 4) {
        memcpy(d + i, s + i, 4);
        i += 4;
    }
    if (n - i >= 2)
        memcpy(d + i, s + i, 2);
}

/* A piece of a run in a gathered group: `len` elements at x and y whose
 * decisions are elements e .. e + len - 1 of the group's blocks in list
 * order (block e / 16 of the list, element e % 16 of it). */
typedef struct {
    const char *x;
    char *y;
    uint32_t e, len;
} fd_piece;

/* Pieces a gathered group holds at most: two per listed block, which runs
 * starting 8 or more elements apart never exceed; runs closer together
 * close a group before its list is full. */
#define FD_GATHER_PIECES (2 * FD_TIE_WORDS)

/* A gather's cursor in locals (see fd_runs_gather): where the current run
 * lies, and the steps of the axis just outside the rows left before that
 * axis carries; loaded from and stored back into the cursor r. */
typedef struct {
    const char *x;
    char *y;
    uint64_t first;
    int64_t left;
} fd_runs_at;

static inline FD_ALWAYS_INLINE fd_runs_at fd_runs_load(const fd_runs *r)
{
    int in = r->outer - 1;
    fd_runs_at c = {r->x0 + r->xoff, r->y0 + r->yoff, r->first, in >= 0 ? r->shape[in] - 1 - r->index[in] : 0};
    return c;
}

static inline FD_ALWAYS_INLINE void fd_runs_store(fd_runs *r, fd_runs_at c)
{
    int in = r->outer - 1;
    if (in >= 0)
        r->index[in] = r->shape[in] - 1 - c.left;
    r->xoff = c.x - r->x0;
    r->yoff = c.y - r->y0;
    r->first = c.first;
}

/*
 * The next gathered group of the runs: the blocks (16 elements, one Philox
 * block each) that hold the runs' elements from logical index *pos on, up
 * to one group's worth (FD_TIE_WORDS), their numbers (counter + element /
 * 16) in increasing order in list[0 .. n - 1], n returned (0 when no run
 * is left); the pieces of runs they hold in pieces[0 .. *npieces - 1].
 * *pos moves past the last element placed.  A block that one run ends in
 * and the next starts in is listed once.  The entries after the n-th
 * repeat the last block, so that a group of fewer blocks is decided in
 * full on defined counters.  The group holds the blocks of several rows
 * (or of part of one) and decides nothing they do not cover.
 */
static inline FD_ALWAYS_INLINE int fd_runs_gather(fd_runs *r, uint64_t *pos, uint64_t counter, int64_t item,
                                                  uint64_t list[FD_GATHER_LEN], fd_piece pieces[FD_GATHER_PIECES],
                                                  int *npieces)
{
    if (r->done) {
        *npieces = 0;
        return 0;
    }
    /* The cursor in locals: the stores to list and pieces could alias its
     * fields, which would then be reloaded after each. */
    int in = r->outer - 1;
    int64_t xstep = 0, ystep = 0, lstep = 0;
    if (in >= 0) {
        xstep = r->xstrides[in];
        ystep = r->ystrides[in];
        lstep = r->lstrides[in];
    }
    fd_runs_at c = fd_runs_load(r);
    uint64_t width = (uint64_t)r->n, at = *pos, listed = 0;
    int n = 0, np = 0;
    while (np < FD_GATHER_PIECES) {
        uint64_t first = c.first;
        uint64_t start = first > at ? first : at, end = first + width;
        uint64_t b = start / FD_BLOCK_ELEMS, last = (end - 1) / FD_BLOCK_ELEMS;
        int k = n - 1;   /* the piece's first block in the list */
        if (n == 0 || b != listed) {
            if (n == FD_TIE_WORDS)
                break;
            k = n;
            listed = b - 1;
        }
        if (last - listed > (uint64_t)(FD_TIE_WORDS - n))
            last = listed + (uint64_t)(FD_TIE_WORDS - n);
        /* eight entries unconditionally (straight-line stores; the list has
         * room past a full group), then the rest; through a pointer, which
         * vectorizes under -fwrapv (Python's flags) as well */
        int count = (int)(last - listed);
        uint64_t *to = list + n, next = counter + listed + 1;
        for (int j = 0; j < 8; j++)
            to[j] = next + (uint64_t)j;
        for (int j = 8; j < count; j++)
            to[j] = next + (uint64_t)j;
        n += count;
        listed = last;
        uint64_t stop = (last + 1) * FD_BLOCK_ELEMS < end ? (last + 1) * FD_BLOCK_ELEMS : end;
        int64_t off = (int64_t)(start - first) * item;
        pieces[np].x = c.x + off;
        pieces[np].y = c.y + off;
        pieces[np].e = (uint32_t)k * FD_BLOCK_ELEMS + (uint32_t)(start % FD_BLOCK_ELEMS);
        pieces[np].len = (uint32_t)(stop - start);
        np++;
        at = stop;
        if (stop < end)   /* the group is full; the run goes on in the next one */
            break;
        if (c.left > 0) {
            c.left--;
            c.x += xstep;
            c.y += ystep;
            c.first += (uint64_t)lstep;
            continue;
        }
        /* the axis carries: the rest of the cursor steps in memory */
        fd_runs_store(r, c);
        if (!fd_runs_next(r))
            break;
        c = fd_runs_load(r);
    }
    if (!r->done)
        fd_runs_store(r, c);
    for (int k = n; k < FD_GATHER_LEN && n > 0; k++)
        list[k] = list[n - 1];
    *pos = at;
    *npieces = np;
    return n;
}

#endif /* FD_RUNS_H */
