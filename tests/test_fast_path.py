"""The compiled fast path of dropout()/dropout_backward() (common calls:
exact ndarray, C-contiguous, float p, no out= or mask_shape) gives exactly
what the full Python path gives, and declines everything else untouched."""
import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _kernels

CONFIG = (_kernels.ISA_CODES[fd.get_isa()], 1)   # (isa code, threads) as the Python layer passes them

FLOATS = [np.float16, np.float32, np.float64]


def fast(x, p, inplace=False, generator=None, return_handle=False, **overrides):
    args = dict(training=True, mode="inverted", inplace=inplace, out=None, mask_shape=None,
                generator=generator, return_handle=return_handle)
    args.update(overrides)
    if args["generator"] is None:   # the Python layer resolves the default generator
        args["generator"] = fd.default_generator()
    return _kernels.fast_dropout(x, p, args["training"], args["mode"], args["inplace"], args["out"],
                                 args["mask_shape"], args["generator"], args["return_handle"], CONFIG)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.5, 0.1, 0.0, 1.0, 0.37])
@pytest.mark.parametrize("inplace", [False, True])
def test_fast_path_equals_full_path(dtype, p, inplace):
    x = np.random.default_rng(3).standard_normal((37, 129)).astype(dtype)
    g_fast, g_full = fd.Generator(8), fd.Generator(8)
    a = x.copy()
    y_fast, h_fast = fast(a, p, inplace=inplace, generator=g_fast, return_handle=True)
    b = x.copy()
    # an explicit mask_shape equal to the shape sends the call down the full path
    y_full, h_full = fd.dropout(b, p, inplace=inplace, generator=g_full, return_handle=True, mask_shape=x.shape)
    np.testing.assert_array_equal(y_fast.view(np.uint8), y_full.view(np.uint8))
    assert (y_fast is a) == inplace
    assert h_fast == h_full
    assert g_fast.counter == g_full.counter == -(-x.size // 16)
    # backward: fast (in place) against full (out=)
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    d_fast = fd.dropout_backward(dy.copy(), h_fast, inplace=True)
    d_full = fd.dropout_backward(dy, h_full, out=np.empty_like(dy))
    np.testing.assert_array_equal(d_fast.view(np.uint8), d_full.view(np.uint8))


def test_common_calls_take_the_fast_path():
    x = np.ones(100, np.float32)
    assert fast(x, 0.5) is not NotImplemented
    _, h = fast(x, 0.5, return_handle=True)
    assert _kernels.fast_backward(x, h, False, None, CONFIG) is not NotImplemented


@pytest.mark.parametrize("case", [
    dict(x=[1.0, 2.0]),                                   # not an ndarray
    dict(x=np.ones(8, np.int32)),                         # not a float dtype
    dict(x=np.ones((8, 8), np.float32)[:, ::2]),          # not contiguous
    dict(x=np.ones(8, np.dtype(np.float32).newbyteorder())),   # non-native byte order
    dict(x=np.ones(8, np.dtype(np.float64).newbyteorder())),
    dict(p=1),                                            # int p: validated by the full path
    dict(p=np.float32(0.5)),
    dict(p=1.5), dict(p=-0.1), dict(p=float("nan")),
    dict(training=False), dict(mode="standard"), dict(inplace=1),
    dict(out=np.empty(8, np.float32)), dict(mask_shape=(8,)),
    dict(generator=np.random.default_rng(0)),
    dict(x=np.empty(0, np.float32)),
])
def test_other_calls_are_declined_untouched(case):
    x = case.pop("x", np.ones(8, np.float32))
    p = case.pop("p", 0.5)
    g = case.pop("generator", fd.Generator(1))
    before = x.copy() if isinstance(x, np.ndarray) else list(x)
    assert fast(x, p, generator=g, **case) is NotImplemented
    if isinstance(g, fd.Generator):
        assert g.counter == 0
    np.testing.assert_array_equal(x, before)


def test_read_only_input_in_place_is_declined_then_rejected():
    x = np.ones(64, np.float32)
    x.flags.writeable = False
    g = fd.Generator(1)
    assert fast(x, 0.5, inplace=True, generator=g) is NotImplemented
    with pytest.raises(ValueError, match="read-only"):
        fd.dropout(x, 0.5, inplace=True, generator=g)
    assert g.counter == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_non_native_byte_order_is_refused_everywhere_and_changes_nothing(dtype):
    x = np.arange(1, 9, dtype=np.dtype(dtype).newbyteorder())
    before = x.copy()
    g = fd.Generator(1)
    _, h = fd.dropout(np.ones(8, dtype), 0.5, generator=fd.Generator(1), return_handle=True)
    calls = [lambda: fd.dropout(x, 0.5, generator=g), lambda: fd.dropout(x, 0.5, generator=g, inplace=True),
             lambda: fd.dropout_backward(x, h), lambda: fd.dropout_backward(x, h, inplace=True)]
    for call in calls:
        with pytest.raises(TypeError, match="x has non-native byte order|dy has non-native byte order"):
            call()
    assert g.counter == 0
    np.testing.assert_array_equal(x, before)
    # converted to native order, the same values give the native result
    native = x.astype(x.dtype.newbyteorder("="))
    np.testing.assert_array_equal(fd.dropout(native, 0.5, generator=fd.Generator(1)),
                                  fd.dropout(np.arange(1, 9, dtype=dtype), 0.5, generator=fd.Generator(1)))


def test_in_place_on_elements_sharing_memory_is_refused_and_changes_nothing():
    row = np.arange(1, 9, dtype=np.float32)
    x = np.lib.stride_tricks.as_strided(row, shape=(4, 8), strides=(0, 4))
    g = fd.Generator(1)
    for call in (lambda: fd.dropout(x, 0.5, generator=g, inplace=True),
                 lambda: fd.dropout(np.ones(4, np.float32), 0.5, generator=g,
                                    out=np.lib.stride_tricks.as_strided(row, shape=(4,), strides=(0,))),
                 lambda: fd.dropout_backward(x, fd.dropout_handle(x.shape, 0.5, generator=g), inplace=True)):
        with pytest.raises(ValueError, match="share memory"):
            call()
    assert g.counter == 2   # the handle of the third call only: 32 elements, two blocks
    np.testing.assert_array_equal(row, np.arange(1, 9, dtype=np.float32))
    # not written, a broadcast view is read as any other array
    y = fd.dropout(x, 0.5, generator=fd.Generator(1))
    np.testing.assert_array_equal(y, fd.dropout(np.ascontiguousarray(x), 0.5, generator=fd.Generator(1)))


def test_exhausted_counter_raises_and_changes_nothing():
    g = fd.Generator(2)
    state = g.get_state()
    state["counter"] = 2**64 - 3
    g.set_state(state)
    x = np.ones(64, np.float32)   # needs 4 blocks, 3 are left
    with pytest.raises(fd.CounterExhaustedError):
        fd.dropout(x, 0.5, inplace=True, generator=g)
    assert g.counter == 2**64 - 3
    np.testing.assert_array_equal(x, np.ones(64, np.float32))
    y = fd.dropout(np.ones(48, np.float32), 0.5, generator=g)   # exactly 3 blocks fit
    assert g.counter == 2**64 and y.shape == (48,)


def test_backward_with_a_foreign_handle_shape_is_declined():
    x = np.ones(32, np.float32)
    _, h = fd.dropout(x, 0.5, generator=fd.Generator(0), return_handle=True)
    dy = np.ones(33, np.float32)
    assert _kernels.fast_backward(dy, h, True, None, CONFIG) is NotImplemented
    with pytest.raises(ValueError, match="shape"):
        fd.dropout_backward(dy, h, inplace=True)
    np.testing.assert_array_equal(dy, np.ones(33, np.float32))
