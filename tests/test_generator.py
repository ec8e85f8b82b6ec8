"""fd.Generator: key derivation, counter reservation, spawn, state, pickling."""
import pickle

import numpy as np
import pytest

import fastdrop as fd


def test_key_comes_from_seed_sequence():
    expected = np.random.SeedSequence(42).generate_state(2, dtype=np.uint32)
    g = fd.Generator(seed=42)
    assert g.key == (int(expected[0]), int(expected[1]))
    assert g.counter == 0
    assert g.rounds == 10


def test_same_seed_same_key_different_seed_different_key():
    assert fd.Generator(3).key == fd.Generator(3).key
    assert fd.Generator(3).key != fd.Generator(4).key


def test_seed_sequence_accepted():
    ss = np.random.SeedSequence(9)
    assert fd.Generator(ss).key == fd.Generator(9).key


def test_reserve_hands_out_consecutive_disjoint_ranges():
    g = fd.Generator(0)
    assert g.reserve(5) == 0
    assert g.reserve(0) == 5
    assert g.reserve(3) == 5
    assert g.counter == 8


def test_dropout_advances_counter_by_blocks_of_16_elements():
    g = fd.Generator(0)
    x = np.ones(33, np.float32)
    _, h1 = fd.dropout(x, 0.5, generator=g, return_handle=True)
    _, h2 = fd.dropout(x, 0.5, generator=g, return_handle=True)
    assert h1.counter_range == (0, 3)
    assert h2.counter_range == (3, 6)
    assert g.counter == 6


def test_spawn_gives_distinct_reproducible_keys():
    children = fd.Generator(1).spawn(3)
    again = fd.Generator(1).spawn(3)
    keys = [c.key for c in children]
    assert len(set(keys)) == 3
    assert keys == [c.key for c in again]
    assert fd.Generator(1).key not in keys


def test_spawn_twice_continues_the_sequence():
    g = fd.Generator(1)
    first = [c.key for c in g.spawn(2)]
    second = [c.key for c in g.spawn(2)]
    assert not set(first) & set(second)


def test_state_round_trip_reproduces_masks():
    g = fd.Generator(5)
    g.reserve(10)
    state = g.get_state()
    a = fd.dropout(np.ones(100, np.float32), 0.3, generator=g)
    g.set_state(state)
    b = fd.dropout(np.ones(100, np.float32), 0.3, generator=g)
    np.testing.assert_array_equal(a, b)


def test_state_restores_spawn_position():
    g = fd.Generator(5)
    g.spawn(2)
    state = g.get_state()
    after = [c.key for c in g.spawn(1)]
    h = fd.Generator(0)
    h.set_state(state)
    assert [c.key for c in h.spawn(1)] == after


def test_pickle_round_trip():
    g = fd.Generator(8, rounds=7)
    g.reserve(123)
    clone = pickle.loads(pickle.dumps(g))
    assert (clone.key, clone.counter, clone.rounds) == (g.key, g.counter, g.rounds)
    x = np.ones(50, np.float64)
    np.testing.assert_array_equal(fd.dropout(x, 0.5, generator=g), fd.dropout(x, 0.5, generator=clone))


def test_seed_sets_default_generator():
    g = fd.seed(11)
    assert fd.default_generator() is g
    a = fd.dropout(np.ones(64, np.float32), 0.5)
    fd.seed(11)
    b = fd.dropout(np.ones(64, np.float32), 0.5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (1.5, TypeError), ("1", TypeError),
                                      (True, TypeError), ([1, 2], TypeError)])
def test_bad_seeds_rejected(seed, exc):
    with pytest.raises(exc, match="seed"):
        fd.Generator(seed)


@pytest.mark.parametrize("rounds,exc", [(6, ValueError), (17, ValueError), (10.0, TypeError), ("10", TypeError)])
def test_bad_rounds_rejected(rounds, exc):
    with pytest.raises(exc, match="rounds"):
        fd.Generator(0, rounds=rounds)


def test_bad_state_rejected_and_state_unchanged():
    g = fd.Generator(0)
    g.reserve(4)
    before = g.get_state()
    bad_states = [
        ({**before, "counter": -1}, ValueError),
        ({**before, "counter": 2**64 + 1}, ValueError),
        ({**before, "counter": 1.5}, TypeError),
        ({**before, "key": (1,)}, TypeError),
        ({**before, "key": (1, 2**32)}, ValueError),
        ({**before, "rounds": 3}, ValueError),
        ({**before, "bit_generator": "MT19937"}, ValueError),
        ("state", TypeError),
    ]
    for state, exc in bad_states:
        with pytest.raises(exc):
            g.set_state(state)
        assert g.get_state() == before


def test_counter_exhaustion_raises_and_changes_nothing():
    g = fd.Generator(0)
    state = g.get_state()
    state["counter"] = 2**64 - 2
    g.set_state(state)
    with pytest.raises(fd.CounterExhaustedError, match="exhausted"):
        fd.dropout(np.ones(48, np.float32), 0.5, generator=g)  # needs 3 blocks
    assert g.counter == 2**64 - 2
    x = np.ones(32, np.float32)
    fd.dropout(x, 0.5, generator=g, inplace=True)  # exactly 2 blocks: allowed
    assert g.counter == 2**64


def test_standard_normal_is_a_pure_function_of_key_and_counter():
    g = fd.Generator(2)
    start = g.reserve(fd.normal_blocks(1001))
    z = fd.standard_normal((7, 143), g.key, start)
    np.testing.assert_array_equal(z, fd.standard_normal((7, 143), g.key, start))
    # element i depends only on i: a prefix is the prefix of a longer draw
    np.testing.assert_array_equal(z.ravel()[:10], fd.standard_normal(10, g.key, start))
    # mean within 5 sigma (sigma = 1/sqrt(n)), variance within 5 sigma (sigma ~ sqrt(2/n))
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
