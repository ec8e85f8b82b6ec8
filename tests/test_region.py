"""The region primitive: ``fd.dropout_handle`` + ``DropoutHandle.apply(offset=)``.

Assembling ``h.apply(x[block], offset=start)`` over any tiling of x gives
``fd.dropout(x)`` bit for bit, for a generator in the same state: tilings
regular and irregular, 0-d to 4-d, single elements, blocks that cut the
16-element counter blocks and 128-element chunks anywhere, strided and
reversed blocks, every float width, broadcast masks whose cells straddle
block edges, both modes, every ISA path, one and two threads.  Bad input
raises naming the argument and changes nothing.
"""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastdrop as fd
import reference as ref

DTYPES = (np.float16, np.float32, np.float64)
MODES = ("inverted", "standard")
ISAS = tuple(fd.available_isas())
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- tilings

def cuts_regular(n, step):
    return sorted(set(range(0, n, step)) | {n})


def cuts_random(n, rng, pieces):
    inner = rng.choice(np.arange(1, n), size=min(pieces - 1, n - 1), replace=False) if n > 1 else []
    return sorted({0, n, *map(int, inner)})


def tiles(cuts):
    """Every block of the grid whose per-axis boundaries are `cuts`, as
    (slices, offset) pairs."""
    per_axis = [list(zip(c[:-1], c[1:])) for c in cuts]
    for spans in itertools.product(*per_axis):
        yield tuple(slice(a, b) for a, b in spans), tuple(a for a, _ in spans)


def assemble(h, x, cuts, how="new"):
    """y with y[block] = h.apply(x[block], offset=start) for every block of the grid."""
    y = np.full(x.shape, np.nan, dtype=x.dtype)
    for block, offset in tiles(cuts):
        if how == "out":
            # out= a strided view of y itself
            h.apply(x[block], offset=offset, out=y[block])
        elif how == "inplace":
            piece = x[block].copy()
            assert h.apply(piece, offset=offset, inplace=True) is piece
            y[block] = piece
        else:
            y[block] = h.apply(x[block], offset=offset)
    return y


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def check_tiling(x, p, cuts, *, seed=7, mode="inverted", mask_shape=None, how="new"):
    """The assembled blocks equal one dropout call, and the handle took the
    call's counters."""
    g_call, g_handle = fd.Generator(seed), fd.Generator(seed)
    expected, h_call = fd.dropout(x, p, generator=g_call, mode=mode, mask_shape=mask_shape,
                                  return_handle=True)
    h = fd.dropout_handle(x.shape, p, generator=g_handle, mode=mode, mask_shape=mask_shape)
    assert h == h_call
    assert g_handle.counter == g_call.counter
    got = assemble(h, x, cuts, how)
    assert same_bits(got, expected), f"cuts {cuts}"


def values(shape, dtype, seed=0):
    return ref.fill(shape, dtype, seed=seed)


# ---------------------------------------------------------------- tilings, elementwise masks

@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_regular_and_irregular_tilings_1d_to_4d(isa, dtype, mode):
    rng = np.random.default_rng(1)
    shapes = [(1000,), (37, 300), (5, 7, 130), (3, 4, 5, 70)]
    with fd.config_context(isa=isa):
        for k, shape in enumerate(shapes):
            x = values(shape, dtype, seed=k)
            check_tiling(x, 0.3, [cuts_regular(n, max(1, n // 3)) for n in shape], mode=mode)
            check_tiling(x, 0.5, [cuts_random(n, rng, 4) for n in shape], mode=mode, seed=k)


@pytest.mark.parametrize("isa", ISAS)
def test_blocks_cutting_every_chunk_and_counter_boundary(isa):
    """1-d cuts on each side of every 16-element block and 128-element chunk
    edge, and a 2-d array whose rows (width 100) start anywhere in a chunk."""
    n = 1100
    edges = {e + d for e in range(0, n, 16) for d in (-1, 0, 1)} | {e + d for e in range(0, n, 128) for d in (-2, 2)}
    cuts = sorted({0, n} | {e for e in edges if 0 < e < n})
    with fd.config_context(isa=isa):
        for dtype in DTYPES:
            x = values((n,), dtype)
            check_tiling(x, 0.3, [cuts])
            x2 = values((29, 100), dtype, seed=3)
            check_tiling(x2, 0.7, [[0, 1, 13, 29], [0, 1, 27, 28, 63, 99, 100]])


@pytest.mark.parametrize("isa", ISAS)
def test_single_element_blocks(isa):
    with fd.config_context(isa=isa):
        for shape in [(40,), (6, 7), (2, 3, 4), (2, 2, 3, 3)]:
            for dtype in DTYPES:
                x = values(shape, dtype, seed=len(shape))
                check_tiling(x, 0.4, [list(range(n + 1)) for n in shape])


def test_zero_d_and_empty_blocks():
    x = np.array(3.0, np.float32)
    check_tiling(x, 0.5, [])
    x = values((4, 9), np.float64)
    h = fd.dropout_handle(x.shape, 0.5, generator=fd.Generator(0))
    empty = h.apply(x[4:, :], offset=(4, 0))          # a block of no rows at the far edge
    assert empty.shape == (0, 9) and empty.dtype == x.dtype
    check_tiling(values((0, 5), np.float32), 0.5, [[0], [0, 2, 5]])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("how", ["new", "out", "inplace"])
def test_strided_and_reversed_blocks(isa, how):
    """x a strided, reversed or transposed view: its blocks are too, and the
    mask is still the one of the logical C-order index."""
    base = values((40, 60, 3), np.float32, seed=5)
    views = {"step": base[::2, 1::3, 1], "reversed": base[::-1, ::-2, 2], "transposed": base[:, :, 0].T,
             "fortran": np.asfortranarray(base[:, :, 0])}
    with fd.config_context(isa=isa):
        for name, x in views.items():
            assert not x.flags.c_contiguous, name
            check_tiling(x, 0.25, [[0, 7, 8, x.shape[0]], [0, 5, 19, x.shape[1]]], how=how)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_blocks_split_across_threads(threads):
    """Blocks big enough for the kernel to split rows and runs across threads."""
    x = values((700, 900), np.float32, seed=2, )
    with fd.config_context(threads=threads):
        check_tiling(x, 0.3, [[0, 333, 700], [0, 1, 450, 900]])
        check_tiling(x.reshape(-1), 0.3, [[0, 77, 300_001, x.size]])


# ---------------------------------------------------------------- a block's rows as one stream

def stream_dtypes():
    """Every kernel dtype: the float widths, and bfloat16, which skips (and says
    so) where ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return [*DTYPES, pytest.param("bfloat16", marks=pytest.mark.skip(reason="bfloat16 needs ml_dtypes"))]
    return DTYPES + (np.dtype(ml_dtypes.bfloat16),)


def check_block(x, p, offset, shape, *, seed=11, view=None):
    """h.apply on one block of x (optionally seen through `view`, a function
    of the block giving a view of it with the same logical order) equals
    that block of one dropout call on x, and leaves x alone."""
    g = fd.Generator(seed)
    expected = fd.dropout(x, p, generator=fd.Generator(seed))
    h = fd.dropout_handle(x.shape, p, generator=g)
    block = tuple(slice(o, o + n) for o, n in zip(offset, shape))
    before = x.copy()
    got = h.apply(x[block] if view is None else view(x[block]), offset=offset)
    assert same_bits(x, before)
    assert same_bits(np.ascontiguousarray(got), np.ascontiguousarray(expected[block])), \
        f"block {shape} at {offset} of {x.shape}"


# (logical shape, block shape, offset): many rows, so that a block runs through
# the main loop's whole pipeline (more groups than its lag) in one stream
NARROW_BLOCKS = [
    ((600, 1000), (600, 100), (0, 300)),      # rows of 100 cutting chunks at both ends
    ((700, 517), (650, 3), (17, 255)),        # rows of 3, most inside one chunk
    ((300, 1000), (300, 1), (0, 999)),        # a single column
    ((200, 1000), (190, 1000 - 13), (5, 13)),  # rows off every chunk edge, whole chunks inside
    ((256, 2048), (256, 512), (0, 512)),      # rows of whole chunks, gaps between them
    ((40, 60, 90), (40, 7, 33), (0, 50, 41)),  # three axes
]
# rows closer together than a chunk: neighbouring rows share the chunk between them
SHARED_BLOCKS = [
    ((2000, 200), (2000, 150), (0, 25)),
    ((3000, 40), (3000, 39), (0, 1)),
    ((4000, 130), (3990, 128), (7, 2)),
    ((1000, 17), (1000, 17), (0, 0)),         # the whole array as a block: one run after collapsing
    ((60, 30, 20), (60, 29, 19), (0, 1, 1)),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", stream_dtypes(), ids=str)
@pytest.mark.parametrize("p", [0.3, 0.5, 0.7 + 2.0 ** -20])
def test_narrow_tiles_and_rows_sharing_chunks(isa, dtype, p):
    """Blocks whose rows each cover a few partial chunks, with gaps between
    rows or chunks shared by neighbouring rows, through both main loops
    (p = 0.5: no ties; 0.3 and a p whose threshold has low bytes: ties
    settled in the pipeline, some on the deeper streams)."""
    with fd.config_context(isa=isa, threads=1):
        for k, (logical, shape, offset) in enumerate(NARROW_BLOCKS + SHARED_BLOCKS):
            check_block(ref.fill(logical, dtype, seed=k), p, offset, shape)


# rows whose groups gather 16-element blocks from several rows (or part of
# one): rows narrower than a chunk, or whose chunks hold much besides them;
# widths around one block, rows closer than a block (two rows
# share a block), gaps below a block, starts on and off block edges
GATHERED_BLOCKS = [
    ((400, 64), (400, 1), (0, 0)),            # one element per row, on a block edge
    ((400, 37), (390, 1), (3, 36)),           # one element per row, 37 apart
    ((300, 64), (300, 15), (0, 1)),
    ((300, 64), (300, 16), (0, 16)),          # whole blocks only
    ((300, 64), (300, 16), (0, 9)),           # one block's width across two blocks
    ((300, 80), (300, 17), (0, 15)),
    ((300, 64), (300, 20), (0, 7)),
    ((500, 24), (500, 20), (0, 2)),           # gaps of 4: rows share blocks
    ((500, 18), (499, 17), (1, 1)),           # gaps of 1
    ((200, 30), (200, 29), (0, 0)),
    ((300, 1000), (300, 100), (0, 300)),
    ((300, 110), (300, 100), (0, 3)),         # gaps of 10
    ((40, 9, 50), (40, 9, 20), (0, 0, 30)),   # three axes, an outer step past the middle one
    # rows starting under 8 elements apart: groups close on their count of pieces
    ((3000, 2), (3000, 1), (0, 1)),
    ((2000, 5), (2000, 3), (0, 1)),
    ((1000, 7), (999, 6), (1, 0)),
    # rows of a chunk or more: gathered where their chunks hold much besides them
    ((300, 2048), (300, 512), (0, 512)),      # every row on chunk edges: whole chunks
    ((300, 2048), (300, 512), (0, 500)),
    ((200, 3000), (200, 1000), (0, 1000)),    # rows at varying offsets in their chunks
    ((200, 2000), (200, 1023), (0, 5)),
    ((10, 4, 1024), (10, 4, 300), (0, 0, 128)),
    ((10, 4, 1024), (10, 3, 256), (0, 1, 128)),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", stream_dtypes(), ids=str)
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_narrow_rows_gathered_into_groups(isa, dtype, p):
    """Rows narrower than a chunk, or whose chunks hold much besides them:
    each group gathers the blocks of several rows (or of part of one), a
    block two rows share is decided once and applied to both, ties
    (p = 0.1 and 0.3, thresholds with low bytes) settled on the gathered
    block numbers, and p = 0.5 (no ties) through the loop without them."""
    with fd.config_context(isa=isa, threads=1):
        for k, (logical, shape, offset) in enumerate(GATHERED_BLOCKS):
            check_block(ref.fill(logical, dtype, seed=k), p, offset, shape)


@pytest.mark.parametrize("isa", ISAS)
def test_narrow_rows_deep_ties(isa):
    """A p whose threshold has bytes below the top two: second ties go on to
    streams 2 and 3 for the gathered blocks' own counters (one element in
    2^16 ties twice, so a big block has some)."""
    x = ref.fill((40000, 48), np.float32, seed=5, special=False)
    with fd.config_context(isa=isa, threads=1):
        check_block(x, 0.7 + 2.0 ** -20, (0, 3), (40000, 20))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("mask_shape", [(30, 1), (1, 24), (30, 24)])
def test_narrow_rows_with_broadcast_masks(isa, mask_shape):
    """Narrow column blocks of an array whose mask is broadcast: the cells
    the blocks cut through get the decisions of the whole call."""
    x = values((30, 24), np.float32, seed=9)
    with fd.config_context(isa=isa, threads=1):
        check_tiling(x, 0.3, [[0, 7, 30], [0, 1, 5, 21, 24]], mask_shape=mask_shape)
        check_tiling(x, 0.5, [[0, 30], [0, 3, 19, 24]], mask_shape=mask_shape, how="out")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", stream_dtypes(), ids=str)
def test_blocks_with_negative_and_padded_row_strides(isa, dtype):
    """Rows that are contiguous but laid out in reverse order, or with
    padding between them, still go through the one stream; rows reversed
    element by element take the strided path.  Either way the values are
    those of the logical C-order index."""
    x = ref.fill((500, 300), dtype, seed=3)
    padded = np.zeros((260, 400), dtype)
    views = {
        "rows reversed": lambda b: np.flipud(np.flipud(b).copy()),
        "rows padded": lambda b: _padded_copy(b, padded),
        "elements reversed": lambda b: np.fliplr(np.fliplr(b).copy()),
    }
    with fd.config_context(isa=isa, threads=1):
        for name, view in views.items():
            view_of = view(x[:4, :7])
            assert not view_of.flags.c_contiguous, name
            check_block(x, 0.3, (40, 21), (250, 270), view=view)
            check_block(x, 0.5, (3, 100), (200, 5), view=view)


def _padded_copy(block, padded):
    """A copy of block in the top-left corner of the larger array `padded`."""
    out = padded[:block.shape[0], :block.shape[1]]
    out[...] = block
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
def test_large_narrow_blocks_split_across_threads(threads, isa):
    """Blocks big enough to be split into bands of rows across threads,
    each band one stream: the split never changes a bit."""
    x = ref.fill((3000, 700), np.float32, seed=4, special=False)
    with fd.config_context(isa=isa, threads=threads):
        check_block(x, 0.3, (0, 250), (3000, 201))
        check_block(x, 0.3, (1, 0), (2999, 699))
        check_block(x, 0.5, (100, 64), (2900, 512))
        # gathered groups, rows sharing blocks across the bands' edges
        check_block(x.reshape(-1, 70), 0.3, (0, 7), (30000, 20))
        check_block(x, 0.1, (2, 300), (2998, 100))
        check_block(x.reshape(-1, 25), 0.3, (0, 3), (84000, 20))


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0 ** -32, 1 - 2.0 ** -20, 0.999])
def test_extreme_p(p):
    x = values((13, 50), np.float64)
    check_tiling(x, p, [[0, 4, 13], [0, 17, 49, 50]])
    check_tiling(x, p, [[0, 4, 13], [0, 17, 49, 50]], mode="standard")


# ---------------------------------------------------------------- broadcast masks

MASK_CASES = [
    ((6, 5, 7, 9), (6, 5, 1, 1)),     # channel dropout
    ((6, 5, 7, 9), (1, 5, 1, 9)),
    ((6, 5, 7, 9), (5, 1, 9)),        # fewer dimensions: broadcast on the left
    ((8, 33), (8, 1)),
    ((8, 33), (33,)),
    ((300,), (1,)),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, mask_shape", MASK_CASES)
def test_mask_shape_broadcast_across_block_edges(isa, mode, shape, mask_shape):
    """Blocks cut through broadcast cells: each block reads the same cell
    decisions as the whole call."""
    rng = np.random.default_rng(len(shape))
    with fd.config_context(isa=isa):
        for dtype in DTYPES:
            x = values(shape, dtype, seed=3)
            check_tiling(x, 0.4, [cuts_random(n, rng, 3) for n in shape], mode=mode, mask_shape=mask_shape)
            check_tiling(x, 0.4, [list(range(n + 1)) if n < 8 else [0, 1, n] for n in shape], mode=mode,
                         mask_shape=mask_shape, how="out")


# ---------------------------------------------------------------- property

@st.composite
def tiled_calls(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 300 if ndim == 1 else 9), min_size=ndim, max_size=ndim)))
    cuts = []
    for n in shape:
        inner = draw(st.sets(st.integers(1, max(1, n - 1)), max_size=4)) if n > 1 else set()
        cuts.append(sorted({0, n} | inner))
    if draw(st.booleans()):
        mask_shape = None
    else:
        mask_shape = tuple(d if draw(st.booleans()) else 1 for d in shape)
    return dict(shape=shape, cuts=cuts, mask_shape=mask_shape,
                dtype=draw(st.sampled_from(DTYPES)), mode=draw(st.sampled_from(MODES)),
                p=draw(st.sampled_from((0.5, 0.1, 0.3, 0.9, 1 - 2.0 ** -10))),
                isa=draw(st.sampled_from(ISAS)), how=draw(st.sampled_from(("new", "out", "inplace"))),
                reverse=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 32)))


@settings(max_examples=300, **SETTINGS)
@given(tiled_calls())
def test_any_tiling_equals_one_call(case):
    x = values(case["shape"], case["dtype"], seed=case["seed"] % 97)
    if case["reverse"]:
        x = x[::-1]
    with fd.config_context(isa=case["isa"]):
        check_tiling(x, case["p"], case["cuts"], seed=case["seed"], mode=case["mode"],
                     mask_shape=case["mask_shape"], how=case["how"])


# ---------------------------------------------------------------- forward / backward

@pytest.mark.parametrize("mask_shape", [None, (12, 1)])
def test_forward_backward_through_apply_equal_dropout_and_backward(mask_shape):
    x = values((12, 70), np.float32, seed=4)
    dy = values((12, 70), np.float32, seed=9)
    y, h_call = fd.dropout(x, 0.35, generator=fd.Generator(11), mask_shape=mask_shape, return_handle=True)
    dx = fd.dropout_backward(dy, h_call)
    h = fd.dropout_handle(x.shape, 0.35, generator=fd.Generator(11), mask_shape=mask_shape)
    cuts = [[0, 5, 12], [0, 3, 64, 70]]
    assert same_bits(assemble(h, x, cuts), y)
    assert same_bits(assemble(h, dy, cuts), dx)
    assert same_bits(fd.dropout_backward(dy, h), dx)     # a reserved handle serves backward too


def test_handle_survives_pickling():
    import pickle
    x = values((9, 40), np.float64)
    h = fd.dropout_handle(x.shape, 0.5, generator=fd.Generator(2), mask_shape=(9, 1))
    h2 = pickle.loads(pickle.dumps(h))
    assert h2 == h
    assert same_bits(h2.apply(x[3:, 10:], offset=(3, 10)), h.apply(x)[3:, 10:])


# ---------------------------------------------------------------- bad input

def shared_elements(shape):
    """A writeable float32 array of `shape` whose rows are one row (stride 0)."""
    row = np.arange(1, shape[1] + 1, dtype=np.float32)
    return np.lib.stride_tricks.as_strided(row, shape=shape, strides=(0, row.strides[0]))


def bad_calls():
    """(label, kwargs for apply, the argument the message must name)."""
    return [
        ("int block", dict(x=np.arange(12, dtype=np.int32).reshape(3, 4)), "x"),
        ("complex block", dict(x=np.ones((3, 4), np.complex64)), "x"),
        ("bool block", dict(x=np.ones((3, 4), bool)), "x"),
        ("object block", dict(x=np.ones((3, 4), object)), "x"),
        ("wrong ndim", dict(x=np.ones(4, np.float32)), "x"),
        ("non-native byte order", dict(x=np.ones((3, 4), np.dtype(np.float32).newbyteorder())), "x"),
        ("offset too short", dict(offset=(1,)), "offset"),
        ("offset too long", dict(offset=(1, 0, 0)), "offset"),
        ("offset not a tuple", dict(offset=3), "offset"),
        ("offset of floats", dict(offset=(1.0, 0)), "offset[0]"),
        ("offset of bools", dict(offset=(0, True)), "offset[1]"),
        ("negative offset", dict(offset=(-1, 0)), "offset[0]"),
        ("offset past the end", dict(offset=(0, 40)), "offset[1]"),
        ("block passes the shape", dict(offset=(6, 0)), "offset[0]"),
        ("block passes the shape on the last axis", dict(offset=(0, 37)), "offset[1]"),
        ("out of another shape", dict(out=np.zeros((3, 5), np.float32)), "out"),
        ("out of another dtype", dict(out=np.zeros((3, 4), np.float64)), "out"),
        ("out read-only", dict(out=np.zeros((3, 4), np.float32)), "out"),
        ("out not an array", dict(out=[[0.0] * 4] * 3), "out"),
        ("out with inplace", dict(out=np.zeros((3, 4), np.float32), inplace=True), "out"),
        ("inplace not a bool", dict(inplace=1), "inplace"),
        ("inplace on a read-only block", dict(inplace=True, readonly=True), "x"),
        ("inplace on a list", dict(x=[[1.0] * 4] * 3, inplace=True), "x"),
        ("inplace on elements sharing memory", dict(x=shared_elements((3, 4)), inplace=True), "x"),
        ("out of elements sharing memory", dict(out=shared_elements((3, 4))), "out"),
    ]


@pytest.mark.parametrize("label, kwargs, name", bad_calls(), ids=[c[0] for c in bad_calls()])
def test_bad_input_raises_naming_the_argument_and_changes_nothing(label, kwargs, name):
    g = fd.Generator(5)
    h = fd.dropout_handle((8, 40), 0.5, generator=g)
    kwargs = dict(kwargs)
    x = kwargs.pop("x", values((3, 4), np.float32))
    if kwargs.pop("readonly", False):
        x.flags.writeable = False
    if label == "out read-only":
        kwargs["out"].flags.writeable = False
    kwargs.setdefault("offset", (2, 3))
    x_before = np.array(x, copy=True)
    out_before = np.array(kwargs["out"], copy=True) if "out" in kwargs else None
    state, handle_before = g.get_state(), (h.key, h.counter, h.shape)
    with pytest.raises((TypeError, ValueError)) as info:
        h.apply(x, **kwargs)
    assert name in str(info.value), str(info.value)
    np.testing.assert_array_equal(np.asarray(x), x_before)
    if out_before is not None:
        np.testing.assert_array_equal(np.asarray(kwargs["out"]), out_before)
    assert g.get_state() == state
    assert (h.key, h.counter, h.shape) == handle_before


@pytest.mark.parametrize("kwargs, name", [
    (dict(shape=(3, -1)), "shape"),
    (dict(shape=(3, 2.5)), "shape"),
    (dict(shape=(2**62, 2**2)), "shape"),           # more elements than a signed 64-bit index reaches
    (dict(shape=(2**66,)), "shape"),
    (dict(p=1.5), "p"),
    (dict(p=float("nan")), "p"),
    (dict(mask_shape=(4, 1)), "mask_shape"),
    (dict(mode="scaled"), "mode"),
    (dict(generator=np.random.default_rng(0)), "generator"),
])
def test_bad_dropout_handle_arguments_reserve_nothing(kwargs, name):
    g = fd.Generator(5)
    args = dict(shape=(3, 4), p=0.5, generator=g)
    args.update(kwargs)
    state = g.get_state()
    with pytest.raises((TypeError, ValueError)) as info:
        fd.dropout_handle(args.pop("shape"), args.pop("p"), **args)
    assert name in str(info.value)
    assert g.get_state() == state
