"""DropoutHandle: one constructor checks every field, the compiled fast path
sets the same fields through the same initializer, and a handle is an
immutable value (equal, hashable, picklable)."""
import inspect
import pickle
import threading

import numpy as np
import pytest

import fastdrop as fd

FIELDS = [name for name in inspect.signature(fd.DropoutHandle).parameters]


def full_path_handle(x, p, generator):
    # an explicit mask_shape sends the call down the Python path
    return fd.dropout(x, p, generator=generator, return_handle=True, mask_shape=x.shape)[1]


def test_fast_path_handle_has_every_field_of_the_constructor():
    x = np.ones((3, 50), np.float32)
    fast = fd.dropout(x, 0.25, generator=fd.Generator(3), return_handle=True)[1]
    full = full_path_handle(x, 0.25, fd.Generator(3))
    built = fd.DropoutHandle(**{name: getattr(full, name) for name in FIELDS})
    for name in FIELDS:
        assert getattr(fast, name) == getattr(full, name) == getattr(built, name), name
    assert fast == full == built and hash(fast) == hash(full)
    assert type(fast) is fd.DropoutHandle


def test_handles_are_immutable():
    h = fd.dropout(np.ones(8, np.float32), 0.5, generator=fd.Generator(0), return_handle=True)[1]
    for name in FIELDS:
        with pytest.raises(AttributeError):
            setattr(h, name, getattr(h, name))
    with pytest.raises(AttributeError):
        h._set_fields((1, 2), 0, 10, 0.5, (8,), (8,), "inverted", True)
    with pytest.raises(AttributeError):
        h.extra = 1


def test_handles_pickle_to_equal_handles_that_apply_the_same_mask():
    x = np.random.default_rng(1).standard_normal((7, 9)).astype(np.float32)
    y, h = fd.dropout(x, 0.4, generator=fd.Generator(5), return_handle=True, mask_shape=(7, 1))
    again = pickle.loads(pickle.dumps(h))
    assert again == h and again.mask_shape == (7, 1)
    np.testing.assert_array_equal(again.apply(x), y)


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(key=(1,)), TypeError, "key"), (dict(key=(1, 2**32)), ValueError, r"key\[1\]"),
    (dict(counter=-1), ValueError, "counter"), (dict(counter=2**64 + 1), ValueError, "counter"),
    (dict(counter=1.0), TypeError, "counter"), (dict(rounds=6), ValueError, "rounds"),
    (dict(p=1.5), ValueError, r"\bp\b"), (dict(p="0.5"), TypeError, r"\bp\b"),
    (dict(shape=(2, -1)), ValueError, "shape"), (dict(shape="ab"), TypeError, "shape"),
    (dict(mask_shape=(3, 1)), ValueError, "mask_shape"), (dict(mode="bogus"), ValueError, "mode"),
    (dict(training=1), TypeError, "training"),
])
def test_constructor_checks_every_field(kwargs, exc, name):
    args = dict(key=(1, 2), counter=0, rounds=10, p=0.5, shape=(2, 4), mask_shape=None)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        fd.DropoutHandle(**args)


def test_a_handle_cannot_run_past_the_end_of_the_counter_space():
    x = np.ones((3, 40), np.float32)   # 120 elements: 8 blocks
    last = fd.DropoutHandle(key=(1, 2), counter=2**64 - 8, rounds=10, p=0.5, shape=x.shape)
    assert last.counter_range == (2**64 - 8, 2**64)
    first = fd.DropoutHandle(key=(1, 2), counter=0, rounds=10, p=0.5, shape=x.shape)
    assert not np.array_equal(last.apply(x), first.apply(x))
    for counter in (2**64 - 7, 2**64):
        with pytest.raises(ValueError, match="counter"):
            fd.DropoutHandle(key=(1, 2), counter=counter, rounds=10, p=0.5, shape=x.shape)
    # a mask of one cell per row needs one block; an evaluation handle none
    assert fd.DropoutHandle(key=(1, 2), counter=2**64 - 1, rounds=10, p=0.5, shape=x.shape,
                            mask_shape=(3, 1)).counter_range == (2**64 - 1, 2**64)
    assert fd.DropoutHandle(key=(1, 2), counter=2**64, rounds=10, p=0.5, shape=x.shape,
                            training=False).blocks == 0


def test_dropout_handle_reserves_what_dropout_would():
    g1, g2 = fd.Generator(9), fd.Generator(9)
    h = fd.dropout_handle((5, 33), 0.3, generator=g1)
    _, h2 = fd.dropout(np.ones((5, 33), np.float32), 0.3, generator=g2, return_handle=True)
    assert h == h2 and g1.counter == g2.counter == -(-5 * 33 // 16)
    hm = fd.dropout_handle((5, 33), 0.3, generator=g1, mask_shape=(5, 1))
    assert hm.counter_range == (g2.counter, g2.counter + 1)


def test_dropout_handle_rejects_bad_arguments_and_reserves_nothing():
    g = fd.Generator(0)
    for kwargs, exc in [(dict(shape=(2, 3), p=2.0), ValueError), (dict(shape=(2, 3), p=0.5, mask_shape=(2,)), ValueError),
                        (dict(shape=(2, 3), p=0.5, mode="x"), ValueError), (dict(shape=(-2,), p=0.5), ValueError)]:
        with pytest.raises(exc):
            fd.dropout_handle(generator=g, **kwargs)
    with pytest.raises(TypeError, match="generator"):
        fd.dropout_handle((2, 3), 0.5, generator=np.random.default_rng(0))
    assert g.counter == 0


def test_fast_path_and_reserve_share_one_atomic_counter():
    """Threads mixing compiled calls and Python reservations on one generator
    get disjoint ranges that together cover the counter space used."""
    g = fd.Generator(2)
    x = np.ones(16 * 5, np.float32)     # 5 blocks per call
    ranges, lock = [], threading.Lock()

    def calls():
        mine = [fd.dropout(x, 0.5, generator=g, return_handle=True)[1].counter_range for _ in range(300)]
        with lock:
            ranges.extend(mine)

    def reserves():
        mine = []
        for _ in range(300):
            start = g.reserve(3)
            mine.append((start, start + 3))
        with lock:
            ranges.extend(mine)

    threads = [threading.Thread(target=f) for f in (calls, reserves, calls, reserves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == g.counter == 2 * 300 * 5 + 2 * 300 * 3
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_eval_handle_apply_is_the_identity_or_the_standard_scaling():
    x = np.arange(6, dtype=np.float32)
    _, h = fd.dropout(x, 0.25, training=False, return_handle=True)
    assert h.apply(x) is x
    _, hs = fd.dropout(x, 0.25, training=False, mode="standard", return_handle=True)
    np.testing.assert_array_equal(hs.apply(x), x * np.float32(0.75))


@pytest.mark.parametrize("training", [True, False])
def test_mask_values_takes_the_kernel_dtypes_and_refuses_others_naming_dtype(training):
    _, h = fd.dropout(np.ones((3, 4), np.float32), 0.5, generator=fd.Generator(2), training=training,
                      mode="standard", return_handle=True)
    expected = h.mask_values(np.float64)
    for dtype in (np.float16, np.float32, "float64", np.dtype("=f4")):
        values = h.mask_values(dtype)
        assert values.dtype == np.dtype(dtype) and values.dtype.isnative
        np.testing.assert_array_equal(values.astype(np.float64), expected)
    swapped = [np.dtype(t).newbyteorder() for t in (np.float16, np.float32, np.float64)]
    for dtype, words in [(t, "non-native byte order") for t in swapped] + [
            (np.int32, "dtype must be"), (bool, "dtype must be"), ("nonsense", "dtype must be")]:
        with pytest.raises(TypeError, match=words) as info:
            h.mask_values(dtype)
        assert "dtype" in str(info.value)


def test_mask_values_in_bfloat16_without_any_earlier_bfloat16_call(tmp_path):
    """ml_dtypes' bfloat16 is recognised by the check itself, not only after
    some other call has met a bfloat16 array in the process."""
    pytest.importorskip("ml_dtypes")
    script = ("import numpy as np, ml_dtypes, fastdrop as fd\n"
              "h = fd.dropout_handle((2, 8), 0.5, generator=fd.Generator(0))\n"
              "v = h.mask_values(ml_dtypes.bfloat16)\n"
              "assert v.dtype == ml_dtypes.bfloat16, v.dtype\n"
              "assert (v.astype(np.float32) == h.mask_values(np.float32)).all()\n")
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def test_offsets_and_shapes_may_be_numpy_index_arrays():
    x = np.ones((4, 6), np.float32)
    h = fd.dropout_handle(np.array([4, 6]), 0.5, generator=fd.Generator(3))
    assert h.shape == (4, 6)
    whole = h.apply(x)
    np.testing.assert_array_equal(h.apply(x[1:, 2:], offset=np.array([1, 2])), whole[1:, 2:])
    with pytest.raises(TypeError, match="offset"):
        h.apply(x[1:, 2:], offset=np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="shape"):
        fd.dropout_handle(np.array([4.0, 6.0]), 0.5)


@pytest.mark.parametrize("other, words", [(np.random.default_rng(0), "numpy.random._generator.Generator"),
                                          (42, "int")])
def test_a_foreign_generator_is_named_with_its_module(other, words):
    with pytest.raises(TypeError, match="generator") as info:
        fd.dropout(np.ones(4, np.float32), 0.5, generator=other)
    assert words in str(info.value)
