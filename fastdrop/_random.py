"""Philox4x32 generator: a key and a 64-bit block counter.

A :class:`Generator` hands out disjoint ranges of counter blocks; the random
bits of a call are a pure function of (key, the call's first block, logical
element index), so the same seed gives the same masks on every machine,
thread count and memory layout.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _kernels
from ._validation import check_int, check_shape

__all__ = ["Generator", "CounterExhaustedError", "philox4x32", "seed", "default_generator",
           "standard_normal", "normal_blocks", "check_rounds"]

MIN_ROUNDS, MAX_ROUNDS = _kernels.MIN_ROUNDS, _kernels.MAX_ROUNDS
DEFAULT_ROUNDS: int = _kernels.DEFAULT_ROUNDS
COUNTER_LIMIT: int = _kernels.COUNTER_LIMIT
_UINT32_MAX = (1 << 32) - 1

SeedLike = Union[int, np.random.SeedSequence, None]


class CounterExhaustedError(OverflowError):
    """Raised when a generator's 64-bit block counter would wrap.

    Wrapping would reuse random bits; fastdrop refuses instead.  Spawn a new
    generator (``g.spawn(1)[0]``) or reseed.
    """

    __module__ = "fastdrop"  # where users import it from: tracebacks and pickles name it so


def check_rounds(rounds: Any, name: str = "rounds") -> int:
    """A Philox round count: an integer in [7, 16] (Philox4x32 has no known
    statistical failure from 7 rounds; Salmon et al. 2011, Table 2)."""
    return check_int(rounds, name, low=MIN_ROUNDS, high=MAX_ROUNDS)


def _check_key(key: Any, name: str = "key") -> Tuple[int, int]:
    try:
        k0, k1 = key
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair of integers in [0, 2**32), got {key!r}") from None
    return (check_int(k0, f"{name}[0]", low=0, high=_UINT32_MAX),
            check_int(k1, f"{name}[1]", low=0, high=_UINT32_MAX))


def _seed_seq_from_state(info: Any, key: Tuple[int, int]) -> np.random.SeedSequence:
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


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative integer, a numpy.random.SeedSequence or None, "
                        f"got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.SeedSequence(int(seed))


class Generator(_kernels.CounterStream):
    """A Philox4x32 stream: key from the seed, counter from 0.

    Parameters
    ----------
    seed : int >= 0, numpy.random.SeedSequence or None
        Turned into the two key words with ``SeedSequence.generate_state``.
        None draws fresh entropy from the operating system.
    rounds : int, default 10
        Philox rounds, 7 to 16.

    Attributes
    ----------
    key : (int, int)
        The two 32-bit Philox key words.
    counter : int
        The next unused counter block, in [0, 2**64].
    rounds : int

    Notes
    -----
    The counter counts 128-bit Philox blocks; one block decides 16 dropout
    elements.  :meth:`reserve` hands out disjoint block ranges under the
    generator's own lock (the compiled kernels take the same lock, without
    the GIL), so threads may share a generator.  A generator never wraps
    its counter: a reservation that would pass 2**64 raises
    :class:`CounterExhaustedError`.

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

    __slots__ = ("_seed_seq", "_spawn_lock", "__weakref__", "__dict__")

    def __init__(self, seed: SeedLike = None, rounds: int = DEFAULT_ROUNDS) -> None:
        rounds = check_rounds(rounds)
        self._seed_seq = _seed_sequence(seed)
        self._spawn_lock = threading.Lock()
        k0, k1 = (int(w) for w in self._seed_seq.generate_state(2, dtype=np.uint32))
        self._set_stream(k0, k1, rounds, 0)

    def reserve(self, blocks: int) -> int:
        """Take `blocks` consecutive counter blocks; return the first.

        Thread-safe.  Raises CounterExhaustedError instead of wrapping.
        """
        blocks = check_int(blocks, "blocks", low=0)
        start = self._reserve(blocks) if blocks < COUNTER_LIMIT else None
        if start is None:
            raise CounterExhaustedError(
                f"generator counter exhausted: {blocks} blocks requested at counter {self.counter}, "
                f"but the counter space ends at 2**64; spawn or reseed a generator")
        return start

    def spawn(self, n: int) -> List["Generator"]:
        """`n` independent generators with distinct keys (SeedSequence.spawn)."""
        n = check_int(n, "n", low=0)
        with self._spawn_lock:
            children = self._seed_seq.spawn(n)
        return [Generator(child, rounds=self.rounds) for child in children]

    def get_state(self) -> Dict[str, Any]:
        """A plain dict that :meth:`set_state` restores (also what pickling uses)."""
        k0, k1, rounds, counter = self._stream()
        with self._spawn_lock:
            ss = self._seed_seq
            seed_seq = {"entropy": ss.entropy, "spawn_key": tuple(ss.spawn_key),
                        "pool_size": ss.pool_size, "n_children_spawned": ss.n_children_spawned}
        return {"bit_generator": "Philox4x32", "rounds": rounds, "key": (k0, k1), "counter": counter,
                "seed_seq": seed_seq}

    def set_state(self, state: Dict[str, Any]) -> None:
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
        k0, k1 = _check_key(state["key"], "state['key']")
        counter = check_int(state["counter"], "state['counter']", low=0, high=COUNTER_LIMIT)
        seed_seq = _seed_seq_from_state(state.get("seed_seq"), (k0, k1))
        with self._spawn_lock:
            self._seed_seq = seed_seq
            self._set_stream(k0, k1, rounds, counter)

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "Generator":
        """A new generator in the state `state` (from :meth:`get_state`)."""
        g = cls.__new__(cls)
        g._spawn_lock = threading.Lock()
        g._seed_seq = None  # type: ignore[assignment]  # set_state sets it next
        g.set_state(state)
        return g

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Generator.from_state, (self.get_state(),))

    def __repr__(self) -> str:
        k0, k1, rounds, counter = self._stream()
        return f"fastdrop.Generator(key=(0x{k0:08x}, 0x{k1:08x}), counter={counter}, rounds={rounds})"


_default_lock = threading.Lock()
_default: Optional[Generator] = None


def seed(seed: SeedLike = None, rounds: int = DEFAULT_ROUNDS) -> Generator:
    """Replace the default generator with ``Generator(seed, rounds)`` and return it."""
    global _default
    g = Generator(seed, rounds)
    with _default_lock:
        _default = g
    return g


def default_generator() -> Generator:
    """The generator used when a call is given none (seeded from OS entropy until :func:`seed`)."""
    global _default
    g = _default
    if g is None:
        with _default_lock:
            if _default is None:
                _default = Generator()
            g = _default
    return g


def philox4x32(counters: npt.ArrayLike, key: Sequence[int], rounds: int = DEFAULT_ROUNDS) -> npt.NDArray[np.uint32]:
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
        if arr.size and (arr.min() < 0 or arr.max() > _UINT32_MAX):
            raise ValueError("counters must hold values in [0, 2**32)")
        arr = arr.astype(np.uint32)
    flat = np.ascontiguousarray(arr.reshape(-1, 4))
    return _kernels.philox4x32(flat, k0, k1, rounds).reshape(arr.shape)


def normal_blocks(n: int) -> int:
    """Counter blocks :func:`standard_normal` reads for n deviates."""
    return -(-check_int(n, "n", low=0) // _kernels.NORMALS_PER_BLOCK)


def standard_normal(shape: Union[int, Sequence[int]], key: Sequence[int], counter: int,
                    rounds: int = DEFAULT_ROUNDS) -> npt.NDArray[np.float64]:
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
    shape = check_shape(shape)
    n = math.prod(shape)
    counter = check_int(counter, "counter")
    if not 0 <= counter or counter + normal_blocks(n) > COUNTER_LIMIT:
        raise ValueError(f"counter must be in [0, 2**64 - blocks], got {counter}")
    out = np.empty(n, dtype=np.float64)
    _kernels.normal(out, k0, k1, counter if counter < COUNTER_LIMIT else 0, rounds)
    return out.reshape(shape)
