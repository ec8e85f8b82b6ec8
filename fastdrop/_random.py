"""Philox4x32 generator: a key and a 64-bit block counter.

A :class:`Generator` hands out disjoint ranges of counter blocks; the random
bits of a call are a pure function of (key, the call's first block, logical
element index), so the same seed gives the same masks on every machine,
thread count and memory layout.
"""
import numbers
import operator
import threading

import numpy as np

from . import _kernels

__all__ = ["Generator", "CounterExhaustedError", "philox4x32", "seed", "default_generator",
           "standard_normal", "normal_blocks"]

MIN_ROUNDS, MAX_ROUNDS = 7, 16
DEFAULT_ROUNDS = 10
COUNTER_LIMIT = 1 << 64  # blocks in one generator's counter space
_UINT32 = 1 << 32


class CounterExhaustedError(OverflowError):
    """Raised when a generator's 64-bit block counter would wrap.

    Wrapping would reuse random bits; fastdrop refuses instead.  Spawn a new
    generator (``g.spawn(1)[0]``) or reseed.
    """


def check_rounds(rounds, name="rounds"):
    """Validate a Philox round count: an integer in [7, 16]."""
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [{MIN_ROUNDS}, {MAX_ROUNDS}], got {rounds!r}")
    rounds = int(rounds)
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise ValueError(f"{name} must be in [{MIN_ROUNDS}, {MAX_ROUNDS}] "
                         f"(Philox4x32 has no known statistical failure from 7 rounds), got {rounds}")
    return rounds


def _check_uint32(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**32), got {value!r}")
    value = int(value)
    if not 0 <= value < _UINT32:
        raise ValueError(f"{name} must be in [0, 2**32), got {value}")
    return value


def _check_key(key, name="key"):
    try:
        k0, k1 = key
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair of integers in [0, 2**32), got {key!r}") from None
    return _check_uint32(k0, f"{name}[0]"), _check_uint32(k1, f"{name}[1]")


def _check_count(n, name):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{name} must be non-negative, got {n}")
    return int(n)


def _seed_seq_from_state(info, key):
    if info is None:
        return np.random.SeedSequence(list(key))
    if not isinstance(info, dict):
        raise TypeError(f"state['seed_seq'] must be a dict from get_state(), got {type(info).__name__}")
    missing = {"entropy", "spawn_key", "pool_size", "n_children_spawned"} - set(info)
    if missing:
        raise ValueError(f"state['seed_seq'] is missing {sorted(missing)}")
    try:
        return np.random.SeedSequence(info["entropy"], spawn_key=tuple(info["spawn_key"]),
                                      pool_size=info["pool_size"],
                                      n_children_spawned=info["n_children_spawned"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"state['seed_seq'] is not a valid SeedSequence state: {exc}") from None


def _seed_sequence(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative integer, a numpy.random.SeedSequence or None, "
                        f"got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.SeedSequence(int(seed))


class Generator:
    """A Philox4x32 stream: key from the seed, counter from 0.

    Parameters
    ----------
    seed : int >= 0, numpy.random.SeedSequence or None
        Turned into the two key words with ``SeedSequence.generate_state``.
        None draws fresh entropy from the operating system.
    rounds : int, default 10
        Philox rounds, 7 to 16.

    Notes
    -----
    The counter counts 128-bit Philox blocks; one block decides 16 dropout
    elements.  :meth:`reserve` hands out disjoint block ranges under a lock,
    so threads may share a generator.  A generator never wraps its counter:
    a reservation that would pass 2**64 raises :class:`CounterExhaustedError`.

    Examples
    --------
    >>> import fastdrop as fd
    >>> g = fd.Generator(seed=0)
    >>> g.counter
    0
    >>> a, b = g.spawn(2)
    >>> a.key != b.key
    True
    """

    def __init__(self, seed=None, rounds=DEFAULT_ROUNDS):
        self._rounds = check_rounds(rounds)
        self._seed_seq = _seed_sequence(seed)
        k0, k1 = (int(w) for w in self._seed_seq.generate_state(2, dtype=np.uint32))
        self._key = (k0, k1)
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def key(self):
        """The two 32-bit Philox key words."""
        return self._key

    @property
    def counter(self):
        """The next unused block counter."""
        return self._counter

    @property
    def rounds(self):
        return self._rounds

    def reserve(self, blocks):
        """Take `blocks` consecutive counter blocks; return the first.

        Thread-safe.  Raises CounterExhaustedError instead of wrapping.
        """
        blocks = _check_count(blocks, "blocks")
        with self._lock:
            # one compiled step, atomic under the GIL: the fast path of
            # fastdrop.dropout reserves without the lock
            start = _kernels.reserve_blocks(self, blocks)
            if start is None:
                raise CounterExhaustedError(
                    f"generator counter exhausted: {blocks} blocks requested at counter {self._counter}, "
                    f"but the counter space ends at 2**64; spawn or reseed a generator")
        return start

    def spawn(self, n):
        """`n` independent generators with distinct keys (SeedSequence.spawn)."""
        n = _check_count(n, "n")
        with self._lock:
            children = self._seed_seq.spawn(n)
        return [Generator(child, rounds=self._rounds) for child in children]

    def get_state(self):
        """A plain dict that :meth:`set_state` restores (also what pickling uses)."""
        with self._lock:
            ss = self._seed_seq
            return {
                "bit_generator": "Philox4x32",
                "rounds": self._rounds,
                "key": self._key,
                "counter": self._counter,
                "seed_seq": {"entropy": ss.entropy, "spawn_key": tuple(ss.spawn_key),
                             "pool_size": ss.pool_size, "n_children_spawned": ss.n_children_spawned},
            }

    def set_state(self, state):
        """Restore a state from :meth:`get_state`.

        ``seed_seq`` may be left out (spawning then derives children from the key).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from get_state(), got {type(state).__name__}")
        if state.get("bit_generator") != "Philox4x32":
            raise ValueError(f"state['bit_generator'] must be 'Philox4x32', got {state.get('bit_generator')!r}")
        missing = {"rounds", "key", "counter"} - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}")
        rounds = check_rounds(state["rounds"], "state['rounds']")
        key = _check_key(state["key"], "state['key']")
        counter = state["counter"]
        if isinstance(counter, bool) or not isinstance(counter, numbers.Integral):
            raise TypeError(f"state['counter'] must be an integer, got {counter!r}")
        if not 0 <= counter <= COUNTER_LIMIT:
            raise ValueError(f"state['counter'] must be in [0, 2**64], got {counter}")
        seed_seq = _seed_seq_from_state(state.get("seed_seq"), key)
        with self._lock:
            self._rounds, self._key, self._counter, self._seed_seq = rounds, key, int(counter), seed_seq

    @classmethod
    def from_state(cls, state):
        g = cls.__new__(cls)
        g._lock = threading.Lock()
        g.set_state(state)
        return g

    def __reduce__(self):
        return (Generator.from_state, (self.get_state(),))

    def __repr__(self):
        return (f"fastdrop.Generator(key=(0x{self._key[0]:08x}, 0x{self._key[1]:08x}), "
                f"counter={self._counter}, rounds={self._rounds})")


_default_lock = threading.Lock()
_default = None


def seed(seed=None, rounds=DEFAULT_ROUNDS):
    """Replace the default generator with ``Generator(seed, rounds)`` and return it."""
    global _default
    g = Generator(seed, rounds)
    with _default_lock:
        _default = g
    return g


def default_generator():
    """The generator used when a call is given none (seeded from OS entropy until :func:`seed`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Generator()
        return _default


def philox4x32(counters, key, rounds=DEFAULT_ROUNDS):
    """The raw Philox4x32 block function, vectorized over counters.

    Parameters
    ----------
    counters : array_like of uint32, shape (..., 4)
        Counter words c0..c3 of each block.
    key : pair of int
        Key words k0, k1, each in [0, 2**32).
    rounds : int, default 10

    Returns
    -------
    ndarray of uint32, shape (..., 4)

    Examples
    --------
    Random123's first known-answer vector:

    >>> import fastdrop as fd
    >>> [hex(int(w)) for w in fd.philox4x32([0, 0, 0, 0], (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    rounds = check_rounds(rounds)
    k0, k1 = _check_key(key)
    arr = np.asarray(counters)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"counters must be an array of unsigned 32-bit integers, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"counters must have shape (..., 4), got {arr.shape}")
    if arr.dtype != np.uint32:
        if arr.size and (arr.min() < 0 or arr.max() >= _UINT32):
            raise ValueError("counters must hold values in [0, 2**32)")
        arr = arr.astype(np.uint32)
    flat = np.ascontiguousarray(arr.reshape(-1, 4))
    return _kernels.philox4x32(flat, k0, k1, rounds).reshape(arr.shape)


NORMALS_PER_BLOCK = 4


def standard_normal(shape, key, counter, rounds=DEFAULT_ROUNDS):
    """Standard normal deviates from a Philox stream, as float64.

    A pure function of (key, counter, logical index): element i uses
    Box-Muller on block ``counter + i // 4`` of stream 0x100 (so it never
    shares bits with dropout masks).  Reserve ``ceil(n / 4)`` blocks with
    :meth:`Generator.reserve` and keep (key, counter) to regenerate the same
    noise later, e.g. in backward.

    Parameters
    ----------
    shape : int or tuple of int
    key : pair of int
    counter : int
        First block; the call reads blocks [counter, counter + ceil(n/4)).
    rounds : int, default 10

    Examples
    --------
    >>> import fastdrop as fd
    >>> g = fd.Generator(seed=0)
    >>> start = g.reserve(fd.normal_blocks(6))
    >>> z = fd.standard_normal((2, 3), g.key, start)
    >>> z.shape, bool((z == fd.standard_normal((2, 3), g.key, start)).all())
    ((2, 3), True)
    """
    rounds = check_rounds(rounds)
    k0, k1 = _check_key(key)
    try:
        shape = tuple(operator.index(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    except TypeError:
        raise TypeError(f"shape must be an integer or a tuple of integers, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must have non-negative dimensions, got {shape}")
    if isinstance(counter, bool) or not isinstance(counter, numbers.Integral):
        raise TypeError(f"counter must be an integer, got {counter!r}")
    n = int(np.prod(shape, dtype=np.int64))
    if not 0 <= counter or counter + normal_blocks(n) > COUNTER_LIMIT:
        raise ValueError(f"counter must be in [0, 2**64 - blocks], got {counter}")
    out = np.empty(n, dtype=np.float64)
    _kernels.normal(out, k0, k1, int(counter), rounds)
    return out.reshape(shape)


def normal_blocks(n):
    """Counter blocks :func:`standard_normal` reads for n deviates."""
    return -(-_check_count(n, "n") // NORMALS_PER_BLOCK)
