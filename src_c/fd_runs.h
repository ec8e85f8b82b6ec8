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

/*
 * The next blocks (16 elements, one Philox block each) that the runs cover
 * and that hold an element at or after logical index *pos, up to one
 * group's worth (FD_TIE_WORDS): their numbers (counter + element / 16), in
 * increasing order, in list[0 .. n - 1], n returned (0 when no run is
 * left).  *pos moves to the end of the last block listed, so a block that
 * two runs share is listed once.  The entries after the n-th repeat the
 * last block, so that a group of fewer blocks is decided in full on
 * defined counters.  For runs narrower than a chunk: the group holds the
 * blocks of several rows and decides nothing they do not cover.
 */
static inline FD_ALWAYS_INLINE int fd_runs_blocks(fd_runs *r, uint64_t *pos, uint64_t counter,
                                                  uint64_t list[FD_GATHER_LEN])
{
    int n = 0;
    while (!r->done) {
        uint64_t end = r->first + (uint64_t)r->n;
        if (end > *pos) {
            uint64_t b = (r->first > *pos ? r->first : *pos) / FD_BLOCK_ELEMS;
            uint64_t past = (end - 1) / FD_BLOCK_ELEMS + 1;   /* after the run's last block */
            if (past - b > (uint64_t)(FD_TIE_WORDS - n))
                past = b + (uint64_t)(FD_TIE_WORDS - n);
            for (; b < past; b++)
                list[n++] = counter + b;
            *pos = past * FD_BLOCK_ELEMS;
            if (n == FD_TIE_WORDS)
                break;
        }
        fd_runs_next(r);
    }
    for (int k = n; k < FD_GATHER_LEN && n > 0; k++)
        list[k] = list[n - 1];
    return n;
}

#endif /* FD_RUNS_H */
