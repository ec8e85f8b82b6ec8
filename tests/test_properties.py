"""Property tests: fastdrop.dropout equals the NumPy reference (tests/reference.py)
built only from fd.philox4x32 and the mapping documented in src_c/fd_mask.h,
over shapes (0-d to 5-d, empty), layouts (strided, negative, transposed,
unaligned), dtypes, p (dyadic, arbitrary, and p forced to tie with an
element's uniform at every byte depth), mask shapes, modes, counters near the
2**32 and 2**64 boundaries, ISA paths, and in place / out= / new array.

In place on a view must write nothing outside the view and the other forms
must modify nothing: the enclosing buffers are filled with guard values and
compared bit for bit (NaN-aware) before and after.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastdrop as fd
import reference as ref

TWO32, TWO64 = 1 << 32, 1 << 64
GUARD = -1234.0   # exact in every float width; x * scale changes it unless scale == 1
DTYPES = (np.float16, np.float32, np.float64)
ISAS = tuple(fd.available_isas())
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])



# ---------------------------------------------------------------- layouts

class Layout:
    """A view of logical shape `shape` inside a bigger buffer: per axis a step
    (negative = reversed), padding before/after, and an axis order."""

    def __init__(self, shape, steps, pads, perm):
        self.shape, self.steps, self.pads, self.perm = tuple(shape), steps, pads, perm
        sizes = [d * abs(s) + lo + hi for d, s, (lo, hi) in zip(shape, steps, pads)]
        self.buffer_shape = tuple(sizes[a] for a in perm)

    def region(self, buffer):
        """The view of `buffer` (shape self.buffer_shape) this layout describes."""
        index = [None] * len(self.shape)
        for k, a in enumerate(self.perm):
            d, s, (lo, _) = self.shape[a], self.steps[a], self.pads[a]
            index[k] = slice(lo, lo + d * abs(s), abs(s))
        view = buffer[(*index, Ellipsis)]
        flips = tuple(slice(None, None, -1) if self.steps[a] < 0 else slice(None) for a in self.perm)
        view = view[(*flips, Ellipsis)]
        return np.transpose(view, np.argsort(self.perm))

    def outside(self):
        """Boolean array over the buffer: True where the view does not reach."""
        marks = np.ones(self.buffer_shape, dtype=bool)
        self.region(marks)[...] = False
        return marks

    def make(self, dtype, values):
        buffer = np.full(self.buffer_shape, GUARD, dtype=dtype)
        view = self.region(buffer)
        view[...] = values
        assert view.shape == self.shape
        return buffer, view


@st.composite
def shapes(draw):
    if draw(st.booleans()):
        return (draw(st.integers(0, 400)),)      # long rows cross block and chunk boundaries
    return tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=5)))


@st.composite
def layouts(draw, shape):
    ndim = len(shape)
    steps = [draw(st.sampled_from((1, 1, 2, -1, -2, 3))) for _ in range(ndim)]
    pads = [(draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(ndim)]
    perm = draw(st.permutations(range(ndim))) if ndim else []
    return Layout(shape, steps, pads, list(perm))


@st.composite
def mask_shapes(draw, shape):
    if draw(st.booleans()):
        return None
    cells = [d if draw(st.booleans()) else 1 for d in shape]
    dropped = draw(st.integers(0, len(cells)))
    return tuple(cells[dropped:])


DYADIC_P = (0.0, 1.0, 0.5, 0.25, 0.75, 0.125, 0.875, 2.0 ** -8, 1.0 - 2.0 ** -8, 2.0 ** -32)
ODD_P = (0.1, 0.3, 1.0 / 3.0, 0.9, 0.999, 0.001, 1e-9, 1.0 - 1e-9, 0.5 + 2.0 ** -30)


def counter_for(kind, offset, blocks):
    """Base counter: small, just before a 2**32 low-word wrap, or at the very end."""
    if kind == "small":
        return offset
    if kind == "wrap32":
        return TWO32 - offset
    if kind == "wrap32-high":
        return (7 << 32) - offset
    return TWO64 - blocks


def p_tied_with(u, depth, nudge):
    """A p whose threshold agrees with uniform u on its top `depth` bytes
    (depth 4: t == u, so the element is dropped; nudge 1: t == u + 1, kept)."""
    if depth == 4:
        t = u + nudge
    else:
        shift = 8 * (4 - depth)
        t = ((u >> shift) << shift) | ((u + 0x5A5A5A5A * (nudge + 1)) & ((1 << shift) - 1))
    t = min(max(t, 1), TWO32 - 1)
    p = 1.0 - t / TWO32
    assert ref.threshold(p) == t
    return p


@st.composite
def calls(draw):
    shape = draw(shapes())
    case = dict(
        shape=shape,
        dtype=draw(st.sampled_from(DTYPES)),
        layout=draw(layouts(shape)),
        mask_shape=draw(mask_shapes(shape)),
        mode=draw(st.sampled_from(("inverted", "standard"))),
        dest=draw(st.sampled_from(("new", "inplace", "out"))),
        out_layout=draw(layouts(shape)),
        seed=draw(st.integers(0, 2 ** 32)),
        rounds=draw(st.integers(7, 16)),
        isa=draw(st.sampled_from(ISAS)),
        counter_kind=draw(st.sampled_from(("small", "wrap32", "wrap32-high", "end"))),
        counter_offset=draw(st.integers(0, 40)),
        p_kind=draw(st.sampled_from(("dyadic", "odd", "any", "tie"))),
    )
    case["p"] = {"dyadic": st.sampled_from(DYADIC_P), "odd": st.sampled_from(ODD_P),
                 "any": st.floats(0.0, 1.0), "tie": st.just(None)}[case["p_kind"]]
    case["p"] = draw(case["p"])
    case["tie_depth"], case["tie_nudge"] = draw(st.integers(1, 4)), draw(st.integers(0, 1))
    case["tie_element"] = draw(st.integers(0, 10 ** 6))
    return case


def generator_at(seed, rounds, counter):
    g = fd.Generator(seed, rounds=rounds)
    state = g.get_state()
    state["counter"] = counter
    g.set_state(state)
    return g


def assert_same(actual, expected, what):
    assert ref.same_values(actual, expected), f"{what}:\n{actual!r}\n!=\n{expected!r}"


@settings(max_examples=4000, **SETTINGS)
@given(calls())
def test_dropout_equals_reference_and_touches_only_its_target(case):
    with fd.config_context(isa=case["isa"]):
        check_call_against_reference(case)


def check_call_against_reference(case):
    shape, dtype, mode = case["shape"], case["dtype"], case["mode"]
    mask_shape = case["mask_shape"] if case["mask_shape"] is not None else shape
    blocks = ref.blocks_consumed(mask_shape)
    counter = counter_for(case["counter_kind"], case["counter_offset"], blocks)
    g = generator_at(case["seed"], case["rounds"], counter)
    p = case["p"]
    if p is None:
        n = math.prod(mask_shape)
        assume(n > 0)
        u = int(ref.uniforms(n, g.key, counter, g.rounds)[case["tie_element"] % n])
        p = p_tied_with(u, case["tie_depth"], case["tie_nudge"])

    values = ref.fill(shape, dtype, seed=case["seed"] % 1000)
    buffer, x = case["layout"].make(dtype, values)
    buffer_before = buffer.copy()
    expected = ref.dropout(values, p, g.key, counter, g.rounds, mode, mask_shape)

    kwargs = dict(generator=g, return_handle=True, mode=mode, mask_shape=case["mask_shape"])
    if case["dest"] == "inplace":
        y, h = fd.dropout(x, p, inplace=True, **kwargs)
        assert y is x
    elif case["dest"] == "out":
        out_buffer, out = case["out_layout"].make(dtype, np.zeros(shape, dtype))
        out_before = out_buffer.copy()
        y, h = fd.dropout(x, p, out=out, **kwargs)
        assert y is out
        outside = case["out_layout"].outside()
        assert_same(out_buffer[outside], out_before[outside], "out= wrote outside its view")
    else:
        y, h = fd.dropout(x, p, **kwargs)
        assert y.shape == shape and y.dtype == dtype
        assert not np.may_share_memory(y, buffer)

    assert_same(y, expected, "values differ from the reference")
    assert h.counter_range == (counter, counter + blocks)
    assert g.counter == counter + blocks
    assert np.array_equal(h.mask(), ref.keep_mask(mask_shape, p, g.key, counter, g.rounds))

    if case["dest"] == "inplace":
        outside = case["layout"].outside()
        assert_same(buffer[outside], buffer_before[outside], "in place wrote outside the view")
    else:
        assert_same(buffer, buffer_before, "the input buffer was modified")

    # backward regenerates the same mask; by default it leaves dy alone
    dy = case["layout"].make(dtype, values)[1]
    dy_before = dy.copy()
    dx = fd.dropout_backward(dy, h)
    assert_same(dx, expected, "backward differs from forward")
    assert_same(dy, dy_before, "dropout_backward modified its input")


@settings(max_examples=300, **SETTINGS)
@given(shape=shapes(), dtype=st.sampled_from(DTYPES), p=st.floats(0.0, 1.0),
       mode=st.sampled_from(("inverted", "standard")), data=st.data())
def test_evaluation_call_is_identity_or_scaling_and_consumes_nothing(shape, dtype, p, mode, data):
    layout = data.draw(layouts(shape))
    values = ref.fill(shape, dtype, seed=len(shape))
    buffer, x = layout.make(dtype, values)
    before = buffer.copy()
    g = fd.Generator(5)
    y = fd.dropout(x, p, training=False, mode=mode, generator=g)
    assert g.counter == 0
    assert_same(buffer, before, "evaluation call modified its input")
    if mode == "inverted":
        assert y is x
    else:
        cdt = ref.compute_dtype(dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            expected = (values.astype(cdt) * cdt(1.0 - p)).astype(dtype)
        assert_same(y, expected, "standard-mode evaluation is not x * (1 - p)")


@settings(max_examples=500, **SETTINGS)
@given(counters=st.lists(st.tuples(*[st.integers(0, TWO32 - 1)] * 4), min_size=0, max_size=20),
       key=st.tuples(st.integers(0, TWO32 - 1), st.integers(0, TWO32 - 1)),
       rounds=st.integers(7, 16))
def test_raw_block_function_equals_numpy_philox(counters, key, rounds):
    arr = np.array(counters, dtype=np.uint32).reshape(-1, 4)
    assert np.array_equal(fd.philox4x32(arr, key, rounds), ref.philox4x32_numpy(arr, key, rounds))


# Random123 kat_vectors (github.com/DEShawResearch/random123, tests/kat_vectors):
# the reference Philox must reproduce them too, or it proves nothing.
RANDOM123_KAT = [
    (7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    (7, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    (7, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A)),
    (10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (10, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (10, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("rounds, counter, key, expected", RANDOM123_KAT)
def test_reference_and_core_philox_reproduce_random123_kat(rounds, counter, key, expected):
    assert tuple(int(w) for w in ref.philox4x32_numpy(counter, key, rounds)) == expected
    assert tuple(int(w) for w in fd.philox4x32(counter, key, rounds)) == expected


# ---------------------------------------------------------------- bottleneck-style sweep

EDGE_CASES = list(ref.edge_arrays())


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("p, mode", [(0.3, "inverted"), (0.5, "standard"), (1.0 - 2.0 ** -9 / 3, "inverted")])
def test_edge_arrays_match_reference_in_every_form(isa, p, mode, scoped_config):
    scoped_config(isa=isa)
    for label, x in EDGE_CASES:
        values = x.copy()
        g = fd.Generator(len(label))
        counter = g.counter
        expected = ref.dropout(values, p, g.key, counter, g.rounds, mode)
        y = fd.dropout(x, p, generator=g, mode=mode)
        assert_same(y, expected, f"{label}: new array")
        assert_same(x, values, f"{label}: input modified")
        out = np.full_like(x, GUARD)
        g.set_state({**g.get_state(), "counter": counter})
        assert fd.dropout(x, p, generator=g, mode=mode, out=out) is out
        assert_same(out, expected, f"{label}: out=")
        g.set_state({**g.get_state(), "counter": counter})
        assert fd.dropout(x, p, generator=g, mode=mode, inplace=True) is x
        assert_same(x, expected, f"{label}: in place")
        x[...] = values


def test_partly_overlapping_out_gives_the_values_of_the_original_input():
    for dtype in DTYPES:
        buffer = ref.fill((301,), dtype, seed=3, special=False)
        x, out = buffer[:-1], buffer[1:]
        values = x.copy()
        g = fd.Generator(11)
        expected = ref.dropout(values, 0.4, g.key, 0, g.rounds)
        assert_same(fd.dropout(x, 0.4, generator=g, out=out), expected, f"{dtype} overlap")
        reversed_out = buffer[::-1][1:]
        values = buffer[:-1].copy()
        expected = ref.dropout(values, 0.4, g.key, g.counter, g.rounds)
        assert_same(fd.dropout(buffer[:-1], 0.4, generator=g, out=reversed_out), expected,
                    f"{dtype} reversed overlap")


@pytest.mark.parametrize("isa", ISAS)
def test_long_strided_rows_cross_the_piece_size(isa, scoped_config):
    """Rows longer than any internal piece buffer, strided and reversed."""
    scoped_config(isa=isa)
    for dtype in DTYPES:
        base = ref.fill((3, 9000), dtype, seed=9)
        x = base[::-1, ::-2]
        values = x.copy()
        g = generator_at(2, 10, TWO32 - 100)
        expected = ref.dropout(values, 0.3, g.key, g.counter, g.rounds)
        assert_same(fd.dropout(x, 0.3, generator=g), expected, f"{dtype}")
