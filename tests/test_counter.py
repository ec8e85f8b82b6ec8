"""The 64-bit block counter: it never wraps (randomness is never reused), the
end of the counter space is usable up to exactly 2**64, and blocks around
the 2**32 carry from the low counter word into the high one give the
documented bits on every ISA path and thread count."""
import numpy as np
import pytest

import fastdrop as fd
import reference as ref

TWO32, TWO64 = 1 << 32, 1 << 64
ISAS = tuple(fd.available_isas())



def generator_at(counter, seed=3):
    g = fd.Generator(seed)
    g.set_state({**g.get_state(), "counter": counter})
    return g


# ---------------------------------------------------------------- exhaustion

@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("mask_shape", [None, (1, 64)])
def test_call_past_the_end_raises_and_changes_nothing(inplace, mask_shape):
    g = generator_at(TWO64 - 3)
    x = ref.fill((2, 64), np.float32, special=False)     # 64 mask cells = 4 blocks > 3 left
    before = x.copy()
    with pytest.raises(fd.CounterExhaustedError, match="2\\*\\*64"):
        fd.dropout(x, 0.5, generator=g, inplace=inplace, mask_shape=mask_shape)
    assert g.counter == TWO64 - 3
    assert np.array_equal(x, before)


def test_exhaustion_is_an_overflow_error_named_where_it_is_imported_from():
    assert issubclass(fd.CounterExhaustedError, OverflowError)
    g = generator_at(TWO64 - 1)
    with pytest.raises(fd.CounterExhaustedError) as info:
        fd.dropout(np.ones(40, np.float32), 0.5, generator=g)
    assert info.exconly().startswith("fastdrop.CounterExhaustedError: ")
    import pickle
    assert type(pickle.loads(pickle.dumps(info.value))) is fd.CounterExhaustedError


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_reaching_exactly_two_to_the_64_is_allowed_and_gives_the_reference(dtype):
    n = 3 * 16 - 5                                        # 3 blocks, the last one partly used
    g = generator_at(TWO64 - 3)
    x = ref.fill((n,), dtype)
    y, h = fd.dropout(x, 0.3, generator=g, return_handle=True)
    assert h.counter_range == (TWO64 - 3, TWO64)
    assert g.counter == TWO64
    assert ref.same_values(y, ref.dropout(x, 0.3, g.key, TWO64 - 3))
    assert ref.same_values(fd.dropout_backward(x, h), y)
    with pytest.raises(fd.CounterExhaustedError):
        fd.dropout(x[:1], 0.3, generator=g)
    assert g.counter == TWO64


@pytest.mark.parametrize("isa", ISAS)
def test_last_blocks_of_the_counter_space_on_every_path(isa, scoped_config):
    """The final chunk's 8 blocks would pass 2**64; only those used count."""
    scoped_config(isa=isa)
    for blocks in (1, 7, 8, 9, 17):
        g = generator_at(TWO64 - blocks)
        x = ref.fill((blocks * 16,), np.float32, special=False)
        y = fd.dropout(x, 0.6, generator=g)
        assert ref.same_values(y, ref.dropout(x, 0.6, g.key, TWO64 - blocks)), blocks


def test_reserve_to_the_end_then_nothing_more():
    g = generator_at(TWO64 - 10)
    assert g.reserve(10) == TWO64 - 10
    assert g.reserve(0) == TWO64
    with pytest.raises(fd.CounterExhaustedError):
        g.reserve(1)
    assert g.counter == TWO64


def test_state_at_the_end_round_trips_and_spawned_children_start_fresh():
    g = generator_at(TWO64)
    assert fd.Generator.from_state(g.get_state()).counter == TWO64
    child = g.spawn(1)[0]
    assert child.counter == 0
    fd.dropout(np.ones(100, np.float32), 0.5, generator=child)
    assert child.counter == 7


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_empty_call_at_exactly_two_to_the_64_is_allowed(shape):
    g = generator_at(TWO64)
    y = fd.dropout(np.ones(shape, np.float32), 0.5, generator=g)
    assert y.shape == shape and g.counter == TWO64


def test_standard_normal_up_to_the_end_of_the_counter_space():
    z = fd.standard_normal(8, (1, 2), TWO64 - 2)
    assert z.shape == (8,) and np.isfinite(z).all()
    with pytest.raises(ValueError, match="counter"):
        fd.standard_normal(9, (1, 2), TWO64 - 2)


def test_consecutive_calls_never_share_blocks():
    g = fd.Generator(8)
    ranges = []
    for n in (1, 15, 16, 17, 0, 300, 128, 129):
        _, h = fd.dropout(np.ones(n, np.float32), 0.5, generator=g, return_handle=True)
        ranges.append(h.counter_range)
    for (a0, a1), (b0, b1) in zip(ranges, ranges[1:]):
        assert a1 == b0 and a0 <= a1
    assert ranges[-1][1] == g.counter


# ---------------------------------------------------------------- the low-word carry

WRAP_BASES = [TWO32 - k for k in (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 130)] + \
             [(5 << 32) - k for k in (1, 4, 8)] + [TWO64 - TWO32 - 6]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_low_counter_word_carry_gives_reference_bits(isa, dtype, scoped_config):
    scoped_config(isa=isa)
    for base in WRAP_BASES:
        for n in (16 * 20 + 5, 128 * 3, 1):
            for offset_view in (False, True):
                g = generator_at(base)
                x = ref.fill((n + 3,), dtype, special=False)[3:] if offset_view else ref.fill((n,), dtype)
                y, h = fd.dropout(x, 1.0 / 3.0, generator=g, return_handle=True)
                expected = ref.dropout(x, 1.0 / 3.0, g.key, base)
                assert ref.same_values(y, expected), (hex(base), n)
                assert np.array_equal(h.mask(), ref.keep_mask((n,), 1.0 / 3.0, g.key, base))


def test_low_counter_word_carry_in_strided_buffers(scoped_config):
    for isa in ISAS:
        scoped_config(isa=isa)
        x = ref.fill((40, 30), np.float64)[::-2, ::3]
        g = generator_at(TWO32 - 4)
        assert ref.same_values(fd.dropout(x, 0.45, generator=g), ref.dropout(x, 0.45, g.key, TWO32 - 4))


@pytest.mark.parametrize("isa", ISAS)
def test_low_counter_word_carry_inside_a_threaded_call(isa, scoped_config):
    """A buffer big enough to be split across threads, with the carry in the
    middle of the second thread's piece."""
    scoped_config(isa=isa)
    n = 3 * 65536 + 1000
    x = ref.fill((n,), np.float32, special=False)
    base = TWO32 - (n // 16) // 2
    expected = ref.dropout(x, 0.2, fd.Generator(3).key, base)
    for threads in (1, 2, 3):
        scoped_config(threads=threads)
        assert ref.same_values(fd.dropout(x, 0.2, generator=generator_at(base)), expected), threads
