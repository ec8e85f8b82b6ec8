"""fd.dropout / fd.dropout_backward: values, modes, layouts, dtypes, handles."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _kernels

FLOATS = [np.float16, np.float32, np.float64]


def compute_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def expected(x, mask, scale):
    """x * (mask ? scale : 0) computed as the contract says."""
    ct = compute_dtype(x.dtype)
    values = np.where(mask, ct(scale), ct(0))
    return (x.astype(ct) * values).astype(x.dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.5, 0.1, 0.37, 0.9])
def test_inverted_values_match_mask(dtype, p, rng):
    x = rng.standard_normal((37, 29)).astype(dtype)
    y, h = fd.dropout(x, p, generator=fd.Generator(1), return_handle=True)
    assert y.dtype == dtype and y.shape == x.shape and y is not x
    np.testing.assert_array_equal(y, expected(x, h.mask(), 1 / (1 - p)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_standard_mode_keeps_values_and_scales_in_eval(dtype, rng):
    x = rng.standard_normal(500).astype(dtype)
    y, h = fd.dropout(x, 0.3, mode="standard", generator=fd.Generator(1), return_handle=True)
    np.testing.assert_array_equal(y, expected(x, h.mask(), 1.0))
    ev = fd.dropout(x, 0.3, mode="standard", training=False)
    ct = compute_dtype(dtype)
    np.testing.assert_array_equal(ev, (x.astype(ct) * ct(0.7)).astype(dtype))


def test_eval_inverted_returns_input_itself():
    x = np.ones(10, np.float32)
    assert fd.dropout(x, 0.5, training=False) is x
    y, h = fd.dropout(x, 0.5, training=False, return_handle=True)
    assert y is x and h.counter_range[0] == h.counter_range[1]
    assert fd.dropout_backward(x, h) is x


def test_eval_does_not_consume_counters():
    g = fd.Generator(0)
    fd.dropout(np.ones(100), 0.5, training=False, generator=g)
    assert g.counter == 0


def test_same_generator_state_same_mask_across_dtypes():
    masks = []
    for dtype in FLOATS:
        _, h = fd.dropout(np.ones(1000, dtype), 0.4, generator=fd.Generator(3), return_handle=True)
        masks.append(h.mask())
        y = fd.dropout(np.ones(1000, dtype), 0.4, generator=fd.Generator(3))
        np.testing.assert_array_equal(y != 0, h.mask())
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[1], masks[2])


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_p_zero_and_one_are_exact(p):
    x = np.arange(1, 301, dtype=np.float32)
    y, h = fd.dropout(x, p, generator=fd.Generator(0), return_handle=True)
    if p == 0:
        np.testing.assert_array_equal(y, x)
        assert h.mask().all()
    else:
        assert not y.any() and not h.mask().any()
    assert h.counter_range == (0, 19)  # counters are consumed whatever p is


def test_inplace_writes_into_input_and_returns_it(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    ref = fd.dropout(x, 0.5, generator=fd.Generator(4))
    y = fd.dropout(x, 0.5, generator=fd.Generator(4), inplace=True)
    assert y is x
    np.testing.assert_array_equal(x, ref)


def test_out_argument(rng):
    x = rng.standard_normal(1000).astype(np.float64)
    x0 = x.copy()
    out = np.empty_like(x)
    y = fd.dropout(x, 0.2, generator=fd.Generator(4), out=out)
    assert y is out
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(out, fd.dropout(x, 0.2, generator=fd.Generator(4)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make_view", [
    lambda a: a[::-1],
    lambda a: a[:, ::3],
    lambda a: a.T,
    lambda a: a[::-2, 1::2],
    lambda a: a[3:-5, 7:40],
], ids=["reversed", "column-step", "transpose", "negative-2d", "window"])
def test_views_give_the_values_of_the_contiguous_copy(dtype, make_view, rng):
    base = rng.standard_normal((60, 50)).astype(dtype)
    view = make_view(base)
    ref = fd.dropout(np.ascontiguousarray(view), 0.3, generator=fd.Generator(9))
    np.testing.assert_array_equal(fd.dropout(view, 0.3, generator=fd.Generator(9)), ref)
    # in place on the view: the view gets the result, the rest of the buffer is untouched
    touched = np.zeros(base.shape, bool)
    make_view(touched)[...] = True
    before = base.copy()
    y = fd.dropout(view, 0.3, generator=fd.Generator(9), inplace=True)
    assert y is view
    np.testing.assert_array_equal(view, ref)
    np.testing.assert_array_equal(base[~touched], before[~touched])


def test_out_overlapping_input_is_handled(rng):
    x = rng.standard_normal(200).astype(np.float32)
    ref = fd.dropout(x[::-1].copy(), 0.5, generator=fd.Generator(2))
    buf = x.copy()
    fd.dropout(buf[::-1], 0.5, generator=fd.Generator(2), out=buf)
    np.testing.assert_array_equal(buf, ref)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (17,), (5, 1, 7)])
def test_small_and_empty_shapes(shape, rng):
    x = np.asarray(rng.standard_normal(shape), dtype=np.float32)
    y, h = fd.dropout(x, 0.5, generator=fd.Generator(0), return_handle=True)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, expected(x, h.mask(), 2.0))


@pytest.mark.parametrize("mask_shape", [(8, 3, 1, 1), (1, 3, 1, 1), (8, 1, 5, 6), (6,), (1, 1)])
def test_mask_shape_draws_one_decision_per_cell(mask_shape, rng):
    x = rng.standard_normal((8, 3, 5, 6)).astype(np.float32)
    y, h = fd.dropout(x, 0.4, mask_shape=mask_shape, generator=fd.Generator(5), return_handle=True)
    assert h.mask().shape == mask_shape
    m = np.broadcast_to(h.mask(), x.shape)
    np.testing.assert_array_equal(y, expected(x, m, 1 / 0.6))
    assert h.counter_range == (0, -(-int(np.prod(mask_shape)) // 16))


def test_mask_shape_equal_to_shape_is_the_plain_call(rng):
    x = rng.standard_normal((4, 9)).astype(np.float32)
    a = fd.dropout(x, 0.4, generator=fd.Generator(5))
    b = fd.dropout(x, 0.4, generator=fd.Generator(5), mask_shape=(4, 9))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_mask_shape_float16_computed_in_float32(dtype, rng):
    x = rng.standard_normal((4, 5, 6)).astype(dtype)
    y, h = fd.dropout(x, 0.3, mask_shape=(4, 1, 6), generator=fd.Generator(6), return_handle=True)
    m = np.broadcast_to(h.mask(), x.shape)
    np.testing.assert_array_equal(y, expected(x, m, 1 / 0.7))


@pytest.mark.parametrize("mode", ["inverted", "standard"])
@pytest.mark.parametrize("mask_shape", [None, (10, 1)])
def test_backward_regenerates_forward_mask(mode, mask_shape, rng):
    x = rng.standard_normal((10, 20)).astype(np.float32)
    y, h = fd.dropout(x, 0.35, mode=mode, mask_shape=mask_shape, generator=fd.Generator(12),
                      return_handle=True)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dy0 = dy.copy()
    dx = fd.dropout_backward(dy, h)
    np.testing.assert_array_equal(dy, dy0)  # the caller's gradient is not mutated
    scale = 1 / 0.65 if mode == "inverted" else 1.0
    np.testing.assert_array_equal(dx, expected(dy, np.broadcast_to(h.mask(), x.shape), scale))
    # in place and out=
    out = np.empty_like(dy)
    assert fd.dropout_backward(dy, h, out=out) is out
    np.testing.assert_array_equal(out, dx)
    assert fd.dropout_backward(dy, h, inplace=True) is dy
    np.testing.assert_array_equal(dy, dx)


def test_backward_accepts_another_float_dtype(rng):
    x = rng.standard_normal(100).astype(np.float32)
    _, h = fd.dropout(x, 0.5, generator=fd.Generator(1), return_handle=True)
    dx = fd.dropout_backward(np.ones(100, np.float64), h)
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx != 0, h.mask())


def test_handle_packed_mask_and_fields():
    x = np.ones((3, 7), np.float32)
    _, h = fd.dropout(x, 0.25, generator=fd.Generator(0), return_handle=True)
    np.testing.assert_array_equal(h.packed_mask(), np.packbits(h.mask(), axis=None))
    assert h.shape == (3, 7) and h.mask_shape == (3, 7) and h.p == 0.25 and h.mode == "inverted"
    assert h.key == fd.Generator(0).key
    assert h.keep_prob == round(0.75 * 2**32) / 2**32


def test_mask_depends_only_on_logical_index_not_on_chunking():
    # keep_mask over a range starting at `first` equals the slice of the whole mask
    g = fd.Generator(21)
    _, h = fd.dropout(np.ones(5000, np.float32), 0.3, generator=g, return_handle=True)
    whole = h.mask().view(np.uint8)
    isa = _kernels.ISA_CODES[fd.get_isa()]
    for first, n in [(0, 1), (1, 127), (127, 130), (1000, 2048), (4999, 1)]:
        part = np.empty(n, np.uint8)
        _kernels.keep_mask(part, h.key[0], h.key[1], h.counter, h.rounds, h.threshold, isa, first)
        np.testing.assert_array_equal(part, whole[first:first + n])


def test_threads_do_not_change_results(rng):
    x = rng.standard_normal(1_000_003).astype(np.float32)
    with fd.config_context(threads=1):
        a = fd.dropout(x, 0.1, generator=fd.Generator(8))
    with fd.config_context(threads=2):
        b = fd.dropout(x, 0.1, generator=fd.Generator(8))
    with fd.config_context(threads=3):
        c = fd.dropout(x, 0.1, generator=fd.Generator(8))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_nan_and_inf_follow_multiplication(rng):
    x = np.array([np.nan, np.inf, -np.inf, -1.0, 1.0] * 40, np.float32)
    y, h = fd.dropout(x, 0.5, generator=fd.Generator(0), return_handle=True)
    with np.errstate(invalid="ignore"):
        ref = expected(x, h.mask(), 2.0)
    np.testing.assert_array_equal(y, ref)  # NaN positions compare equal in assert_array_equal


def test_num_threads_setting():
    before = fd.get_num_threads()
    try:
        fd.set_num_threads(3)
        assert fd.get_num_threads() == 3
        with pytest.raises(ValueError, match="n"):
            fd.set_num_threads(0)
        with pytest.raises(TypeError, match="n"):
            fd.set_num_threads(1.5)
        assert fd.get_num_threads() == 3
    finally:
        fd.set_num_threads(before)


def test_num_threads_from_environment(tmp_path):
    code = "import fastdrop as fd; print(fd.get_num_threads())"
    env = {**os.environ, "FASTDROP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path)  # import the installed package, not the source tree
    assert out.stdout.strip() == "3"
